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

    /// An admin who is not disabled: someone who can administer.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && !self.disabled
    }
}

/// The last-admin rule: whether turning `current` into `changed` (`None`:
/// deleting it) would leave no active admin, given the ids of every active
/// admin now. Every store decides it with this, under a lock that keeps
/// `active_admins` true until the change commits.
pub fn leaves_no_active_admin(current: &User, changed: Option<&User>, active_admins: &[UserId]) -> bool {
    let stays = changed.is_some_and(User::is_active_admin);
    current.is_active_admin() && !stays && active_admins.iter().all(|id| *id == current.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, disabled: bool) -> User {
        User {
            id: UserId::from_uuid(Uuid::now_v7()),
            username: Username::parse("someone").unwrap(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
            role,
            disabled,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn demoting_disabling_or_deleting_the_only_active_admin_leaves_none() {
        let admin = user(Role::Admin, false);
        let admins = [admin.id];
        let demoted = User { role: Role::User, ..admin.clone() };
        let disabled = User { disabled: true, ..admin.clone() };
        assert!(leaves_no_active_admin(&admin, Some(&demoted), &admins));
        assert!(leaves_no_active_admin(&admin, Some(&disabled), &admins));
        assert!(leaves_no_active_admin(&admin, None, &admins));
        assert!(!leaves_no_active_admin(&admin, Some(&admin), &admins), "an unchanged admin stays");
    }

    #[test]
    fn another_active_admin_or_a_non_admin_target_leaves_one() {
        let admin = user(Role::Admin, false);
        let other = user(Role::Admin, false);
        assert!(!leaves_no_active_admin(&admin, None, &[admin.id, other.id]));
        let plain = user(Role::User, false);
        assert!(!leaves_no_active_admin(&plain, None, &[admin.id]));
        let disabled_admin = user(Role::Admin, true);
        assert!(!leaves_no_active_admin(&disabled_admin, None, &[admin.id]), "it was not active");
    }
}
