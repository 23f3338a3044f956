//! Gatehouse use cases.
//!
//! [`Gatehouse`] holds one adapter for each port (see [`ports`]) and the
//! token policy; each use case is a method on it, in a module of its own,
//! with its own error enum. Which adapters are used is decided once, by the
//! [`Adapters`] type parameter: the production binary wires sea-orm,
//! argon2id and jsonwebtoken; test suites wire in-memory stores, a fixed
//! clock and a cheap hasher.

pub mod admin;
pub mod audit;
pub mod authenticate;
pub mod create_user;
pub mod login;
pub mod password;
pub mod ports;
pub mod revocations;
pub mod sessions;

pub use admin::{AdminError, UserPage};
pub use audit::AuditPage;
pub use authenticate::{AuthError, Principal};
pub use create_user::CreateUserError;
pub use login::{LoginError, LoginRequest, TokenPair};
pub use password::ChangePasswordError;
pub use revocations::RevocationList;
pub use sessions::{LogoutScope, RefreshError, RevokeSessionError, SessionView};

use gatehouse_domain::TokenPolicy;
use ports::{
    AuditLog, Clock, IdSource, LoginThrottle, PasswordHasher, RefreshTokens, SessionStore, TokenCodec, UserStore,
};

/// The set of adapter types an application is built from.
pub trait Adapters: Send + Sync + 'static {
    type Users: UserStore;
    type Sessions: SessionStore;
    type Hasher: PasswordHasher;
    type Tokens: TokenCodec;
    type Refresh: RefreshTokens;
    type Clock: Clock;
    type Ids: IdSource;
    type Throttle: LoginThrottle;
    type Audit: AuditLog;
}

/// The application: adapters plus policy. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Gatehouse<A: Adapters> {
    pub users: A::Users,
    pub sessions: A::Sessions,
    pub hasher: A::Hasher,
    pub tokens: A::Tokens,
    pub refresh: A::Refresh,
    pub clock: A::Clock,
    pub ids: A::Ids,
    pub throttle: A::Throttle,
    /// The audit trail: reads, and events that go with no stored change.
    /// Changes append their events through the stores, in the same
    /// transaction.
    pub audit: A::Audit,
    pub policy: TokenPolicy,
    /// Revoked sessions, kept in memory for the hot path.
    pub revocations: RevocationList,
}
