//! Service accounts: creation, the client-credentials grant with scope
//! narrowing and per-client throttling, rotation, deletion reaching the
//! revocation feed, and the separation of user and service tokens.

use gatehouse_application::{
    AuthError, ClientAuthError, ServiceAccountError,
    ports::{FactorCrypto, SessionStore},
};
use gatehouse_domain::{AuditAction, Role, Scope, ScopeError, Scopes, ServiceName};
use gatehouse_infrastructure::{FixedClock, MemoryLoginThrottle, testkit::InMemoryBuilder};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use crate::support::{PASSWORD, T0, THROTTLE_WINDOW, login, new_password, principal, username};

type App = gatehouse_application::Gatehouse<gatehouse_infrastructure::testkit::InMemory<FixedClock>>;

fn app(throttle: u32) -> App {
    InMemoryBuilder::new()
        .clock(FixedClock::new(T0))
        .throttle(MemoryLoginThrottle::new(throttle, THROTTLE_WINDOW))
        .build()
        .unwrap()
}

async fn admin(app: &App) -> gatehouse_application::AdminPrincipal {
    app.create_user(username("root"), new_password(PASSWORD), Role::Admin).await.unwrap();
    app.authorize_admin(principal(app, &login(app, "root").await)).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn scopes(list: &[Scope]) -> Scopes {
    Scopes::new(list.iter().copied())
}

#[tokio::test]
async fn a_new_service_account_gets_a_prefixed_secret_that_is_kept_only_as_a_digest() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app
        .create_service_account(&root, ServiceName::parse("billing").unwrap(), scopes(&[Scope::UsersRead]))
        .await
        .unwrap();

    assert!(issued.client_secret.expose().starts_with("gatehouse_cs_"));
    assert!(issued.account.client_id.starts_with("svc_"));
    let stored = app.service_account(&root, issued.account.id).await.unwrap();
    assert_eq!(stored.secret_hash, app.parts().crypto.digest(issued.client_secret.expose().as_bytes()));
    assert_eq!(app.list_service_accounts(&root).await.unwrap(), vec![stored]);
}

#[tokio::test]
async fn the_client_credentials_grant_issues_a_service_token_with_the_granted_or_requested_scopes() {
    let app = app(0);
    let root = admin(&app).await;
    let granted = scopes(&[Scope::UsersRead, Scope::AuditRead]);
    let issued = app.create_service_account(&root, ServiceName::parse("sync").unwrap(), granted.clone()).await.unwrap();
    let (id, key) = (issued.account.client_id.as_str(), secret(issued.client_secret.expose()));

    let all = app.issue_service_token(id, &key, None).await.unwrap();
    assert_eq!(all.scope, granted);
    assert_eq!(all.expires_in, Duration::seconds(900));
    let principal = app.authenticate_service(all.access_token.expose_secret()).unwrap();
    assert_eq!((principal.account_id, principal.client_id.as_str()), (issued.account.id, id));
    assert!(principal.has(Scope::AuditRead) && !principal.has(Scope::UsersWrite));

    let narrowed = app.issue_service_token(id, &key, Some("audit:read")).await.unwrap();
    assert_eq!(narrowed.scope, scopes(&[Scope::AuditRead]));
    assert_err!(
        app.issue_service_token(id, &key, Some("users:write")).await,
        ClientAuthError::InvalidScope(ScopeError::NotGranted(Scope::UsersWrite))
    );
    assert_err!(app.issue_service_token(id, &key, Some("root")).await, ClientAuthError::InvalidScope(_));
}

#[tokio::test]
async fn a_wrong_secret_an_unknown_client_and_a_malformed_id_are_refused_alike() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let id = issued.account.client_id.as_str();

    assert_err!(app.issue_service_token(id, &secret("gatehouse_cs_wrong"), None).await, ClientAuthError::InvalidClient);
    assert_err!(
        app.issue_service_token("svc_unknown", &secret(issued.client_secret.expose()), None).await,
        ClientAuthError::InvalidClient
    );
    assert_err!(
        app.issue_service_token("a:b", &secret(issued.client_secret.expose()), None).await,
        ClientAuthError::InvalidClient
    );
}

