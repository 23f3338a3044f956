//! Shared test support: databases and the app harness.

pub mod app;
pub mod db;
