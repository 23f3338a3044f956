//! In-memory [`ServiceAccountStore`].

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{ServiceAccountStore, StoreError};
use gatehouse_domain::{AuditEvent, Digest, Revocation, ServiceAccount, ServiceAccountId};
use time::OffsetDateTime;

use super::{MemoryAuditLog, MemorySessionStore, lock};

/// Service accounts in a map; clones share the data. A deletion's
/// revocation goes to the session store's feed, as in the database.
#[derive(Debug, Clone, Default)]
pub struct MemoryServiceAccountStore {
    accounts: Arc<Mutex<BTreeMap<ServiceAccountId, ServiceAccount>>>,
    audit: MemoryAuditLog,
    sessions: MemorySessionStore,
}

impl MemoryServiceAccountStore {
    /// A store that appends its audit events to `audit` and its
    /// revocations to `sessions`' feed.
    pub fn new(audit: MemoryAuditLog, sessions: MemorySessionStore) -> Self {
        Self { accounts: Arc::default(), audit, sessions }
    }

    fn record(&self, audit: Option<&AuditEvent>) {
        if let Some(event) = audit {
            self.audit.push(event);
        }
    }
}

impl ServiceAccountStore for MemoryServiceAccountStore {
    async fn insert_audited(&self, account: &ServiceAccount, audit: Option<&AuditEvent>) -> Result<(), StoreError> {
        let mut accounts = lock(&self.accounts);
        if accounts.contains_key(&account.id) || accounts.values().any(|a| a.client_id == account.client_id) {
            return Err(StoreError::Internal(format!("service account {} exists", account.id)));
        }
        accounts.insert(account.id, account.clone());
        self.record(audit);
        Ok(())
    }

    async fn find(&self, id: ServiceAccountId) -> Result<Option<ServiceAccount>, StoreError> {
        Ok(lock(&self.accounts).get(&id).cloned())
    }

    async fn find_by_client_id(&self, client_id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        Ok(lock(&self.accounts).values().find(|a| a.client_id == client_id).cloned())
    }

    async fn list(&self) -> Result<Vec<ServiceAccount>, StoreError> {
        Ok(lock(&self.accounts).values().cloned().collect())
    }

    async fn set_secret_audited(
        &self,
        id: ServiceAccountId,
        secret_hash: &Digest,
        _at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut accounts = lock(&self.accounts);
        let Some(account) = accounts.get_mut(&id) else { return Ok(false) };
        account.secret_hash = *secret_hash;
        self.record(audit);
        Ok(true)
    }

    async fn delete_audited(
        &self,
        id: ServiceAccountId,
        revocation: &Revocation,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut accounts = lock(&self.accounts);
        if accounts.remove(&id).is_none() {
            return Ok(false);
        }
        self.sessions.record_revocation(revocation);
        self.record(audit);
        Ok(true)
    }
}
