//! In-memory [`UserStore`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gatehouse_application::ports::{InsertUserError, StoreError, UserStore};
use gatehouse_domain::{PasswordHash, User, UserId, Username};
use time::OffsetDateTime;

use super::lock;

/// Users in a map; clones share the same users.
#[derive(Debug, Clone, Default)]
pub struct MemoryUserStore {
    users: Arc<Mutex<HashMap<UserId, User>>>,
}

impl MemoryUserStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl UserStore for MemoryUserStore {
    async fn insert(&self, user: &User) -> Result<(), InsertUserError> {
        let mut users = lock(&self.users);
        if users.values().any(|u| u.username == user.username) || users.contains_key(&user.id) {
            return Err(InsertUserError::UsernameTaken);
        }
        users.insert(user.id, user.clone());
        Ok(())
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.users).values().find(|u| &u.username == username).cloned())
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.users).get(&id).cloned())
    }

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash, _at: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(user) = lock(&self.users).get_mut(&id) {
            user.password_hash = hash.clone();
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
