#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]
//! Keyset pagination over a million users: a page costs the same at the
//! start and at the end of the list.
//!
//! Run with
//!
//! ```sh
//! GATEHOUSE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! GATEHOUSE_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/mysql \
//!     cargo bench -p gatehouse-infrastructure --bench pagination
//! ```
//!
//! For each backend (SQLite always, in a temporary file; PostgreSQL and
//! MySQL/MariaDB when their variable is set, each in a fresh database
//! `gatehouse_test_<uuid>` that is dropped afterwards) it:
//!
//! 1. migrates, inserts one user through `SeaOrmUserStore::insert` and
//!    checks that the id literal the seeder writes matches what sea-orm
//!    stored (PostgreSQL: `uuid`; SQLite and MySQL: a 16-byte blob);
//! 2. seeds the other users with raw multi-row `INSERT`s of [`BATCH`] rows
//!    each (every statement its own transaction), ids UUID v7 in increasing
//!    order, then runs `ANALYZE`;
//! 3. times `UserStore::list` (the adapter's real query) with a limit of
//!    [`PAGE`] for the first page, a page in the middle and the last page,
//!    [`ROUNDS`] times each after [`WARMUP`] calls, interleaved, and checks
//!    every page holds the expected ids;
//! 4. prints the query plan of the page query, with and without a cursor.
//!
//! `GATEHOUSE_BENCH_USERS` changes the number of users (default 1,000,000).

use std::{
    env,
    fmt::{Display, Write as _},
    time::{Duration, Instant},
};

use gatehouse_application::ports::UserStore;
use gatehouse_domain::{PasswordHash, Role, User, UserId, Username};
use gatehouse_infrastructure::{Database, sea_orm::DatabaseSettings};
use gatehouse_test_support::{Kind, TestDb};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement,
    sea_query::{ExprTrait, Order, Query},
};
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows per page, as an admin client would ask for.
const PAGE: u32 = 50;
/// Untimed calls per page before measuring.
const WARMUP: usize = 20;
/// Timed calls per page.
const ROUNDS: usize = 200;
/// Rows per seeding `INSERT`.
const BATCH: usize = 5_000;
const DEFAULT_USERS: usize = 1_000_000;
/// A well-formed argon2id PHC string; never verified here.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0YmVuY2g$q5vJ0m0m9wWm2y9rY6b0yS3v1o2e3f4g5h6i7j8k9lA";

type BenchResult<T> = Result<T, String>;

fn ctx<E: Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// What the bench needs to know of each backend beyond the test harness.
trait BackendSql {
    fn url_var(self) -> Option<&'static str>;
    fn backend(self) -> DbBackend;
    fn write_id(self, out: &mut String, id: Uuid);
    fn id_literal(self, id: Uuid) -> String;
    fn storage_query(self) -> &'static str;
    fn analyze(self) -> &'static str;
    fn explain(self) -> &'static str;
}

impl BackendSql for Kind {
    fn url_var(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("GATEHOUSE_BENCH_POSTGRES_URL"),
            Self::Mysql => Some("GATEHOUSE_BENCH_MYSQL_URL"),
        }
    }

    fn backend(self) -> DbBackend {
        match self {
            Self::Sqlite => DbBackend::Sqlite,
            Self::Postgres => DbBackend::Postgres,
            Self::Mysql => DbBackend::MySql,
        }
    }

    /// `id` as a SQL literal in the form sea-orm stores a `Uuid` in: a
    /// native `uuid` on PostgreSQL, 16 big-endian bytes elsewhere.
    fn write_id(self, out: &mut String, id: Uuid) {
        match self {
            Self::Postgres => write!(out, "'{id}'::uuid"),
            Self::Sqlite | Self::Mysql => write!(out, "X'{}'", id.simple()),
        }
        .expect("writing to a String");
    }

    fn id_literal(self, id: Uuid) -> String {
        let mut out = String::new();
        self.write_id(&mut out, id);
        out
    }

    /// How the `id` column and a stored id look on this backend.
    fn storage_query(self) -> &'static str {
        match self {
            Self::Sqlite => "SELECT typeof(id) || ', ' || length(id) || ' bytes' AS s FROM users LIMIT 1",
            Self::Postgres => "SELECT pg_typeof(id)::text AS s FROM users LIMIT 1",
            Self::Mysql => {
                "SELECT CAST(CONCAT(c.COLUMN_TYPE, ', ', (SELECT LENGTH(id) FROM users LIMIT 1), ' bytes') AS CHAR) \
                 AS s FROM information_schema.COLUMNS c \
                 WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = 'users' AND c.COLUMN_NAME = 'id'"
            }
        }
    }

    fn analyze(self) -> &'static str {
        match self {
            Self::Sqlite => "ANALYZE",
            Self::Postgres => "ANALYZE users",
            Self::Mysql => "ANALYZE TABLE users",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Self::Sqlite => "EXPLAIN QUERY PLAN ",
            Self::Postgres | Self::Mysql => "EXPLAIN ",
        }
    }
}

