//! Port contract suites: each rule a port's documentation states is one
//! generic function, run against every adapter by `contract_tests!`
//! (see `support::db`).
//!
//! The values below are what the suites store: every field differs from
//! user to user and session to session, so a store that mixes up or drops
//! a column cannot pass.

mod audit_log;
mod login_throttle;
mod mfa_store;
mod passkey_store;
mod service_account_store;
mod session_store;
mod user_store;

use gatehouse_domain::{PasswordHash, Role, Session, SessionId, User, UserId, Username};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The current time, truncated to the microseconds the SQL stores keep.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).expect("a nanosecond below one second")
}

/// A new enabled user with the `user` role, created now. `name` is raw
/// input: it is parsed into its canonical (lower-case) form.
fn user(name: &str) -> User {
    let salt = Uuid::new_v4().simple();
    User {
        id: UserId::from_uuid(Uuid::now_v7()),
        username: Username::parse(name).expect("a valid username"),
        password_hash: PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${salt}$aGFzaC1vZi10aGUtcGFzc3dvcmQ")),
        role: Role::User,
        disabled: false,
        created_at: now(),
    }
}

/// A new live session of `user`, opened now, last used a minute later,
/// never rotated.
fn session(user: &User) -> Session {
    let created_at = now();
    Session {
        id: SessionId::from_uuid(Uuid::now_v7()),
        user_id: user.id,
        generation: 0,
        rotated_at: None,
        created_at,
        last_used_at: created_at + Duration::minutes(1),
        expires_at: created_at + Duration::days(30),
        revoked_at: None,
        auth_time: created_at,
        amr: gatehouse_domain::Amr::password(),
    }
}

/// Asserts that `found` is `expected`, field by field: `Debug` redacts the
/// password hash, so a plain `assert_eq!` would not show that it differs.
fn assert_same_user(found: Option<User>, expected: &User) {
    let found = found.unwrap_or_else(|| panic!("user {} not found", expected.id));
    assert_eq!(found.password_hash.as_str(), expected.password_hash.as_str(), "password hash");
    assert_eq!(&found, expected);
}

/// Like [`assert_same_user`], for sessions.
fn assert_same_session(found: Option<Session>, expected: &Session) {
    let found = found.unwrap_or_else(|| panic!("session {} not found", expected.id));
    assert_eq!(&found, expected, "session {}", expected.id);
}
