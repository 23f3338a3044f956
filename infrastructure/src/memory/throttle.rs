//! In-memory [`LoginThrottle`]: one window per key behind a mutex, so each
//! acquisition is atomic within the process.
//!
//! The state is per process (clones share it): instances that should share
//! their counts need a SQL store ([`crate::SeaOrmLoginThrottle`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{Admission, LoginThrottle, Slots, StoreError};
use gatehouse_domain::{ThrottleKey, ThrottlePolicy, ThrottleWindow};
use time::{Duration, OffsetDateTime};

use super::lock;

/// Windows per key, under one policy. A limit of 0 turns throttling off.
#[derive(Debug, Clone)]
pub struct MemoryLoginThrottle {
    policy: ThrottlePolicy,
    windows: Arc<Mutex<HashMap<ThrottleKey, ThrottleWindow>>>,
}

/// Keys tracked at most; beyond this closed windows are dropped first, so
/// that a flood of random usernames cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

impl MemoryLoginThrottle {
    /// `limit` attempts per key in each `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { policy: ThrottlePolicy { limit, window }, windows: Arc::default() }
    }

    /// A throttle that never refuses.
    pub fn disabled() -> Self {
        Self::new(0, Duration::ZERO)
    }
}

impl LoginThrottle for MemoryLoginThrottle {
    async fn acquire(&self, keys: &[ThrottleKey], now: OffsetDateTime) -> Result<Admission, StoreError> {
        if !self.policy.is_enabled() {
            return Ok(Admission::Granted(Slots::default()));
        }
        let mut windows = lock(&self.windows);
        if windows.len() + keys.len() > MAX_KEYS {
            windows.retain(|_, w| !self.policy.has_expired(w.started_at, now));
        }
        let taken: Vec<(ThrottleKey, ThrottleWindow)> =
            keys.iter().map(|key| (key.clone(), self.policy.take(windows.get(key).copied(), now))).collect();
        let retry_after = taken.iter().filter_map(|(_, w)| self.policy.judge(*w, now).err()).max();
        match retry_after {
            // Refused: only the refusing keys keep their (capped) count, so
            // the others are left exactly as they were.
            Some(retry_after) => {
                for (key, window) in taken {
                    if self.policy.judge(window, now).is_err() {
                        windows.insert(key, window);
                    }
                }
                Ok(Admission::Refused { retry_after })
            }
            None => {
                let slots = taken.iter().map(|(key, w)| (key.clone(), w.started_at)).collect();
                windows.extend(taken);
                Ok(Admission::Granted(Slots(slots)))
            }
        }
    }

    async fn succeeded(&self, slots: &Slots) -> Result<(), StoreError> {
        let mut windows = lock(&self.windows);
        for (key, started_at) in &slots.0 {
            if key.cleared_by_success() {
                windows.remove(key);
            } else if let Some(window) = windows.get_mut(key).filter(|w| w.started_at == *started_at) {
                window.attempts = self.policy.give_back(window.attempts);
            }
        }
        Ok(())
    }

    async fn release(&self, slots: &Slots) -> Result<(), StoreError> {
        let mut windows = lock(&self.windows);
        for (key, started_at) in &slots.0 {
            if let Some(window) = windows.get_mut(key).filter(|w| w.started_at == *started_at) {
                window.attempts = self.policy.give_back(window.attempts);
            }
        }
        Ok(())
    }

    async fn purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut windows = lock(&self.windows);
        let before = windows.len();
        windows.retain(|_, w| !self.policy.has_expired(w.started_at, now));
        Ok(u64::try_from(before - windows.len()).unwrap_or(u64::MAX))
    }
}
