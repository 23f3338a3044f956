//! Dependency rule checks.
