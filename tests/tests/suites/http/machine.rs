//! Machine access over HTTP: token introspection (RFC 7662) and revocation
//! (RFC 7009), and service tokens on the admin routes their scopes open.

use std::time::{Duration, Instant};

use gatehouse_domain::Role;
use reqwest::Response;
use serde_json::{Value, json};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    introspection_reports_live_tokens_and_nothing_for_dead_ones,
    introspection_refuses_unauthenticated_unscoped_and_malformed_requests,
    revocation_ends_refresh_access_and_service_tokens_and_accepts_unknown_ones,
    a_service_token_reaches_only_the_admin_routes_its_scopes_open,
);

http_tests!(
    // Three seconds: long enough for the admin calls that set the test up
    // (exp counts whole seconds), short enough to wait out.
    with [("jwt.access_ttl_seconds", "3"), ("jwt.leeway_seconds", "0")]:
    introspection_reports_expired_tokens_as_inactive
);

/// The contract's bound on cross-instance revocation delay.
const BOUND: Duration = Duration::from_secs(1);

async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", "a long admin password", Role::Admin).await;
    let res: Value = app.login("root", "a long admin password").await.json().await.unwrap();
    res["access_token"].as_str().unwrap().to_owned()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// A new service account's `(id, client_id, client_secret)`.
async fn new_account(app: &TestApp, admin: &str, name: &str, scopes: &[&str]) -> (String, String, String) {
    let res = app.post_json_as("/admin/service-accounts", admin, &json!({"name": name, "scopes": scopes})).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (str_of(&body, "id").to_owned(), str_of(&body, "client_id").to_owned(), str_of(&body, "client_secret").to_owned())
}

/// A service token for a client (client-credentials grant, HTTP Basic).
async fn service_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    str_of(&body, "access_token").to_owned()
}