/// A fresh database of the bench's own (dropped afterwards); `None` when
/// the backend's variable is not set.
async fn scratch(kind: Kind) -> Option<TestDb> {
    match kind.url_var() {
        None => Some(gatehouse_test_support::sqlite().await),
        Some(var) => gatehouse_test_support::from_env(kind, var).await,
    }
}

struct PageStats {
    label: &'static str,
    median_us: f64,
    p95_us: f64,
}

struct Outcome {
    users: usize,
    storage: String,
    seed: Duration,
    analyze: Duration,
    pages: Vec<PageStats>,
    plans: Vec<(&'static str, Vec<String>)>,
    uses_primary_key: bool,
}

fn username(i: usize) -> String {
    format!("user{i:07}")
}

async fn run(kind: Kind, url: &str, ids: &[Uuid]) -> BenchResult<Outcome> {
    let n = ids.len();
    let db = Database::connect(&DatabaseSettings::new(url)).await.map_err(ctx("connect"))?;
    db.migrate_up().await.map_err(ctx("migrate"))?;
    // A plain connection for what the stores do not offer: reading back raw
    // values and EXPLAIN.
    let raw = sea_orm::Database::connect(url).await.map_err(ctx("connect (raw)"))?;
    let outcome = measure(kind, &db, &raw, ids).await;
    raw.close().await.map_err(ctx("close (raw)"))?;
    db.close().await;
    let outcome = outcome?;
    debug_assert_eq!(outcome.users, n);
    Ok(outcome)
}

async fn measure(kind: Kind, db: &Database, raw: &DatabaseConnection, ids: &[Uuid]) -> BenchResult<Outcome> {
    let n = ids.len();
    let store = db.users();
    let now_us = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).unwrap();
    let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_us) * 1_000).unwrap();

    // 1. One user through the adapter, to learn how it stores a Uuid.
    let probe = User {
        id: UserId::from_uuid(ids[0]),
        username: Username::parse(&username(0)).unwrap(),
        password_hash: PasswordHash::new(HASH.to_owned()),
        role: Role::User,
        disabled: false,
        created_at,
    };
    store.insert(&probe).await.map_err(ctx("insert the probe user"))?;
    let back = store.find_by_id(probe.id).await.map_err(ctx("find the probe user"))?;
    if back.as_ref() != Some(&probe) {
        return Err(format!("the probe user reads back as {back:?}"));
    }
    let storage = query_text(raw, kind, kind.storage_query()).await?.into_iter().next().unwrap_or_default();
    let matching =
        query_text(raw, kind, &format!("SELECT COUNT(*) AS s FROM users WHERE id = {}", kind.id_literal(ids[0])))
            .await?;
    if matching.first().map(String::as_str) != Some("1") {
        return Err(format!("the id literal {} does not match the stored probe id", kind.id_literal(ids[0])));
    }

    // 2. Everyone else, raw.
    eprintln!("{}: seeding {} users ...", kind.name(), n - 1);
    let started = Instant::now();
    let mut first = 1;
    for chunk in ids[1..].chunks(BATCH) {
        let mut sql = String::with_capacity(chunk.len() * 200 + 128);
        sql.push_str("INSERT INTO users (id, username, password_hash, role, disabled, created_at, updated_at) VALUES ");
        for (offset, &id) in chunk.iter().enumerate() {
            if offset > 0 {
                sql.push(',');
            }
            sql.push('(');
            kind.write_id(&mut sql, id);
            let i = first + offset;
            write!(sql, ",'{}','{HASH}','user',FALSE,{t},{t})", username(i), t = now_us + i64::try_from(i).unwrap())
                .unwrap();
        }
        raw.execute_unprepared(&sql).await.map_err(ctx("seed"))?;
        first += chunk.len();
    }
    let seed = started.elapsed();
    let started = Instant::now();
    raw.execute_unprepared(kind.analyze()).await.map_err(ctx("analyze"))?;
    let analyze = started.elapsed();
    eprintln!("{}: seeded in {:.1} s, analyzed in {:.1} s", kind.name(), seed.as_secs_f64(), analyze.as_secs_f64());

    // The seeded rows read through the store like the probe.
    let mid = n / 2;
    let found = store.find_by_id(UserId::from_uuid(ids[mid])).await.map_err(ctx("find a seeded user"))?;
    if found.as_ref().map(|u| u.username.as_str().to_owned()) != Some(username(mid)) {
        return Err(format!("seeded user {mid} reads back as {found:?}"));
    }

    // 3. The pages: (label, cursor, index of the first expected row).
    let page = usize::try_from(PAGE).unwrap();
    let pages: [(&'static str, Option<UserId>, usize); 3] = [
        ("first", None, 0),
        ("middle", Some(UserId::from_uuid(ids[mid - 1])), mid),
        ("last", Some(UserId::from_uuid(ids[n - page - 1])), n - page),
    ];
    for &(label, after, start) in &pages {
        let got: Vec<Uuid> =
            store.list(after, PAGE).await.map_err(ctx("list"))?.iter().map(|u| u.id.as_uuid()).collect();
        if got != ids[start..start + page] {
            return Err(format!("the {label} page holds the wrong users"));
        }
    }
    let end = store.list(Some(UserId::from_uuid(ids[n - 1])), PAGE).await.map_err(ctx("list"))?;
    if !end.is_empty() {
        return Err("the page after the last user is not empty".into());
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(ROUNDS); pages.len()];
    for round in 0..WARMUP + ROUNDS {
        for (which, &(_, after, _)) in pages.iter().enumerate() {
            let started = Instant::now();
            let users = store.list(after, PAGE).await.map_err(ctx("list"))?;
            let took = started.elapsed();
            if users.len() != page {
                return Err(format!("a page held {} users", users.len()));
            }
            if round >= WARMUP {
                samples[which].push(took);
            }
        }
    }
    let pages_stats = pages
        .iter()
        .zip(samples)
        .map(|(&(label, _, _), mut times)| {
            times.sort_unstable();
            PageStats { label, median_us: median_us(&times), p95_us: p95_us(&times) }
        })
        .collect();

    // 4. The plans of the adapter's query shape, without and with a cursor.
    let mut plans = Vec::new();
    let mut uses_primary_key = true;
    for (label, after) in [("first page", None), ("with cursor", Some(ids[n - page - 1]))] {
        let (lines, uses) = explain(raw, kind, after).await?;
        uses_primary_key &= uses;
        plans.push((label, lines));
    }

    Ok(Outcome { users: n, storage, seed, analyze, pages: pages_stats, plans, uses_primary_key })
}

