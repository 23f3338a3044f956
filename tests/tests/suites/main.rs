//! Gatehouse integration suites: one test binary (each file under `tests/`
//! would link its own), a module per feature.
//!
//! - `contracts`: one suite per port, every rule written once and run
//!   against each adapter (memory, SQLite, PostgreSQL when
//!   `GATEHOUSE_TEST_POSTGRES_URL` is set, and MySQL/MariaDB when
//!   `GATEHOUSE_TEST_MYSQL_URL` is set).
//! - `http`: the real server on a free port, driven over HTTP, for each
//!   adapter set.
//! - `architecture`: the dependency rule, read from `cargo metadata`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_debug_implementations)]

mod architecture;
mod contracts;
mod http;
mod support;
