//! A user's own sessions: listing them and revoking one.

use gatehouse_application::{RevokeSessionError, ports::SessionStore};
use gatehouse_domain::SessionId;
use time::Duration;
use uuid::Uuid;

use crate::support::{app, assert_session_ended, assert_session_usable, login, principal, refresh, register};

#[tokio::test]
async fn listing_shows_only_the_users_live_sessions_newest_first_marking_the_asking_one() {
    let app = app();
    let alice = register(&app, "alice").await;
    register(&app, "bob").await;
    let expired = login(&app, "alice").await;
    app.parts().clock.advance(Duration::minutes(1));
    let revoked = login(&app, "alice").await;
    app.parts().clock.advance(Duration::minutes(1));
    let asking = login(&app, "alice").await;
    app.parts().clock.advance(Duration::minutes(1));
    let later = login(&app, "alice").await;
    login(&app, "bob").await;
    app.revoke_own_session(&principal(&app, &revoked), revoked.session_id).await.unwrap();
    // The first session ends; the others have minutes left.
    app.parts().clock.advance(app.policy().refresh_ttl - Duration::minutes(3));
    let newest = login(&app, "alice").await;
    let asking = refresh(&app, &asking).await;

    let listed = app.list_sessions(&principal(&app, &asking)).await.unwrap();

    let ids: Vec<_> = listed.iter().map(|v| v.session.id).collect();
    assert_eq!(ids, [newest.session_id, later.session_id, asking.session_id], "expired: {}", expired.session_id);
    let current: Vec<_> = listed.iter().map(|v| v.current).collect();
    assert_eq!(current, [false, false, true]);
    assert!(listed.iter().all(|v| v.session.user_id == alice.id && v.session.revoked_at.is_none()));
    assert_eq!(listed[2].session.generation, 1, "the view is the stored session");
}

#[tokio::test]
async fn revoking_ones_own_other_session_ends_it_and_only_it() {
    let app = app();
    register(&app, "alice").await;
    let this = login(&app, "alice").await;
    let other = login(&app, "alice").await;
    let me = principal(&app, &this);

    app.revoke_own_session(&me, other.session_id).await.unwrap();

    assert_session_ended(&app, &other, "the revoked session").await;
    let listed = app.list_sessions(&me).await.unwrap();
    assert_eq!(listed.iter().map(|v| v.session.id).collect::<Vec<_>>(), [this.session_id]);
    assert_session_usable(&app, &this, "the asking session").await;
    // Once ended, it is not found any more.
    assert_err!(app.revoke_own_session(&me, other.session_id).await, RevokeSessionError::NotFound);
}

#[tokio::test]
async fn revoking_another_users_session_is_not_found_and_leaves_it_alive() {
    let app = app();
    register(&app, "alice").await;
    register(&app, "mallory").await;
    let alices = login(&app, "alice").await;
    let mallory = principal(&app, &login(&app, "mallory").await);

    let result = app.revoke_own_session(&mallory, alices.session_id).await;

    assert_err!(result, RevokeSessionError::NotFound);
    assert_eq!(app.parts().sessions.find(alices.session_id).await.unwrap().unwrap().revoked_at, None);
    assert_session_usable(&app, &alices, "alice's session").await;
}

#[tokio::test]
async fn revoking_an_unknown_session_is_not_found() {
    let app = app();
    register(&app, "alice").await;
    let me = principal(&app, &login(&app, "alice").await);

    let result = app.revoke_own_session(&me, SessionId::from_uuid(Uuid::now_v7())).await;

    assert_err!(result, RevokeSessionError::NotFound);
}
