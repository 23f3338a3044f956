//! HTTP suites: the real server on a free port, for every adapter set.

mod concurrency;
mod errors;
mod operations;
mod tokens;
mod tutorial;
