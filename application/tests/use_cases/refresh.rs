//! Refreshing: rotation, the reuse grace interval, reuse detection, and
//! what is not a refresh token.

use std::sync::Arc;

use gatehouse_application::{
    AuthError, RefreshError,
    ports::{Clock, RefreshTokens, SessionStore, TokenCodec, UserStore},
};
use gatehouse_domain::{Role, SessionId, User};
use gatehouse_infrastructure::MemoryUserStore;
use time::Duration;
use uuid::Uuid;

use crate::support::{App, Setup, app, expose, login, principal, refresh, register};

/// Asserts that refreshing with `token` is refused.
async fn assert_refresh_refused(app: &App, token: &str) {
    assert_err!(app.refresh(token, None).await, RefreshError::InvalidRefreshToken);
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let app = app();
    let alice = register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    app.parts().clock.advance(Duration::minutes(10));

    let next = refresh(&app, &pair).await;

    assert_eq!(next.session_id, pair.session_id);
    assert_ne!(expose(&next.refresh_token), expose(&pair.refresh_token));
    assert_ne!(next.access_token, pair.access_token);
    assert_eq!(app.parts().refresh.parse(expose(&next.refresh_token)), Some((pair.session_id, 1)));
    let claims = app.parts().tokens.verify(&next.access_token).unwrap();
    assert_eq!((claims.sub, claims.sid), (alice.id, pair.session_id));
    assert_eq!(claims.iat, app.parts().clock.now().unix_timestamp());
    assert_eq!(next.expires_in, app.policy().access_ttl);
    assert_eq!(
        next.refresh_expires_in,
        app.policy().refresh_ttl - Duration::minutes(10),
        "the session is not extended"
    );
    assert_eq!(principal(&app, &next).session_id, pair.session_id);

    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!(session.generation, 1);
    assert_eq!(session.rotated_at, Some(app.parts().clock.now()));
    assert_eq!(session.last_used_at, app.parts().clock.now());
    assert_eq!(session.revoked_at, None);

    // And the new one rotates in turn.
    let after = refresh(&app, &next).await;
    assert_eq!(app.parts().refresh.parse(expose(&after.refresh_token)), Some((pair.session_id, 2)));
}

#[tokio::test]
async fn the_token_just_rotated_away_gets_the_same_current_refresh_token_within_the_grace_interval() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let rotated = refresh(&app, &pair).await;
    app.parts().clock.advance(app.policy().refresh_reuse_grace - Duration::SECOND);

    let again = refresh(&app, &pair).await;

    assert_eq!(expose(&again.refresh_token), expose(&rotated.refresh_token));
    assert_ne!(again.access_token, rotated.access_token, "a new access token all the same");
    assert_eq!(principal(&app, &again).session_id, pair.session_id);
    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!(session.generation, 1, "the grace answer rotates nothing");
    assert_eq!(session.revoked_at, None);
    assert!(app.authenticate(&rotated.access_token).is_ok());
}

#[tokio::test]
async fn the_token_rotated_away_is_reuse_after_the_grace_interval_and_revokes_the_session() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let other = login(&app, "alice").await;
    let rotated = refresh(&app, &pair).await;
    app.parts().clock.advance(app.policy().refresh_reuse_grace);

    assert_refresh_refused(&app, expose(&pair.refresh_token)).await;

    assert_refresh_refused(&app, expose(&rotated.refresh_token)).await;
    assert_err!(app.authenticate(&rotated.access_token), AuthError::Revoked);
    assert_err!(app.authenticate(&pair.access_token), AuthError::Revoked);
    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!(session.revoked_at, Some(app.parts().clock.now()));
    // Only that session: alice's other login goes on.
    assert!(app.authenticate(&other.access_token).is_ok());
    refresh(&app, &other).await;
}

