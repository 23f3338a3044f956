//! Typed settings, read in layers and checked once at start-up.
//!
//! Layers, later ones win: the built-in copy of `config/default.toml`, then
//! `<dir>/default.toml` and `<dir>/<env>.toml` when present (`dir` is
//! `GATEHOUSE_CONFIG_DIR` or `config`; `env` is `GATEHOUSE_ENV` or
//! `development`), then `GATEHOUSE__SECTION__KEY` environment variables.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

/// The built-in defaults, so the binary runs from any directory.
const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// `development`, `test` or `production` (from `GATEHOUSE_ENV`).
    #[serde(skip)]
    pub environment: String,
    pub server: ServerSettings,
    pub database: DatabaseSection,
    pub jwt: JwtSettings,
    pub sessions: SessionSettings,
    pub password: PasswordSettings,
    pub rate_limit: RateLimitSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub mfa: MfaSettings,
    #[serde(default)]
    pub webauthn: WebauthnSettings,
}

/// The WebAuthn relying party passkeys are registered with.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebauthnSettings {
    /// The RP id: the domain passkeys are bound to, which every origin's
    /// host must equal or end with (`example.com` for
    /// `https://login.example.com`). Changing it orphans every passkey.
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The origins (scheme, host, port) browsers run the passkey calls
    /// from; each is accepted exactly.
    pub origins: Vec<String>,
}

impl Default for WebauthnSettings {
    fn default() -> Self {
        Self { rp_id: "localhost".into(), rp_name: "Gatehouse".into(), origins: vec!["http://localhost:8080".into()] }
    }
}

/// Recent authentication.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SecuritySettings {
    /// How long after a sign-in the routes that change how an account
    /// signs in still accept its session.
    pub reauth_max_age_seconds: i64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self { reauth_max_age_seconds: 900 }
    }
}

/// Second factors.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MfaSettings {
    /// `true`: `/admin/*` and `/auth/admin` need a session signed in with
    /// a second factor.
    pub required_for_admin: bool,
    /// The AES-256-GCM key TOTP secrets are sealed with (base64 of 32+
    /// random bytes); created on first start outside production.
    pub encryption_key_file: PathBuf,
    /// Key files that sealed values may still name after a rotation; they
    /// open, never seal.
    #[serde(default)]
    pub previous_encryption_key_files: Vec<PathBuf>,
    /// The issuer authenticator apps show next to the account name.
    pub totp_issuer: String,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            required_for_admin: false,
            encryption_key_file: PathBuf::from("data/mfa.key"),
            previous_encryption_key_files: Vec::new(),
            totp_issuer: "Gatehouse".into(),
        }
    }
}

/// Where `/metrics` is served, and who may scrape it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MetricsSettings {
    /// `false` turns metrics off: no `/metrics`, nothing recorded per
    /// request.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// `host:port` of a listener that serves only `/metrics`; unset: the
    /// main listener serves it.
    pub listen: Option<String>,
    /// When set, a scrape needs `Authorization: Bearer <token>`.
    #[serde(serialize_with = "redacted")]
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionSettings {
    pub revocation_poll_milliseconds: u64,
    pub purge_interval_seconds: u64,
}

/// One signing key of a rotation.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyEntry {
    pub file: PathBuf,
    /// `current`, `next` or `retired`.
    pub state: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub body_limit_bytes: usize,
    pub workers: usize,
    /// CIDR blocks (or addresses) of the proxies whose `X-Forwarded-For`
    /// is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Browser origins allowed to call the API (`https://app.example`).
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// The service's public base URL, for the absolute URLs of the
    /// authorization-server metadata.
    #[serde(default = "public_url")]
    pub public_url: String,
}

fn verified_token_cache_capacity() -> u64 {
    10_000
}

fn verified_client_cache_milliseconds() -> u64 {
    1000
}

