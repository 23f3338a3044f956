//! HTTP suites.
