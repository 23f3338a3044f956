//! Fresh, migrated databases for Gatehouse's test suites and benchmarks.
//!
//! Each [`TestDb`] is a database of its own: a SQLite file in a temporary
//! folder, or a database `gatehouse_test_<uuid>` created on a PostgreSQL or
//! MySQL/MariaDB server. It is removed when the [`TestDb`] is dropped, also
//! when a test fails, so tests run in parallel without seeing each other's
//! rows and leave nothing behind.
//!
//! Which servers exist is the caller's business: [`from_env`] reads a URL
//! from a variable of the caller's choosing (the suites use
//! `GATEHOUSE_TEST_POSTGRES_URL`, the benchmarks
//! `GATEHOUSE_BENCH_POSTGRES_URL`).

#![allow(clippy::panic, clippy::expect_used)]

pub mod authenticator;

use std::{env, thread};

use gatehouse_infrastructure::{Database, sea_orm::DatabaseSettings};
use sea_orm::ConnectionTrait;
use tempfile::TempDir;
use uuid::Uuid;

/// A migrated database of its own.
#[derive(Debug)]
pub struct TestDb {
    pub db: Database,
    pub url: String,
    pub kind: Kind,
    /// Declared after `db`, so the pool handle goes first.
    _owned: Owned,
}

/// Which backend a [`TestDb`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    /// The product's name, for messages and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::Mysql => "MySQL/MariaDB",
        }
    }

    fn create(self, name: &str) -> String {
        match self {
            Self::Postgres => format!(r#"CREATE DATABASE "{name}""#),
            Self::Sqlite | Self::Mysql => format!("CREATE DATABASE `{name}`"),
        }
    }

    /// `WITH (FORCE)` ends the connections a test's pools still hold.
    /// MySQL needs no such thing: idle connections hold no metadata lock,
    /// and a connection inside a transaction (a test that failed halfway)
    /// makes the drop give up after `lock_wait_timeout` instead of hanging
    /// for the server's default of a day.
    fn drop_statements(self, name: &str) -> Vec<String> {
        match self {
            Self::Postgres => vec![format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)],
            Self::Sqlite | Self::Mysql => {
                vec!["SET SESSION lock_wait_timeout = 30".to_owned(), format!("DROP DATABASE IF EXISTS `{name}`")]
            }
        }
    }
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
///
/// # Panics
/// When the folder or the database cannot be made.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::Builder::new().prefix("gatehouse-test-").tempdir().expect("create a temporary folder");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("gatehouse.db").display());
    let db = migrated(&url).await;
    TestDb { db, url, kind: Kind::Sqlite, _owned: Owned::SqliteDir { _dir: dir } }
}

/// A new database on the `kind` server named by the environment variable
/// `var` (a URL whose database the user may connect to and create
/// databases from, e.g. `postgres://postgres@127.0.0.1:5432/postgres`),
/// migrated; `None` when the variable is unset or empty.
///
/// # Panics
/// When the variable is set but the server cannot be reached or refuses to
/// create the database: a configured backend is never skipped silently.
pub async fn from_env(kind: Kind, var: &str) -> Option<TestDb> {
    let admin_url = match env::var(var) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        Ok(_) | Err(env::VarError::NotPresent) => return None,
        Err(env::VarError::NotUnicode(_)) => panic!("{var} is not valid UTF-8"),
    };
    Some(on_server(kind, &admin_url).await.unwrap_or_else(|e| panic!("{var} is set, but {e}")))
}

/// A new database on the `kind` server at `admin_url`, migrated.
///
/// # Errors
/// What went wrong reaching the server or creating the database.
///
/// # Panics
/// When migrating fails.
pub async fn on_server(kind: Kind, admin_url: &str) -> Result<TestDb, String> {
    let name = format!("gatehouse_test_{}", Uuid::now_v7().simple());
    let admin =
        admin_connection(admin_url).await.map_err(|e| format!("the {} server cannot be reached: {e}", kind.name()))?;
    let created = admin.execute_unprepared(&kind.create(&name)).await;
    let _ = admin.close().await;
    created.map_err(|e| format!("creating the test database {name} failed: {e}"))?;
    // From here on the database is dropped again, even if migrating panics.
    let owned =
        Owned::Server { _database: ServerDatabase { kind, admin_url: admin_url.to_owned(), name: name.clone() } };
    let url = with_database_name(admin_url, &name);
    let db = migrated(&url).await;
    Ok(TestDb { db, url, kind, _owned: owned })
}

async fn migrated(url: &str) -> Database {
    let db = Database::connect(&DatabaseSettings::new(url))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
    db.migrate_up().await.unwrap_or_else(|e| panic!("cannot migrate the test database: {e}"));
    db
}

/// One plain connection to the server, for `CREATE` and `DROP DATABASE`
/// (statements no store offers; the `testkit` feature's raw SQL is not
/// used, so that building this crate never turns that feature on).
async fn admin_connection(admin_url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut options = sea_orm::ConnectOptions::new(admin_url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    sea_orm::Database::connect(options).await
}

/// `url` with its database (the path) replaced by `name`, keeping any query.
pub fn with_database_name(url: &str, name: &str) -> String {
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
    kind: Kind,
    admin_url: String,
    name: String,
}

impl Drop for ServerDatabase {
    /// `Drop` cannot await and may run on the test's runtime, so the drop
    /// runs on a thread with a runtime of its own, over one admin
    /// connection (the statements share its session).
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statements = self.kind.drop_statements(&self.name);
        let dropped = thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = admin_connection(&admin_url).await.map_err(|e| e.to_string())?;
                let mut dropped = Ok(());
                for sql in &statements {
                    dropped = admin.execute_unprepared(sql).await.map(|_| ()).map_err(|e| e.to_string());
                    if dropped.is_err() {
                        break;
                    }
                }
                let _ = admin.close().await;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
