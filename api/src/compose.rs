//! The composition root: the one place that turns settings into concrete
//! adapters (sea-orm, argon2id, jsonwebtoken, the system clock).

use gatehouse_application::{Adapters, Gatehouse, Parts};
use gatehouse_domain::{SecurityPolicy, TokenPolicy};
use gatehouse_infrastructure::{
    Argon2Hasher, Argon2Settings, AwsLcFactorCrypto, Database, HmacRefreshTokens, JwtCodec, KeyState, MokaClientCache,
    MokaTokenCache, PrometheusMetrics, SeaOrmAuditLog, SeaOrmLoginThrottle, SeaOrmMfaStore, SeaOrmServiceAccountStore,
    SeaOrmSessionStore, SeaOrmUserStore, SigningKey, SystemClock, UuidV7Ids, WebauthnRelyingParty, key_file,
    sea_orm::DatabaseSettings,
};
use secrecy::ExposeSecret;
use time::Duration;

use crate::{
    client_address::TrustedProxies,
    cors::CorsOrigins,
    server::HttpSettings,
    settings::{PasswordSettings, Settings, SettingsError, WebauthnSettings},
};

/// The adapters the `gatehouse` binary runs with.
#[derive(Debug)]
pub struct Production;

impl Adapters for Production {
    type Users = SeaOrmUserStore;
    type Sessions = SeaOrmSessionStore;
    type Hasher = Argon2Hasher;
    type Tokens = JwtCodec;
    type Refresh = HmacRefreshTokens;
    type Clock = SystemClock;
    type Ids = UuidV7Ids;
    type Throttle = SeaOrmLoginThrottle;
    type Audit = SeaOrmAuditLog;
    type Metrics = PrometheusMetrics;
    type Mfa = SeaOrmMfaStore;
    type Crypto = AwsLcFactorCrypto;
    type ServiceAccounts = SeaOrmServiceAccountStore;
    type TokenCache = MokaTokenCache;
    type ClientCache = MokaClientCache;
    type Passkeys = WebauthnRelyingParty;
}

/// Checks `webauthn.rp_id` against `webauthn.origins` as browsers will
/// (see [`gatehouse_infrastructure::check_relying_party`]).
///
/// # Errors
/// [`SettingsError`] naming `webauthn.rp_id` or `webauthn.origins`.
pub fn check_relying_party(webauthn: &WebauthnSettings) -> Result<(), SettingsError> {
    gatehouse_infrastructure::check_relying_party(&webauthn.rp_id, &webauthn.origins)
        .map(|_| ())
        .map_err(relying_party_error)
}

/// The setting a refused relying party names, with the line to print.
fn relying_party_error(e: gatehouse_infrastructure::RelyingPartyConfigError) -> SettingsError {
    use gatehouse_infrastructure::RelyingPartyConfigError as E;
    let key = match e {
        E::NotASuffix { .. } | E::BadRpId(_) => "webauthn.rp_id",
        E::NoOrigins | E::NotAnOrigin(_) | E::Insecure(_) => "webauthn.origins",
    };
    // The message names the setting already.
    let message = e.to_string();
    let message = message.strip_prefix(key).unwrap_or(&message).trim_start_matches(':').trim_start().to_owned();
    SettingsError::new(key, message)
}

/// The WebAuthn relying party `webauthn.*` describes.
///
/// # Errors
/// [`SettingsError`] for `webauthn.rp_id` or `webauthn.origins`.
pub fn relying_party(settings: &Settings) -> Result<WebauthnRelyingParty, SettingsError> {
    let webauthn = &settings.webauthn;
    WebauthnRelyingParty::new(&webauthn.rp_id, &webauthn.rp_name, &webauthn.origins).map_err(relying_party_error)
}

/// The token policy the settings describe.
pub fn token_policy(settings: &Settings) -> TokenPolicy {
    let jwt = &settings.jwt;
    TokenPolicy {
        issuer: jwt.issuer.clone(),
        audience: jwt.audience.clone(),
        access_ttl: Duration::seconds(jwt.access_ttl_seconds),
        refresh_ttl: Duration::seconds(jwt.refresh_ttl_seconds),
        leeway: Duration::seconds(jwt.leeway_seconds),
        refresh_reuse_grace: Duration::seconds(jwt.refresh_reuse_grace_seconds),
    }
}

/// The HTTP settings the server section describes.
///
/// # Errors
/// [`SettingsError`] for `server.trusted_proxies`.
pub fn http_settings(settings: &Settings) -> Result<HttpSettings, SettingsError> {
    let server = &settings.server;
    Ok(HttpSettings {
        host: server.host.clone(),
        port: server.port,
        body_limit_bytes: server.body_limit_bytes,
        workers: (server.workers > 0).then_some(server.workers),
        trusted_proxies: TrustedProxies::parse(&server.trusted_proxies)
            .map_err(|e| SettingsError::new("server.trusted_proxies", e))?,
        jwks_max_age_seconds: settings.jwt.jwks_max_age_seconds,
        public_url: server.public_url.clone(),
        cors_allowed_origins: CorsOrigins::parse(&server.cors_allowed_origins)
            .map_err(|e| SettingsError::new("server.cors_allowed_origins", e))?,
        metrics_listen: match &settings.metrics.listen {
            Some(listen) => {
                Some(listen.parse().map_err(|_| SettingsError::new("metrics.listen", "must be host:port"))?)
            }
            None => None,
        },
        metrics_token: settings.metrics.token.clone(),
        metrics_enabled: settings.metrics.enabled,
    })
}

