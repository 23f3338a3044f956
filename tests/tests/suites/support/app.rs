//! The HTTP harness: the real server on a free port, over one adapter set,
//! driven with a real HTTP client.
//!
//! - `memory`: in-memory stores, everything else as in production.
//! - `sqlite`, `postgres`: exactly what the `gatehouse` binary wires
//!   ([`gatehouse_api::compose::build`]) on a fresh database.
//!
//! [`TestApp::another_instance`] starts a second server on the same
//! database, keys and refresh secret: two instances behind one load
//! balancer.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration as StdDuration};

use actix_web::dev::ServerHandle;
use gatehouse_api::{
    compose::{self, Production},
    server::{self, HttpSettings},
    settings::Settings,
};
use gatehouse_application::{Gatehouse, ports::RevokeScope};
use gatehouse_domain::{NewPassword, Role, SessionId, User, Username};
use gatehouse_infrastructure::{
    Database, MemoryAuditLog, MemoryLoginThrottle, MemoryMfaStore, MemoryServiceAccountStore, MemorySessionStore,
    MemoryUserStore, SystemClock, key_file,
    sea_orm::DatabaseSettings,
    testkit::{InMemory, InMemoryBuilder},
};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use time::Duration;
use tokio::task::JoinHandle;

use super::db::{self, TestDb};

/// What instances of one test share: the database and the key folder.
#[derive(Clone)]
enum Shared {
    Memory {
        users: MemoryUserStore,
        sessions: MemorySessionStore,
        mfa: MemoryMfaStore,
        audit: MemoryAuditLog,
        throttle: MemoryLoginThrottle,
        service_accounts: MemoryServiceAccountStore,
    },
    Sql(Arc<TestDb>),
}

enum Running {
    Memory(Arc<Gatehouse<InMemory<SystemClock>>>),
    Sql(Arc<Gatehouse<Production>>),
}

/// A running server and what a test needs to reach behind it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// The current Ed25519 signing key (PKCS#8 DER), for forging tokens;
    /// empty in HS256 mode.
    pub signing_key: Vec<u8>,
    pub kid: String,
    /// The folder holding key files (shared by every instance of a test).
    pub dir: Arc<TempDir>,
    /// With `metrics.listen`: the metrics listener's base URL.
    pub metrics_base: Option<String>,
    running: Running,
    shared: Shared,
    handle: ServerHandle,
    metrics_handle: Option<ServerHandle>,
    background: JoinHandle<()>,
}

/// Which adapter set a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Memory,
    Sqlite,
    Postgres,
    Mysql,
}

/// Test settings: the built-in defaults with key files in `dir`, a free
/// port, cheap hashing, a fast revocation poll and `overrides`
/// (`section.key` -> value).
pub fn settings(dir: &Path, database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("GATEHOUSE__SERVER__PORT".into(), "0".into()),
        ("GATEHOUSE__DATABASE__URL".into(), database_url.into()),
        ("GATEHOUSE__JWT__KEY_FILE".into(), dir.join("jwt.pem").display().to_string()),
        ("GATEHOUSE__JWT__REFRESH_SECRET_FILE".into(), dir.join("refresh.key").display().to_string()),
        ("GATEHOUSE__MFA__ENCRYPTION_KEY_FILE".into(), dir.join("mfa.key").display().to_string()),
        ("GATEHOUSE__PASSWORD__MEMORY_KIB".into(), "8".into()),
        ("GATEHOUSE__PASSWORD__ITERATIONS".into(), "1".into()),
    ]);
    for (key, value) in overrides {
        vars.insert(format!("GATEHOUSE__{}", key.replace('.', "__").to_uppercase()), (*value).into());
    }
    Settings::load_from(Path::new("/nonexistent"), "test", vars).expect("valid test settings")
}

impl TestApp {
    /// Starts a server on `stack` with setting overrides such as
    /// `("rate_limit.login_failures", "2")`; `None` for PostgreSQL or MySQL
    /// when its URL is not configured.
    pub async fn spawn_with(stack: Stack, overrides: &[(&str, &str)]) -> Option<Self> {
        let dir = Arc::new(tempfile::tempdir().expect("temporary folder"));
        let test_db = match stack {
            Stack::Memory => None,
            Stack::Sqlite => Some(Arc::new(db::sqlite().await)),
            Stack::Postgres => Some(Arc::new(db::postgres().await?)),
            Stack::Mysql => Some(Arc::new(db::mysql().await?)),
        };
        let url = test_db.as_ref().map_or_else(|| "sqlite::memory:".to_owned(), |db| db.url.clone());
        let settings = settings(dir.path(), &url, overrides);
        let shared = match test_db {
            Some(db) => Shared::Sql(db),
            None => {
                let audit = MemoryAuditLog::new();
                let sessions = MemorySessionStore::with_audit(audit.clone());
                Shared::Memory {
                    users: MemoryUserStore::with_audit(audit.clone()),
                    // Service accounts too: a client known to one instance
                    // authenticates on every other.
                    service_accounts: MemoryServiceAccountStore::new(audit.clone(), sessions.clone()),
                    sessions,
                    mfa: MemoryMfaStore::with_audit(audit.clone()),
                    audit,
                    // The throttle lives with the stores: instances of one
                    // test share it, as they would share a database.
                    throttle: MemoryLoginThrottle::new(
                        settings.rate_limit.login_failures,
                        Duration::seconds(settings.rate_limit.window_seconds),
                    ),
                }
            }
        };
        Some(Self::start(shared, settings, dir).await)
    }

