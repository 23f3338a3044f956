//! Authenticating access tokens, the current user and permissions.

use gatehouse_application::{
    AuthError, Principal,
    ports::{RevokeScope, SessionStore, TokenCodec},
};
use gatehouse_domain::{Amr, Permission, Role, SessionId, TokenPolicy, UserId};
use time::Duration;
use uuid::Uuid;

use crate::support::{
    PASSWORD, Setup, T0, app, codec, ed25519_key, insert_user, login, new_password, register, username,
};

/// Asserts that authenticating was refused with `AuthError::$kind`.
macro_rules! assert_refused {
    ($result:expr, $kind:ident) => {{
        let result = $result;
        assert!(matches!(result, Err(AuthError::$kind)), "expected {}, got {result:?}", stringify!($kind));
    }};
}

#[tokio::test]
async fn a_fresh_access_token_authenticates_its_user_and_session() {
    let app = app();
    let alice = register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    let principal = app.authenticate(&pair.access_token).unwrap();

    assert_eq!(
        principal,
        Principal {
            user_id: alice.id,
            username: username("alice"),
            role: Role::User,
            session_id: pair.session_id,
            auth_time: T0,
            amr: Amr::password(),
            client: None
        }
    );
}

#[tokio::test]
async fn an_access_token_works_until_its_ttl_plus_leeway_and_then_is_expired() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let lifetime = app.policy().access_ttl + app.policy().leeway;

    app.parts().clock.advance(lifetime - Duration::SECOND);
    assert!(app.authenticate(&pair.access_token).is_ok());

    app.parts().clock.advance(Duration::SECOND);
    assert_refused!(app.authenticate(&pair.access_token), Expired);
}

#[tokio::test]
async fn an_access_token_is_expired_long_before_its_session_ends() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    app.parts().clock.advance(app.policy().refresh_ttl + Duration::SECOND);

    assert_refused!(app.authenticate(&pair.access_token), Expired);
}

#[tokio::test]
async fn a_token_whose_session_was_revoked_is_revoked_at_once() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let other = login(&app, "alice").await;

    app.revoke(RevokeScope::Session(pair.session_id), gatehouse_application::ports::RevocationReason::Admin)
        .await
        .unwrap();

    assert_refused!(app.authenticate(&pair.access_token), Revoked);
    assert!(app.authenticate(&other.access_token).is_ok(), "other sessions are unaffected");
}

#[tokio::test]
async fn a_token_expires_with_its_session_even_before_its_own_ttl() {
    // Sessions shorter than access tokens: the token is cut to the session.
    let policy = TokenPolicy { refresh_ttl: Duration::minutes(5), ..TokenPolicy::default() };
    let app = Setup { policy, ..Setup::default() }.build();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let session = app.parts().sessions.find(pair.session_id).await.unwrap().unwrap();
    assert_eq!(app.parts().tokens.verify(&pair.access_token).unwrap().exp, session.expires_at.unix_timestamp());
    assert_eq!(pair.expires_in, Duration::minutes(5));

    app.parts().clock.advance(Duration::minutes(5) + app.policy().leeway - Duration::SECOND);
    assert!(app.authenticate(&pair.access_token).is_ok());

    app.parts().clock.advance(Duration::SECOND);
    assert_refused!(app.authenticate(&pair.access_token), Expired);
}