/// Checks, without writing anything or contacting the database, what
/// start-up would refuse beyond [`Settings::validate`]: the HTTP settings,
/// the argon2id parameters, and key files that exist (or must, in
/// production).
///
/// # Errors
/// The [`SettingsError`] start-up would stop with.
pub fn check(settings: &Settings) -> Result<(), SettingsError> {
    http_settings(settings)?;
    Argon2Hasher::check(&argon2_settings(&settings.password))
        .map_err(|e| SettingsError::new("password.memory_kib", e.to_string()))?;
    let production = settings.is_production();
    if settings.jwt.algorithm == "EdDSA" {
        let files: Vec<(&str, &std::path::Path, bool)> = if settings.jwt.keys.is_empty() {
            vec![("jwt.key_file", &settings.jwt.key_file, true)]
        } else {
            settings.jwt.keys.iter().map(|k| ("jwt.keys", k.file.as_path(), k.state == "current")).collect()
        };
        for (key, file, may_be_generated) in files {
            if file.exists() || production || !may_be_generated {
                key_file::load_or_create(file, false).map_err(|e| SettingsError::new(key, e.to_string()))?;
            }
        }
    }
    let refresh = &settings.jwt.refresh_secret_file;
    if settings.jwt.refresh_secret.is_none() && (refresh.exists() || production) {
        key_file::load_or_create_secret(refresh, false)
            .map_err(|e| SettingsError::new("jwt.refresh_secret_file", e.to_string()))?;
    }
    let mfa_key = &settings.mfa.encryption_key_file;
    if mfa_key.exists() || production {
        key_file::load_or_create_secret(mfa_key, false)
            .map_err(|e| SettingsError::new("mfa.encryption_key_file", e.to_string()))?;
    }
    for previous in &settings.mfa.previous_encryption_key_files {
        key_file::load_or_create_secret(previous, false)
            .map_err(|e| SettingsError::new("mfa.previous_encryption_key_files", e.to_string()))?;
    }
    Ok(())
}

/// The key TOTP secrets are sealed with: `mfa.encryption_key_file`
/// (generated outside production), plus the rotated-out keys that still
/// open what they sealed.
///
/// # Errors
/// [`SettingsError`] for `mfa.encryption_key_file` or
/// `mfa.previous_encryption_key_files`.
pub fn factor_crypto(settings: &Settings) -> Result<AwsLcFactorCrypto, SettingsError> {
    let current = key_file::load_or_create_secret(&settings.mfa.encryption_key_file, !settings.is_production())
        .map_err(|e| SettingsError::new("mfa.encryption_key_file", e.to_string()))?;
    let mut previous = Vec::new();
    for file in &settings.mfa.previous_encryption_key_files {
        previous.push(
            key_file::load_or_create_secret(file, false)
                .map_err(|e| SettingsError::new("mfa.previous_encryption_key_files", e.to_string()))?,
        );
    }
    let previous: Vec<&[u8]> = previous.iter().map(Vec::as_slice).collect();
    AwsLcFactorCrypto::new(&current, &previous)
        .map_err(|e| SettingsError::new("mfa.encryption_key_file", e.to_string()))
}

/// Verified access tokens, at most `jwt.verified_token_cache_capacity`
/// (0: none kept), each at most the access-token lifetime plus the leeway.
pub fn token_cache(settings: &Settings) -> MokaTokenCache {
    let jwt = &settings.jwt;
    let ttl = std::time::Duration::from_secs(
        u64::try_from(jwt.access_ttl_seconds.saturating_add(jwt.leeway_seconds)).unwrap_or(0),
    );
    MokaTokenCache::new(jwt.verified_token_cache_capacity, ttl)
}

/// Clients that presented their current secret within
/// `jwt.verified_client_cache_milliseconds` (0: none kept).
pub fn client_cache(settings: &Settings) -> MokaClientCache {
    let ms = settings.jwt.verified_client_cache_milliseconds;
    let capacity = if ms == 0 { 0 } else { MokaClientCache::CAPACITY };
    MokaClientCache::new(capacity, std::time::Duration::from_millis(ms.max(1)))
}

/// Recent authentication and the admin MFA rule.
pub fn security_policy(settings: &Settings) -> SecurityPolicy {
    SecurityPolicy {
        reauth_max_age: Duration::seconds(settings.security.reauth_max_age_seconds),
        mfa_required_for_admin: settings.mfa.required_for_admin,
        totp_issuer: settings.mfa.totp_issuer.clone(),
    }
}