/// The statement `UserStore::list` sends: `SELECT <all columns> FROM users
/// [WHERE id > ?] ORDER BY id ASC LIMIT ?`, the values bound.
fn page_query(kind: Kind, after: Option<Uuid>) -> Statement {
    let mut query = Query::select();
    query
        .columns(
            ["id", "username", "password_hash", "role", "disabled", "created_at", "updated_at"].map(|c| ("users", c)),
        )
        .from("users");
    if let Some(after) = after {
        query.and_where(sea_orm::sea_query::Expr::col(("users", "id")).gt(after));
    }
    query.order_by(("users", "id"), Order::Asc).limit(u64::from(PAGE));
    kind.backend().build(&query)
}

/// The plan as text lines, and whether it walks the primary key index
/// (without sorting).
async fn explain(raw: &DatabaseConnection, kind: Kind, after: Option<Uuid>) -> BenchResult<(Vec<String>, bool)> {
    let mut statement = page_query(kind, after);
    statement.sql = format!("{}{}", kind.explain(), statement.sql);
    let rows = raw.query_all_raw(statement).await.map_err(ctx("explain"))?;
    let lines: Vec<String> = rows
        .iter()
        .map(|row| match kind {
            Kind::Postgres => cell(row, "QUERY PLAN"),
            Kind::Sqlite => cell(row, "detail"),
            Kind::Mysql => row
                .column_names()
                .iter()
                .map(|c| format!("{c}={}", cell(row, c)))
                .filter(|c| !c.ends_with("=NULL"))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    let text = lines.join("\n");
    let uses = match kind {
        Kind::Postgres => text.contains("using users_pkey") && !text.contains("Sort"),
        Kind::Sqlite => {
            (text.contains("USING INDEX sqlite_autoindex_users_1") || text.contains("USING PRIMARY KEY"))
                && !text.contains("TEMP B-TREE")
        }
        Kind::Mysql => {
            rows.iter().all(|row| cell(row, "key") == "PRIMARY")
                && !rows.iter().any(|row| cell(row, "Extra").contains("filesort"))
        }
    };
    Ok((lines, uses))
}

/// A cell rendered as text, whatever its type.
fn cell(row: &QueryResult, column: &str) -> String {
    if let Ok(v) = row.try_get::<Option<String>>("", column) {
        return v.unwrap_or_else(|| "NULL".into());
    }
    if let Ok(v) = row.try_get::<Option<i64>>("", column) {
        return v.map_or_else(|| "NULL".into(), |v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<u64>>("", column) {
        return v.map_or_else(|| "NULL".into(), |v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>>("", column) {
        return v.map_or_else(|| "NULL".into(), |v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>>("", column) {
        return v.map_or_else(|| "NULL".into(), |v| String::from_utf8_lossy(&v).into_owned());
    }
    "?".into()
}

/// Column `s` of every row of an unparameterised query.
async fn query_text(raw: &DatabaseConnection, kind: Kind, sql: &str) -> BenchResult<Vec<String>> {
    let rows = raw.query_all_raw(Statement::from_string(kind.backend(), sql)).await.map_err(ctx("query"))?;
    Ok(rows.iter().map(|row| cell(row, "s")).collect())
}

fn median_us(sorted: &[Duration]) -> f64 {
    let n = sorted.len();
    let mid = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2 };
    mid.as_nanos() as f64 / 1_000.0
}

/// Nearest-rank 95th percentile.
fn p95_us(sorted: &[Duration]) -> f64 {
    let rank = (sorted.len() * 95).div_ceil(100).max(1);
    sorted[rank - 1].as_nanos() as f64 / 1_000.0
}

fn main() {
    let users = env::var("GATEHOUSE_BENCH_USERS").ok().map_or(DEFAULT_USERS, |v| {
        v.replace(['_', ','], "").parse().expect("GATEHOUSE_BENCH_USERS is a number of users")
    });
    assert!(users >= 4 * usize::try_from(PAGE).unwrap(), "GATEHOUSE_BENCH_USERS is too small");
    let ids: Vec<Uuid> = (0..users).map(|_| Uuid::now_v7()).collect();
    assert!(ids.is_sorted(), "Uuid::now_v7 is monotonic within a process");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut results = Vec::new();
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mysql] {
        let Some(scratch) = runtime.block_on(scratch(kind)) else {
            println!("{}: skipped ({} is not set)", kind.name(), kind.url_var().unwrap_or_default());
            continue;
        };
        let outcome = runtime.block_on(run(kind, &scratch.url, &ids));
        drop(scratch);
        results.push((kind, outcome));
    }

    println!();
    for (kind, outcome) in &results {
        let Ok(o) = outcome else { continue };
        println!("{} (id stored as {}): query plans of the page query", kind.name(), o.storage);
        for (label, lines) in &o.plans {
            println!("  {label}:");
            for line in lines {
                println!("    {line}");
            }
        }
    }
    println!();
    println!("UserStore::list, {PAGE} users a page, {ROUNDS} calls per page after {WARMUP} warm-up calls, µs");
    println!(
        "{:<14} {:>9} {:>8} {:>8}  {:>15}  {:>15}  {:>15}  {:>7}",
        "backend", "users", "seed s", "analyze", "first med/p95", "middle med/p95", "last med/p95", "PK plan"
    );
    for (kind, outcome) in &results {
        match outcome {
            Ok(o) => {
                let mut line = format!(
                    "{:<14} {:>9} {:>8.1} {:>8.1}",
                    kind.name(),
                    o.users,
                    o.seed.as_secs_f64(),
                    o.analyze.as_secs_f64()
                );
                for p in &o.pages {
                    debug_assert!(!p.label.is_empty());
                    write!(line, "  {:>15}", format!("{:.0} / {:.0}", p.median_us, p.p95_us)).unwrap();
                }
                write!(line, "  {:>7}", if o.uses_primary_key { "yes" } else { "NO" }).unwrap();
                println!("{line}");
            }
            Err(e) => println!("{:<14} failed: {e}", kind.name()),
        }
    }
    if results.iter().any(|(_, outcome)| outcome.is_err()) {
        std::process::exit(1);
    }
}
