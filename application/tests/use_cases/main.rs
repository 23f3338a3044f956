//! Use-case tests of the application crate, over the in-memory adapters, a
//! fixed clock and a cheap argon2id. One binary, one module per use case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_debug_implementations)]

mod authenticate;
mod login;
mod register;
mod support;
