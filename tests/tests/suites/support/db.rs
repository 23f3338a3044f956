//! Fresh, migrated databases for tests, and [`contract_tests!`], which runs
//! one generic rule against every backend.
//!
//! Every test gets a database of its own (a SQLite file in a temporary
//! folder, or a database `gatehouse_test_<uuid>` on the PostgreSQL server
//! named by [`POSTGRES_URL_VAR`] or the MySQL/MariaDB server named by
//! [`MYSQL_URL_VAR`]), so tests run in parallel without seeing each other's
//! rows. All are removed when the [`TestDb`] is dropped, also when the test
//! fails.

use gatehouse_application::ports::{AuditLog, LoginThrottle, MfaStore, ServiceAccountStore, SessionStore, UserStore};
use gatehouse_infrastructure::{
    Database, MemoryAuditLog, MemoryLoginThrottle, MemoryMfaStore, MemoryServiceAccountStore, MemorySessionStore,
    MemoryUserStore, SeaOrmAuditLog, SeaOrmLoginThrottle, SeaOrmMfaStore, SeaOrmServiceAccountStore,
    SeaOrmSessionStore, SeaOrmUserStore, sea_orm::DatabaseSettings,
};
use time::Duration;

/// The PostgreSQL server to test against, as a URL whose database the test
/// user may connect to and create databases from, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`. Unset or empty: the
/// PostgreSQL tests are skipped.
pub const POSTGRES_URL_VAR: &str = "GATEHOUSE_TEST_POSTGRES_URL";

/// The MySQL or MariaDB server to test against, as a URL whose database the
/// test user may connect to and create databases from, e.g.
/// `mysql://root@127.0.0.1:3306/mysql`. Unset or empty: the MySQL tests are
/// skipped.
pub const MYSQL_URL_VAR: &str = "GATEHOUSE_TEST_MYSQL_URL";

use gatehouse_test_support::Kind;
pub use gatehouse_test_support::TestDb;

/// A new SQLite file in a fresh temporary folder, migrated.
pub async fn sqlite() -> TestDb {
    gatehouse_test_support::sqlite().await
}

/// A new database on the server named by [`POSTGRES_URL_VAR`], migrated;
/// `None` when the variable is unset or empty.
///
/// # Panics
/// When the variable is set but the server cannot be reached or refuses to
/// create the database: a configured backend is never skipped silently.
pub async fn postgres() -> Option<TestDb> {
    gatehouse_test_support::from_env(Kind::Postgres, POSTGRES_URL_VAR).await
}

/// A new database on the MySQL or MariaDB server named by
/// [`MYSQL_URL_VAR`], migrated; `None` when the variable is unset or empty.
///
/// # Panics
/// As [`postgres`].
pub async fn mysql() -> Option<TestDb> {
    gatehouse_test_support::from_env(Kind::Mysql, MYSQL_URL_VAR).await
}

/// The stores of one backend under test. Each call hands out a new handle
/// onto the same data, as clones of one adapter do. The audited writes of
/// [`Self::users`], [`Self::sessions`], [`Self::mfa`] and
/// [`Self::service_accounts`] append to [`Self::audit`].
pub trait Backend: Send + 'static {
    type Users: UserStore + Clone;
    type Sessions: SessionStore + Clone;
    type Audit: AuditLog + Clone;
    type Throttle: LoginThrottle + Clone;
    type Mfa: MfaStore + Clone;
    type ServiceAccounts: ServiceAccountStore + Clone;

    fn users(&self) -> Self::Users;
    fn sessions(&self) -> Self::Sessions;
    fn audit(&self) -> Self::Audit;
    /// A login throttle with [`THROTTLE_LIMIT`] attempts per
    /// [`THROTTLE_WINDOW`]; every handle shares one state, as instances on
    /// one database do.
    fn throttle(&self) -> Self::Throttle;
    fn mfa(&self) -> Self::Mfa;
    /// Service accounts; a deletion's revocation goes to the feed of
    /// [`Self::sessions`].
    fn service_accounts(&self) -> Self::ServiceAccounts;
}

/// The throttle policy of the contract suites.
pub const THROTTLE_LIMIT: u32 = 5;
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);

/// The in-memory stores, appending to one shared audit log; the service
/// accounts' revocations go to the session store's feed.
#[derive(Debug, Clone)]
pub struct Memory {
    users: MemoryUserStore,
    sessions: MemorySessionStore,
    audit: MemoryAuditLog,
    throttle: MemoryLoginThrottle,
    mfa: MemoryMfaStore,
    service_accounts: MemoryServiceAccountStore,
}

/// Empty in-memory stores whose audited writes append to one shared log.
pub fn memory() -> Memory {
    let audit = MemoryAuditLog::new();
    let sessions = MemorySessionStore::with_audit(audit.clone());
    Memory {
        users: MemoryUserStore::with_audit(audit.clone()),
        service_accounts: MemoryServiceAccountStore::new(audit.clone(), sessions.clone()),
        sessions,
        mfa: MemoryMfaStore::with_audit(audit.clone()),
        audit,
        throttle: MemoryLoginThrottle::new(THROTTLE_LIMIT, THROTTLE_WINDOW),
    }
}