/// `POST /oauth/introspect` with `form`, authenticated with Basic when given.
async fn introspect_raw(app: &TestApp, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
    let mut req = app.client.post(app.url("/oauth/introspect")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

/// The introspection answer for `token`.
async fn introspect(app: &TestApp, client: (&str, &str), token: &str) -> Value {
    let res = introspect_raw(app, Some(client), &[("token", token)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

async fn revoke(app: &TestApp, token: &str) -> Response {
    app.client.post(app.url("/oauth/revoke")).form(&[("token", token)]).send().await.unwrap()
}

/// Asserts an RFC 6749 error answer and returns its body.
async fn assert_oauth_error(res: Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status(), status, "status for {error}");
    let content_type = res.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}

async fn id_of(app: &TestApp, token: &str) -> String {
    app.get("/auth/me", Some(token)).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn patch_user(app: &TestApp, token: &str, id: &str, body: &Value) -> Response {
    app.client.patch(app.url(&format!("/admin/users/{id}"))).bearer_auth(token).json(body).send().await.unwrap()
}

async fn introspection_reports_live_tokens_and_nothing_for_dead_ones(app: TestApp) {
    let admin = admin_token(&app).await;
    let (_, client_id, secret) = new_account(&app, &admin, "gateway", &["introspect"]).await;
    let client = (client_id.as_str(), secret.as_str());

    // A user's access token.
    let pair = app.signed_in("alice").await;
    let access = str_of(&pair, "access_token");
    let alice_id = id_of(&app, access).await;
    let claims = introspect(&app, client, access).await;
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["sub"], alice_id.as_str(), "{claims}");
    assert_eq!(claims["username"], "alice", "{claims}");
    assert_eq!(claims["token_type"], "access_token", "{claims}");
    assert_eq!(claims["iss"], app.settings.jwt.issuer.as_str(), "{claims}");
    assert_eq!(claims["aud"], app.settings.jwt.audience.as_str(), "{claims}");
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()), "{claims}");
    let (exp, iat) = (claims["exp"].as_i64().unwrap(), claims["iat"].as_i64().unwrap());
    assert!(exp > iat, "{claims}");
    assert!(claims.get("client_id").is_none() && claims.get("scope").is_none(), "{claims}");

    // Its refresh token: the same session.
    let refresh = introspect(&app, client, str_of(&pair, "refresh_token")).await;
    assert_eq!(refresh["active"], true, "{refresh}");
    assert_eq!(refresh["token_type"], "refresh_token", "{refresh}");
    assert_eq!(refresh["sub"], alice_id.as_str(), "{refresh}");
    assert_eq!(refresh["username"], "alice", "{refresh}");
    assert_eq!(refresh["sid"], claims["sid"], "{refresh}");

    // A service token.
    let (reader_id, reader_client, reader_secret) = new_account(&app, &admin, "billing-sync", &["users:read"]).await;
    let service = service_token(&app, &reader_client, &reader_secret).await;
    let claims = introspect(&app, client, &service).await;
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["client_id"], reader_client.as_str(), "{claims}");
    assert_eq!(claims["scope"], "users:read", "{claims}");
    assert_eq!(claims["sub"], reader_id.as_str(), "{claims}");
    assert_eq!(claims["token_type"], "access_token", "{claims}");
    assert!(claims.get("username").is_none() && claims.get("sid").is_none(), "{claims}");

    // Garbage: nothing but `active`.
    for garbage in ["garbage", "a.b.c", &format!("{access}x")] {
        assert_eq!(introspect(&app, client, garbage).await, json!({"active": false}), "{garbage}");
    }

    // A logout: inactive at once here, within the bound on another instance.
    let second = app.another_instance(|_| {}).await;
    assert_eq!(introspect(&second, client, access).await["active"], true);
    assert_eq!(app.logout(access, None).await.status(), 204);
    let logged_out = Instant::now();
    assert_eq!(introspect(&app, client, access).await, json!({"active": false}));
    let delay = loop {
        let answer = introspect(&second, client, access).await;
        if answer["active"] == false {
            assert_eq!(answer, json!({"active": false}));
            break logged_out.elapsed();
        }
        assert!(logged_out.elapsed() < BOUND + BOUND / 2, "still active on the second instance after {:?}", {
            logged_out.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("cross-instance introspection delay: {} ms", delay.as_millis());
    assert!(delay < BOUND, "took {delay:?}, the bound is {BOUND:?}");
    assert_eq!(introspect(&app, client, str_of(&pair, "refresh_token")).await, json!({"active": false}));

    // A deleted service account: its token is inactive.
    let res = app.client.delete(app.url(&format!("/admin/service-accounts/{reader_id}"))).bearer_auth(&admin);
    assert_eq!(res.send().await.unwrap().status(), 204);
    assert_eq!(introspect(&app, client, &service).await, json!({"active": false}));
}

async fn introspection_refuses_unauthenticated_unscoped_and_malformed_requests(app: TestApp) {
    let admin = admin_token(&app).await;
    let access = app.access_token("alice").await;
    let (_, client_id, secret) = new_account(&app, &admin, "gateway", &["introspect"]).await;
    let (_, reader_id, reader_secret) = new_account(&app, &admin, "billing-sync", &["users:read"]).await;

    // No client authentication.
    let res = introspect_raw(&app, None, &[("token", &access)]).await;
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    assert!(challenge.as_deref().is_some_and(|c| c.starts_with("Basic")), "{challenge:?}");
    assert_oauth_error(res, 401, "invalid_client").await;
    // A wrong secret is no better.
    let res = introspect_raw(&app, Some((&client_id, "not-the-secret")), &[("token", &access)]).await;
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_oauth_error(res, 401, "invalid_client").await;

    // A client without the introspect scope.
    let res = introspect_raw(&app, Some((&reader_id, &reader_secret)), &[("token", &access)]).await;
    assert_oauth_error(res, 403, "insufficient_scope").await;

    // No token parameter.
    let res = introspect_raw(&app, Some((&client_id, &secret)), &[("token_type_hint", "access_token")]).await;
    assert_oauth_error(res, 400, "invalid_request").await;
}

async fn revocation_ends_refresh_access_and_service_tokens_and_accepts_unknown_ones(app: TestApp) {
    let admin = admin_token(&app).await;

    // A refresh token: its session ends.
    let pair = app.signed_in("alice").await;
    assert_eq!(revoke(&app, str_of(&pair, "refresh_token")).await.status(), 200);
    assert_problem(app.refresh(str_of(&pair, "refresh_token")).await, 401, "invalid_refresh_token").await;

    // An access token: its session ends.
    let access = app.logged_in("alice").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/auth/protected", Some(&access)).await.status(), 200);
    assert_eq!(revoke(&app, &access).await.status(), 200);
    assert_problem(app.get("/auth/protected", Some(&access)).await, 401, "token_revoked").await;

    // A service token: refused from then on.
    let (_, client_id, secret) = new_account(&app, &admin, "billing-sync", &["users:read"]).await;
    let service = service_token(&app, &client_id, &secret).await;
    assert_eq!(app.get("/admin/users", Some(&service)).await.status(), 200);
    assert_eq!(revoke(&app, &service).await.status(), 200);
    assert_problem(app.get("/admin/users", Some(&service)).await, 401, "token_revoked").await;
    // The account itself still gets new tokens.
    let fresh = service_token(&app, &client_id, &secret).await;
    assert_eq!(app.get("/admin/users", Some(&fresh)).await.status(), 200);

    // Unknown tokens: nothing to do, still 200.
    for unknown in ["garbage", "a.b.c", &format!("{access}x")] {
        assert_eq!(revoke(&app, unknown).await.status(), 200, "{unknown}");
    }
    // The admin was not touched by any of it.
    assert_eq!(app.get("/admin/users", Some(&admin)).await.status(), 200);
}

async fn a_service_token_reaches_only_the_admin_routes_its_scopes_open(app: TestApp) {
    let admin = admin_token(&app).await;
    let alice = app.access_token("alice").await;
    let alice_id = id_of(&app, &alice).await;

    // users:read: reads users, changes nothing, reads no audit.
    let (_, reader_client, reader_secret) = new_account(&app, &admin, "billing-sync", &["users:read"]).await;
    let reader = service_token(&app, &reader_client, &reader_secret).await;
    let page = app.get("/admin/users", Some(&reader)).await;
    assert_eq!(page.status(), 200);
    let page: Value = page.json().await.unwrap();
    assert!(page["users"].as_array().unwrap().iter().any(|u| u["username"] == "alice"), "{page}");
    let one = app.get(&format!("/admin/users/{alice_id}"), Some(&reader)).await;
    assert_eq!(one.status(), 200);
    assert_eq!(one.json::<Value>().await.unwrap()["username"], "alice");

    let res = patch_user(&app, &reader, &alice_id, &json!({"disabled": true})).await;
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(challenge.contains(r#"scope="users:write""#), "{challenge}");
    assert_problem(res, 403, "insufficient_scope").await;
    let res = app.get("/admin/audit", Some(&reader)).await;
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"scope="audit:read""#), "{challenge}");
    assert_problem(res, 403, "insufficient_scope").await;
    assert_eq!(app.get("/auth/protected", Some(&alice)).await.status(), 200, "the refused patch changed nothing");

    // users:write: the change goes through, with the account as the actor.
    let (writer_id, writer_client, writer_secret) = new_account(&app, &admin, "offboarding", &["users:write"]).await;
    let writer = service_token(&app, &writer_client, &writer_secret).await;
    let res = patch_user(&app, &writer, &alice_id, &json!({"disabled": true})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["disabled"], true);
    assert_problem(app.get("/auth/protected", Some(&alice)).await, 401, "token_revoked").await;
    let trail = app.get("/admin/audit?limit=200", Some(&admin)).await;
    assert_eq!(trail.status(), 200);
    let trail: Value = trail.json().await.unwrap();
    let disable = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "disable" && e["subject_id"] == alice_id.as_str())
        .unwrap_or_else(|| panic!("no disable event for alice in {trail}"));
    assert_eq!(disable["actor_id"], writer_id.as_str(), "{disable}");
    assert_eq!(disable["outcome"], "success", "{disable}");

    // Service accounts are never managed with a service token, whatever
    // its scopes.
    for token in [&reader, &writer] {
        assert_problem(app.get("/admin/service-accounts", Some(token)).await, 403, "insufficient_scope").await;
        let body = json!({"name": "sneaky", "scopes": ["users:write"]});
        assert_problem(app.post_json_as("/admin/service-accounts", token, &body).await, 403, "insufficient_scope")
            .await;
    }

    // A user's route: a service token is not a token for it.
    assert_problem(app.get("/auth/protected", Some(&reader)).await, 401, "invalid_token").await;
}

async fn introspection_reports_expired_tokens_as_inactive(app: TestApp) {
    let admin = admin_token(&app).await;
    let (_, client_id, secret) = new_account(&app, &admin, "gateway", &["introspect"]).await;
    let client = (client_id.as_str(), secret.as_str());
    let pair = app.signed_in("alice").await;
    let access = str_of(&pair, "access_token").to_owned();
    let service = service_token(&app, &client_id, &secret).await;

    tokio::time::sleep(Duration::from_millis(4100)).await;

    assert_eq!(introspect(&app, client, &access).await, json!({"active": false}), "an expired user token");
    assert_eq!(introspect(&app, client, &service).await, json!({"active": false}), "an expired service token");
    // The refresh token outlives its access tokens: the session is live.
    assert_eq!(introspect(&app, client, str_of(&pair, "refresh_token")).await["active"], true);
}