#[tokio::test]
async fn a_token_two_generations_old_is_reuse_even_within_the_grace_interval() {
    let app = app();
    register(&app, "alice").await;
    let first = login(&app, "alice").await;
    let second = refresh(&app, &first).await;
    let third = refresh(&app, &second).await;

    assert_refresh_refused(&app, expose(&first.refresh_token)).await;

    assert_refresh_refused(&app, expose(&third.refresh_token)).await;
    assert_err!(app.authenticate(&third.access_token), AuthError::Revoked);
    assert!(app.parts().sessions.find(first.session_id).await.unwrap().unwrap().revoked_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_one_token_all_succeed_with_the_same_new_refresh_token() {
    let app = Arc::new(app());
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let token: Arc<str> = expose(&pair.refresh_token).into();

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, token) = (Arc::clone(&app), Arc::clone(&token));
            tokio::spawn(async move { app.refresh(&token, None).await })
        })
        .collect();
    let mut refresh_tokens = Vec::new();
    for task in tasks {
        let pair = task.await.unwrap().unwrap();
        assert!(app.authenticate(&pair.access_token).is_ok());
        refresh_tokens.push(expose(&pair.refresh_token).to_owned());
    }

    refresh_tokens.dedup();
    assert_eq!(refresh_tokens.len(), 1, "every request got the same refresh token");
    assert_eq!(app.parts().refresh.parse(&refresh_tokens[0]), Some((pair.session_id, 1)));
    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!((session.generation, session.revoked_at), (1, None), "one rotation, no reuse alarm");
    assert!(app.refresh(&refresh_tokens[0], None).await.is_ok());
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    assert_refresh_refused(&app, &pair.access_token).await;

    refresh(&app, &pair).await;
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    assert_err!(app.authenticate(expose(&pair.refresh_token)), AuthError::Invalid);
}

#[tokio::test]
async fn forged_garbage_and_unknown_refresh_tokens_are_refused_without_harming_the_session() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let genuine = expose(&pair.refresh_token);
    let other_key = Setup::default().build();
    let mut flipped = genuine.to_owned().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let forged = [
        // Same session and generation, another key.
        expose(&other_key.parts().refresh.issue(pair.session_id, 0)).to_owned(),
        // Our key, but no such session.
        expose(&app.parts().refresh.issue(SessionId::from_uuid(Uuid::now_v7()), 0)).to_owned(),
        // Our key, a generation never issued.
        expose(&app.parts().refresh.issue(pair.session_id, 5)).to_owned(),
        flipped,
        genuine[..genuine.len() - 1].to_owned(),
        format!("{genuine}A"),
    ];

    for token in forged.iter().map(String::as_str).chain(["", "garbage", "a.b.c", &"A".repeat(76)]) {
        assert_refresh_refused(&app, token).await;
    }

    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!((session.generation, session.revoked_at), (0, None));
    refresh(&app, &pair).await;
}

#[tokio::test]
async fn refreshing_after_the_session_has_expired_is_refused() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    app.parts().clock.advance(app.policy().refresh_ttl - Duration::SECOND);
    let last = refresh(&app, &pair).await;
    assert_eq!(last.refresh_expires_in, Duration::SECOND);
    assert_eq!(last.expires_in, Duration::SECOND, "the access token ends with the session");

    app.parts().clock.advance(Duration::SECOND);

    assert_refresh_refused(&app, expose(&last.refresh_token)).await;
    assert_refresh_refused(&app, expose(&pair.refresh_token)).await;
}

/// An instance of `setup`'s deployment on `app`'s sessions and clock that
/// sees alice's account as `alice` (`None`: deleted). No use case changes a
/// role or disables an account yet, so the change is made by giving this
/// instance a user store of its own: the same database after an
/// administrator's edit.
async fn after_account_change(setup: &Setup, app: &App, alice: Option<User>) -> App {
    let users = MemoryUserStore::new();
    if let Some(alice) = alice {
        users.insert(&alice).await.unwrap();
    }
    setup.build_on(users, app.parts().sessions.clone(), app.parts().clock.clone())
}

#[tokio::test]
async fn refreshing_for_a_disabled_account_is_refused() {
    let setup = Setup::default();
    let app = setup.build();
    let alice = register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    let app = after_account_change(&setup, &app, Some(User { disabled: true, ..alice })).await;

    assert_refresh_refused(&app, expose(&pair.refresh_token)).await;
}

#[tokio::test]
async fn refreshing_for_a_deleted_account_is_refused() {
    let setup = Setup::default();
    let app = setup.build();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    let app = after_account_change(&setup, &app, None).await;

    assert_refresh_refused(&app, expose(&pair.refresh_token)).await;
}

#[tokio::test]
async fn the_refreshed_access_token_carries_the_users_current_role() {
    let setup = Setup::default();
    let app = setup.build();
    let alice = register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    assert_eq!(principal(&app, &pair).role, Role::User);

    let app = after_account_change(&setup, &app, Some(User { role: Role::Admin, ..alice })).await;
    let next = refresh(&app, &pair).await;

    assert_eq!(principal(&app, &next).role, Role::Admin);
    assert_eq!(app.parts().tokens.verify(&next.access_token).unwrap().role, Role::Admin);
}