#[tokio::test]
async fn failed_secret_checks_are_throttled_per_client_id() {
    let app = app(3);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let other = app.create_service_account(&root, ServiceName::parse("y").unwrap(), Scopes::default()).await.unwrap();
    let id = issued.account.client_id.as_str();
    for _ in 0..3 {
        assert_err!(app.issue_service_token(id, &secret("wrong"), None).await, ClientAuthError::InvalidClient);
    }
    // Refused before the secret is checked: even the right one.
    assert_err!(
        app.issue_service_token(id, &secret(issued.client_secret.expose()), None).await,
        ClientAuthError::Throttled { .. }
    );
    // Another client is not affected.
    assert!(
        app.issue_service_token(&other.account.client_id, &secret(other.client_secret.expose()), None).await.is_ok()
    );
    app.parts().clock.advance(THROTTLE_WINDOW);
    assert!(app.issue_service_token(id, &secret(issued.client_secret.expose()), None).await.is_ok());
}

#[tokio::test]
async fn a_rotated_secret_replaces_the_old_one_at_once() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let id = issued.account.client_id.clone();

    let rotated = app.rotate_service_secret(&root, issued.account.id).await.unwrap();

    assert_ne!(rotated.client_secret.expose(), issued.client_secret.expose());
    assert_err!(
        app.issue_service_token(&id, &secret(issued.client_secret.expose()), None).await,
        ClientAuthError::InvalidClient
    );
    assert!(app.issue_service_token(&id, &secret(rotated.client_secret.expose()), None).await.is_ok());
}

#[tokio::test]
async fn a_rotated_secret_stops_working_at_once_even_right_after_it_was_accepted() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let (id, old) = (issued.account.client_id.clone(), secret(issued.client_secret.expose()));
    // Accepted, so remembered by the client cache.
    app.issue_service_token(&id, &old, None).await.unwrap();
    app.issue_service_token(&id, &old, None).await.unwrap();

    let rotated = app.rotate_service_secret(&root, issued.account.id).await.unwrap();

    assert_err!(app.issue_service_token(&id, &old, None).await, ClientAuthError::InvalidClient);
    assert!(app.authenticate_client(&id, &secret(rotated.client_secret.expose())).await.is_ok());
}

#[tokio::test]
async fn wrong_secrets_are_still_throttled_but_cannot_lock_out_a_client_just_accepted() {
    let app = app(3);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let (id, right) = (issued.account.client_id.as_str(), secret(issued.client_secret.expose()));
    app.authenticate_client(id, &right).await.unwrap();

    // A wrong secret is never answered from the cache: each one is checked
    // and counted, until the client id is throttled.
    for _ in 0..3 {
        assert_err!(app.authenticate_client(id, &secret("gatehouse_cs_wrong")).await, ClientAuthError::InvalidClient);
    }
    assert_err!(app.authenticate_client(id, &secret("gatehouse_cs_wrong")).await, ClientAuthError::Throttled { .. });
    // The client that presented its secret a moment ago goes on working.
    assert_eq!(app.authenticate_client(id, &right).await.unwrap().id, issued.account.id);
}

#[tokio::test]
async fn deleting_a_service_account_refuses_its_tokens_here_and_puts_it_in_the_revocation_feed() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    // Accepted just before: remembered by the client cache, and forgotten
    // by the deletion.
    let token =
        app.issue_service_token(&issued.account.client_id, &secret(issued.client_secret.expose()), None).await.unwrap();

    app.delete_service_account(&root, issued.account.id).await.unwrap();

    assert_err!(app.authenticate_service(token.access_token.expose_secret()), AuthError::Revoked);
    let feed = app.parts().sessions.revocations_since(T0 - Duration::SECOND, T0).await.unwrap();
    assert!(feed.iter().any(|r| r.session_id.as_uuid() == issued.account.id.as_uuid()));
    assert_err!(
        app.issue_service_token(&issued.account.client_id, &secret(issued.client_secret.expose()), None).await,
        ClientAuthError::InvalidClient
    );
    assert_err!(app.delete_service_account(&root, issued.account.id).await, ServiceAccountError::NotFound);
    assert_err!(app.rotate_service_secret(&root, issued.account.id).await, ServiceAccountError::NotFound);
}

#[tokio::test]
async fn user_tokens_and_service_tokens_never_pass_as_each_other() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let service =
        app.issue_service_token(&issued.account.client_id, &secret(issued.client_secret.expose()), None).await.unwrap();
    let user = login(&app, "root").await;

    assert_err!(app.authenticate(service.access_token.expose_secret()), AuthError::Invalid);
    assert_err!(app.authenticate_service(&user.access_token), AuthError::Invalid);
}

#[tokio::test]
async fn service_account_changes_are_audited_with_the_admin_as_actor() {
    let app = app(0);
    let root = admin(&app).await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    app.rotate_service_secret(&root, issued.account.id).await.unwrap();
    app.delete_service_account(&root, issued.account.id).await.unwrap();

    let events = app.audit_events(&root, None, 50, None).await.unwrap().events;
    for action in
        [AuditAction::ServiceAccountCreate, AuditAction::ServiceAccountSecretRotate, AuditAction::ServiceAccountDelete]
    {
        let event = events.iter().find(|e| e.event.action == action).unwrap_or_else(|| panic!("{action} audited"));
        assert_eq!(event.event.actor, Some(root.principal().user_id));
        assert!(event.event.detail.as_deref().unwrap_or_default().contains(&issued.account.id.to_string()));
    }
}

