//! Ports: what the use cases need from the outside world, in their own terms.
//!
//! Each method documents what an adapter MUST do. Adapters implement the
//! methods as plain `async fn`. Every adapter shipped with Gatehouse (in
//! memory, SQLite, PostgreSQL, MySQL) passes the same contract suites in
//! `tests/`.

use std::future::Future;

use gatehouse_domain::{AccessClaims, PasswordHash, Session, SessionId, User, UserId, Username};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A store failed for a reason that is not part of the use case's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused, pool
    /// exhausted, timed out). Clients should retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else. The message is for the server log only.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Why a user could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsertUserError {
    #[error("username already taken")]
    UsernameTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Persistent users.
pub trait UserStore: Send + Sync + 'static {
    /// Inserts a new user.
    ///
    /// # Errors
    /// MUST return [`InsertUserError::UsernameTaken`] when a user with the
    /// same canonical username exists, also when two inserts race: exactly
    /// one of them succeeds (enforced by a unique index, not a prior read).
    fn insert(&self, user: &User) -> impl Future<Output = Result<(), InsertUserError>> + Send;

    /// The user with this canonical username, if any.
    fn find_by_username(&self, username: &Username) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user with this id, if any.
    fn find_by_id(&self, id: UserId) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Succeeds when the store answers queries (readiness probe).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Persistent sessions.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a new session.
    ///
    /// # Errors
    /// [`StoreError`] only; ids are unique by construction.
    fn insert(&self, session: &Session) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The session with this id, revoked or not, if it exists.
    fn find(&self, id: SessionId) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Marks the session revoked at `at`. Revoking a revoked or missing
    /// session is not an error, and MUST keep the first revocation time.
    fn revoke(&self, id: SessionId, at: OffsetDateTime) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why hashing or verifying a password failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The stored hash uses an algorithm or cost outside the configured
    /// bounds; it was refused without running it.
    #[error("stored hash is outside the accepted parameters")]
    Refused,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Password hashing (argon2id in production).
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes a new password with the configured parameters.
    fn hash(&self, password: SecretString) -> impl Future<Output = Result<PasswordHash, HashError>> + Send;

    /// Whether `password` matches `hash`. With `hash` = `None` (unknown
    /// user) the adapter MUST still do the same work against a dummy hash
    /// and answer `false`, so both failures take the same time.
    ///
    /// # Errors
    /// [`HashError::Refused`] for a hash whose parameters are outside the
    /// configured bounds.
    fn verify(
        &self,
        password: SecretString,
        hash: Option<PasswordHash>,
    ) -> impl Future<Output = Result<bool, HashError>> + Send;
}

/// Why a token could not be signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, bad signature, wrong algorithm or `typ`, unknown `kid`,
    /// forbidden or unknown header, missing or mistyped claim.
    #[error("invalid token")]
    Invalid,
    #[error("token signing failed: {0}")]
    Internal(String),
}

/// A public key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kid: String,
    pub alg: String,
    pub kty: String,
    pub crv: String,
    /// Base64url public key bytes.
    pub x: String,
}

/// Signs and verifies access tokens (JWTs).
pub trait TokenCodec: Send + Sync + 'static {
    /// Signs `claims` with the current key.
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError>;

    /// Verifies the signature and header of `token` and decodes its claims.
    /// Claim rules (issuer, audience, times) are NOT checked here: the
    /// use case checks them with [`gatehouse_domain::TokenPolicy::check`].
    ///
    /// # Errors
    /// MUST return [`TokenError::Invalid`] for anything but a well-formed
    /// token signed by one of this codec's keys with its algorithm, with
    /// `typ` `at+jwt`, no `crit`, `jwk`, `jku`, `x5u` or `x5c` header, and
    /// every claim present with the right type.
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError>;

    /// Public keys to publish at `/.well-known/jwks.json` (none for HMAC).
    fn published_keys(&self) -> Vec<PublishedKey>;
}

/// A refresh token as handed to the client, and the digest that is stored.
#[derive(Debug)]
pub struct IssuedRefreshToken {
    pub token: SecretString,
    pub digest: String,
}

/// Mints opaque refresh tokens and digests them for storage.
pub trait RefreshTokens: Send + Sync + 'static {
    /// A new random refresh token (at least 256 bits) and its digest.
    fn issue(&self) -> IssuedRefreshToken;

    /// The digest of a presented token, comparable with a stored one.
    fn digest(&self, token: &str) -> String;
}

/// The current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// New unique ids.
pub trait IdSource: Send + Sync + 'static {
    /// A new id; Gatehouse's adapters use UUID v7 so ids sort by time.
    fn new_id(&self) -> Uuid;
}

/// Counts failed logins per key (username, client address) in a window.
pub trait LoginThrottle: Send + Sync + 'static {
    /// `Err(retry_after)` while `key` has reached the failure limit.
    ///
    /// # Errors
    /// The time until the oldest counted failure leaves the window.
    fn check(&self, key: &str, now: OffsetDateTime) -> Result<(), Duration>;

    /// Counts one failure for `key`.
    fn record_failure(&self, key: &str, now: OffsetDateTime);

    /// Forgets `key`'s failures (after a successful login).
    fn reset(&self, key: &str);
}
