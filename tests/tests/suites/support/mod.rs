//! Shared test support: databases and the app harness.
