//! Logging in: credentials, sessions, token pairs and throttling.

use gatehouse_application::{
    LoginError,
    ports::{RefreshTokens, SessionStore, TokenCodec},
};
use gatehouse_domain::Role;
use secrecy::ExposeSecret;
use time::Duration;

use crate::support::{
    App, PASSWORD, T0, THROTTLE_LIMIT, THROTTLE_WINDOW, WRONG_PASSWORD, app, expose, insert_user, login, login_request,
    register,
};

#[tokio::test]
async fn a_successful_login_issues_an_access_token_naming_the_user_session_and_role() {
    let app = app();
    let alice = register(&app, "alice").await;

    let pair = app.login(login_request("alice", PASSWORD, Some("192.0.2.1"))).await.unwrap().signed_in().unwrap();

    let claims = app.parts().tokens.verify(&pair.access_token).unwrap();
    assert_eq!(claims.sub, alice.id);
    assert_eq!(claims.sid, pair.session_id);
    assert_eq!(claims.role, Role::User);
    assert_eq!(claims.username.as_str(), "alice");
    assert_eq!(claims.iss, app.policy().issuer);
    assert_eq!(claims.aud, app.policy().audience);
    assert_eq!(claims.iat, T0.unix_timestamp());
    assert_eq!(claims.exp - claims.iat, app.policy().access_ttl.whole_seconds());
    assert_eq!(pair.expires_in, app.policy().access_ttl);
    assert_eq!(pair.refresh_expires_in, app.policy().refresh_ttl);
}

#[tokio::test]
async fn an_admin_logging_in_gets_a_token_with_the_admin_role() {
    let app = app();
    insert_user(&app, "root", Role::Admin, false).await;

    let pair = login(&app, "root").await;

    assert_eq!(app.parts().tokens.verify(&pair.access_token).unwrap().role, Role::Admin);
}

#[tokio::test]
async fn the_session_stores_no_refresh_token_only_its_generation() {
    let app = app();
    let alice = register(&app, "alice").await;

    let pair = login(&app, "alice").await;

    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!(session.generation, 0);
    assert_eq!(session.rotated_at, None);
    assert_eq!(app.parts().refresh.parse(expose(&pair.refresh_token)), Some((pair.session_id, 0)));
    assert_eq!(session.user_id, alice.id);
    assert_eq!(session.created_at, T0);
    assert_eq!(session.last_used_at, T0);
    assert_eq!(session.expires_at, T0 + app.policy().refresh_ttl);
    assert_eq!(session.revoked_at, None);
}

#[tokio::test]
async fn every_login_opens_a_new_session_with_its_own_tokens() {
    let app = app();
    register(&app, "alice").await;

    let first = login(&app, "alice").await;
    let second = login(&app, "alice").await;

    assert_ne!(first.session_id, second.session_id);
    assert_ne!(first.refresh_token.expose_secret(), second.refresh_token.expose_secret());
    assert_ne!(first.access_token, second.access_token);
    for pair in [&first, &second] {
        assert!(app.parts().sessions.find(pair.session_id).await.unwrap().is_some());
        assert_eq!(app.authenticate(&pair.access_token).unwrap().session_id, pair.session_id);
    }
}

#[tokio::test]
async fn the_username_may_be_typed_in_any_case_and_with_surrounding_space() {
    let app = app();
    let alice = register(&app, "alice").await;

    let pair = app.login(login_request("  ALICE ", PASSWORD, None)).await.unwrap().signed_in().unwrap();

    assert_eq!(app.parts().tokens.verify(&pair.access_token).unwrap().sub, alice.id);
}

#[tokio::test]
async fn login_with_a_wrong_password_is_refused_like_an_unknown_user() {
    let app = app();
    register(&app, "alice").await;

    let wrong_password = app.login(login_request("alice", WRONG_PASSWORD, None)).await;
    let unknown_user = app.login(login_request("mallory", PASSWORD, None)).await;

    assert!(matches!(wrong_password, Err(LoginError::InvalidCredentials)), "{wrong_password:?}");
    assert!(matches!(unknown_user, Err(LoginError::InvalidCredentials)), "{unknown_user:?}");
}

