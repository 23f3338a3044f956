//! Roles and what they permit.

use std::{fmt, str::FromStr};

/// A user's role. Every account has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

/// Something a principal may or may not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Read and change one's own account and sessions.
    ManageOwnAccount,
    /// Use the administration routes.
    Administer,
}

/// The text is not a known role.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role; expected `user` or `admin`")]
pub struct RoleError;

impl Role {
    /// The role's name as stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Whether this role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::ManageOwnAccount => true,
            Permission::Administer => self == Self::Admin,
        }
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(RoleError),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_may_administer() {
        assert!(Role::Admin.allows(Permission::Administer));
        assert!(!Role::User.allows(Permission::Administer));
    }

    #[test]
    fn every_role_may_manage_its_own_account() {
        assert!(Role::User.allows(Permission::ManageOwnAccount));
        assert!(Role::Admin.allows(Permission::ManageOwnAccount));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("Admin".parse::<Role>(), Err(RoleError));
        assert_eq!("root".parse::<Role>(), Err(RoleError));
    }
}
