//! sea-orm [`LoginThrottle`]: one row per key in `login_throttle`, so that
//! every instance on the database shares the counts.
//!
//! An acquisition is one conditional upsert of all the attempt's keys
//! (the rules of [`ThrottlePolicy::take`], written in SQL): the database
//! serialises concurrent attempts on the row, so N parallel attempts for one
//! key grant at most the limit. PostgreSQL and SQLite return the new rows
//! from the upsert itself; MySQL has no `RETURNING`, so there the upsert and
//! a locking read of its rows share one transaction.

use gatehouse_application::ports::{Admission, LoginThrottle, Slots, StoreError};
use gatehouse_domain::{ThrottleKey, ThrottlePolicy, ThrottleWindow};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, TransactionTrait, Value};
use time::{Duration, OffsetDateTime};

use super::{from_micros, map_err, retry_on_deadlock, to_micros};

/// Login-throttle windows in the `login_throttle` table.
#[derive(Debug, Clone)]
pub struct SeaOrmLoginThrottle {
    conn: DatabaseConnection,
    policy: ThrottlePolicy,
}

impl SeaOrmLoginThrottle {
    pub(crate) fn new(conn: DatabaseConnection, limit: u32, window: Duration) -> Self {
        Self { conn, policy: ThrottlePolicy { limit, window } }
    }

    fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// The upsert that takes one slot under each key (one statement).
    fn upsert(&self, keys: &[ThrottleKey], now: OffsetDateTime) -> Statement {
        let backend = self.backend();
        let mut sql = Sql::new(backend);
        let now_us = to_micros(now);
        let expired_before = to_micros(now - self.policy.window);
        let cap = i64::from(self.policy.limit);
        let mut text = String::from("INSERT INTO login_throttle (throttle_key, window_start, attempts) VALUES ");
        let rows: Vec<String> = keys
            .iter()
            .map(|key| {
                let k = sql.bind(key.to_string());
                let t = sql.bind(now_us);
                format!("({k}, {t}, 1)")
            })
            .collect();
        text.push_str(&rows.join(", "));
        match backend {
            // Assignments run left to right and see the values already
            // assigned: `attempts` first, while `window_start` is still old.
            DbBackend::MySql => {
                let (e1, c, e2, t) =
                    (sql.bind(expired_before), sql.bind(cap), sql.bind(expired_before), sql.bind(now_us));
                text.push_str(&format!(
                    " ON DUPLICATE KEY UPDATE \
                     attempts = IF(window_start <= {e1}, 1, IF(attempts > {c}, attempts, attempts + 1)), \
                     window_start = IF(window_start <= {e2}, {t}, window_start)"
                ));
            }
            _ => {
                let (e1, c, e2, t) =
                    (sql.bind(expired_before), sql.bind(cap), sql.bind(expired_before), sql.bind(now_us));
                text.push_str(&format!(
                    " ON CONFLICT (throttle_key) DO UPDATE SET \
                     attempts = CASE WHEN login_throttle.window_start <= {e1} THEN 1 \
                       WHEN login_throttle.attempts > {c} THEN login_throttle.attempts \
                       ELSE login_throttle.attempts + 1 END, \
                     window_start = CASE WHEN login_throttle.window_start <= {e2} THEN {t} \
                       ELSE login_throttle.window_start END \
                     RETURNING throttle_key, window_start, attempts"
                ));
            }
        }
        sql.statement(text)
    }

    /// Takes the slots and reads back each key's window.
    async fn take(
        &self,
        keys: &[ThrottleKey],
        now: OffsetDateTime,
    ) -> Result<Vec<(String, ThrottleWindow)>, StoreError> {
        let rows = if self.backend() == DbBackend::MySql {
            let txn = self.conn.begin().await.map_err(map_err)?;
            txn.execute_raw(self.upsert(keys, now)).await.map_err(map_err)?;
            let mut sql = Sql::new(DbBackend::MySql);
            let list: Vec<String> = keys.iter().map(|k| sql.bind(k.to_string())).collect();
            let select = sql.statement(format!(
                "SELECT throttle_key, window_start, attempts FROM login_throttle WHERE throttle_key IN ({}) FOR UPDATE",
                list.join(", ")
            ));
            let rows = txn.query_all_raw(select).await.map_err(map_err)?;
            txn.commit().await.map_err(map_err)?;
            rows
        } else {
            self.conn.query_all_raw(self.upsert(keys, now)).await.map_err(map_err)?
        };
        rows.iter().map(window).collect()
    }

