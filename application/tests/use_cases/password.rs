//! Changing one's own password.

use gatehouse_application::{ChangePasswordError, LoginError};

use crate::support::{
    NEW_PASSWORD, PASSWORD, THROTTLE_LIMIT, WRONG_PASSWORD, app, assert_session_ended, assert_session_usable, login,
    login_request, new_password, principal, register, secret,
};

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_changes_nothing() {
    let app = app();
    register(&app, "alice").await;
    let this = login(&app, "alice").await;
    let other = login(&app, "alice").await;

    let result = app.change_password(&principal(&app, &this), secret(WRONG_PASSWORD), new_password(NEW_PASSWORD)).await;

    assert_err!(result, ChangePasswordError::InvalidCredentials);
    assert_err!(app.login(login_request("alice", NEW_PASSWORD, None)).await, LoginError::InvalidCredentials);
    assert!(app.login(login_request("alice", PASSWORD, None)).await.is_ok());
    assert_session_usable(&app, &other, "the other session").await;
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_login_throttling() {
    let app = app();
    register(&app, "alice").await;
    let me = principal(&app, &login(&app, "alice").await);

    for _ in 0..THROTTLE_LIMIT {
        let result = app.change_password(&me, secret(WRONG_PASSWORD), new_password(NEW_PASSWORD)).await;
        assert_err!(result, ChangePasswordError::InvalidCredentials);
    }

    assert_err!(app.login(login_request("alice", PASSWORD, None)).await, LoginError::Throttled { .. });
    let result = app.change_password(&me, secret(PASSWORD), new_password(NEW_PASSWORD)).await;
    assert_err!(result, ChangePasswordError::Throttled { .. });
}

#[tokio::test]
async fn after_a_change_only_the_new_password_logs_in() {
    let app = app();
    register(&app, "alice").await;
    let me = principal(&app, &login(&app, "alice").await);

    app.change_password(&me, secret(PASSWORD), new_password(NEW_PASSWORD)).await.unwrap();

    assert_err!(app.login(login_request("alice", PASSWORD, None)).await, LoginError::InvalidCredentials);
    assert!(app.login(login_request("alice", NEW_PASSWORD, None)).await.is_ok());
}

#[tokio::test]
async fn a_change_ends_every_other_session_of_the_user_and_keeps_this_one() {
    let app = app();
    register(&app, "alice").await;
    register(&app, "bob").await;
    let this = login(&app, "alice").await;
    let second = login(&app, "alice").await;
    let third = login(&app, "alice").await;
    let bob = login(&app, "bob").await;

    app.change_password(&principal(&app, &this), secret(PASSWORD), new_password(NEW_PASSWORD)).await.unwrap();

    assert_session_ended(&app, &second, "alice's second session").await;
    assert_session_ended(&app, &third, "alice's third session").await;
    assert_session_usable(&app, &this, "this session").await;
    assert_session_usable(&app, &bob, "bob's session").await;
}
