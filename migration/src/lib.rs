//! Gatehouse schema history.
//!
//! Timestamps are stored as BIGINT microseconds since the Unix epoch: the
//! one representation that is exact and identical on SQLite, PostgreSQL and
//! MySQL (no time-zone or fractional-second precision differences).
//! Usernames are stored in canonical lower case, so the plain unique index
//! is case-insensitive uniqueness on every backend.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_users_and_sessions;
mod m20261202_000001_login_throttle;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_users_and_sessions::Migration),
            Box::new(m20261202_000001_login_throttle::Migration),
        ]
    }
}