fn public_url() -> String {
    "http://127.0.0.1:8080".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSection {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JwtSettings {
    pub algorithm: String,
    #[serde(serialize_with = "redacted")]
    pub secret: Option<SecretString>,
    pub key_file: PathBuf,
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    #[serde(serialize_with = "redacted")]
    pub refresh_secret: Option<SecretString>,
    pub refresh_secret_file: PathBuf,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: i64,
    pub refresh_ttl_seconds: i64,
    pub leeway_seconds: i64,
    pub refresh_reuse_grace_seconds: i64,
    /// How long verifiers may cache the JWKS (`Cache-Control: max-age`).
    pub jwks_max_age_seconds: u32,
    /// Access tokens remembered after a successful verification, so that a
    /// token seen again skips the signature check; 0 keeps none.
    #[serde(default = "verified_token_cache_capacity")]
    pub verified_token_cache_capacity: u64,
    /// How long a client that presented its current secret is remembered
    /// (at most 1000: the bound revocations have); 0 checks every time.
    #[serde(default = "verified_client_cache_milliseconds")]
    pub verified_client_cache_milliseconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_memory_kib: u32,
    pub max_iterations: u32,
    pub max_parallelism: u32,
    pub concurrency: usize,
    /// Hashes that may wait for a thread before requests get 503
    /// `overloaded`.
    pub max_waiting: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RateLimitSettings {
    pub login_failures: u32,
    pub window_seconds: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

/// A setting that cannot work, with the key that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    pub key: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

impl Settings {
    /// Reads every layer from the process environment and checks the result.
    ///
    /// # Errors
    /// [`SettingsError`] naming the first key that cannot work.
    pub fn load() -> Result<Self, SettingsError> {
        let environment = std::env::var("GATEHOUSE_ENV").unwrap_or_else(|_| "development".into());
        let dir = std::env::var_os("GATEHOUSE_CONFIG_DIR").map_or_else(|| PathBuf::from("config"), PathBuf::from);
        Self::load_from(&dir, &environment, std::env::vars().collect())
    }

    /// As [`Self::load`], with the folder, environment name and environment
    /// variables given (tests use this to avoid touching the process env).
    ///
    /// A variable whose value is a JSON array of strings sets a list
    /// (`GATEHOUSE__SERVER__TRUSTED_PROXIES='["10.0.0.0/8"]'`): containers
    /// cannot write TOML lists. Variables without the `GATEHOUSE__` prefix
    /// are ignored.
    ///
    /// # Errors
    /// [`SettingsError`].
    pub fn load_from(dir: &Path, environment: &str, vars: HashMap<String, String>) -> Result<Self, SettingsError> {
        if !matches!(environment, "development" | "test" | "production") {
            return Err(SettingsError::new("GATEHOUSE_ENV", "must be development, test or production"));
        }
        let (lists, scalars): (HashMap<String, String>, HashMap<String, String>) =
            vars.into_iter().filter(|(var, _)| var.starts_with(ENV_PREFIX)).partition(|(_, value)| is_list(value));
        let env = Environment::with_prefix("GATEHOUSE").prefix_separator("__").separator("__").source(Some(scalars));
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false))
            .add_source(File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(env.try_parsing(true));
        for (var, value) in lists {
            let list: Vec<String> = serde_json::from_str(&value).unwrap_or_default();
            builder = builder.set_override(env_key(&var), list).map_err(config_error)?;
        }
        let config = builder.build().map_err(config_error)?;
        let mut settings: Self = config.try_deserialize().map_err(config_error)?;
        settings.environment = environment.to_owned();
        settings.validate()?;
        Ok(settings)
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    /// Checks what serde cannot: ranges and combinations.
    ///
    /// # Errors
    /// [`SettingsError`] naming the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let url = &self.database.url;
        if !["sqlite:", "postgres://", "postgresql://", "mysql://"].iter().any(|p| url.starts_with(p)) {
            return Err(SettingsError::new("database.url", "must start with sqlite:, postgres:// or mysql://"));
        }
        if self.database.max_connections == 0 {
            return Err(SettingsError::new("database.max_connections", "must be at least 1"));
        }
        match self.jwt.algorithm.as_str() {
            "EdDSA" => {}
            "HS256" => {
                use secrecy::ExposeSecret;
                let len = self.jwt.secret.as_ref().map_or(0, |s| s.expose_secret().len());
                if len < 32 {
                    return Err(SettingsError::new("jwt.secret", "HS256 needs a secret of at least 32 bytes"));
                }
            }
            _ => return Err(SettingsError::new("jwt.algorithm", "must be EdDSA or HS256")),
        }
        for (key, value) in [
            ("jwt.access_ttl_seconds", self.jwt.access_ttl_seconds),
            ("jwt.refresh_ttl_seconds", self.jwt.refresh_ttl_seconds),
        ] {
            if value <= 0 {
                return Err(SettingsError::new(key, "must be positive"));
            }
        }
        if self.jwt.verified_client_cache_milliseconds > 1000 {
            return Err(SettingsError::new(
                "jwt.verified_client_cache_milliseconds",
                "must be at most 1000 (a rotated secret must stop working everywhere within a second)",
            ));
        }
        for (key, value) in [
            ("jwt.leeway_seconds", self.jwt.leeway_seconds),
            ("jwt.refresh_reuse_grace_seconds", self.jwt.refresh_reuse_grace_seconds),
        ] {
            if !(0..=3600).contains(&value) {
                return Err(SettingsError::new(key, "must be between 0 and 3600"));
            }
        }
        if !self.jwt.keys.is_empty() {
            if self.jwt.algorithm != "EdDSA" {
                return Err(SettingsError::new(
                    "jwt.keys",
                    "key rotation lists Ed25519 key files (jwt.algorithm = EdDSA)",
                ));
            }
            if let Some(bad) =
                self.jwt.keys.iter().find(|k| !matches!(k.state.as_str(), "current" | "next" | "retired"))
            {
                return Err(SettingsError::new(
                    "jwt.keys",
                    format!("state {:?} must be current, next or retired", bad.state),
                ));
            }
            let current = self.jwt.keys.iter().filter(|k| k.state == "current").count();
            if current != 1 {
                return Err(SettingsError::new(
                    "jwt.keys",
                    format!("exactly one key must be current, found {current}"),
                ));
            }
        }
        if let Some(secret) = &self.jwt.refresh_secret {
            use secrecy::ExposeSecret;
            if secret.expose_secret().len() < 32 {
                return Err(SettingsError::new("jwt.refresh_secret", "must be at least 32 bytes"));
            }
        }
        if !(10..=60_000).contains(&self.sessions.revocation_poll_milliseconds) {
            return Err(SettingsError::new("sessions.revocation_poll_milliseconds", "must be between 10 and 60000"));
        }
        if self.sessions.purge_interval_seconds == 0 {
            return Err(SettingsError::new("sessions.purge_interval_seconds", "must be at least 1"));
        }
        if self.jwt.issuer.is_empty() {
            return Err(SettingsError::new("jwt.issuer", "must not be empty"));
        }
        if self.jwt.audience.is_empty() {
            return Err(SettingsError::new("jwt.audience", "must not be empty"));
        }
        if self.jwt.jwks_max_age_seconds > 86_400 {
            return Err(SettingsError::new("jwt.jwks_max_age_seconds", "must be at most 86400 (a day)"));
        }
        if self.server.body_limit_bytes < 256 {
            return Err(SettingsError::new("server.body_limit_bytes", "must be at least 256"));
        }
        if let Err(e) = crate::client_address::TrustedProxies::parse(&self.server.trusted_proxies) {
            return Err(SettingsError::new("server.trusted_proxies", e));
        }
        if let Some(listen) = &self.metrics.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(SettingsError::new(
                "metrics.listen",
                "must be host:port with an IP address, e.g. 127.0.0.1:9100",
            ));
        }
        if let Some(token) = &self.metrics.token {
            use secrecy::ExposeSecret;
            if token.expose_secret().len() < 16 {
                return Err(SettingsError::new("metrics.token", "must be at least 16 characters"));
            }
        }
        if let Err(e) = crate::cors::CorsOrigins::parse(&self.server.cors_allowed_origins) {
            return Err(SettingsError::new("server.cors_allowed_origins", e));
        }
        let url = self.server.public_url.as_str();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(char::is_whitespace) {
            return Err(SettingsError::new("server.public_url", "must be an absolute http:// or https:// URL"));
        }
        if self.rate_limit.window_seconds < 0 {
            return Err(SettingsError::new("rate_limit.window_seconds", "must not be negative"));
        }
        if !(1..=86_400).contains(&self.security.reauth_max_age_seconds) {
            return Err(SettingsError::new("security.reauth_max_age_seconds", "must be between 1 and 86400"));
        }
        if self.mfa.totp_issuer.is_empty() || self.mfa.totp_issuer.contains(':') {
            return Err(SettingsError::new("mfa.totp_issuer", "must not be empty or contain ':'"));
        }
        if self.webauthn.rp_name.trim().is_empty() {
            return Err(SettingsError::new("webauthn.rp_name", "must not be empty"));
        }
        crate::compose::check_relying_party(&self.webauthn)?;
        if !matches!(self.log.format.as_str(), "text" | "json" | "pretty") {
            return Err(SettingsError::new("log.format", "must be text or json"));
        }
        Ok(())
    }
}

fn enabled() -> bool {
    true
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true, listen: None, token: None }
    }
}

