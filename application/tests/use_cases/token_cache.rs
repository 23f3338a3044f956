//! The verified-token cache: a token seen before skips the signature
//! check, and each soundness rule still holds on a hit.

use gatehouse_application::{AuthError, Introspection, LogoutScope};
use time::Duration;

use crate::support::{Setup, app, login, register};

#[tokio::test]
async fn a_verified_token_is_remembered_once() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    for _ in 0..3 {
        app.authenticate(&pair.access_token).unwrap();
    }

    assert_eq!(app.parts().token_cache.entry_count(), 1);
}

#[tokio::test]
async fn only_tokens_that_pass_every_check_are_remembered() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let mut forged = pair.access_token.clone();
    forged.pop();
    forged.push(if pair.access_token.ends_with('A') { 'B' } else { 'A' });

    assert_err!(app.authenticate(&forged), AuthError::Invalid);
    assert_err!(app.authenticate("not.a.token"), AuthError::Invalid);
    app.parts().clock.advance(Duration::seconds(931));
    assert_err!(app.authenticate(&pair.access_token), AuthError::Expired);

    assert_eq!(app.parts().token_cache.entry_count(), 0);
}

#[tokio::test]
async fn a_remembered_token_is_refused_after_its_exp() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    app.authenticate(&pair.access_token).unwrap();

    // The cache's own lifetime is real time; the token's exp is checked on
    // the hit, with the application's clock.
    app.parts().clock.advance(Duration::seconds(931));

    assert_err!(app.authenticate(&pair.access_token), AuthError::Expired);
}

#[tokio::test]
async fn a_remembered_token_is_refused_as_soon_as_its_session_is_revoked() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let principal = app.authenticate(&pair.access_token).unwrap();

    app.logout(&principal, LogoutScope::Local).await.unwrap();

    assert_err!(app.authenticate(&pair.access_token), AuthError::Revoked);
    assert!(matches!(app.introspect(&pair.access_token).await.unwrap(), Introspection::Inactive));
}

#[tokio::test]
async fn an_instance_with_another_key_set_does_not_accept_what_another_remembered() {
    // Key states change only when an instance starts with other keys, and
    // each instance starts with an empty cache: a token of a key it no
    // longer holds is verified, and refused.
    let setup = Setup::default();
    let a = setup.build();
    register(&a, "alice").await;
    let pair = login(&a, "alice").await;
    a.authenticate(&pair.access_token).unwrap();

    let b = Setup { key: crate::support::ed25519_key(), ..Setup::default() }.build_on(
        a.parts().users.clone(),
        a.parts().sessions.clone(),
        a.parts().clock.clone(),
    );

    assert_err!(b.authenticate(&pair.access_token), AuthError::Invalid);
}

#[tokio::test]
async fn introspection_shares_the_cache() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    assert!(matches!(app.introspect(&pair.access_token).await.unwrap(), Introspection::Access(_)));
    assert_eq!(app.parts().token_cache.entry_count(), 1);
    app.authenticate(&pair.access_token).unwrap();
    assert_eq!(app.parts().token_cache.entry_count(), 1);
}
