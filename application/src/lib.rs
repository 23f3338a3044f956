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
pub mod introspection;
pub mod login;
pub mod metrics;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod ports;
pub mod revocations;
pub mod service_accounts;
pub mod sessions;

pub use admin::{AdminError, UserPage};
pub use audit::AuditPage;
pub use authenticate::{ActsAsAdmin, AdminPrincipal, AuthError, Operator, Principal, RecentPrincipal, ServiceAdmin};
pub use create_user::CreateUserError;
pub use introspection::Introspection;
pub use login::{LoginError, LoginRequest, LoginStep, MfaPending, SecondFactorProof, SecondFactorRequest, TokenPair};
pub use mfa::{MfaError, TotpEnrolment};
pub use passkeys::{PasskeyEnrolment, PasskeyManagementError, StartedPasskeyCeremony};
pub use password::ChangePasswordError;
pub use revocations::RevocationList;
pub use service_accounts::{ClientAuthError, IssuedSecret, ServiceAccountError, ServicePrincipal, ServiceToken};
pub use sessions::{LogoutScope, RefreshError, RevokeSessionError, SessionView};

use gatehouse_domain::{SecurityPolicy, TokenPolicy};
use ports::{
    AuditLog, Clock, FactorCrypto, IdSource, LoginThrottle, Metrics, MfaStore, PasskeyRelyingParty, PasswordHasher,
    RefreshTokens, ServiceAccountStore, SessionStore, TokenCodec, UserStore, VerifiedClientCache, VerifiedTokenCache,
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
    type Metrics: Metrics;
    type Mfa: MfaStore;
    type Crypto: FactorCrypto;
    type ServiceAccounts: ServiceAccountStore;
    type TokenCache: VerifiedTokenCache;
    type ClientCache: VerifiedClientCache;
    type Passkeys: PasskeyRelyingParty;
}

/// What an application is built from: one adapter per port, and the token
/// policy. [`Gatehouse::new`] takes it.
#[derive(Debug)]
pub struct Parts<A: Adapters> {
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
    pub metrics: A::Metrics,
    pub mfa: A::Mfa,
    pub crypto: A::Crypto,
    pub service_accounts: A::ServiceAccounts,
    /// Access tokens verified before.
    pub token_cache: A::TokenCache,
    /// Client credentials checked recently.
    pub client_cache: A::ClientCache,
    /// The WebAuthn relying party.
    pub passkeys: A::Passkeys,
    pub policy: TokenPolicy,
    /// Recent authentication and the admin MFA rule.
    pub security: SecurityPolicy,
}

/// The application: adapters plus policy. Cheap to share behind an `Arc`.
///
/// Its adapters are private: drivers (the HTTP API, the command line, an
/// embedding program) go through the use cases, so every rule the use
/// cases enforce holds for all of them. With the `testkit` feature, test
/// suites may reach the adapters through [`Gatehouse::parts`].
#[derive(Debug)]
pub struct Gatehouse<A: Adapters> {
    users: A::Users,
    sessions: A::Sessions,
    hasher: A::Hasher,
    tokens: A::Tokens,
    refresh: A::Refresh,
    clock: A::Clock,
    ids: A::Ids,
    throttle: A::Throttle,
    audit: A::Audit,
    metrics: A::Metrics,
    mfa: A::Mfa,
    crypto: A::Crypto,
    service_accounts: A::ServiceAccounts,
    token_cache: A::TokenCache,
    client_cache: A::ClientCache,
    passkeys: A::Passkeys,
    policy: TokenPolicy,
    security: SecurityPolicy,
    /// Revoked sessions, kept in memory for the hot path.
    revocations: RevocationList,
}

impl<A: Adapters> Gatehouse<A> {
    /// An application over `parts`, with an empty revocation list (load it
    /// with [`Gatehouse::sync_revocations`] before serving).
    pub fn new(parts: Parts<A>) -> Self {
        let Parts {
            users,
            sessions,
            hasher,
            tokens,
            refresh,
            clock,
            ids,
            throttle,
            audit,
            metrics,
            mfa,
            crypto,
            service_accounts,
            token_cache,
            client_cache,
            passkeys,
            policy,
            security,
        } = parts;
        Self {
            users,
            sessions,
            hasher,
            tokens,
            refresh,
            clock,
            ids,
            throttle,
            audit,
            metrics,
            mfa,
            crypto,
            service_accounts,
            token_cache,
            client_cache,
            passkeys,
            policy,
            security,
            revocations: RevocationList::default(),
        }
    }

    /// The token policy (lifetimes, issuer, audience).
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// Recent authentication and the admin MFA rule.
    pub fn security(&self) -> &SecurityPolicy {
        &self.security
    }

    /// The public keys that verify this application's access tokens, for
    /// the JWKS (none in HMAC mode).
    pub fn published_keys(&self) -> Vec<ports::PublishedKey> {
        self.tokens.published_keys()
    }

    /// Records a request a driver answered (for the operator's metrics).
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.metrics.request(method, route, status, seconds);
    }

    /// The operator's metrics in the Prometheus text format, if kept.
    pub fn metrics_text(&self) -> Option<String> {
        self.metrics.export()
    }

    /// Readiness: whether the stores answer.
    ///
    /// # Errors
    /// [`ports::StoreError`] when they do not.
    pub async fn ready(&self) -> Result<(), ports::StoreError> {
        self.users.ping().await
    }
}

/// The adapters behind a [`Gatehouse`], for test suites that check what a
/// use case stored or move a fixed clock. Not for drivers.
#[cfg(feature = "testkit")]
#[derive(Debug)]
pub struct PartsRef<'a, A: Adapters> {
    pub users: &'a A::Users,
    pub sessions: &'a A::Sessions,
    pub hasher: &'a A::Hasher,
    pub tokens: &'a A::Tokens,
    pub refresh: &'a A::Refresh,
    pub clock: &'a A::Clock,
    pub ids: &'a A::Ids,
    pub throttle: &'a A::Throttle,
    pub audit: &'a A::Audit,
    pub metrics: &'a A::Metrics,
    pub mfa: &'a A::Mfa,
    pub crypto: &'a A::Crypto,
    pub service_accounts: &'a A::ServiceAccounts,
    pub token_cache: &'a A::TokenCache,
    pub client_cache: &'a A::ClientCache,
    pub passkeys: &'a A::Passkeys,
    pub revocations: &'a RevocationList,
}

#[cfg(feature = "testkit")]
impl<A: Adapters> Gatehouse<A> {
    /// The adapters, for test suites (feature `testkit`).
    pub fn parts(&self) -> PartsRef<'_, A> {
        PartsRef {
            users: &self.users,
            sessions: &self.sessions,
            hasher: &self.hasher,
            tokens: &self.tokens,
            refresh: &self.refresh,
            clock: &self.clock,
            ids: &self.ids,
            throttle: &self.throttle,
            audit: &self.audit,
            metrics: &self.metrics,
            mfa: &self.mfa,
            crypto: &self.crypto,
            service_accounts: &self.service_accounts,
            token_cache: &self.token_cache,
            client_cache: &self.client_cache,
            passkeys: &self.passkeys,
            revocations: &self.revocations,
        }
    }
}