/// Secrets print as `<redacted>` (or nothing when unset), never as their value.
fn redacted<S: Serializer>(secret: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("<redacted>"),
        None => serializer.serialize_none(),
    }
}

impl Settings {
    /// The effective configuration as `section.key = value` lines (values
    /// as JSON), sorted; secrets show as `<redacted>`. What
    /// `gatehouse config check` prints.
    pub fn effective(&self) -> String {
        let mut lines = vec![format!("environment = {:?}", self.environment)];
        if let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(self) {
            for (section, value) in sections {
                match value {
                    serde_json::Value::Object(keys) => {
                        lines.extend(keys.into_iter().map(|(key, value)| format!("{section}.{key} = {value}")));
                    }
                    other => lines.push(format!("{section} = {other}")),
                }
            }
        }
        lines.sort();
        lines.join("\n")
    }
}

const ENV_PREFIX: &str = "GATEHOUSE__";

/// Whether an environment value is a JSON array of strings.
fn is_list(value: &str) -> bool {
    value.trim_start().starts_with('[') && serde_json::from_str::<Vec<String>>(value).is_ok()
}

/// `GATEHOUSE__SERVER__TRUSTED_PROXIES` -> `server.trusted_proxies`.
fn env_key(var: &str) -> String {
    var.trim_start_matches(ENV_PREFIX).split("__").map(str::to_lowercase).collect::<Vec<_>>().join(".")
}

