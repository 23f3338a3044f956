//! The account.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{PasswordHash, Role, Username};

/// A user's stable identifier (a UUID v7, so ids sort by creation time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A registered account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub password_hash: PasswordHash,
    pub role: Role,
    /// A disabled account keeps its data but can neither log in nor use
    /// tokens issued before it was disabled.
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl User {
    /// Whether the account may sign in and use its sessions.
    pub fn is_active(&self) -> bool {
        !self.disabled
    }
}