    /// Gives back the slot taken under `key` in the window opened at
    /// `started_at`, if that window is still the key's.
    async fn give_back(&self, key: &ThrottleKey, started_at: OffsetDateTime) -> Result<(), StoreError> {
        let mut sql = Sql::new(self.backend());
        let cap = sql.bind(i64::from(self.policy.limit));
        let k = sql.bind(key.to_string());
        let t = sql.bind(to_micros(started_at));
        // `min(attempts, limit) - 1`, see `ThrottlePolicy::give_back`.
        let text = format!(
            "UPDATE login_throttle SET attempts = CASE WHEN attempts > {cap} THEN {cap2} ELSE attempts - 1 END \
             WHERE throttle_key = {k} AND window_start = {t} AND attempts > 0",
            cap2 = i64::from(self.policy.limit) - 1,
        );
        self.conn.execute_raw(sql.statement(text)).await.map_err(map_err)?;
        Ok(())
    }

    async fn clear(&self, key: &ThrottleKey) -> Result<(), StoreError> {
        let mut sql = Sql::new(self.backend());
        let k = sql.bind(key.to_string());
        let text = format!("DELETE FROM login_throttle WHERE throttle_key = {k}");
        self.conn.execute_raw(sql.statement(text)).await.map_err(map_err)?;
        Ok(())
    }
}

fn window(row: &QueryResult) -> Result<(String, ThrottleWindow), StoreError> {
    let key: String = row.try_get("", "throttle_key").map_err(map_err)?;
    let started_at: i64 = row.try_get("", "window_start").map_err(map_err)?;
    let attempts: i64 = row.try_get("", "attempts").map_err(map_err)?;
    let attempts =
        u32::try_from(attempts).map_err(|_| StoreError::Internal(format!("attempts {attempts} out of range")))?;
    Ok((key, ThrottleWindow { started_at: from_micros(started_at)?, attempts }))
}

impl LoginThrottle for SeaOrmLoginThrottle {
    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    async fn acquire(&self, keys: &[ThrottleKey], now: OffsetDateTime) -> Result<Admission, StoreError> {
        if !self.policy.is_enabled() || keys.is_empty() {
            return Ok(Admission::Granted(Slots::default()));
        }
        let rows = retry_on_deadlock(|e| Some(e), || self.take(keys, now)).await?;
        let mut slots = Vec::with_capacity(keys.len());
        let mut retry_after: Option<Duration> = None;
        for key in keys {
            let text = key.to_string();
            let Some((_, window)) = rows.iter().find(|(k, _)| *k == text) else {
                return Err(StoreError::Internal("login_throttle upsert returned no row for a key".into()));
            };
            match self.policy.judge(*window, now) {
                Ok(()) => slots.push((key.clone(), window.started_at)),
                Err(wait) => retry_after = Some(retry_after.map_or(wait, |w| w.max(wait))),
            }
        }
        match retry_after {
            None => Ok(Admission::Granted(Slots(slots))),
            Some(retry_after) => {
                // A refused attempt holds no slot: return those the other
                // keys granted.
                for (key, started_at) in &slots {
                    self.give_back(key, *started_at).await?;
                }
                Ok(Admission::Refused { retry_after })
            }
        }
    }

    #[tracing::instrument(skip_all)]
    async fn succeeded(&self, slots: &Slots) -> Result<(), StoreError> {
        for (key, started_at) in &slots.0 {
            if key.cleared_by_success() {
                self.clear(key).await?;
            } else {
                self.give_back(key, *started_at).await?;
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn release(&self, slots: &Slots) -> Result<(), StoreError> {
        for (key, started_at) in &slots.0 {
            self.give_back(key, *started_at).await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.backend());
        let before = sql.bind(to_micros(now - self.policy.window));
        let text = format!("DELETE FROM login_throttle WHERE window_start <= {before}");
        let result = self.conn.execute_raw(sql.statement(text)).await.map_err(map_err)?;
        Ok(result.rows_affected())
    }
}

/// A statement's values and the placeholders that name them: `$n` on
/// PostgreSQL, `?` elsewhere (bound in the order they appear).
struct Sql {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        Self { backend, values: Vec::new() }
    }

    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn statement(self, text: String) -> Statement {
        Statement::from_sql_and_values(self.backend, text, self.values)
    }
}