/// The `config` crate names the key in its message; keep that, drop the rest.
fn config_error(e: config::ConfigError) -> SettingsError {
    let message = e.to_string();
    let key = match &e {
        config::ConfigError::Type { key: Some(key), .. } => key.clone(),
        config::ConfigError::NotFound(key) => key.clone(),
        config::ConfigError::At { key: Some(key), .. } => key.clone(),
        _ => "configuration".into(),
    };
    SettingsError { key, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::load_from(Path::new("/nonexistent"), "development", vars)
    }

    #[test]
    fn a_json_array_in_an_environment_variable_sets_a_list() {
        let s = load(&[("GATEHOUSE__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8", "192.168.1.1"]"#)]).unwrap();
        assert_eq!(s.server.trusted_proxies, ["10.0.0.0/8", "192.168.1.1"]);
        assert!(load(&[]).unwrap().server.trusted_proxies.is_empty(), "the default is no trusted proxy");
    }

    #[test]
    fn a_list_that_is_not_a_json_array_is_refused_naming_the_key() {
        let err = load(&[("GATEHOUSE__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8""#)]).unwrap_err();
        assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
    }

    #[test]
    fn a_trusted_proxy_that_is_not_a_cidr_block_is_refused_naming_the_key() {
        let err = load(&[("GATEHOUSE__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8", "proxy.local"]"#)]).unwrap_err();
        assert_eq!(err.key, "server.trusted_proxies");
        assert!(err.message.contains("proxy.local"), "{err}");
    }

    #[test]
    fn the_effective_configuration_lists_every_key_and_redacts_secrets() {
        let s = load(&[
            ("GATEHOUSE__JWT__ALGORITHM", "HS256"),
            ("GATEHOUSE__JWT__SECRET", "an-hs256-secret-of-at-least-32-bytes!"),
            ("GATEHOUSE__JWT__REFRESH_SECRET", "a-refresh-secret-of-at-least-32-bytes"),
        ])
        .unwrap();
        let printed = s.effective();
        assert!(printed.contains("jwt.secret = \"<redacted>\""), "{printed}");
        assert!(printed.contains("jwt.refresh_secret = \"<redacted>\""), "{printed}");
        assert!(!printed.contains("at-least-32-bytes"), "{printed}");
        for key in
            ["server.port = 8080", "database.url = ", "rate_limit.login_failures = 5", "server.trusted_proxies = []"]
        {
            assert!(printed.contains(key), "{key} in {printed}");
        }
        assert!(printed.starts_with("database."), "sorted: {printed}");
    }

    #[test]
    fn the_built_in_defaults_are_the_documented_ones() {
        let s = load(&[]).unwrap();
        assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 8080));
        assert_eq!(s.server.body_limit_bytes, 16_384);
        assert_eq!(s.database.url, "sqlite://data/gatehouse.db?mode=rwc");
        assert_eq!(s.jwt.algorithm, "EdDSA");
        assert_eq!((s.jwt.access_ttl_seconds, s.jwt.refresh_ttl_seconds, s.jwt.leeway_seconds), (900, 2_592_000, 30));
        assert_eq!(s.jwt.refresh_reuse_grace_seconds, 10);
        assert_eq!((s.password.memory_kib, s.password.iterations, s.password.parallelism), (19_456, 2, 1));
        assert_eq!((s.rate_limit.login_failures, s.rate_limit.window_seconds), (5, 900));
    }

    #[test]
    fn environment_variables_override_files() {
        let s =
            load(&[("GATEHOUSE__SERVER__PORT", "9000"), ("GATEHOUSE__JWT__ISSUER", "https://auth.example")]).unwrap();
        assert_eq!(s.server.port, 9000);
        assert_eq!(s.jwt.issuer, "https://auth.example");
    }

    #[test]
    fn a_short_hs256_secret_is_refused_naming_the_key() {
        let err = load(&[("GATEHOUSE__JWT__ALGORITHM", "HS256"), ("GATEHOUSE__JWT__SECRET", "too-short")]).unwrap_err();
        assert_eq!(err.key, "jwt.secret");
        assert!(!err.to_string().contains("too-short"), "the secret must not be echoed");
    }

    #[test]
    fn an_unknown_algorithm_is_refused_naming_the_key() {
        assert_eq!(load(&[("GATEHOUSE__JWT__ALGORITHM", "RS256")]).unwrap_err().key, "jwt.algorithm");
    }

    #[test]
    fn a_database_url_of_another_kind_is_refused_naming_the_key() {
        assert_eq!(load(&[("GATEHOUSE__DATABASE__URL", "redis://localhost")]).unwrap_err().key, "database.url");
    }

    #[test]
    fn a_client_cache_longer_than_the_revocation_bound_is_refused_naming_the_key() {
        assert_eq!(load(&[]).unwrap().jwt.verified_client_cache_milliseconds, 1000);
        let err = load(&[("GATEHOUSE__JWT__VERIFIED_CLIENT_CACHE_MILLISECONDS", "1001")]).unwrap_err();
        assert_eq!(err.key, "jwt.verified_client_cache_milliseconds");
        assert!(load(&[("GATEHOUSE__JWT__VERIFIED_CLIENT_CACHE_MILLISECONDS", "0")]).is_ok(), "0 turns it off");
    }

    #[test]
    fn a_port_that_is_not_a_number_is_refused_naming_the_key() {
        let err = load(&[("GATEHOUSE__SERVER__PORT", "eighty")]).unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
    }
}
