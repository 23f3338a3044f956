//! Reading and checking the audit trail.

use gatehouse_domain::{RecordedEvent, UserId};

use crate::{
    Adapters, AdminError, Gatehouse,
    ports::{AuditLog, ChainReport, StoreError},
};

/// One page of audit events, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<RecordedEvent>,
    /// The `seq` to pass as `before` for the next (older) page.
    pub next: Option<u64>,
}

impl<A: Adapters> Gatehouse<A> {
    /// A page of audit events (newest first), optionally only those whose
    /// actor or subject is `user`.
    ///
    /// # Errors
    /// [`StoreError`] only.
    pub async fn audit_events(
        &self,
        _admin: &impl crate::ActsAsAdmin,
        before: Option<u64>,
        limit: u32,
        user: Option<UserId>,
    ) -> Result<AuditPage, AdminError> {
        let limit = limit.clamp(1, crate::admin::MAX_PAGE);
        let mut events = self.audit.page(before, limit + 1, user).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = if more { events.last().map(|e| e.seq) } else { None };
        Ok(AuditPage { events, next })
    }

    /// Walks the whole chain (the command line's `audit verify`).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn verify_audit(&self) -> Result<ChainReport, StoreError> {
        self.audit.verify().await
    }
}
