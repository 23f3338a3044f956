//! In-memory [`AuditLog`].

use std::sync::{Arc, Mutex};

use gatehouse_application::ports::{AuditLog, ChainReport, StoreError};
use gatehouse_domain::{AuditEvent, RecordedEvent, UserId};

use super::lock;
use crate::audit_chain::{self, GENESIS};

/// The audit chain in a vector; clones share it. The memory stores append
/// to it while holding their own lock, so a change and its event are one
/// step, as the ports require.
#[derive(Debug, Clone, Default)]
pub struct MemoryAuditLog {
    events: Arc<Mutex<Vec<RecordedEvent>>>,
}

impl MemoryAuditLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `event` to the chain.
    pub(crate) fn push(&self, event: &AuditEvent) {
        let mut events = lock(&self.events);
        let (seq, hash) = events.last().map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash.clone()));
        let recorded = audit_chain::next(seq, &hash, event.clone());
        events.push(recorded);
    }

    /// Replaces a stored event (for tests that tamper with the chain;
    /// feature `testkit`).
    #[cfg(feature = "testkit")]
    pub fn tamper(&self, seq: u64, edit: impl FnOnce(&mut RecordedEvent)) {
        if let Some(e) = lock(&self.events).iter_mut().find(|e| e.seq == seq) {
            edit(e);
        }
    }
}

impl AuditLog for MemoryAuditLog {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.push(event);
        Ok(())
    }

    async fn page(
        &self,
        before: Option<u64>,
        limit: u32,
        user: Option<UserId>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = lock(&self.events);
        Ok(events
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.seq < b))
            .filter(|e| user.is_none_or(|u| e.event.actor == Some(u) || e.event.subject == Some(u)))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn verify(&self) -> Result<ChainReport, StoreError> {
        Ok(audit_chain::verify(lock(&self.events).clone()))
    }
}
