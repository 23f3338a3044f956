//! sea-orm stores: one adapter for SQLite, PostgreSQL and MySQL, the
//! backend chosen by the database URL.

mod audit_log;
mod entities;
mod mfa_store;
mod service_account_store;
mod session_store;
mod throttle;
mod user_store;

use std::{path::Path, time::Duration as StdDuration};

use gatehouse_application::ports::StoreError;
use gatehouse_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, DatabaseConnection, DbErr};
use time::OffsetDateTime;

pub use audit_log::SeaOrmAuditLog;
pub use mfa_store::SeaOrmMfaStore;
pub use service_account_store::SeaOrmServiceAccountStore;
pub use session_store::SeaOrmSessionStore;
pub use throttle::SeaOrmLoginThrottle;
pub use user_store::SeaOrmUserStore;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc`, `postgres://...` or `mysql://...`.
    pub url: String,
    pub max_connections: u32,
    /// How long a query waits for a connection before the store reports
    /// itself unavailable (HTTP 503) instead of hanging.
    pub acquire_timeout: StdDuration,
}

impl DatabaseSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), max_connections: 10, acquire_timeout: StdDuration::from_secs(5) }
    }
}

/// A connection pool and the stores built on it.
#[derive(Debug, Clone)]
pub struct Database {
    conn: DatabaseConnection,
}

/// A migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub name: String,
    pub applied: bool,
}

impl Database {
    /// Connects (creating the SQLite file and its folder if needed). SQLite
    /// runs in WAL mode with foreign keys on and a busy timeout, so
    /// concurrent writers wait for each other instead of failing.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached,
    /// [`StoreError::Internal`] for a URL that cannot work.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let url = settings.url.as_str();
        if let Some(path) = sqlite_path(url) {
            if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Internal(format!("cannot create {}: {e}", parent.display())))?;
            }
        } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("mysql://")) {
            return Err(StoreError::Internal(
                "unsupported database URL scheme (use sqlite://, postgres:// or mysql://)".into(),
            ));
        }
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(settings.max_connections)
            .min_connections(0)
            .connect_timeout(settings.acquire_timeout)
            .acquire_timeout(settings.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(StdDuration::from_secs(10))
            });
        let conn = sea_orm::Database::connect(options).await.map_err(map_err)?;
        Ok(Self { conn })
    }

    /// The user store on this pool.
    pub fn users(&self) -> SeaOrmUserStore {
        SeaOrmUserStore::new(self.conn.clone())
    }

    /// The audit trail on this pool.
    pub fn audit(&self) -> SeaOrmAuditLog {
        SeaOrmAuditLog::new(self.conn.clone())
    }

    /// The second-factor store on this pool.
    pub fn mfa(&self) -> SeaOrmMfaStore {
        SeaOrmMfaStore::new(self.conn.clone())
    }

    /// The service-account store on this pool.
    pub fn service_accounts(&self) -> SeaOrmServiceAccountStore {
        SeaOrmServiceAccountStore::new(self.conn.clone())
    }

    /// The session store on this pool.
    pub fn sessions(&self) -> SeaOrmSessionStore {
        SeaOrmSessionStore::new(self.conn.clone())
    }

    /// The login throttle on this pool: `limit` attempts per key in each
    /// `window` (a limit of 0 turns it off).
    pub fn throttle(&self, limit: u32, window: time::Duration) -> SeaOrmLoginThrottle {
        SeaOrmLoginThrottle::new(self.conn.clone(), limit, window)
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// [`StoreError`] if a migration fails; it is rolled back where the
    /// backend supports transactional DDL.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        Migrator::up(&self.conn, None).await.map_err(map_err)
    }

    /// Reverts the most recent `steps` migrations.
    ///
    /// # Errors
    /// [`StoreError`] if a migration fails.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), StoreError> {
        Migrator::down(&self.conn, Some(steps)).await.map_err(map_err)
    }

    /// Every known migration and whether it is applied.
    ///
    /// # Errors
    /// [`StoreError`] if the history table cannot be read.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let applied: Vec<String> = Migrator::get_applied_migrations(&self.conn)
            .await
            .map_err(map_err)?
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        Ok(Migrator::migrations()
            .iter()
            .map(|m| MigrationStatus { name: m.name().to_owned(), applied: applied.iter().any(|a| a == m.name()) })
            .collect())
    }

    /// Runs one raw statement (used by test suites to reach behind the
    /// stores, e.g. to corrupt a row on purpose; feature `testkit`).
    #[cfg(feature = "testkit")]
    ///
    /// # Errors
    /// [`StoreError`] if it fails.
    pub async fn execute_unprepared(&self, sql: &str) -> Result<(), StoreError> {
        sea_orm::ConnectionTrait::execute_unprepared(&self.conn, sql).await.map(|_| ()).map_err(map_err)
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Maps a sea-orm error to the ports' language: connection trouble is
/// "unavailable" (503, retry later), anything else internal (500).
pub(crate) fn map_err(e: DbErr) -> StoreError {
    if is_deadlock(&e) {
        return StoreError::Internal(format!("{DEADLOCK}{e}"));
    }
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(e.to_string()),
        DbErr::Exec(ref runtime) | DbErr::Query(ref runtime) if is_connection_error(runtime) => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

/// Marks a [`StoreError`] whose transaction the database aborted to break a
/// deadlock (or a serialisation failure): safe to run again from the start.
const DEADLOCK: &str = "transaction aborted (deadlock): ";

fn is_deadlock(e: &DbErr) -> bool {
    if let DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) = e
        && let sea_orm::sqlx::Error::Database(db) = &**e
    {
        // 40001: MySQL/MariaDB deadlock (1213) and PostgreSQL serialisation
        // failure; 40P01: PostgreSQL deadlock.
        return matches!(db.code().as_deref(), Some("40001" | "40P01"));
    }
    false
}

/// Runs a write transaction again (up to a few times) when the database
/// aborted it to break a deadlock. InnoDB can deadlock even with a fixed lock
/// order, through the gap locks of a locking index scan; the database tells
/// the loser to "try restarting transaction", which this does.
/// `store_error` picks the store failure out of the caller's error type.
pub(crate) async fn retry_on_deadlock<T, E, F, Fut>(
    store_error: fn(&E) -> Option<&StoreError>,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e)
                if tries < 5 && matches!(store_error(&e), Some(StoreError::Internal(m)) if m.starts_with(DEADLOCK)) =>
            {
                tracing::debug!(tries, "transaction aborted by a deadlock; retrying");
            }
            other => return other,
        }
    }
}

