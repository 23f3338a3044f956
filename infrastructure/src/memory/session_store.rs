//! In-memory [`SessionStore`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{RevokeScope, SessionStore, StoreError};
use gatehouse_domain::{AuditEvent, Revocation, Session, SessionId, UserId};
use time::OffsetDateTime;

use super::{MemoryAuditLog, lock};

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, Session>,
    revocations: HashMap<SessionId, Revocation>,
}

/// Sessions and the revocation feed in maps; clones share the same data, so
/// two app instances built on clones behave like two servers on one
/// database. Every operation holds one lock, which makes `rotate` and
/// `revoke` atomic as the contract requires.
#[derive(Debug, Clone, Default)]
pub struct MemorySessionStore {
    state: Arc<Mutex<State>>,
    audit: MemoryAuditLog,
}

impl MemorySessionStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that appends its audit events to `audit` (share one log
    /// between the user and session stores of an application).
    pub fn with_audit(audit: MemoryAuditLog) -> Self {
        Self { state: Arc::default(), audit }
    }

    /// Adds `revocation` to the feed (a deleted service account's).
    pub(crate) fn record_revocation(&self, revocation: &Revocation) {
        lock(&self.state).revocations.entry(revocation.session_id).or_insert(*revocation);
    }

    fn record(&self, audit: Option<&AuditEvent>) {
        if let Some(event) = audit {
            self.audit.push(event);
        }
    }
}

fn in_scope(session: &Session, scope: RevokeScope) -> bool {
    match scope {
        RevokeScope::Session(id) => session.id == id,
        RevokeScope::User(user) => session.user_id == user,
        RevokeScope::UserExcept(user, keep) => session.user_id == user && session.id != keep,
    }
}

impl SessionStore for MemorySessionStore {
    async fn record_revocation(&self, revocation: &Revocation) -> Result<(), StoreError> {
        MemorySessionStore::record_revocation(self, revocation);
        Ok(())
    }

    async fn insert_audited(&self, session: &Session, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.sessions.contains_key(&session.id) {
            return Err(StoreError::Internal(format!("session {} exists", session.id)));
        }
        state.sessions.insert(session.id, session.clone());
        self.record(audit);
        Ok(())
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.state).sessions.get(&id).cloned())
    }

    async fn rotate_audited(
        &self,
        id: SessionId,
        from: u64,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(session) = state.sessions.get_mut(&id) else { return Ok(false) };
        if session.generation != from || session.revoked_at.is_some() || session.expires_at <= now {
            return Ok(false);
        }
        session.generation = from.saturating_add(1);
        session.rotated_at = Some(now);
        session.last_used_at = now;
        self.record(audit);
        Ok(true)
    }

    async fn revoke_audited(
        &self,
        scope: RevokeScope,
        at: OffsetDateTime,
        relevant_until: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut state = lock(&self.state);
        let mut revoked = Vec::new();
        for session in state.sessions.values_mut().filter(|s| s.revoked_at.is_none() && in_scope(s, scope)) {
            session.revoked_at = Some(at);
            revoked.push(Revocation {
                session_id: session.id,
                user_id: session.user_id,
                revoked_at: at,
                relevant_until,
            });
        }
        for r in &revoked {
            state.revocations.entry(r.session_id).or_insert(*r);
        }
        self.record(audit);
        Ok(revoked)
    }

    async fn list_live(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<Session>, StoreError> {
        let state = lock(&self.state);
        let mut live: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| s.user_id == user && s.revoked_at.is_none() && s.expires_at > now)
            .cloned()
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(live)
    }

    async fn revocations_since(
        &self,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        Ok(lock(&self.state)
            .revocations
            .values()
            .filter(|r| r.revoked_at >= since && r.relevant_until > now)
            .copied()
            .collect())
    }

    async fn purge(&self, now: OffsetDateTime, revoked_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let before = state.sessions.len() + state.revocations.len();
        state.sessions.retain(|_, s| s.expires_at > now && s.revoked_at.is_none_or(|at| at >= revoked_before));
        state.revocations.retain(|_, r| r.relevant_until > now);
        Ok(u64::try_from(before - state.sessions.len() - state.revocations.len()).unwrap_or(u64::MAX))
    }
}
