//! Fresh, migrated databases for tests, and [`contract_tests!`], which runs
//! one generic rule against every backend.
//!
//! Every test gets a database of its own (a SQLite file in a temporary
//! folder, or a database `gatehouse_test_<uuid>` on the PostgreSQL server
//! named by [`POSTGRES_URL_VAR`] or the MySQL/MariaDB server named by
//! [`MYSQL_URL_VAR`]), so tests run in parallel without seeing each other's
//! rows. All are removed when the [`TestDb`] is dropped, also when the test
//! fails.

use std::{env, thread};

use gatehouse_application::ports::{AuditLog, LoginThrottle, SessionStore, UserStore};
use gatehouse_infrastructure::{
    Database, MemoryAuditLog, MemoryLoginThrottle, MemorySessionStore, MemoryUserStore, SeaOrmAuditLog,
    SeaOrmLoginThrottle, SeaOrmSessionStore, SeaOrmUserStore, sea_orm::DatabaseSettings,
};
use tempfile::TempDir;
use time::Duration;
use uuid::Uuid;

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

/// A migrated database of its own.
#[derive(Debug)]
pub struct TestDb {
    pub db: Database,
    pub url: String,
    /// Declared after `db`, so the pool handle goes first.
    _owned: Owned,
}

/// What a [`TestDb`] removes when dropped.
#[derive(Debug)]
enum Owned {
    /// The SQLite file's folder, deleted with the file.
    SqliteDir { _dir: TempDir },
    /// The database on a PostgreSQL or MySQL server.
    Server { _database: ServerDatabase },
}

/// A new SQLite file in a fresh temporary folder, migrated.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::Builder::new().prefix("gatehouse-test-").tempdir().expect("create a temporary folder");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("gatehouse.db").display());
    let db = migrated(&url).await;
    TestDb { db, url, _owned: Owned::SqliteDir { _dir: dir } }
}

/// A new database on the server named by [`POSTGRES_URL_VAR`], migrated;
/// `None` when the variable is unset or empty.
///
/// # Panics
/// When the variable is set but the server cannot be reached or refuses to
/// create the database: a configured backend is never skipped silently.
pub async fn postgres() -> Option<TestDb> {
    on_server(Server::Postgres).await
}

/// A new database on the MySQL or MariaDB server named by
/// [`MYSQL_URL_VAR`], migrated; `None` when the variable is unset or empty.
///
/// # Panics
/// When the variable is set but the server cannot be reached or refuses to
/// create the database: a configured backend is never skipped silently.
pub async fn mysql() -> Option<TestDb> {
    on_server(Server::Mysql).await
}

/// A database server the suites can create test databases on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Postgres,
    Mysql,
}

impl Server {
    fn url_var(self) -> &'static str {
        match self {
            Self::Postgres => POSTGRES_URL_VAR,
            Self::Mysql => MYSQL_URL_VAR,
        }
    }

    fn product(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MySQL/MariaDB",
        }
    }

    fn create(self, name: &str) -> String {
        match self {
            Self::Postgres => format!(r#"CREATE DATABASE "{name}""#),
            Self::Mysql => format!("CREATE DATABASE `{name}`"),
        }
    }

    /// `WITH (FORCE)` ends the connections the test's pools still hold.
    /// MySQL needs no such thing: idle connections hold no metadata lock,
    /// and a connection inside a transaction (a test that failed halfway)
    /// makes the drop give up after `lock_wait_timeout` instead of hanging
    /// for the server's default of a day.
    fn drop_statements(self, name: &str) -> Vec<String> {
        match self {
            Self::Postgres => vec![format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)],
            Self::Mysql => {
                vec!["SET SESSION lock_wait_timeout = 30".to_owned(), format!("DROP DATABASE IF EXISTS `{name}`")]
            }
        }
    }
}

async fn on_server(server: Server) -> Option<TestDb> {
    let var = server.url_var();
    let admin_url = match env::var(var) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        Ok(_) | Err(env::VarError::NotPresent) => return None,
        Err(env::VarError::NotUnicode(_)) => panic!("{var} is not valid UTF-8"),
    };
    let name = format!("gatehouse_test_{}", Uuid::now_v7().simple());
    let admin = Database::connect(&admin_settings(&admin_url)).await.unwrap_or_else(|e| {
        panic!("{var} is set, but the {} server it names cannot be reached: {e}", server.product())
    });
    let created = admin.execute_unprepared(&server.create(&name)).await;
    admin.close().await;
    if let Err(e) = created {
        panic!("{var} is set, but creating the test database {name} failed: {e}");
    }
    // From here on the database is dropped again, even if migrating panics.
    let owned =
        Owned::Server { _database: ServerDatabase { server, admin_url: admin_url.clone(), name: name.clone() } };
    let url = with_database_name(&admin_url, &name);
    let db = migrated(&url).await;
    Some(TestDb { db, url, _owned: owned })
}