fn is_connection_error(e: &sea_orm::RuntimeErr) -> bool {
    match e {
        sea_orm::RuntimeErr::SqlxError(e) => match &**e {
            sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::PoolTimedOut
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::WorkerCrashed
            | sea_orm::sqlx::Error::Tls(_) => true,
            sea_orm::sqlx::Error::Database(db) => db
                .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|e| MYSQL_CONNECTION_ERRORS.contains(&e.number())),
            _ => false,
        },
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// MySQL and MariaDB error numbers that mean the server ended or refused the
/// connection rather than rejected the statement. (A lost connection
/// surfaces as an I/O error; errors while the pool opens a connection are
/// [`DbErr::Conn`] already. These arrive as error packets on a connection
/// the pool handed out.)
const MYSQL_CONNECTION_ERRORS: [u16; 6] = [
    1040, // ER_CON_COUNT_ERROR: too many connections
    1053, // ER_SERVER_SHUTDOWN: server shutdown in progress
    1203, // ER_TOO_MANY_USER_CONNECTIONS
    1226, // ER_USER_LIMIT_REACHED: a per-user resource limit, e.g. max_user_connections
    1927, // ER_CONNECTION_KILLED (MariaDB)
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): disconnected for inactivity
];

/// Starts a write transaction. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads before it writes
/// cannot wait for the lock and fails with "database is locked" under
/// concurrency. Other backends lock rows with `SELECT ... FOR UPDATE`.
pub(crate) async fn begin_write(conn: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, StoreError> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    conn.begin_with_options(options).await.map_err(map_err)
}

/// Timestamps are stored as microseconds since the Unix epoch.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| StoreError::Internal(format!("timestamp out of range: {e}")))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn timestamps_survive_the_round_trip_to_microseconds() {
        let t = datetime!(2026-11-25 16:53:22.123456 UTC);
        assert_eq!(from_micros(to_micros(t)).unwrap(), t);
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://data/gatehouse.db?mode=rwc"), Some("data/gatehouse.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/x"), None);
    }
}
