//! Build a complete Gatehouse in-process over in-memory adapters: for
//! downstream test suites (and ours).
//!
//! [`InMemoryBuilder`] starts from working defaults: empty in-memory
//! stores, a [`FixedClock`] at the current time that only moves when told,
//! argon2id at its cheapest (microseconds per hash instead of tens of
//! milliseconds; never use it in production), a fresh Ed25519 signing key,
//! a fresh refresh-token key, throttling off and the contract's token
//! policy. Change any of them with the builder's methods.
//!
//! ```
//! use gatehouse_application::{LoginRequest, LoginStep};
//! use gatehouse_domain::{NewPassword, Username};
//! use gatehouse_infrastructure::testkit::InMemoryBuilder;
//! use secrecy::SecretString;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let builder = InMemoryBuilder::new();
//! let clock = builder.clock_handle();
//! let app = builder.build().expect("valid defaults");
//!
//! let password = NewPassword::parse(SecretString::from("correct horse battery"), Some("alice")).unwrap();
//! app.register(Username::parse("alice").unwrap(), password, None).await.unwrap();
//! let login = LoginRequest {
//!     username: "alice".into(),
//!     password: SecretString::from("correct horse battery"),
//!     client: None,
//! };
//! let LoginStep::SignedIn(pair) = app.login(login).await.unwrap() else { panic!("alice has no second factor") };
//! assert!(app.authenticate(&pair.access_token).is_ok());
//!
//! // Time only moves when the test says so.
//! clock.advance(time::Duration::minutes(16));
//! assert!(app.authenticate(&pair.access_token).is_err());
//! # }
//! ```
//!
//! To serve the real HTTP API over it, hand the result to
//! `gatehouse_api::server::start(Arc::new(app), &HttpSettings { port: 0, .. })`.

use std::marker::PhantomData;

use aws_lc_rs::{rand::SystemRandom, signature::Ed25519KeyPair};
use gatehouse_application::{
    Adapters, Gatehouse, Parts,
    ports::{Clock, HashError},
};
use gatehouse_domain::{SecurityPolicy, TokenPolicy};
use time::OffsetDateTime;

use crate::{
    Argon2Hasher, Argon2Settings, AwsLcFactorCrypto, FixedClock, HmacRefreshTokens, JwtCodec, MemoryAuditLog,
    MemoryLoginThrottle, MemoryMfaStore, MemoryServiceAccountStore, MemorySessionStore, MemoryUserStore,
    MokaClientCache, MokaTokenCache, PrometheusMetrics, SigningKey, UuidV7Ids, WebauthnRelyingParty,
    jwt_codec::KeyError, refresh_tokens::KeyTooShort,
};

