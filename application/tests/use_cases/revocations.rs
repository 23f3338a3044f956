//! Revocations across instances: the in-memory list, the store's feed that
//! keeps every instance's list in step, and purging what no longer matters.
//!
//! Two apps built on clones of the same stores (and the same keys and
//! clock) are two instances of one deployment on one database; an app built
//! on them later is an instance that restarted.

use gatehouse_application::{
    AuthError, LogoutScope, RefreshError,
    ports::{Clock, SessionStore},
};
use time::Duration;

use crate::support::{Setup, T0, expose, login, principal, register};

#[tokio::test]
async fn a_logout_is_effective_at_once_on_its_instance_and_on_others_after_their_next_sync() {
    let setup = Setup::default();
    let a = setup.build();
    let b = setup.another_instance(&a);
    assert_eq!(b.sync_revocations().await.unwrap(), 0, "start-up: nothing revoked yet");
    register(&a, "alice").await;
    let pair = login(&a, "alice").await;
    assert!(b.authenticate(&pair.access_token).is_ok(), "B accepts A's tokens");

    a.logout(&principal(&a, &pair), LogoutScope::Local).await.unwrap();

    assert_err!(a.authenticate(&pair.access_token), AuthError::Revoked);
    assert!(b.authenticate(&pair.access_token).is_ok(), "B has not heard of it yet");
    // Refreshing asks the store, so B refuses that already.
    assert_err!(b.refresh(expose(&pair.refresh_token), None).await, RefreshError::InvalidRefreshToken);

    b.parts().clock.advance(Duration::SECOND);
    assert_eq!(b.sync_revocations().await.unwrap(), 1);

    assert_err!(b.authenticate(&pair.access_token), AuthError::Revoked);
    assert_eq!(b.parts().revocations.len(), 1);
}

#[tokio::test]
async fn a_restarted_instance_refuses_revoked_tokens_after_its_first_sync() {
    let setup = Setup::default();
    let a = setup.build();
    register(&a, "alice").await;
    let pair = login(&a, "alice").await;
    a.logout(&principal(&a, &pair), LogoutScope::Local).await.unwrap();
    // The restart comes as late as the access token is still good for.
    a.parts().clock.advance(a.policy().access_ttl + a.policy().leeway - Duration::SECOND);

    let c = setup.another_instance(&a);
    assert!(c.parts().revocations.is_empty());
    assert_eq!(c.sync_revocations().await.unwrap(), 1);

    assert_err!(c.authenticate(&pair.access_token), AuthError::Revoked);
}

#[tokio::test]
async fn a_sync_forgets_a_revocation_only_once_every_token_it_stopped_has_expired() {
    let setup = Setup::default();
    let a = setup.build();
    let b = setup.another_instance(&a);
    register(&a, "alice").await;
    let pair = login(&a, "alice").await;
    a.logout(&principal(&a, &pair), LogoutScope::Local).await.unwrap();
    let relevant_until = a.policy().revocation_relevant_until(T0);
    b.sync_revocations().await.unwrap();
    assert_eq!((a.parts().revocations.len(), b.parts().revocations.len()), (1, 1));

    a.parts().clock.set(relevant_until - Duration::SECOND);
    a.sync_revocations().await.unwrap();
    b.sync_revocations().await.unwrap();
    assert_eq!((a.parts().revocations.len(), b.parts().revocations.len()), (1, 1));
    assert_err!(b.authenticate(&pair.access_token), AuthError::Revoked);

    a.parts().clock.set(relevant_until);
    a.sync_revocations().await.unwrap();
    b.sync_revocations().await.unwrap();

    assert_eq!((a.parts().revocations.len(), b.parts().revocations.len()), (0, 0));
    // Forgetting it lets nothing back in: the token has expired by now.
    assert_err!(a.authenticate(&pair.access_token), AuthError::Expired);
    assert_err!(b.authenticate(&pair.access_token), AuthError::Expired);
}

#[tokio::test]
async fn purging_deletes_expired_and_long_revoked_sessions_and_stale_revocation_records() {
    let setup = Setup::default();
    let app = setup.build();
    register(&app, "alice").await;
    let expired = login(&app, "alice").await;
    app.parts().clock.advance(app.policy().refresh_ttl - Duration::hours(1));
    let long_revoked = login(&app, "alice").await;
    app.logout(&principal(&app, &long_revoked), LogoutScope::Local).await.unwrap();
    let live = login(&app, "alice").await;
    app.parts().clock.advance(Duration::hours(1));
    assert_eq!(app.parts().clock.now(), T0 + app.policy().refresh_ttl, "the first session has just ended");
    let just_revoked = login(&app, "alice").await;
    app.logout(&principal(&app, &just_revoked), LogoutScope::Local).await.unwrap();

    // Two sessions and long_revoked's revocation record.
    assert_eq!(app.purge_sessions().await.unwrap(), 3);

    for (pair, kept) in [(&expired, false), (&long_revoked, false), (&live, true), (&just_revoked, true)] {
        let found = app.parts().sessions.find(pair.session_id).await.unwrap();
        assert_eq!(found.is_some(), kept, "{:?}", found);
    }
    assert_eq!(app.purge_sessions().await.unwrap(), 0, "nothing more to purge");
    for pair in [&expired, &long_revoked] {
        assert_err!(app.refresh(expose(&pair.refresh_token), None).await, RefreshError::InvalidRefreshToken);
    }
    assert!(app.refresh(expose(&live.refresh_token), None).await.is_ok(), "the live session goes on");
    // The record that still matters is still in the feed.
    let restarted = setup.another_instance(&app);
    assert_eq!(restarted.sync_revocations().await.unwrap(), 1);
}

#[tokio::test]
async fn a_purged_session_stays_refused_its_refresh_token_and_its_access_tokens_alike() {
    let setup = Setup::default();
    let a = setup.build();
    register(&a, "alice").await;
    let pair = login(&a, "alice").await;
    let next = a.refresh(expose(&pair.refresh_token), None).await.unwrap();
    a.logout(&principal(&a, &next), LogoutScope::Local).await.unwrap();
    a.parts().clock.advance(a.policy().refresh_reuse_grace);
    assert_eq!(a.purge_sessions().await.unwrap(), 0, "kept for a whole grace interval");
    a.parts().clock.advance(Duration::SECOND);

    assert_eq!(a.purge_sessions().await.unwrap(), 1, "the session goes, its revocation record stays");
    assert_eq!(a.parts().sessions.find(pair.session_id).await.unwrap(), None);

    for token in [&pair.refresh_token, &next.refresh_token] {
        assert_err!(a.refresh(expose(token), None).await, RefreshError::InvalidRefreshToken);
    }
    assert_err!(a.authenticate(&next.access_token), AuthError::Revoked);
    let restarted = setup.another_instance(&a);
    restarted.sync_revocations().await.unwrap();
    assert_err!(restarted.authenticate(&next.access_token), AuthError::Revoked);
    assert_err!(restarted.authenticate(&pair.access_token), AuthError::Revoked);
    assert_err!(restarted.refresh(expose(&next.refresh_token), None).await, RefreshError::InvalidRefreshToken);
}