#[tokio::test]
async fn garbage_is_an_invalid_token() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let token = &pair.access_token;
    let truncated = &token[..token.len() - 4];
    let without_signature = &token[..token.rfind('.').unwrap() + 1];
    let mut tampered_payload = token.clone().into_bytes();
    let dot = token.find('.').unwrap();
    tampered_payload[dot + 5] = if tampered_payload[dot + 5] == b'A' { b'B' } else { b'A' };
    let tampered_payload = String::from_utf8(tampered_payload).unwrap();

    for garbage in ["", "garbage", "a.b.c", "...", truncated, without_signature, &tampered_payload] {
        assert_refused!(app.authenticate(garbage), Invalid);
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_invalid() {
    let app = app();
    register(&app, "alice").await;
    let other = Setup::default().build();
    register(&other, "alice").await;
    let foreign = login(&other, "alice").await;

    assert_refused!(app.authenticate(&foreign.access_token), Invalid);

    // Even with our own header (our kid), the other key's signature fails.
    let ours = login(&app, "alice").await;
    let our_header = ours.access_token.split('.').next().unwrap();
    let (_, rest) = foreign.access_token.split_once('.').unwrap();
    assert_refused!(app.authenticate(&format!("{our_header}.{rest}")), Invalid);
}

#[tokio::test]
async fn a_token_signed_by_an_unrelated_codec_over_our_claims_is_invalid() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    // Same claims, same live session, but signed by a key we do not hold.
    let claims = app.parts().tokens.verify(&pair.access_token).unwrap();
    let forged = codec(&ed25519_key()).sign(&claims).unwrap();

    assert_refused!(app.authenticate(&forged), Invalid);
}

#[tokio::test]
async fn a_token_for_another_issuer_or_audience_is_invalid_even_with_our_key() {
    let ours = Setup::default();
    let app = ours.build();
    let elsewhere = [
        TokenPolicy { issuer: "someone-else".into(), ..TokenPolicy::default() },
        TokenPolicy { audience: "another-service".into(), ..TokenPolicy::default() },
    ];

    for policy in elsewhere {
        let other = Setup { key: ours.key.clone(), policy, ..Setup::default() }.build();
        register(&other, "alice").await;
        let pair = login(&other, "alice").await;
        assert!(app.parts().tokens.verify(&pair.access_token).is_ok(), "the signature is ours");

        assert_refused!(app.authenticate(&pair.access_token), Invalid);
    }
}

#[tokio::test]
async fn a_token_issued_beyond_the_leeway_in_the_future_is_invalid() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;

    app.parts().clock.advance(-(app.policy().leeway + Duration::SECOND));

    assert_refused!(app.authenticate(&pair.access_token), Invalid);
}

#[tokio::test]
async fn the_current_user_is_the_account_behind_the_token() {
    let app = app();
    let alice = register(&app, "alice").await;
    let principal = app.authenticate(&login(&app, "alice").await.access_token).unwrap();

    assert_eq!(app.current_user(&principal).await.unwrap(), alice);
}

#[tokio::test]
async fn the_current_user_of_an_account_that_no_longer_exists_is_revoked() {
    let app = app();
    let ghost = Principal {
        user_id: UserId::from_uuid(Uuid::now_v7()),
        username: username("ghost"),
        role: Role::User,
        session_id: SessionId::from_uuid(Uuid::now_v7()),
        auth_time: T0,
        amr: Amr::password(),
        client: None,
    };

    assert!(matches!(app.current_user(&ghost).await, Err(AuthError::Revoked)));
}

#[tokio::test]
async fn the_current_user_of_a_disabled_account_is_revoked() {
    let app = app();
    let dora = insert_user(&app, "dora", Role::User, true).await;
    let principal = Principal {
        user_id: dora.id,
        username: dora.username,
        role: dora.role,
        session_id: SessionId::from_uuid(Uuid::now_v7()),
        auth_time: T0,
        amr: Amr::password(),
        client: None,
    };

    assert!(matches!(app.current_user(&principal).await, Err(AuthError::Revoked)));
}

#[tokio::test]
async fn a_user_may_manage_their_account_but_not_administer() {
    let app = app();
    register(&app, "alice").await;
    let principal = app.authenticate(&login(&app, "alice").await.access_token).unwrap();

    assert!(principal.require(Permission::ManageOwnAccount).is_ok());
    assert!(matches!(principal.require(Permission::Administer), Err(AuthError::Forbidden)));
}

#[tokio::test]
async fn an_admin_may_administer() {
    let app = app();
    app.create_user(username("root"), new_password(PASSWORD), Role::Admin).await.unwrap();
    let principal = app.authenticate(&login(&app, "root").await.access_token).unwrap();

    assert_eq!(principal.role, Role::Admin);
    assert!(principal.require(Permission::Administer).is_ok());
    assert!(principal.require(Permission::ManageOwnAccount).is_ok());
}
