//! Gatehouse schema history.
//!
//! Timestamps are stored as BIGINT microseconds since the Unix epoch: the
//! one representation that is exact and identical on SQLite, PostgreSQL and
//! MySQL (no time-zone or fractional-second precision differences).
//! Usernames are stored in canonical lower case, so the plain unique index
//! is case-insensitive uniqueness on every backend.
//!
//! **Append-only.** A migration that has been released is never edited:
//! deployed databases have run it and would never see the change. Every
//! schema change is a new `mYYYYMMDD_NNNNNN_*.rs` file, listed below and in
//! `released.sha256` (one `sha256sum` line per file, added when the
//! migration is; never changed or removed). A test fails when a listed
//! file's checksum differs or a migration file is not listed.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_users_and_sessions;
mod m20261202_000001_login_throttle;
mod m20261203_000001_second_factors;
mod m20261203_000002_service_accounts;
mod m20261204_000001_passkeys;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_users_and_sessions::Migration),
            Box::new(m20261202_000001_login_throttle::Migration),
            Box::new(m20261203_000001_second_factors::Migration),
            Box::new(m20261203_000002_service_accounts::Migration),
            Box::new(m20261204_000001_passkeys::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, fs, path::Path};

    use super::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `released.sha256`: file name -> checksum, in file order.
    fn released() -> Vec<(String, String)> {
        let list = include_str!("../released.sha256");
        list.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (sum, name) = line.split_once("  ").unwrap_or_else(|| panic!("not a sha256sum line: {line:?}"));
                (name.to_owned(), sum.to_owned())
            })
            .collect()
    }

    /// Every migration file in `src/`, with its checksum.
    fn on_disk() -> BTreeMap<String, String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        fs::read_dir(&src)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with('m') && name.ends_with(".rs"))
            .map(|name| {
                let sum = sha256_hex(&fs::read(src.join(&name)).unwrap());
                (name, sum)
            })
            .collect()
    }

    #[test]
    fn released_migrations_never_change() {
        let disk = on_disk();
        for (name, sum) in released() {
            let now = disk.get(&name).unwrap_or_else(|| panic!("released migration {name} was deleted or renamed"));
            assert_eq!(
                *now, sum,
                "released migration {name} was edited; add a new migration instead (released.sha256 only grows)"
            );
        }
    }

    #[test]
    fn every_migration_file_is_listed_once_in_order() {
        let listed: Vec<String> = released().into_iter().map(|(name, _)| name).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(listed, sorted, "released.sha256 lists each migration once, oldest first");
        let disk: Vec<String> = on_disk().into_keys().collect();
        assert_eq!(disk, listed, "add a `sha256sum` line to migration/released.sha256 for each new migration");
    }

    #[test]
    fn the_migrator_runs_every_file_in_name_order() {
        let names: Vec<String> = Migrator::migrations().iter().map(|m| format!("{}.rs", m.name())).collect();
        let listed: Vec<String> = released().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, listed);
    }
}
