//! Logging out: this session, every session, or every other session.

use gatehouse_application::{LogoutScope, TokenPair, ports::SessionStore};

use crate::support::{App, app, assert_session_ended, assert_session_usable, login, principal, register};

/// Alice with three sessions and bob with one.
struct Logins {
    alice: [TokenPair; 3],
    bob: TokenPair,
}

async fn logins(app: &App) -> Logins {
    register(app, "alice").await;
    register(app, "bob").await;
    let alice = [login(app, "alice").await, login(app, "alice").await, login(app, "alice").await];
    Logins { alice, bob: login(app, "bob").await }
}

#[tokio::test]
async fn logging_out_locally_ends_only_this_session() {
    let app = app();
    let Logins { alice: [this, second, third], bob } = logins(&app).await;

    app.logout(&principal(&app, &this), LogoutScope::Local).await.unwrap();

    assert_session_ended(&app, &this, "this session").await;
    assert_session_usable(&app, &second, "alice's second session").await;
    assert_session_usable(&app, &third, "alice's third session").await;
    assert_session_usable(&app, &bob, "bob's session").await;
}

#[test]
fn a_logout_is_local_unless_told_otherwise() {
    assert_eq!(LogoutScope::default(), LogoutScope::Local);
}

#[tokio::test]
async fn logging_out_globally_ends_every_session_of_the_user() {
    let app = app();
    let Logins { alice: [this, second, third], bob } = logins(&app).await;

    app.logout(&principal(&app, &this), LogoutScope::Global).await.unwrap();

    assert_session_ended(&app, &this, "this session").await;
    assert_session_ended(&app, &second, "alice's second session").await;
    assert_session_ended(&app, &third, "alice's third session").await;
    assert_session_usable(&app, &bob, "bob's session").await;
}

#[tokio::test]
async fn logging_out_the_others_ends_every_other_session_and_keeps_this_one() {
    let app = app();
    let Logins { alice: [this, second, third], bob } = logins(&app).await;

    app.logout(&principal(&app, &this), LogoutScope::Others).await.unwrap();

    assert_session_usable(&app, &this, "this session").await;
    assert_session_ended(&app, &second, "alice's second session").await;
    assert_session_ended(&app, &third, "alice's third session").await;
    assert_session_usable(&app, &bob, "bob's session").await;
}

#[tokio::test]
async fn logging_out_again_is_harmless_and_keeps_the_first_revocation_time() {
    let app = app();
    let Logins { alice: [this, ..], .. } = logins(&app).await;
    let me = principal(&app, &this);
    app.logout(&me, LogoutScope::Local).await.unwrap();
    let revoked_at = app.parts().sessions.find(this.session_id).await.unwrap().unwrap().revoked_at;
    assert!(revoked_at.is_some());
    app.parts().clock.advance(time::Duration::minutes(1));

    app.logout(&me, LogoutScope::Global).await.unwrap();

    assert_eq!(app.parts().sessions.find(this.session_id).await.unwrap().unwrap().revoked_at, revoked_at);
    assert_session_ended(&app, &this, "this session").await;
}