    /// Another server on the same database (and, on memory, the same
    /// stores and throttle), keys and refresh secret, with its own process
    /// state (revocation list): a second instance
    /// behind the same load balancer. `adjust` may change its settings
    /// (e.g. its key list).
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        Self::start(self.shared.clone(), settings, Arc::clone(&self.dir)).await
    }

    async fn start(shared: Shared, settings: Settings, dir: Arc<TempDir>) -> Self {
        let http = HttpSettings {
            host: "127.0.0.1".into(),
            port: 0,
            workers: Some(2),
            ..compose::http_settings(&settings).expect("valid HTTP settings")
        };
        let poll = StdDuration::from_millis(settings.sessions.revocation_poll_milliseconds);
        let purge = StdDuration::from_secs(settings.sessions.purge_interval_seconds);
        let (running, started, background) = match &shared {
            Shared::Memory { users, sessions, mfa, audit, throttle, service_accounts } => {
                // The public test kit, as a downstream suite would use it,
                // with the settings' keys and the real clock.
                let app = Arc::new(
                    InMemoryBuilder::new()
                        .clock(SystemClock)
                        .stores(users.clone(), sessions.clone(), audit.clone())
                        .service_accounts(service_accounts.clone())
                        // Second factors too, sealed with the settings' key,
                        // under the settings' recent-sign-in and admin rules.
                        .mfa(mfa.clone())
                        .factor_crypto(compose::factor_crypto(&settings).expect("MFA key"))
                        .security(compose::security_policy(&settings))
                        .policy(compose::token_policy(&settings))
                        .argon2(compose::argon2_settings(&settings.password))
                        .throttle(throttle.clone())
                        .tokens(compose::signing_key(&settings).expect("signing key"))
                        .refresh_tokens(compose::refresh_tokens(&settings).expect("refresh key"))
                        .build()
                        .expect("in-memory app"),
                );
                app.sync_revocations().await.expect("revocations load");
                let background = tokio::spawn(server::run_background(Arc::clone(&app), poll, purge));
                let started = server::start(Arc::clone(&app), &http).expect("server starts");
                (Running::Memory(app), started, background)
            }
            Shared::Sql(test_db) => {
                // Each instance has its own connection pool, as separate
                // processes would.
                let db = Database::connect(&DatabaseSettings::new(test_db.url.clone())).await.expect("database");
                let app = Arc::new(compose::build(&settings, &db).expect("production wiring"));
                app.sync_revocations().await.expect("revocations load");
                let background = tokio::spawn(server::run_background(Arc::clone(&app), poll, purge));
                let started = server::start(Arc::clone(&app), &http).expect("server starts");
                (Running::Sql(app), started, background)
            }
        };
        let handle = started.handle.clone();
        tokio::spawn(started.server);
        let metrics_base = started.metrics.map(|(addr, handle, server)| {
            tokio::spawn(server);
            (format!("http://{addr}"), handle)
        });
        let kid = match &running {
            Running::Memory(app) => app.parts().tokens.kid().to_owned(),
            Running::Sql(app) => app.parts().tokens.kid().to_owned(),
        };
        let signing_key = if settings.jwt.algorithm != "EdDSA" {
            Vec::new()
        } else if let Some(current) = settings.jwt.keys.iter().find(|k| k.state == "current") {
            key_file::load_or_create(&current.file, false).expect("current key file")
        } else {
            key_file::load_or_create(&settings.jwt.key_file, false).expect("key file written at start")
        };
        Self {
            base: format!("http://{}", started.addr),
            client: reqwest::Client::new(),
            settings,
            signing_key,
            kid,
            dir,
            metrics_base: metrics_base.as_ref().map(|(base, _)| base.clone()),
            running,
            shared,
            handle,
            metrics_handle: metrics_base.map(|(_, handle)| handle),
            background,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user the way `gatehouse user create` does (same use case).
    pub async fn create_user(&self, username: &str, password: &str, role: Role) -> User {
        let name = Username::parse(username).expect("valid username");
        let password =
            NewPassword::parse(SecretString::from(password.to_owned()), Some(username)).expect("valid password");
        match &self.running {
            Running::Memory(app) => app.create_user(name, password, role).await,
            Running::Sql(app) => app.create_user(name, password, role).await,
        }
        .expect("user created")
    }

    /// Revokes a session through this instance's use case (as an admin
    /// action would), bypassing HTTP.
    pub async fn revoke_session(&self, id: SessionId) {
        match &self.running {
            Running::Memory(app) => {
                app.revoke(RevokeScope::Session(id), gatehouse_application::ports::RevocationReason::Admin).await
            }
            Running::Sql(app) => {
                app.revoke(RevokeScope::Session(id), gatehouse_application::ports::RevocationReason::Admin).await
            }
        }
        .expect("session revoked");
    }

    /// Walks this app's audit chain (the use case behind `audit verify`).
    pub async fn verify_audit(&self) -> gatehouse_application::ports::ChainReport {
        match &self.running {
            Running::Memory(app) => app.verify_audit().await,
            Running::Sql(app) => app.verify_audit().await,
        }
        .expect("audit chain readable")
    }

    /// The test database of a SQL stack, for reaching behind the stores.
    pub fn database(&self) -> Option<&Database> {
        match &self.shared {
            Shared::Memory { .. } => None,
            Shared::Sql(db) => Some(&db.db),
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    /// POST with a JSON body and a bearer token.
    pub async fn post_json_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request sent")
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_json("/auth/register", &json!({"username": username, "password": password})).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json("/auth/login", &json!({"username": username, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({"refresh_token": refresh_token})).await
    }

    /// `POST /auth/logout?scope=...` with `token`.
    pub async fn logout(&self, token: &str, scope: Option<&str>) -> Response {
        let path = scope.map_or_else(|| "/auth/logout".to_owned(), |s| format!("/auth/logout?scope={s}"));
        self.client.post(self.url(&path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// Registers `username` (password `"<username> has a long password"`)
    /// and logs in; returns the login body.
    pub async fn signed_in(&self, username: &str) -> Value {
        let password = format!("{username} has a long password");
        assert_eq!(self.register(username, &password).await.status(), StatusCode::CREATED);
        self.logged_in(username).await
    }

    /// Logs `username` (registered by [`Self::signed_in`]) in again: a new
    /// session.
    pub async fn logged_in(&self, username: &str) -> Value {
        let res = self.login(username, &format!("{username} has a long password")).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("token body")
    }

    /// A fresh access token for a new user `username`.
    pub async fn access_token(&self, username: &str) -> String {
        self.signed_in(username).await["access_token"].as_str().expect("access_token").to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.background.abort();
        let handle = self.handle.clone();
        let metrics = self.metrics_handle.clone();
        // Stop accepting and close connections; the runtime may already be
        // shutting down, in which case the server goes with it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(metrics) = metrics {
                    metrics.stop(false).await;
                }
                handle.stop(false).await;
            });
        }
    }
}

/// Asserts a problem+json error with `status` and `code`; returns the body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status of a `{code}` answer");
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(content_type, "application/problem+json", "content type of a `{code}` answer");
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], "about:blank", "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

/// Instantiates HTTP tests: for each `test` listed, the calling module must
/// hold `async fn test(app: TestApp)`; this generates a module `test` with
/// `on_memory`, `on_sqlite`, `on_postgres` and `on_mysql` (the last two pass
/// with a note when their server is not configured).
///
/// `http_tests!(with [("section.key", "value"), ...]: test, ...)` starts
/// each server with those setting overrides (see [`TestApp::spawn_with`]),
/// for settings that the stores built at the first start depend on, such
/// as the in-memory throttle's limit.
macro_rules! http_tests {
    (with $settings:tt: $($test:ident),+ $(,)?) => {
        $(
            mod $test {
                use $crate::support::app::{Stack, TestApp};

                const SETTINGS: &[(&str, &str)] = &$settings;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_memory() {
                    super::$test(TestApp::spawn_with(Stack::Memory, SETTINGS).await.expect("memory app")).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    super::$test(TestApp::spawn_with(Stack::Sqlite, SETTINGS).await.expect("sqlite app")).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    let Some(app) = TestApp::spawn_with(Stack::Postgres, SETTINGS).await else {
                        eprintln!("skipped: {} is not set", $crate::support::db::POSTGRES_URL_VAR);
                        return;
                    };
                    super::$test(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_mysql() {
                    let Some(app) = TestApp::spawn_with(Stack::Mysql, SETTINGS).await else {
                        eprintln!("skipped: {} is not set", $crate::support::db::MYSQL_URL_VAR);
                        return;
                    };
                    super::$test(app).await;
                }
            }
        )+
    };
    ($($test:ident),+ $(,)?) => {
        $crate::support::app::http_tests!(with []: $($test),+);
    };
}
pub(crate) use http_tests;