#[tokio::test]
async fn a_malformed_username_is_refused_like_an_unknown_user() {
    let app = app();
    register(&app, "alice").await;

    for malformed in ["", "al", "al ice", "<script>", "ålice", &"a".repeat(65)] {
        let result = app.login(login_request(malformed, PASSWORD, None)).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{malformed:?}: {result:?}");
    }
}

#[tokio::test]
async fn a_disabled_account_with_the_right_password_is_told_it_is_disabled() {
    let app = app();
    insert_user(&app, "dora", Role::User, true).await;

    let result = app.login(login_request("dora", PASSWORD, None)).await;

    assert!(matches!(result, Err(LoginError::AccountDisabled)), "{result:?}");
}

#[tokio::test]
async fn a_disabled_account_with_a_wrong_password_is_refused_like_any_other() {
    let app = app();
    insert_user(&app, "dora", Role::User, true).await;

    let result = app.login(login_request("dora", WRONG_PASSWORD, None)).await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
}

/// Fails `THROTTLE_LIMIT` logins for `name`, each from its own address.
async fn fail_from_many_addresses(app: &App, name: &str) {
    for i in 0..THROTTLE_LIMIT {
        let client = format!("198.51.100.{i}");
        let result = app.login(login_request(name, WRONG_PASSWORD, Some(&client))).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "attempt {i}: {result:?}");
    }
}

#[tokio::test]
async fn after_too_many_failures_for_a_username_even_the_right_password_is_throttled() {
    let app = app();
    register(&app, "alice").await;
    fail_from_many_addresses(&app, "alice").await;

    let result = app.login(login_request("alice", PASSWORD, Some("203.0.113.9"))).await;

    let Err(LoginError::Throttled { retry_after }) = result else { panic!("expected throttling, got {result:?}") };
    assert!(retry_after > Duration::ZERO && retry_after <= THROTTLE_WINDOW, "{retry_after}");
}

#[tokio::test]
async fn a_throttled_username_may_log_in_again_once_the_window_has_passed() {
    let app = app();
    register(&app, "alice").await;
    fail_from_many_addresses(&app, "alice").await;

    app.parts().clock.advance(Duration::minutes(5));
    let Err(LoginError::Throttled { retry_after }) = app.login(login_request("alice", PASSWORD, None)).await else {
        panic!("expected throttling")
    };
    assert_eq!(retry_after, THROTTLE_WINDOW - Duration::minutes(5), "retry_after counts down with the clock");

    app.parts().clock.advance(retry_after);
    assert!(app.login(login_request("alice", PASSWORD, None)).await.is_ok());
}

#[tokio::test]
async fn the_username_throttle_counts_every_spelling_of_the_name() {
    let app = app();
    register(&app, "alice").await;

    for spelling in ["alice", "ALICE", " Alice "].into_iter().take(THROTTLE_LIMIT as usize) {
        let result = app.login(login_request(spelling, WRONG_PASSWORD, None)).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    }

    let result = app.login(login_request("alice", PASSWORD, None)).await;
    assert!(matches!(result, Err(LoginError::Throttled { .. })), "{result:?}");
}

#[tokio::test]
async fn one_throttled_username_does_not_lock_out_another() {
    let app = app();
    register(&app, "alice").await;
    register(&app, "bob").await;
    fail_from_many_addresses(&app, "alice").await;

    assert!(app.login(login_request("bob", PASSWORD, None)).await.is_ok());
}

#[tokio::test]
async fn failures_from_one_address_are_counted_across_usernames() {
    let app = app();
    register(&app, "alice").await;
    let attacker = Some("203.0.113.66");
    for i in 0..THROTTLE_LIMIT {
        let result = app.login(login_request(&format!("victim{i}"), PASSWORD, attacker)).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    }

    let from_that_address = app.login(login_request("alice", PASSWORD, attacker)).await;
    let from_elsewhere = app.login(login_request("alice", PASSWORD, Some("192.0.2.1"))).await;

    assert!(matches!(from_that_address, Err(LoginError::Throttled { .. })), "{from_that_address:?}");
    assert!(from_elsewhere.is_ok(), "{from_elsewhere:?}");
}

