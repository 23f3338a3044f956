#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]
//! What authenticating a request costs, and how much of it the revocation
//! check is. Run with `cargo bench -p gatehouse-application --bench
//! authenticate` (release profile). Prints nanoseconds per call for:
//!
//! - `verify + claims`: signature, header and claim checks, no revocation
//!   check (what a check-free route would do);
//! - `authenticate, 0 revoked` and `authenticate, 100000 revoked`: the
//!   full use case, with an empty and a large revocation list;
//! - `revocation lookup`: the check alone.

use std::{hint::black_box, time::Instant};

use gatehouse_application::{
    LoginRequest,
    ports::{Clock, TokenCodec},
};
use gatehouse_domain::{NewPassword, Revocation, SessionId, UserId, Username};
use gatehouse_infrastructure::{SystemClock, testkit::InMemoryBuilder};
use secrecy::SecretString;

const ROUNDS: u32 = 20_000;

fn per_call(label: &str, mut f: impl FnMut()) -> f64 {
    for _ in 0..ROUNDS / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
    println!("{label:<32} {ns:>10.0} ns/call");
    ns
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The public test kit: in-memory stores, cheap argon2id, fresh keys;
    // the real clock, since tokens are checked against it.
    let app = InMemoryBuilder::new().clock(SystemClock).build().expect("app");
    let token = runtime.block_on(async {
        let password = NewPassword::parse(SecretString::from("bench password 1"), None).expect("password");
        app.register(Username::parse("bench").expect("name"), password, None).await.expect("register");
        let request =
            LoginRequest { username: "bench".into(), password: SecretString::from("bench password 1"), client: None };
        app.login(request).await.expect("login").signed_in().expect("no second factor").access_token
    });

    let check_free = per_call("verify + claims (no revocation)", || {
        let claims = app.parts().tokens.verify(black_box(&token)).expect("valid");
        app.policy().check(&claims, app.parts().clock.now()).expect("fresh");
    });
    let empty = per_call("authenticate, 0 revoked", || {
        black_box(app.authenticate(black_box(&token)).expect("valid"));
    });
    let now = app.parts().clock.now();
    let revoked: Vec<Revocation> = (0..100_000)
        .map(|_| Revocation {
            session_id: SessionId::from_uuid(uuid::Uuid::now_v7()),
            user_id: UserId::from_uuid(uuid::Uuid::now_v7()),
            revoked_at: now,
            relevant_until: now + time::Duration::hours(1),
        })
        .collect();
    app.parts().revocations.extend(&revoked);
    let full = per_call("authenticate, 100000 revoked", || {
        black_box(app.authenticate(black_box(&token)).expect("valid"));
    });
    let sid = revoked[0].session_id;
    let lookup = per_call("revocation lookup", || {
        black_box(app.parts().revocations.is_revoked(black_box(sid)));
    });
    println!(
        "revocation check: {:.0} ns of {:.0} ns per authentication ({:.2}%); \
         authenticate vs check-free: {:+.1}% (0 revoked), {:+.1}% (100000 revoked)",
        lookup,
        full,
        100.0 * lookup / full,
        100.0 * (empty - check_free) / check_free,
        100.0 * (full - check_free) / check_free,
    );
}