/// The argon2id settings the password section describes.
pub fn argon2_settings(password: &PasswordSettings) -> Argon2Settings {
    let defaults = Argon2Settings::default();
    Argon2Settings {
        memory_kib: password.memory_kib,
        iterations: password.iterations,
        parallelism: password.parallelism,
        max_memory_kib: password.max_memory_kib,
        max_iterations: password.max_iterations,
        max_parallelism: password.max_parallelism,
        concurrency: if password.concurrency == 0 { defaults.concurrency } else { password.concurrency },
        max_waiting: password.max_waiting,
    }
}

/// Connects to the configured database.
///
/// # Errors
/// [`SettingsError`] for `database.url` when it cannot be reached or used.
pub async fn connect(settings: &Settings) -> Result<Database, SettingsError> {
    let db = DatabaseSettings {
        url: settings.database.url.clone(),
        max_connections: settings.database.max_connections,
        acquire_timeout: std::time::Duration::from_secs(settings.database.acquire_timeout_seconds.max(1)),
    };
    Database::connect(&db).await.map_err(|e| SettingsError::new("database.url", format!("cannot connect: {e}")))
}

/// The signing keys the settings describe (`jwt.keys`, or `jwt.key_file`
/// as the one current key, or the HS256 secret); outside production a
/// missing Ed25519 key file is generated.
///
/// # Errors
/// [`SettingsError`] for `jwt.keys`, `jwt.key_file` or `jwt.secret`.
pub fn signing_key(settings: &Settings) -> Result<JwtCodec, SettingsError> {
    let create = !settings.is_production();
    if settings.jwt.algorithm == "HS256" {
        let secret =
            settings.jwt.secret.clone().ok_or_else(|| SettingsError::new("jwt.secret", "required for HS256"))?;
        return JwtCodec::new(&SigningKey::Hs256 { secret })
            .map_err(|e| SettingsError::new("jwt.secret", e.to_string()));
    }
    if settings.jwt.keys.is_empty() {
        let der = key_file::load_or_create(&settings.jwt.key_file, create)
            .map_err(|e| SettingsError::new("jwt.key_file", e.to_string()))?;
        return JwtCodec::new(&SigningKey::Ed25519 { pkcs8_der: der })
            .map_err(|e| SettingsError::new("jwt.key_file", e.to_string()));
    }
    let mut keys = Vec::with_capacity(settings.jwt.keys.len());
    for entry in &settings.jwt.keys {
        let state = match entry.state.as_str() {
            "current" => KeyState::Current,
            "next" => KeyState::Next,
            _ => KeyState::Retired,
        };
        // Only the current key may be generated: a missing next or retired
        // key is a configuration mistake, not a key to invent.
        let der = key_file::load_or_create(&entry.file, create && state == KeyState::Current)
            .map_err(|e| SettingsError::new("jwt.keys", e.to_string()))?;
        keys.push((SigningKey::Ed25519 { pkcs8_der: der }, state));
    }
    JwtCodec::with_keys(&keys).map_err(|e| SettingsError::new("jwt.keys", e.to_string()))
}

/// The refresh token key: `jwt.refresh_secret`, else the file
/// `jwt.refresh_secret_file` (generated outside production).
///
/// # Errors
/// [`SettingsError`] for `jwt.refresh_secret` or `jwt.refresh_secret_file`.
pub fn refresh_tokens(settings: &Settings) -> Result<HmacRefreshTokens, SettingsError> {
    if let Some(secret) = &settings.jwt.refresh_secret {
        return HmacRefreshTokens::new(secret.expose_secret().as_bytes())
            .map_err(|e| SettingsError::new("jwt.refresh_secret", e.to_string()));
    }
    let key = key_file::load_or_create_secret(&settings.jwt.refresh_secret_file, !settings.is_production())
        .map_err(|e| SettingsError::new("jwt.refresh_secret_file", e.to_string()))?;
    HmacRefreshTokens::new(&key).map_err(|e| SettingsError::new("jwt.refresh_secret_file", e.to_string()))
}

/// Builds the production application on a connected database.
///
/// # Errors
/// [`SettingsError`] naming the key whose value cannot work.
pub fn build(settings: &Settings, db: &Database) -> Result<Gatehouse<Production>, SettingsError> {
    let hasher = Argon2Hasher::new(argon2_settings(&settings.password))
        .map_err(|e| SettingsError::new("password.memory_kib", e.to_string()))?;
    let metrics = PrometheusMetrics::new();
    metrics.watch_hasher(&hasher);
    Ok(Gatehouse::new(Parts {
        users: db.users(),
        sessions: db.sessions(),
        hasher,
        tokens: signing_key(settings)?,
        refresh: refresh_tokens(settings)?,
        clock: SystemClock,
        ids: UuidV7Ids,
        throttle: db
            .throttle(settings.rate_limit.login_failures, Duration::seconds(settings.rate_limit.window_seconds)),
        audit: db.audit(),
        metrics,
        mfa: db.mfa(),
        crypto: factor_crypto(settings)?,
        service_accounts: db.service_accounts(),
        token_cache: token_cache(settings),
        client_cache: client_cache(settings),
        passkeys: relying_party(settings)?,
        policy: token_policy(settings),
        security: security_policy(settings),
    }))
}
