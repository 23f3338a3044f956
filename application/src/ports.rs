//! Ports: what the use cases need from the outside world, in their own terms.
//!
//! Each method documents what an adapter MUST do. Adapters implement the
//! methods as plain `async fn`. The store adapters shipped with Gatehouse
//! pass the same contract suites in `tests/`: in memory, SQLite,
//! PostgreSQL and MySQL/MariaDB.

use std::future::Future;

use gatehouse_domain::{
    AccessClaims, AuditEvent, Ceremony, Digest, Factor, FactorId, MfaChallenge, PasswordHash, PendingTotp,
    RecordedEvent, Revocation, Role, Sealed, ServiceAccount, ServiceAccountId, ServiceClaims, Session, SessionId,
    ThrottleKey, User, UserId, Username,
};
use secrecy::SecretString;

pub use crate::metrics::{LoginOutcome, RefreshOutcome, RevocationReason};
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

/// An administrator's change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Why a user could not be changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeUserError {
    #[error("no such user")]
    NotFound,
    /// The change would leave no active admin.
    #[error("the last active admin cannot be demoted, disabled or deleted")]
    LastAdmin,
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
    ///
    /// `audit`, when given, MUST be appended to the audit chain in the same
    /// transaction (so does every `*_audited` method below).
    fn insert_audited(
        &self,
        user: &User,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), InsertUserError>> + Send;

    /// [`Self::insert_audited`] without an audit event.
    fn insert(&self, user: &User) -> impl Future<Output = Result<(), InsertUserError>> + Send {
        self.insert_audited(user, None)
    }

    /// The user with this canonical username, if any.
    fn find_by_username(&self, username: &Username) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user with this id, if any.
    fn find_by_id(&self, id: UserId) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Replaces the user's password hash.
    ///
    /// # Errors
    /// [`StoreError`]; updating a user that does not exist is not an error.
    fn set_password_hash_audited(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`Self::set_password_hash_audited`] without an audit event.
    fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.set_password_hash_audited(id, hash, at, None)
    }

    /// Up to `limit` users with ids greater than `after` (all when `None`),
    /// in id order. Ids are UUID v7, so this is creation order, and a page
    /// costs the same at any depth (keyset pagination on the primary key).
    fn list(&self, after: Option<UserId>, limit: u32) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// Applies `change` to the user and returns the result.
    ///
    /// # Errors
    /// MUST refuse with [`ChangeUserError::LastAdmin`] a change that would
    /// leave no active admin (demoting or disabling the only one), decided
    /// atomically: two admins demoting each other at once cannot both
    /// succeed. [`ChangeUserError::NotFound`] for an unknown id.
    fn update_audited(
        &self,
        id: UserId,
        change: UserChange,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<User, ChangeUserError>> + Send;

    /// [`Self::update_audited`] without an audit event.
    fn update(
        &self,
        id: UserId,
        change: UserChange,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<User, ChangeUserError>> + Send {
        self.update_audited(id, change, at, None)
    }

    /// Ids of up to `limit` active (not disabled) admins.
    fn active_admins(&self, limit: u32) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send;

    /// Deletes the user (its sessions go with it).
    ///
    /// # Errors
    /// As [`Self::update`]: the only active admin cannot be deleted.
    fn delete_audited(
        &self,
        id: UserId,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), ChangeUserError>> + Send;

    /// [`Self::delete_audited`] without an audit event.
    fn delete(&self, id: UserId) -> impl Future<Output = Result<(), ChangeUserError>> + Send {
        self.delete_audited(id, None)
    }

    /// Succeeds when the store answers queries (readiness probe).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Which sessions a revocation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeScope {
    /// One session.
    Session(SessionId),
    /// Every session of a user.
    User(UserId),
    /// Every session of a user but one (log out elsewhere).
    UserExcept(UserId, SessionId),
}

/// Persistent sessions and their revocation feed.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a new session.
    ///
    /// # Errors
    /// [`StoreError`] only; ids are unique by construction.
    ///
    /// `audit`, when given, MUST be appended to the audit chain in the same
    /// transaction (so does every `*_audited` method below).
    fn insert_audited(
        &self,
        session: &Session,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`Self::insert_audited`] without an audit event.
    fn insert(&self, session: &Session) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.insert_audited(session, None)
    }

    /// The session with this id, revoked or not, if it exists.
    fn find(&self, id: SessionId) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Moves the session from generation `from` to `from + 1`, setting
    /// `rotated_at` and `last_used_at` to `now`, if and only if it is still
    /// at generation `from`, not revoked and not expired at `now`.
    ///
    /// MUST be atomic (one conditional update or a row lock): of many
    /// concurrent calls with the same `from`, exactly one returns `true`.
    /// `audit` is appended only when this call rotated.
    fn rotate_audited(
        &self,
        id: SessionId,
        from: u64,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// [`Self::rotate_audited`] without an audit event.
    fn rotate(
        &self,
        id: SessionId,
        from: u64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.rotate_audited(id, from, now, None)
    }

    /// Revokes every live session in `scope` at `at`, and records for each a
    /// [`Revocation`] relevant until `relevant_until`, in one transaction.
    /// Returns the sessions this call revoked (none that were revoked
    /// already: the first revocation time is kept).
    fn revoke_audited(
        &self,
        scope: RevokeScope,
        at: OffsetDateTime,
        relevant_until: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<Vec<Revocation>, StoreError>> + Send;

    /// [`Self::revoke_audited`] without an audit event.
    fn revoke(
        &self,
        scope: RevokeScope,
        at: OffsetDateTime,
        relevant_until: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Revocation>, StoreError>> + Send {
        self.revoke_audited(scope, at, relevant_until, None)
    }

    /// Adds `revocation` to the feed on its own (a service token or a
    /// deleted service account: nothing in `sessions` to mark). A record
    /// for the same id that is already there is kept.
    fn record_revocation(&self, revocation: &Revocation) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user's sessions that are neither revoked nor expired at `now`,
    /// newest first.
    fn list_live(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Revocations recorded at or after `since` (by `revoked_at`) and still
    /// relevant at `now`: the feed every instance polls.
    fn revocations_since(
        &self,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Revocation>, StoreError>> + Send;

    /// Deletes sessions that expired before `now` or were revoked before
    /// `revoked_before`, and revocation records no longer relevant at `now`.
    /// Returns how many rows went. MUST never make a revoked session usable
    /// again: a deleted session refreshes nothing.
    fn purge(
        &self,
        now: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Where an audit chain stops holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainBreak {
    /// Event `seq` is missing (deleted, or the sequence has a gap).
    Missing { seq: u64 },
    /// Event `seq` does not name the previous event's hash.
    BrokenLink { seq: u64 },
    /// Event `seq` was changed after it was written.
    Altered { seq: u64 },
}

/// The result of walking an audit chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainReport {
    /// Events checked before the first break (all of them when intact).
    pub checked: u64,
    pub first_break: Option<ChainBreak>,
}

/// The append-only, hash-chained audit trail.
pub trait AuditLog: Send + Sync + 'static {
    /// Appends an event that goes with no stored change (a failed login).
    fn append(&self, event: &AuditEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` events with `seq` below `before` (all when `None`),
    /// newest first; only those whose actor or subject is `user` when given.
    fn page(
        &self,
        before: Option<u64>,
        limit: u32,
        user: Option<UserId>,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Walks the whole chain from the first event.
    fn verify(&self) -> impl Future<Output = Result<ChainReport, StoreError>> + Send;
}

/// Why hashing or verifying a password failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The stored hash uses an algorithm or cost outside the configured
    /// bounds; it was refused without running it.
    #[error("stored hash is outside the accepted parameters")]
    Refused,
    /// Too many hashes are running and waiting; refused at once, without
    /// hashing. Clients should retry shortly.
    #[error("password hashing is overloaded")]
    Overloaded,
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

    /// Signs a service token's `claims` with the current key.
    fn sign_service(&self, claims: &ServiceClaims) -> Result<String, TokenError>;

    /// [`Self::verify`] for a service token.
    ///
    /// # Errors
    /// As [`Self::verify`], and MUST also refuse a token that carries any
    /// of a user token's `sid`, `role` or `username` (and `verify` refuses
    /// one without them): neither kind can pass as the other.
    fn verify_service(&self, token: &str) -> Result<ServiceClaims, TokenError>;

    /// Public keys to publish at `/.well-known/jwks.json` (none for HMAC).
    fn published_keys(&self) -> Vec<PublishedKey>;
}

/// Refresh tokens derived from a session and its generation with a
/// server-side key: nothing secret is stored, and the token of the current
/// generation can be handed out again (the grace rule) without keeping it.
pub trait RefreshTokens: Send + Sync + 'static {
    /// The refresh token of `session` at `generation`.
    fn issue(&self, session: SessionId, generation: u64) -> SecretString;

    /// The session and generation a presented token names, if it is
    /// authentic (checked in constant time).
    fn parse(&self, token: &str) -> Option<(SessionId, u64)>;
}

/// Where the use cases report outcomes for the operator's metrics. It MUST
/// not block or fail: metrics are never a reason for a request to fail.
pub trait Metrics: Send + Sync + 'static {
    fn login(&self, outcome: LoginOutcome);
    fn refresh(&self, outcome: RefreshOutcome);
    /// `count` sessions were revoked for `reason` (0 is not reported).
    fn sessions_revoked(&self, reason: RevocationReason, count: usize);

    /// A driver answered a request: `route` is the route pattern (never
    /// the raw path), `unmatched` for unknown routes.
    fn request(&self, _method: &str, _route: &str, _status: u16, _seconds: f64) {}

    /// Everything recorded, in the Prometheus text exposition format
    /// (version 0.0.4); `None` when this sink keeps nothing.
    fn export(&self) -> Option<String> {
        None
    }
}

/// Metrics that go nowhere (embedding and tests that do not look).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn login(&self, _: LoginOutcome) {}
    fn refresh(&self, _: RefreshOutcome) {}
    fn sessions_revoked(&self, _: RevocationReason, _: usize) {}
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

/// Login throttling state, per [`ThrottleKey`], under one
/// [`ThrottlePolicy`] fixed when the adapter is built.
///
/// Instances that share a database share the counts; the in-memory adapter
/// keeps them in process.
pub trait LoginThrottle: Send + Sync + 'static {
    /// Takes one attempt's slot under every key in `keys`, before the
    /// password is checked.
    ///
    /// It MUST be atomic per key in the store (a conditional upsert or a
    /// row lock, never a read and then a write): N concurrent calls for one
    /// key against a limit of L grant at most L slots. When any key refuses,
    /// the attempt MUST take no slot under the others either, and the
    /// answer is the longest wait among the refusing keys. With throttling
    /// off (limit 0) it grants without touching the store.
    ///
    /// # Errors
    /// [`StoreError`] when the state cannot be reached.
    fn acquire(
        &self,
        keys: &[ThrottleKey],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// Settles an attempt whose password was right: MUST clear the count
    /// of every key [`ThrottleKey::cleared_by_success`] says, and give back
    /// only this attempt's own slot under the others (if its window is
    /// still the one it was taken in).
    ///
    /// # Errors
    /// [`StoreError`] when the state cannot be reached.
    fn succeeded(&self, slots: &Slots) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives back every slot of an attempt that never got to check its
    /// password (the hashing queue was full): MUST clear nothing, only undo
    /// this attempt's own slots (if their windows are still the ones they
    /// were taken in).
    ///
    /// # Errors
    /// [`StoreError`] when the state cannot be reached.
    fn release(&self, slots: &Slots) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes windows that have closed by `now`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the state cannot be reached.
    fn purge(&self, now: OffsetDateTime) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// What [`LoginThrottle::acquire`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead and check the password; settle with
    /// [`LoginThrottle::succeeded`] if it was right.
    Granted(Slots),
    /// Refused without checking anything.
    Refused { retry_after: Duration },
}

/// The slots one attempt holds: each key and the window it was taken in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots(pub Vec<(ThrottleKey, OffsetDateTime)>);

/// Why a factor could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddFactorError {
    /// The user already has a factor in that slot (a second TOTP secret, a
    /// passkey registered twice).
    #[error("a factor is already registered in that slot")]
    AlreadyRegistered,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Second factors, recovery codes, TOTP secrets awaiting confirmation, and
/// the challenges between login's two steps.
///
/// Recovery codes and `mfa_token`s are stored only as [`Digest`]s; factor
/// secrets only sealed.
pub trait MfaStore: Send + Sync + 'static {
    /// Stores `pending` as the user's unconfirmed TOTP secret, replacing
    /// any earlier one.
    fn put_pending_totp(&self, pending: &PendingTotp) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user's unconfirmed TOTP secret, if any.
    fn pending_totp(&self, user: UserId) -> impl Future<Output = Result<Option<PendingTotp>, StoreError>> + Send;

    /// In one transaction: inserts `factor`, deletes the user's pending
    /// TOTP secret when `factor` is a TOTP factor, replaces the user's
    /// recovery codes with `recovery_codes` when given, and appends `audit`.
    ///
    /// # Errors
    /// MUST refuse with [`AddFactorError::AlreadyRegistered`], writing
    /// nothing, when the user has a factor with the same `slot`, also when
    /// two calls race (a unique index, not a prior read).
    fn add_factor_audited(
        &self,
        factor: &Factor,
        recovery_codes: Option<&[Digest]>,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), AddFactorError>> + Send;

    /// The user's factors, oldest first.
    fn factors(&self, user: UserId) -> impl Future<Output = Result<Vec<Factor>, StoreError>> + Send;

    /// Deletes the user's factor `id` and appends `audit`, in one
    /// transaction; when it was the user's last factor, their recovery
    /// codes go with it (MFA is off). Returns whether it existed.
    fn remove_factor_audited(
        &self,
        user: UserId,
        id: FactorId,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records that a TOTP code of `step` was accepted for factor `id` at
    /// `at`, if and only if no code of this or a later step was accepted
    /// before.
    ///
    /// MUST be atomic (one conditional update): of many concurrent calls
    /// with the same step, exactly one returns `true`.
    fn accept_totp_step(
        &self,
        id: FactorId,
        step: u64,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// How many unused recovery codes the user has.
    fn recovery_codes_left(&self, user: UserId) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Replaces the user's recovery codes with `codes` and appends `audit`,
    /// in one transaction, if the user has at least one factor; returns
    /// `false`, writing nothing, when they have none (MFA is off).
    fn replace_recovery_codes_audited(
        &self,
        user: UserId,
        codes: &[Digest],
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Uses up the user's recovery code `code` and appends `audit`, in one
    /// transaction. MUST be atomic: a code works once, also when presented
    /// twice at the same moment. Returns whether the code was there.
    fn use_recovery_code_audited(
        &self,
        user: UserId,
        code: &Digest,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes every factor, recovery code, pending secret, challenge and
    /// ceremony of the user and appends `audit`, in one transaction.
    fn reset_audited(
        &self,
        user: UserId,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a new challenge.
    fn insert_challenge(&self, challenge: &MfaChallenge) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The challenge whose token has the digest `token_hash`, if stored.
    fn challenge(&self, token_hash: &Digest) -> impl Future<Output = Result<Option<MfaChallenge>, StoreError>> + Send;

    /// Counts one wrong second factor against the challenge (atomically:
    /// concurrent failures all count).
    fn challenge_failed(&self, token_hash: &Digest) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends the challenge: deletes it if and only if it is still usable
    /// at `now` (not expired, fewer than five failures). MUST be atomic: of
    /// concurrent calls, exactly one returns `true`.
    fn spend_challenge(
        &self,
        token_hash: &Digest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a passkey sign-in: sets factor `id`'s sign count to
    /// `sign_count` and its `last_used_at` to `at`, if and only if its
    /// stored count is still `expected`.
    ///
    /// MUST be atomic (one conditional update): of concurrent calls with
    /// the same `expected`, exactly one returns `true`.
    fn record_passkey_use(
        &self,
        id: FactorId,
        expected: u32,
        sign_count: u32,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a started passkey ceremony.
    fn insert_ceremony(&self, ceremony: &Ceremony) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the ceremony `id` out: deletes it, and returns it if it was
    /// live at `now`. MUST be atomic: of concurrent calls, at most one gets
    /// it, on whichever instance they run.
    fn take_ceremony(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Ceremony>, StoreError>> + Send;

    /// Deletes challenges and ceremonies that expired before `now` and pending TOTP
    /// secrets created before `pending_before`; returns how many rows went.
    fn purge(
        &self,
        now: OffsetDateTime,
        pending_before: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Why a sealed secret could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// It names a key this service does not hold.
    #[error("sealed with unknown key {0}")]
    UnknownKey(String),
    /// It does not open with its key (altered, or sealed for another
    /// context).
    #[error("sealed value does not open")]
    Corrupt,
}

/// The cryptography second factors need: randomness, digests, the HMAC of
/// HOTP/TOTP, and sealing secrets at rest with an AEAD key.
pub trait FactorCrypto: Send + Sync + 'static {
    /// Fills `buf` from a cryptographically secure generator.
    fn random(&self, buf: &mut [u8]);

    /// SHA-256 of `data`.
    fn digest(&self, data: &[u8]) -> Digest;

    /// HMAC-SHA-1 of `message` under `key` (RFC 4226, RFC 6238).
    fn hmac_sha1(&self, key: &[u8], message: &[u8]) -> [u8; 20];

    /// Seals `plain` with the current key, bound to `context` (who and what
    /// it belongs to): it opens only with the same context.
    fn seal(&self, plain: &[u8], context: &[u8]) -> Sealed;

    /// Opens what [`Self::seal`] sealed.
    ///
    /// # Errors
    /// [`SealError`] when the key is unknown or the value does not open.
    fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// Service accounts: non-human clients of the client-credentials grant.
pub trait ServiceAccountStore: Send + Sync + 'static {
    /// Inserts a new account and appends `audit`, in one transaction.
    ///
    /// # Errors
    /// [`StoreError`]; ids and client ids are unique by construction (the
    /// store enforces it with unique indexes all the same).
    fn insert_audited(
        &self,
        account: &ServiceAccount,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account with this id, if any.
    fn find(&self, id: ServiceAccountId) -> impl Future<Output = Result<Option<ServiceAccount>, StoreError>> + Send;

    /// The account with this client id, if any.
    fn find_by_client_id(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ServiceAccount>, StoreError>> + Send;

    /// Every account, in id (creation) order.
    fn list(&self) -> impl Future<Output = Result<Vec<ServiceAccount>, StoreError>> + Send;

    /// Replaces the account's secret digest and appends `audit`, in one
    /// transaction; the old secret stops working at once. Returns whether
    /// the account exists.
    fn set_secret_audited(
        &self,
        id: ServiceAccountId,
        secret_hash: &Digest,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes the account, records `revocation` in the revocation feed
    /// that sessions use (so that every instance refuses the account's
    /// tokens within the same bound) and appends `audit`, in one
    /// transaction. Returns whether the account existed; when it did not,
    /// nothing is written.
    fn delete_audited(
        &self,
        id: ServiceAccountId,
        revocation: &Revocation,
        audit: Option<&AuditEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Access tokens that passed verification before, so that a token seen
/// again is not verified again (the signature check is most of a request's
/// cost).
///
/// An adapter MUST key entries by the exact token or a cryptographic hash
/// of it, hold only what [`Gatehouse::authenticate`](crate::Gatehouse)
/// inserts (tokens that passed every check), and stay bounded whatever
/// tokens clients send. The use case still checks the claims' times and
/// the revocation list on every hit, so an entry never outlives its
/// token's `exp` in effect, and a revocation takes effect at once.
pub trait VerifiedTokenCache: Send + Sync + 'static {
    /// The claims of `token`, if it was verified before.
    fn get(&self, token: &str) -> Option<AccessClaims>;

    /// Remembers that `token` verified to `claims`.
    fn insert(&self, token: &str, claims: &AccessClaims);
}

/// No cache: every token is verified every time.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTokenCache;

impl VerifiedTokenCache for NoTokenCache {
    fn get(&self, _: &str) -> Option<AccessClaims> {
        None
    }

    fn insert(&self, _: &str, _: &AccessClaims) {}
}

/// Client credentials that passed the check recently. The token endpoint
/// and introspection hear from the same few clients many times a second,
/// and a full check costs the throttle's two writes and a lookup.
///
/// An adapter MUST return an account only for the `client_id` and secret
/// digest it was inserted with (a wrong secret is a miss, and never evicts
/// the entry), MUST drop every entry within its time to live (at most one
/// second: a secret rotated or an account deleted on another instance
/// stops working within the bound revocations have), and MUST forget a
/// client at once on [`Self::forget`]. It stays bounded whatever clients
/// send.
pub trait VerifiedClientCache: Send + Sync + 'static {
    /// The account of `client_id`, if its secret digest is `secret` and it
    /// was checked within the time to live.
    fn get(&self, client_id: &str, secret: &Digest) -> Option<ServiceAccount>;

    /// Remembers that `account` presented its current secret.
    fn insert(&self, account: &ServiceAccount);

    /// Forgets `client_id` (its secret rotated, or its account deleted).
    fn forget(&self, client_id: &str);
}

/// A started passkey ceremony, as the relying party hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedCeremony {
    /// The WebAuthn Level 3 JSON options, wrapped as `{"publicKey": ...}`,
    /// with absent members left out (never `null`).
    pub options: String,
    /// The relying party's state (the challenge), kept on the server until
    /// the ceremony finishes.
    pub state: Vec<u8>,
}

/// A credential the relying party accepted at registration.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredPasskey {
    /// base64url, no padding.
    pub credential_id: String,
    /// The relying party's stored form of the credential (its public key
    /// and flags), opaque to the use cases, which seal it.
    pub credential: Vec<u8>,
    pub sign_count: u32,
    /// base64url, no padding.
    pub user_handle: String,
    pub transports: Vec<String>,
}

impl std::fmt::Debug for RegisteredPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredPasskey").field("sign_count", &self.sign_count).finish_non_exhaustive()
    }
}

/// A stored passkey, handed back to the relying party to check an
/// assertion against.
#[derive(Debug, Clone, Copy)]
pub struct StoredPasskey<'a> {
    /// What [`RegisteredPasskey::credential`] held.
    pub credential: &'a [u8],
    /// The count stored now (it grows with each sign-in).
    pub sign_count: u32,
}

/// What a verified assertion showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyAssertion {
    /// base64url, no padding.
    pub credential_id: String,
    /// The authenticator's signature counter (0 when it keeps none).
    pub sign_count: u32,
}

/// Why the relying party refused a ceremony's response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// It does not verify: malformed, a bad attestation or signature, the
    /// wrong origin, RP id or challenge, no user verification. The reason
    /// is short and holds nothing secret.
    #[error("passkey response refused: {0}")]
    Rejected(String),
    /// The signature counter did not grow: two copies of the key may be in
    /// use.
    #[error("the passkey's signature counter did not grow")]
    SignCountRegressed,
    /// The server could not go on (a stored state or credential that does
    /// not parse).
    #[error("passkey ceremony failed: {0}")]
    Internal(String),
}

/// A WebAuthn relying party: makes ceremony options and checks what
/// authenticators answer. CPU only; the use cases store ceremonies and
/// credentials.
pub trait PasskeyRelyingParty: Send + Sync + 'static {
    /// Starts registering a discoverable credential with user verification
    /// required for the user whose WebAuthn user handle is `user_handle`;
    /// `exclude` lists the credential ids the user has already.
    ///
    /// # Errors
    /// [`PasskeyError::Internal`].
    fn start_registration(
        &self,
        user_handle: Uuid,
        username: &str,
        exclude: &[String],
    ) -> Result<StartedCeremony, PasskeyError>;

    /// Checks a registration response (`RegistrationResponseJSON`) against
    /// its ceremony's state.
    ///
    /// # Errors
    /// [`PasskeyError::Rejected`] when it does not verify.
    fn finish_registration(
        &self,
        user_handle: Uuid,
        state: &[u8],
        response: &str,
    ) -> Result<RegisteredPasskey, PasskeyError>;

    /// Starts a passwordless sign-in: no credentials listed, user
    /// verification required.
    ///
    /// # Errors
    /// [`PasskeyError::Internal`].
    fn start_sign_in(&self) -> Result<StartedCeremony, PasskeyError>;

    /// The user handle and credential id an authentication response
    /// (`AuthenticationResponseJSON`) names, before anything is verified:
    /// to find the credential to verify it with.
    ///
    /// # Errors
    /// [`PasskeyError::Rejected`] when it is malformed or names no user.
    fn identify(&self, response: &str) -> Result<(Uuid, String), PasskeyError>;

    /// Checks a passwordless sign-in's response against its ceremony's
    /// state and the credential it names.
    ///
    /// # Errors
    /// [`PasskeyError::Rejected`], [`PasskeyError::SignCountRegressed`].
    fn finish_sign_in(
        &self,
        state: &[u8],
        response: &str,
        credential: StoredPasskey<'_>,
    ) -> Result<PasskeyAssertion, PasskeyError>;

    /// Starts a second-factor check limited to `credentials` (one user's),
    /// user verification required.
    ///
    /// # Errors
    /// [`PasskeyError::Internal`].
    fn start_second_factor(&self, credentials: &[StoredPasskey<'_>]) -> Result<StartedCeremony, PasskeyError>;

    /// Checks a second-factor response against its ceremony's state, which
    /// holds the credentials it was started with.
    ///
    /// # Errors
    /// [`PasskeyError::Rejected`], [`PasskeyError::SignCountRegressed`].
    fn finish_second_factor(&self, state: &[u8], response: &str) -> Result<PasskeyAssertion, PasskeyError>;
}
