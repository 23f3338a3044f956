//! HTTP suites: the real server on a free port, for every adapter set.

mod admin;
mod audit;
mod concurrency;
mod cors;
mod errors;
mod headers;
mod instances;
mod machine;
mod metrics;
mod mfa;
mod oauth;
mod operations;
mod overload;
mod passkeys;
mod sessions;
mod throttling;
pub mod tokens;
mod tutorial;