/// Verified tokens the test kit's application remembers.
pub const TOKEN_CACHE_CAPACITY: u64 = 10_000;
/// How long the test kit's application remembers a client (the production
/// default).
pub const CLIENT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The in-memory adapter set, generic over the clock (a [`FixedClock`]
/// unless the builder is given another).
#[derive(Debug)]
pub struct InMemory<C = FixedClock>(PhantomData<C>);

impl<C: Clock> Adapters for InMemory<C> {
    type Users = MemoryUserStore;
    type Sessions = MemorySessionStore;
    type Hasher = Argon2Hasher;
    type Tokens = JwtCodec;
    type Refresh = HmacRefreshTokens;
    type Clock = C;
    type Ids = UuidV7Ids;
    type Throttle = MemoryLoginThrottle;
    type Audit = MemoryAuditLog;
    type Metrics = PrometheusMetrics;
    type Mfa = MemoryMfaStore;
    type Crypto = AwsLcFactorCrypto;
    type ServiceAccounts = MemoryServiceAccountStore;
    type TokenCache = MokaTokenCache;
    type ClientCache = MokaClientCache;
    type Passkeys = WebauthnRelyingParty;
}

/// Why [`InMemoryBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("password hasher: {0}")]
    Hasher(#[from] HashError),
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    #[error("refresh token key: {0}")]
    RefreshKey(#[from] KeyTooShort),
    #[error("could not generate a key")]
    Random,
    #[error("relying party: {0}")]
    RelyingParty(#[from] crate::RelyingPartyConfigError),
}

/// Builds a [`Gatehouse`] over in-memory adapters; see the module docs.
#[derive(Debug)]
pub struct InMemoryBuilder<C = FixedClock> {
    users: MemoryUserStore,
    sessions: MemorySessionStore,
    mfa: MemoryMfaStore,
    service_accounts: MemoryServiceAccountStore,
    audit: MemoryAuditLog,
    metrics: PrometheusMetrics,
    clock: C,
    policy: TokenPolicy,
    security: SecurityPolicy,
    crypto: Option<AwsLcFactorCrypto>,
    argon2: Argon2Settings,
    throttle: MemoryLoginThrottle,
    tokens: Option<JwtCodec>,
    refresh: Option<HmacRefreshTokens>,
    passkeys: Option<WebauthnRelyingParty>,
}

impl Default for InMemoryBuilder<FixedClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryBuilder<FixedClock> {
    /// The defaults described in the module docs.
    pub fn new() -> Self {
        let audit = MemoryAuditLog::new();
        let sessions = MemorySessionStore::with_audit(audit.clone());
        Self {
            users: MemoryUserStore::with_audit(audit.clone()),
            service_accounts: MemoryServiceAccountStore::new(audit.clone(), sessions.clone()),
            sessions,
            mfa: MemoryMfaStore::with_audit(audit.clone()),
            audit,
            metrics: PrometheusMetrics::new(),
            clock: FixedClock::new(OffsetDateTime::now_utc()),
            policy: TokenPolicy::default(),
            security: SecurityPolicy::default(),
            crypto: None,
            argon2: Argon2Settings::insecure_fast_for_tests(),
            throttle: MemoryLoginThrottle::disabled(),
            tokens: None,
            refresh: None,
            passkeys: None,
        }
    }

    /// A handle on the fixed clock (clones share the time): advance it to
    /// expire tokens and sessions without sleeping.
    pub fn clock_handle(&self) -> FixedClock {
        self.clock.clone()
    }
}

impl<C: Clock> InMemoryBuilder<C> {
    /// Uses another clock, e.g. `SystemClock` for a server driven in real time.
    pub fn clock<D: Clock>(self, clock: D) -> InMemoryBuilder<D> {
        InMemoryBuilder {
            users: self.users,
            sessions: self.sessions,
            mfa: self.mfa,
            service_accounts: self.service_accounts,
            audit: self.audit,
            metrics: self.metrics,
            clock,
            policy: self.policy,
            security: self.security,
            crypto: self.crypto,
            argon2: self.argon2,
            throttle: self.throttle,
            tokens: self.tokens,
            refresh: self.refresh,
            passkeys: self.passkeys,
        }
    }

    /// Uses these stores and audit log; pass clones of another app's to
    /// build a second instance on the same "database" (the stores should
    /// append to that log: see `MemoryUserStore::with_audit`). The
    /// second-factor store becomes a fresh one on that log; share another
    /// app's with [`Self::mfa`] after this call.
    #[must_use]
    pub fn stores(mut self, users: MemoryUserStore, sessions: MemorySessionStore, audit: MemoryAuditLog) -> Self {
        self.service_accounts = MemoryServiceAccountStore::new(audit.clone(), sessions.clone());
        self.users = users;
        self.sessions = sessions;
        self.mfa = MemoryMfaStore::with_audit(audit.clone());
        self.audit = audit;
        self
    }

    /// Uses this service-account store (share a clone with another
    /// instance; build it on that instance's audit log and session store).
    #[must_use]
    pub fn service_accounts(mut self, store: MemoryServiceAccountStore) -> Self {
        self.service_accounts = store;
        self
    }

    /// Uses this second-factor store (share a clone with another instance,
    /// together with its [`Self::factor_crypto`]).
    #[must_use]
    pub fn mfa(mut self, mfa: MemoryMfaStore) -> Self {
        self.mfa = mfa;
        self
    }

    /// The key TOTP secrets are sealed with (default: a fresh random one).
    #[must_use]
    pub fn factor_crypto(mut self, crypto: AwsLcFactorCrypto) -> Self {
        self.crypto = Some(crypto);
        self
    }

    /// Recent authentication and the admin MFA rule (default: the
    /// contract's 900 s, no MFA required).
    #[must_use]
    pub fn security(mut self, security: SecurityPolicy) -> Self {
        self.security = security;
        self
    }

    #[must_use]
    pub fn policy(mut self, policy: TokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// argon2id costs (the default is the cheapest argon2 accepts).
    #[must_use]
    pub fn argon2(mut self, settings: Argon2Settings) -> Self {
        self.argon2 = settings;
        self
    }

    /// Login throttling (off by default).
    #[must_use]
    pub fn throttle(mut self, throttle: MemoryLoginThrottle) -> Self {
        self.throttle = throttle;
        self
    }

    /// The token codec (default: a fresh Ed25519 key). Share one codec's
    /// key between instances with `JwtCodec::new(&key)` on each.
    #[must_use]
    pub fn tokens(mut self, codec: JwtCodec) -> Self {
        self.tokens = Some(codec);
        self
    }

    /// The WebAuthn relying party (default: RP id `localhost`, name
    /// `Gatehouse`, origin `http://localhost:8080`).
    #[must_use]
    pub fn relying_party(mut self, passkeys: WebauthnRelyingParty) -> Self {
        self.passkeys = Some(passkeys);
        self
    }

    /// The refresh token adapter (default: a fresh random key).
    #[must_use]
    pub fn refresh_tokens(mut self, refresh: HmacRefreshTokens) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// The metrics sink (default: a fresh Prometheus registry of its own).
    #[must_use]
    pub fn metrics(mut self, metrics: PrometheusMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The application.
    ///
    /// # Errors
    /// [`BuildError`] for argon2 settings or keys that cannot work.
    pub fn build(self) -> Result<Gatehouse<InMemory<C>>, BuildError> {
        let tokens = match self.tokens {
            Some(codec) => codec,
            None => {
                let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).map_err(|_| BuildError::Random)?;
                JwtCodec::new(&SigningKey::Ed25519 { pkcs8_der: der.as_ref().to_vec() })?
            }
        };
        let refresh = match self.refresh {
            Some(refresh) => refresh,
            None => {
                let mut key = [0u8; 32];
                aws_lc_rs::rand::fill(&mut key).map_err(|_| BuildError::Random)?;
                HmacRefreshTokens::new(&key)?
            }
        };
        let hasher = Argon2Hasher::new(self.argon2)?;
        self.metrics.watch_hasher(&hasher);
        Ok(Gatehouse::new(Parts {
            users: self.users,
            sessions: self.sessions,
            hasher,
            tokens,
            refresh,
            clock: self.clock,
            ids: UuidV7Ids,
            throttle: self.throttle,
            audit: self.audit,
            metrics: self.metrics,
            mfa: self.mfa,
            crypto: self.crypto.unwrap_or_else(AwsLcFactorCrypto::ephemeral),
            service_accounts: self.service_accounts,
            token_cache: MokaTokenCache::new(
                TOKEN_CACHE_CAPACITY,
                (self.policy.access_ttl + self.policy.leeway).try_into().unwrap_or(std::time::Duration::ZERO),
            ),
            client_cache: MokaClientCache::new(MokaClientCache::CAPACITY, CLIENT_CACHE_TTL),
            passkeys: match self.passkeys {
                Some(passkeys) => passkeys,
                None => WebauthnRelyingParty::new("localhost", "Gatehouse", &["http://localhost:8080".to_owned()])?,
            },
            policy: self.policy,
            security: self.security,
        }))
    }
}