#[tokio::test]
async fn introspection_tells_live_tokens_from_revoked_expired_and_garbage() {
    use gatehouse_application::Introspection;
    let app = app(0);
    let root = admin(&app).await;
    let user = login(&app, "root").await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let service =
        app.issue_service_token(&issued.account.client_id, &secret(issued.client_secret.expose()), None).await.unwrap();

    assert!(
        matches!(app.introspect(&user.access_token).await.unwrap(), Introspection::Access(c) if c.sid == user.session_id)
    );
    assert!(matches!(
        app.introspect(user.refresh_token.expose_secret()).await.unwrap(),
        Introspection::Refresh { session, .. } if session.id == user.session_id
    ));
    assert!(matches!(
        app.introspect(service.access_token.expose_secret()).await.unwrap(),
        Introspection::Service(c) if c.sub == issued.account.id
    ));
    assert!(matches!(app.introspect("garbage").await.unwrap(), Introspection::Inactive));

    app.parts().clock.advance(Duration::seconds(931));
    assert!(matches!(app.introspect(&user.access_token).await.unwrap(), Introspection::Inactive), "expired");
    assert!(matches!(app.introspect(service.access_token.expose_secret()).await.unwrap(), Introspection::Inactive));
}

#[tokio::test]
async fn revoking_a_token_ends_what_it_grants_and_ignores_the_unknown() {
    use gatehouse_application::Introspection;
    let app = app(0);
    let root = admin(&app).await;
    let by_refresh = login(&app, "root").await;
    let by_access = login(&app, "root").await;
    let issued = app.create_service_account(&root, ServiceName::parse("x").unwrap(), Scopes::default()).await.unwrap();
    let key = secret(issued.client_secret.expose());
    let service = app.issue_service_token(&issued.account.client_id, &key, None).await.unwrap();
    let other = app.issue_service_token(&issued.account.client_id, &key, None).await.unwrap();

    app.revoke_token(by_refresh.refresh_token.expose_secret()).await.unwrap();
    app.revoke_token(&by_access.access_token).await.unwrap();
    app.revoke_token(service.access_token.expose_secret()).await.unwrap();
    app.revoke_token("not a token").await.unwrap();

    assert_err!(app.authenticate(&by_refresh.access_token), AuthError::Revoked);
    assert_err!(app.authenticate(&by_access.access_token), AuthError::Revoked);
    assert_err!(app.authenticate_service(service.access_token.expose_secret()), AuthError::Revoked);
    assert!(matches!(app.introspect(service.access_token.expose_secret()).await.unwrap(), Introspection::Inactive));
    // Only that one service token: another of the same account still works.
    assert!(app.authenticate_service(other.access_token.expose_secret()).is_ok());
}

#[tokio::test]
async fn a_service_client_acts_as_admin_only_with_the_routes_scope_and_is_audited_as_the_actor() {
    use gatehouse_application::ActsAsAdmin;
    let app = app(0);
    let root = admin(&app).await;
    let issued = app
        .create_service_account(&root, ServiceName::parse("x").unwrap(), scopes(&[Scope::UsersWrite]))
        .await
        .unwrap();
    let token =
        app.issue_service_token(&issued.account.client_id, &secret(issued.client_secret.expose()), None).await.unwrap();
    let service = app.authenticate_service(token.access_token.expose_secret()).unwrap();

    assert_err!(
        app.authorize_service(service.clone(), Scope::AuditRead),
        AuthError::InsufficientScope(Some(Scope::AuditRead))
    );
    let operator = app.authorize_service(service, Scope::UsersWrite).unwrap();
    assert_eq!(operator.actor_id(), issued.account.id.as_uuid());

    crate::support::register(&app, "bob").await;
    let bob = crate::support::stored_user(&app, "bob").await.unwrap();
    app.change_user(&operator, bob.id, gatehouse_application::ports::UserChange { role: None, disabled: Some(true) })
        .await
        .unwrap();
    let events = app.audit_events(&root, None, 50, None).await.unwrap().events;
    let disable = events.iter().find(|e| e.event.action == AuditAction::Disable).unwrap();
    assert_eq!(disable.event.actor.map(|a| a.as_uuid()), Some(issued.account.id.as_uuid()));
}
