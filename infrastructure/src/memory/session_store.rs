//! In-memory [`SessionStore`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{SessionStore, StoreError};
use gatehouse_domain::{Session, SessionId};
use time::OffsetDateTime;

use super::lock;

/// Sessions in a map; clones share the same sessions.
#[derive(Debug, Clone, Default)]
pub struct MemorySessionStore {
    sessions: Arc<Mutex<HashMap<SessionId, Session>>>,
}

impl MemorySessionStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemorySessionStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        lock(&self.sessions).insert(session.id, session.clone());
        Ok(())
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.sessions).get(&id).cloned())
    }

    async fn revoke(&self, id: SessionId, at: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(session) = lock(&self.sessions).get_mut(&id) {
            session.revoked_at.get_or_insert(at);
        }
        Ok(())
    }
}
