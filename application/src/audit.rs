//! Reading and checking the audit trail.

use gatehouse_domain::{AuditAction, AuditEvent, AuditOutcome, Permission, RecordedEvent, UserId};
use time::OffsetDateTime;

use crate::{
    Adapters, AdminError, Gatehouse, Principal,
    ports::{AuditLog, ChainReport, StoreError},
};

/// One page of audit events, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<RecordedEvent>,
    /// The `seq` to pass as `before` for the next (older) page.
    pub next: Option<u64>,
}

/// Builds an event; the use cases fill in who, whom and from where.
pub(crate) fn event(
    at: OffsetDateTime,
    action: AuditAction,
    outcome: AuditOutcome,
    actor: Option<UserId>,
    subject: Option<UserId>,
    client: Option<&str>,
    detail: Option<String>,
) -> AuditEvent {
    AuditEvent { occurred_at: at, action, outcome, actor, subject, client: client.map(str::to_owned), detail }
}

impl<A: Adapters> Gatehouse<A> {
    /// A page of audit events (newest first), optionally only those whose
    /// actor or subject is `user`.
    ///
    /// # Errors
    /// [`AdminError::Forbidden`] for a non-admin.
    pub async fn audit_events(
        &self,
        principal: &Principal,
        before: Option<u64>,
        limit: u32,
        user: Option<UserId>,
    ) -> Result<AuditPage, AdminError> {
        principal.require(Permission::Administer)?;
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