async fn migrated(url: &str) -> Database {
    let db = Database::connect(&DatabaseSettings::new(url))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
    db.migrate_up().await.unwrap_or_else(|e| panic!("cannot migrate the test database: {e}"));
    db
}

fn admin_settings(admin_url: &str) -> DatabaseSettings {
    DatabaseSettings { max_connections: 1, ..DatabaseSettings::new(admin_url) }
}

/// `url` with its database (the path) replaced by `name`, keeping any query.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{name}?{query}", &base[..path]),
        None => format!("{}/{name}", &base[..path]),
    }
}

/// A test database on a server, dropped when this is dropped.
#[derive(Debug)]
struct ServerDatabase {
    server: Server,
    admin_url: String,
    name: String,
}

impl Drop for ServerDatabase {
    /// `Drop` cannot await and may run on the test's runtime, so the drop
    /// runs on a thread with a runtime of its own, over one admin
    /// connection (the statements share its session).
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statements = self.server.drop_statements(&self.name);
        let dropped = thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_settings(&admin_url)).await.map_err(|e| e.to_string())?;
                let mut dropped = Ok(());
                for sql in &statements {
                    dropped = admin.execute_unprepared(sql).await.map_err(|e| e.to_string());
                    if dropped.is_err() {
                        break;
                    }
                }
                admin.close().await;
                dropped
            })
        })
        .join();
        // Never panic here: this may run while a failed test unwinds.
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: test database {} was not dropped: {e}", self.name),
            Err(_) => eprintln!("warning: test database {} was not dropped: the drop thread panicked", self.name),
        }
    }
}

/// The stores of one backend under test. Each call hands out a new handle
/// onto the same data, as clones of one adapter do. The audited writes of
/// [`Self::users`] and [`Self::sessions`] append to [`Self::audit`].
pub trait Backend: Send + 'static {
    type Users: UserStore + Clone;
    type Sessions: SessionStore + Clone;
    type Audit: AuditLog + Clone;
    type Throttle: LoginThrottle + Clone;

    fn users(&self) -> Self::Users;
    fn sessions(&self) -> Self::Sessions;
    fn audit(&self) -> Self::Audit;
    /// A login throttle with [`THROTTLE_LIMIT`] attempts per
    /// [`THROTTLE_WINDOW`]; every handle shares one state, as instances on
    /// one database do.
    fn throttle(&self) -> Self::Throttle;
}

/// The throttle policy of the contract suites.
pub const THROTTLE_LIMIT: u32 = 5;
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);

/// The in-memory stores, appending to one shared audit log.
#[derive(Debug, Clone)]
pub struct Memory {
    users: MemoryUserStore,
    sessions: MemorySessionStore,
    audit: MemoryAuditLog,
    throttle: MemoryLoginThrottle,
}

/// Empty in-memory stores whose audited writes append to one shared log.
pub fn memory() -> Memory {
    let audit = MemoryAuditLog::new();
    Memory {
        users: MemoryUserStore::with_audit(audit.clone()),
        sessions: MemorySessionStore::with_audit(audit.clone()),
        audit,
        throttle: MemoryLoginThrottle::new(THROTTLE_LIMIT, THROTTLE_WINDOW),
    }
}

impl Backend for Memory {
    type Users = MemoryUserStore;
    type Sessions = MemorySessionStore;
    type Audit = MemoryAuditLog;
    type Throttle = MemoryLoginThrottle;

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
}

impl Backend for TestDb {
    type Users = SeaOrmUserStore;
    type Sessions = SeaOrmSessionStore;
    type Audit = SeaOrmAuditLog;
    type Throttle = SeaOrmLoginThrottle;

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

#[test]
fn the_test_database_replaces_the_database_named_in_the_server_url() {
    assert_eq!(
        with_database_name("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database_name("postgres://u:p@db/postgres?sslmode=disable", "t1"),
        "postgres://u:p@db/t1?sslmode=disable"
    );
    assert_eq!(with_database_name("postgresql://localhost", "t1"), "postgresql://localhost/t1");
    assert_eq!(with_database_name("mysql://root@127.0.0.1:3306/mysql", "t1"), "mysql://root@127.0.0.1:3306/t1");
}