impl Backend for Memory {
    type Users = MemoryUserStore;
    type Sessions = MemorySessionStore;
    type Audit = MemoryAuditLog;
    type Throttle = MemoryLoginThrottle;
    type Mfa = MemoryMfaStore;
    type ServiceAccounts = MemoryServiceAccountStore;

    fn users(&self) -> MemoryUserStore {
        self.users.clone()
    }

    fn sessions(&self) -> MemorySessionStore {
        self.sessions.clone()
    }

    fn audit(&self) -> MemoryAuditLog {
        self.audit.clone()
    }

    fn throttle(&self) -> MemoryLoginThrottle {
        self.throttle.clone()
    }

    fn mfa(&self) -> MemoryMfaStore {
        self.mfa.clone()
    }

    fn service_accounts(&self) -> MemoryServiceAccountStore {
        self.service_accounts.clone()
    }
}

impl Backend for TestDb {
    type Users = SeaOrmUserStore;
    type Sessions = SeaOrmSessionStore;
    type Audit = SeaOrmAuditLog;
    type Throttle = SeaOrmLoginThrottle;
    type Mfa = SeaOrmMfaStore;
    type ServiceAccounts = SeaOrmServiceAccountStore;

    fn users(&self) -> SeaOrmUserStore {
        self.db.users()
    }

    fn sessions(&self) -> SeaOrmSessionStore {
        self.db.sessions()
    }

    fn audit(&self) -> SeaOrmAuditLog {
        self.db.audit()
    }

    fn throttle(&self) -> SeaOrmLoginThrottle {
        self.db.throttle(THROTTLE_LIMIT, THROTTLE_WINDOW)
    }

    fn mfa(&self) -> SeaOrmMfaStore {
        self.db.mfa()
    }

    fn service_accounts(&self) -> SeaOrmServiceAccountStore {
        self.db.service_accounts()
    }
}

/// Instantiates contract rules. For each `rule` listed, the calling module
/// must hold `async fn rule<B: Backend>(backend: B)`; this generates a
/// module `rule` with the tests `on_memory`, `on_sqlite`, `on_postgres` and
/// `on_mysql`, each calling it with a fresh backend, so no rule can miss a
/// backend. (Test names are `rule::on_sqlite` rather than `rule_on_sqlite`:
/// `macro_rules!` cannot join identifiers.)
///
/// Rules listed after `sql_only:` take a [`TestDb`] and get the SQLite,
/// PostgreSQL and MySQL tests only. The PostgreSQL (MySQL) test passes with
/// a note on stderr when [`POSTGRES_URL_VAR`] ([`MYSQL_URL_VAR`]) is unset.
macro_rules! contract_tests {
    (sql_only: $($rule:ident),+ $(,)?) => {
        $(
            mod $rule {
                $crate::support::db::contract_tests!(@sqlite $rule);
                $crate::support::db::contract_tests!(@postgres $rule);
                $crate::support::db::contract_tests!(@mysql $rule);
            }
        )+
    };
    ($($rule:ident),+ $(,)?) => {
        $(
            mod $rule {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_memory() {
                    super::$rule($crate::support::db::memory()).await;
                }

                $crate::support::db::contract_tests!(@sqlite $rule);
                $crate::support::db::contract_tests!(@postgres $rule);
                $crate::support::db::contract_tests!(@mysql $rule);
            }
        )+
    };
    (@sqlite $rule:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_sqlite() {
            super::$rule($crate::support::db::sqlite().await).await;
        }
    };
    (@postgres $rule:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_postgres() {
            let Some(db) = $crate::support::db::postgres().await else {
                eprintln!("skipped: {} is not set", $crate::support::db::POSTGRES_URL_VAR);
                return;
            };
            super::$rule(db).await;
        }
    };
    (@mysql $rule:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn on_mysql() {
            let Some(db) = $crate::support::db::mysql().await else {
                eprintln!("skipped: {} is not set", $crate::support::db::MYSQL_URL_VAR);
                return;
            };
            super::$rule(db).await;
        }
    };
}
pub(crate) use contract_tests;

contract_tests! {
    sql_only: a_test_database_is_reachable_at_its_url_until_dropped,
}

/// The app harness connects through `url`, so it must reach the very
/// database the [`TestDb`] holds, and nothing may be left behind.
async fn a_test_database_is_reachable_at_its_url_until_dropped(test_db: TestDb) {
    let other = Database::connect(&DatabaseSettings::new(&test_db.url)).await.expect("connect to the url");
    other.execute_unprepared("DELETE FROM sessions").await.expect("the url reaches a migrated database");
    other.close().await;
    let url = test_db.url.clone();

    drop(test_db);

    match url.strip_prefix("sqlite://") {
        // Connecting would create the file again.
        Some(rest) => {
            let file = rest.split('?').next().unwrap_or(rest);
            assert!(!std::path::Path::new(file).exists(), "{file} is left behind");
        }
        None => assert!(Database::connect(&DatabaseSettings::new(&url)).await.is_err(), "the database is left behind"),
    }
}
