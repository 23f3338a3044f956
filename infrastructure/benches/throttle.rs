#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::cast_precision_loss)]
//! What the login throttle costs one login attempt, per backend.
//!
//! Run with
//!
//! ```sh
//! GATEHOUSE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! GATEHOUSE_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/mysql \
//!     cargo bench -p gatehouse-infrastructure --bench throttle
//! ```
//!
//! For each backend (SQLite always; PostgreSQL and MySQL/MariaDB when their
//! variable is set, each in a fresh database that is dropped afterwards) it
//! times, with [`ROUNDS`] sequential attempts after [`WARMUP`] untimed ones
//! and the production adapter (`SeaOrmLoginThrottle`) over the default
//! pool:
//!
//! - a wrong password: `acquire` of the username and the address (one
//!   upsert statement);
//! - a right password: `acquire`, then `succeeded` (clear the username,
//!   give the address its slot back: two more statements);
//! - a refused attempt: `acquire` when both keys are full (one upsert).
//!
//! Each attempt uses a username of its own and one of 50 addresses, as a
//! spread of real clients would.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use gatehouse_application::ports::{Admission, LoginThrottle};
use gatehouse_domain::{ThrottleKey, Username};
use gatehouse_test_support::{Kind, TestDb};
use time::OffsetDateTime;

const WARMUP: usize = 200;
const ROUNDS: usize = 2_000;

fn url_var(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Sqlite => None,
        Kind::Postgres => Some("GATEHOUSE_BENCH_POSTGRES_URL"),
        Kind::Mysql => Some("GATEHOUSE_BENCH_MYSQL_URL"),
    }
}

fn keys(i: usize) -> Vec<ThrottleKey> {
    let name = Username::parse(&format!("user{i:07}")).unwrap();
    let octet = u8::try_from(i % 50).unwrap();
    ThrottleKey::for_attempt(Some(&name), Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, octet))))
}

struct Stats {
    median_us: f64,
    p95_us: f64,
}

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    Stats { median_us: at(0.5), p95_us: at(0.95) }
}

/// Times `ROUNDS` calls of `attempt(i)` after `WARMUP` untimed ones.
async fn time<F, Fut>(mut attempt: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..WARMUP {
        attempt(i).await;
    }
    let mut times = Vec::with_capacity(ROUNDS);
    for i in WARMUP..WARMUP + ROUNDS {
        let started = Instant::now();
        attempt(i).await;
        times.push(started.elapsed());
    }
    stats(times)
}

async fn run(db: &TestDb) -> [Stats; 3] {
    let now = OffsetDateTime::now_utc();
    // A limit no run reaches, so that every attempt is granted.
    let open = db.db.throttle(u32::MAX - 1, time::Duration::minutes(15));
    let wrong = time(|i| {
        let open = open.clone();
        async move {
            assert!(matches!(open.acquire(&keys(i), now).await.unwrap(), Admission::Granted(_)));
        }
    })
    .await;
    let right = time(|i| {
        let open = open.clone();
        async move {
            let Admission::Granted(slots) = open.acquire(&keys(1_000_000 + i), now).await.unwrap() else {
                panic!("refused")
            };
            open.succeeded(&slots).await.unwrap();
        }
    })
    .await;
    // Both keys full: a one-slot throttle whose keys were used once.
    let full = db.db.throttle(1, time::Duration::minutes(15));
    let locked = keys(2_000_000);
    full.acquire(&locked, now).await.unwrap();
    let refused = time(|_| {
        let (full, locked) = (full.clone(), locked.clone());
        async move {
            assert!(matches!(full.acquire(&locked, now).await.unwrap(), Admission::Refused { .. }));
        }
    })
    .await;
    [wrong, right, refused]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    println!("LoginThrottle per login attempt, {ROUNDS} sequential attempts after {WARMUP} warm-up ones, µs");
    println!(
        "{:<14} {:>22} {:>22} {:>22}",
        "backend", "wrong pw: 1 statement", "right pw: 3 statements", "refused: 1 statement"
    );
    for kind in [Kind::Sqlite, Kind::Postgres, Kind::Mysql] {
        let db = match url_var(kind) {
            None => Some(runtime.block_on(gatehouse_test_support::sqlite())),
            Some(var) => runtime.block_on(gatehouse_test_support::from_env(kind, var)),
        };
        let Some(db) = db else {
            println!("{:<14} skipped ({} is not set)", kind.name(), url_var(kind).unwrap_or_default());
            continue;
        };
        let [wrong, right, refused] = runtime.block_on(run(&db));
        let cell = |s: &Stats| format!("{:.0} med / {:.0} p95", s.median_us, s.p95_us);
        println!("{:<14} {:>22} {:>22} {:>22}", kind.name(), cell(&wrong), cell(&right), cell(&refused));
        drop(db);
    }
}
