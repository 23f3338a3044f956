//! In-memory [`UserStore`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{ChangeUserError, InsertUserError, StoreError, UserChange, UserStore};
use gatehouse_domain::{AuditEvent, PasswordHash, User, UserId, Username, leaves_no_active_admin};
use time::OffsetDateTime;

use super::{MemoryAuditLog, lock};

/// Users in a map; clones share the same users.
#[derive(Debug, Clone, Default)]
pub struct MemoryUserStore {
    users: Arc<Mutex<HashMap<UserId, User>>>,
    audit: MemoryAuditLog,
}

impl MemoryUserStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that appends its audit events to `audit` (share one log
    /// between the user and session stores of an application).
    pub fn with_audit(audit: MemoryAuditLog) -> Self {
        Self { users: Arc::default(), audit }
    }

    /// The audit log this store appends to.
    pub fn audit_log(&self) -> MemoryAuditLog {
        self.audit.clone()
    }

    fn record(&self, audit: Option<&AuditEvent>) {
        if let Some(event) = audit {
            self.audit.push(event);
        }
    }
}

impl UserStore for MemoryUserStore {
    async fn insert_audited(&self, user: &User, audit: Option<&AuditEvent>) -> Result<(), InsertUserError> {
        let mut users = lock(&self.users);
        if users.values().any(|u| u.username == user.username) || users.contains_key(&user.id) {
            return Err(InsertUserError::UsernameTaken);
        }
        users.insert(user.id, user.clone());
        self.record(audit);
        Ok(())
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.users).values().find(|u| &u.username == username).cloned())
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.users).get(&id).cloned())
    }

    async fn set_password_hash_audited(
        &self,
        id: UserId,
        hash: &PasswordHash,
        _at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut users = lock(&self.users);
        if let Some(user) = users.get_mut(&id) {
            user.password_hash = hash.clone();
            self.record(audit);
        }
        Ok(())
    }

    async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, StoreError> {
        let users = lock(&self.users);
        let mut page: Vec<&User> = users.values().filter(|u| after.is_none_or(|after| u.id > after)).collect();
        page.sort_by_key(|u| u.id);
        Ok(page.into_iter().take(limit as usize).cloned().collect())
    }

    async fn active_admins(&self, limit: u32) -> Result<Vec<UserId>, StoreError> {
        let users = lock(&self.users);
        let mut admins: Vec<UserId> = users.values().filter(|u| u.is_active_admin()).map(|u| u.id).collect();
        admins.sort();
        admins.truncate(limit as usize);
        Ok(admins)
    }

    async fn update_audited(
        &self,
        id: UserId,
        change: UserChange,
        _at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<User, ChangeUserError> {
        // One lock over the check and the write: atomic, as the port requires.
        let mut users = lock(&self.users);
        let current = users.get(&id).ok_or(ChangeUserError::NotFound)?;
        let changed = User {
            role: change.role.unwrap_or(current.role),
            disabled: change.disabled.unwrap_or(current.disabled),
            ..current.clone()
        };
        if leaves_no_active_admin(current, Some(&changed), &active_admins(&users)) {
            return Err(ChangeUserError::LastAdmin);
        }
        users.insert(id, changed.clone());
        self.record(audit);
        Ok(changed)
    }

    async fn delete_audited(&self, id: UserId, audit: Option<&AuditEvent>) -> Result<(), ChangeUserError> {
        let mut users = lock(&self.users);
        let current = users.get(&id).ok_or(ChangeUserError::NotFound)?;
        if leaves_no_active_admin(current, None, &active_admins(&users)) {
            return Err(ChangeUserError::LastAdmin);
        }
        users.remove(&id);
        self.record(audit);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn active_admins(users: &HashMap<UserId, User>) -> Vec<UserId> {
    users.values().filter(|u| u.is_active_admin()).map(|u| u.id).collect()
}