#[tokio::test]
async fn malformed_usernames_still_count_against_the_address() {
    let app = app();
    register(&app, "alice").await;
    let client = Some("203.0.113.66");
    for _ in 0..THROTTLE_LIMIT {
        let result = app.login(login_request("<bad>", PASSWORD, client)).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    }

    let result = app.login(login_request("alice", PASSWORD, client)).await;

    assert!(matches!(result, Err(LoginError::Throttled { .. })), "{result:?}");
}

#[tokio::test]
async fn when_both_username_and_address_are_throttled_the_longer_wait_is_reported() {
    let app = app();
    register(&app, "alice").await;
    // The username's failures are older than the address's, so the
    // username clears first.
    fail_from_many_addresses(&app, "alice").await;
    app.parts().clock.advance(Duration::minutes(5));
    let client = Some("203.0.113.66");
    for i in 0..THROTTLE_LIMIT {
        let result = app.login(login_request(&format!("victim{i}"), PASSWORD, client)).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    }
    app.parts().clock.advance(Duration::minutes(1));

    let Err(LoginError::Throttled { retry_after }) = app.login(login_request("alice", PASSWORD, client)).await else {
        panic!("expected throttling")
    };
    assert_eq!(retry_after, THROTTLE_WINDOW - Duration::minutes(1));

    app.parts().clock.advance(retry_after);
    assert!(app.login(login_request("alice", PASSWORD, client)).await.is_ok());
}

#[tokio::test]
async fn a_successful_login_forgets_the_earlier_failures_of_the_username() {
    let app = app();
    register(&app, "alice").await;

    for _ in 0..2 {
        for _ in 0..THROTTLE_LIMIT - 1 {
            let result = app.login(login_request("alice", WRONG_PASSWORD, None)).await;
            assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
        }
        let result = app.login(login_request("alice", PASSWORD, None)).await;
        assert!(result.is_ok(), "{result:?}");
    }
}

#[tokio::test]
async fn parallel_guesses_check_no_more_passwords_than_the_limit() {
    let app = std::sync::Arc::new(app());
    register(&app, "alice").await;

    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let app = std::sync::Arc::clone(&app);
            let client = format!("192.0.2.{i}");
            tokio::spawn(async move { app.login(login_request("alice", WRONG_PASSWORD, Some(&client))).await })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(LoginError::InvalidCredentials) => checked += 1,
            Err(LoginError::Throttled { .. }) => {}
            other => panic!("a guess answered {other:?}"),
        }
    }
    assert_eq!(checked, THROTTLE_LIMIT, "passwords checked out of 30 parallel guesses");
}

#[tokio::test]
async fn a_successful_login_gives_the_address_its_slot_back_so_busy_addresses_are_not_throttled() {
    let app = app();
    register(&app, "alice").await;
    for _ in 0..(THROTTLE_LIMIT * 3) {
        app.login(login_request("alice", PASSWORD, Some("192.0.2.1"))).await.unwrap();
    }
}

#[tokio::test]
async fn a_successful_login_does_not_forgive_the_addresss_earlier_failures() {
    let app = app();
    register(&app, "mallory").await;
    let attacker = Some("203.0.113.9");
    for i in 1..THROTTLE_LIMIT {
        let result = app.login(login_request(&format!("victim{i}"), WRONG_PASSWORD, attacker)).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{result:?}");
    }
    // Logging into an account of one's own between guesses resets nothing.
    app.login(login_request("mallory", PASSWORD, attacker)).await.unwrap();
    let last = app.login(login_request("victim9", WRONG_PASSWORD, attacker)).await;
    assert!(matches!(last, Err(LoginError::InvalidCredentials)), "{last:?}");
    let next = app.login(login_request("victim10", WRONG_PASSWORD, attacker)).await;
    assert!(matches!(next, Err(LoginError::Throttled { .. })), "{next:?}");
}
