//! In-memory [`LoginThrottle`]: a sliding window of failure times per key.
//!
//! The state is per process: with several instances behind a load balancer
//! each one counts separately, so the effective limit is at most
//! `limit x instances`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::LoginThrottle;
use time::{Duration, OffsetDateTime};

use super::lock;

/// Failure limit per key within a window. A limit of 0 turns throttling off.
#[derive(Debug, Clone)]
pub struct MemoryLoginThrottle {
    limit: usize,
    window: Duration,
    failures: Arc<Mutex<HashMap<String, VecDeque<OffsetDateTime>>>>,
}

/// Keys tracked at most; beyond this the oldest entries are pruned first so
/// that a flood of random usernames cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

impl MemoryLoginThrottle {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self { limit, window, failures: Arc::default() }
    }

    /// A throttle that never refuses.
    pub fn disabled() -> Self {
        Self::new(0, Duration::ZERO)
    }
}

impl LoginThrottle for MemoryLoginThrottle {
    fn check(&self, key: &str, now: OffsetDateTime) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut failures = lock(&self.failures);
        let Some(times) = failures.get_mut(key) else { return Ok(()) };
        while times.front().is_some_and(|t| *t + self.window <= now) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= self.limit => Err((*oldest + self.window - now).max(Duration::SECOND)),
            _ => Ok(()),
        }
    }

    fn record_failure(&self, key: &str, now: OffsetDateTime) {
        if self.limit == 0 {
            return;
        }
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_KEYS && !failures.contains_key(key) {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|t| *t + window > now));
        }
        let times = failures.entry(key.to_owned()).or_default();
        times.push_back(now);
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    fn reset(&self, key: &str) {
        lock(&self.failures).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    #[test]
    fn the_limit_th_failure_closes_the_door_until_the_window_passes() {
        let throttle = MemoryLoginThrottle::new(3, Duration::minutes(15));
        for i in 0..3 {
            assert!(throttle.check("user:alice", T0 + Duration::seconds(i)).is_ok());
            throttle.record_failure("user:alice", T0 + Duration::seconds(i));
        }
        assert_eq!(throttle.check("user:alice", T0 + Duration::seconds(60)), Err(Duration::seconds(15 * 60 - 60)));
        assert!(throttle.check("user:bob", T0).is_ok());
        assert!(throttle.check("user:alice", T0 + Duration::minutes(15)).is_ok());
    }

    #[test]
    fn a_reset_forgets_failures() {
        let throttle = MemoryLoginThrottle::new(1, Duration::minutes(15));
        throttle.record_failure("k", T0);
        assert!(throttle.check("k", T0).is_err());
        throttle.reset("k");
        assert!(throttle.check("k", T0).is_ok());
    }

    #[test]
    fn a_limit_of_zero_never_throttles() {
        let throttle = MemoryLoginThrottle::new(0, Duration::minutes(15));
        for _ in 0..100 {
            throttle.record_failure("k", T0);
        }
        assert!(throttle.check("k", T0).is_ok());
    }
}
