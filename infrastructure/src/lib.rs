//! Gatehouse adapters: one implementation of each application port per
//! technology.
//!
//! - [`sea_orm`]: user and session stores on SQLite, PostgreSQL or MySQL,
//!   the backend chosen by the database URL.
//! - [`memory`]: in-memory stores and throttle. They obey the same contract
//!   as the database stores (the suites in `tests/` prove it) and are meant
//!   for downstream test suites as much as for ours.
//! - [`argon2_hasher`]: argon2id on a bounded blocking pool.
//! - [`jwt_codec`] and [`key_file`]: signed access tokens (EdDSA or HS256)
//!   and the Ed25519 key file.
//! - [`refresh_tokens`], [`system`]: HMAC-derived refresh tokens, clocks, ids.
//! - [`testkit`]: a builder for a complete in-process Gatehouse over the
//!   in-memory adapters, for test suites.

pub mod argon2_hasher;
pub mod audit_chain;
pub mod factor_crypto;
pub mod jwt_codec;
pub mod key_file;
pub mod memory;
pub mod prometheus_metrics;
pub mod refresh_tokens;
pub mod sea_orm;
pub mod system;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod token_cache;
pub mod webauthn_rp;

pub use argon2_hasher::{Argon2Hasher, Argon2Settings};
pub use factor_crypto::AwsLcFactorCrypto;
pub use jwt_codec::{JwtCodec, KeyState, SigningKey};
pub use memory::{
    MemoryAuditLog, MemoryLoginThrottle, MemoryMfaStore, MemoryServiceAccountStore, MemorySessionStore, MemoryUserStore,
};
pub use prometheus_metrics::PrometheusMetrics;
pub use refresh_tokens::HmacRefreshTokens;
pub use sea_orm::{
    Database, SeaOrmAuditLog, SeaOrmLoginThrottle, SeaOrmMfaStore, SeaOrmServiceAccountStore, SeaOrmSessionStore,
    SeaOrmUserStore,
};
pub use system::{FixedClock, SystemClock, UuidV7Ids};
pub use token_cache::{MokaClientCache, MokaTokenCache};
pub use webauthn_rp::{RelyingPartyConfigError, WebauthnRelyingParty, check_relying_party};
