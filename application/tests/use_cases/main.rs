//! Use-case tests of the application crate, over the in-memory adapters, a
//! fixed clock and a cheap argon2id. One binary, one module per use case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_debug_implementations)]

/// Asserts that `$result` is an `Err` matching `$pattern`.
macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {{
        let result = $result;
        assert!(matches!(result, Err($pattern)), "expected {}, got {result:?}", stringify!($pattern));
    }};
}

mod admin;
mod authenticate;
mod login;
mod logout;
mod mfa;
mod passkeys;
mod password;
mod refresh;
mod register;
mod revocations;
mod service_accounts;
mod sessions;
mod support;
mod token_cache;
