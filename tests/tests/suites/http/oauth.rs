//! Service accounts and the OAuth 2.0 token endpoint over HTTP: the admin
//! routes, the client-credentials grant driven by a stock OAuth client
//! (`oauth2`), its error answers, throttling and the server metadata.

use gatehouse_domain::Role;
use oauth2::{
    AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponseType, BasicTokenType},
};
use reqwest::Response;
use serde_json::{Value, json};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    an_admin_creates_lists_reads_rotates_and_deletes_service_accounts,
    only_admins_manage_service_accounts,
    bad_service_account_bodies_are_validation_errors,
    a_stock_client_gets_a_scoped_token_with_basic_or_body_credentials,
    the_service_token_verifies_from_the_jwks_as_an_access_token_for_the_account,
    token_endpoint_errors_follow_rfc_6749,
    a_service_token_is_not_a_user_token,
);

http_tests!(with [("rate_limit.login_failures", "3")]: repeated_wrong_secrets_are_throttled_with_slow_down);

http_tests!(with [("server.public_url", "https://auth.example")]: the_metadata_describes_the_token_endpoint);

async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", "a long admin password", Role::Admin).await;
    let res: Value = app.login("root", "a long admin password").await.json().await.unwrap();
    res["access_token"].as_str().unwrap().to_owned()
}

async fn create_account(app: &TestApp, admin: &str, name: &str, scopes: &[&str]) -> Response {
    app.post_json_as("/admin/service-accounts", admin, &json!({"name": name, "scopes": scopes})).await
}

/// A new account's `(id, client_id, client_secret)`.
async fn new_account(app: &TestApp, admin: &str, scopes: &[&str]) -> (String, String, String) {
    let res = create_account(app, admin, "billing-sync", scopes).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let field = |name: &str| body[name].as_str().unwrap().to_owned();
    (field("id"), field("client_id"), field("client_secret"))
}

fn http() -> reqwest::Client {
    reqwest::ClientBuilder::new().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn token_url(app: &TestApp) -> TokenUrl {
    TokenUrl::new(format!("{}/oauth/token", app.base)).unwrap()
}

/// A raw form post to `/oauth/token`, with Basic credentials when given.
async fn post_token(app: &TestApp, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> Response {
    let mut req = app.client.post(app.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> Response {
    post_token(app, Some((id, secret)), &[("grant_type", "client_credentials")]).await
}

/// Asserts an RFC 6749 error answer and returns its body.
async fn assert_oauth_error(res: Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status(), status, "status for {error}");
    let content_type = res.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

async fn an_admin_creates_lists_reads_rotates_and_deletes_service_accounts(app: TestApp) {
    let admin = admin_token(&app).await;
    let res = create_account(&app, &admin, "billing-sync", &["users:read", "audit:read"]).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    for field in ["id", "name", "client_id", "client_secret", "created_at"] {
        assert!(created[field].is_string(), "field {field}: {created}");
    }
    assert_eq!(created["name"], "billing-sync");
    let mut scopes: Vec<&str> = created["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["audit:read", "users:read"]);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("gatehouse_cs_"), "{secret}");
    let id = created["id"].as_str().unwrap().to_owned();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(client_credentials(&app, &client_id, &secret).await.status(), 200);

    let list: Value = app.get("/admin/service-accounts", Some(&admin)).await.json().await.unwrap();
    let accounts = list["service_accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["id"], id.as_str());
    assert_eq!(accounts[0]["client_id"], client_id.as_str());
    assert!(accounts[0].get("client_secret").is_none(), "a listing shows a secret: {list}");

    let res = app.get(&format!("/admin/service-accounts/{id}"), Some(&admin)).await;
    assert_eq!(res.status(), 200);
    let one: Value = res.json().await.unwrap();
    assert_eq!(one["name"], "billing-sync");
    assert_eq!(one["created_at"], created["created_at"]);
    assert!(one.get("client_secret").is_none());

    let res = app
        .client
        .post(app.url(&format!("/admin/service-accounts/{id}/secret")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let rotated: Value = res.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("gatehouse_cs_"));
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["client_id"], client_id.as_str());
    assert_oauth_error(client_credentials(&app, &client_id, &secret).await, 401, "invalid_client").await;
    assert_eq!(client_credentials(&app, &client_id, &new_secret).await.status(), 200);

    let res =
        app.client.delete(app.url(&format!("/admin/service-accounts/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(app.get(&format!("/admin/service-accounts/{id}"), Some(&admin)).await, 404, "not_found").await;
    assert_oauth_error(client_credentials(&app, &client_id, &new_secret).await, 401, "invalid_client").await;
    let list: Value = app.get("/admin/service-accounts", Some(&admin)).await.json().await.unwrap();
    assert_eq!(list["service_accounts"], json!([]));
    let unknown = uuid::Uuid::now_v7();
    assert_problem(app.get(&format!("/admin/service-accounts/{unknown}"), Some(&admin)).await, 404, "not_found").await;
    assert_problem(app.get("/admin/service-accounts/not-an-id", Some(&admin)).await, 404, "not_found").await;
}

async fn only_admins_manage_service_accounts(app: TestApp) {
    let admin = admin_token(&app).await;
    let (id, _, _) = new_account(&app, &admin, &["users:read"]).await;
    let user = app.access_token("alice").await;
    assert_problem(create_account(&app, &user, "mine", &["users:read"]).await, 403, "insufficient_role").await;
    assert_problem(app.get("/admin/service-accounts", Some(&user)).await, 403, "insufficient_role").await;
    assert_problem(app.get(&format!("/admin/service-accounts/{id}"), Some(&user)).await, 403, "insufficient_role")
        .await;
    let rotate = app
        .client
        .post(app.url(&format!("/admin/service-accounts/{id}/secret")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_problem(rotate, 403, "insufficient_role").await;
    let delete =
        app.client.delete(app.url(&format!("/admin/service-accounts/{id}"))).bearer_auth(&user).send().await.unwrap();
    assert_problem(delete, 403, "insufficient_role").await;
    assert_problem(app.get("/admin/service-accounts", None).await, 401, "missing_token").await;
    // Nothing was changed by the refused calls.
    assert_eq!(app.get(&format!("/admin/service-accounts/{id}"), Some(&admin)).await.status(), 200);
}

async fn bad_service_account_bodies_are_validation_errors(app: TestApp) {
    let admin = admin_token(&app).await;
    for body in [
        json!({"name": "svc", "scopes": ["users:delete"]}),
        json!({"name": "svc", "scopes": ["users:read", "admin"]}),
        json!({"scopes": ["users:read"]}),
        json!({"name": "svc"}),
        json!({"name": "svc", "scopes": "users:read"}),
        json!({"name": "not a valid name!", "scopes": ["users:read"]}),
    ] {
        let res = app.post_json_as("/admin/service-accounts", &admin, &body).await;
        assert_problem(res, 400, "validation_failed").await;
    }
    let list: Value = app.get("/admin/service-accounts", Some(&admin)).await.json().await.unwrap();
    assert_eq!(list["service_accounts"], json!([]));
}

async fn a_stock_client_gets_a_scoped_token_with_basic_or_body_credentials(app: TestApp) {
    let admin = admin_token(&app).await;
    let (_, client_id, secret) = new_account(&app, &admin, &["users:read", "audit:read"]).await;
    let http = http();
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(client_id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_type(auth.clone())
            .set_token_uri(token_url(&app));
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("users:read".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        assert_eq!(*token.token_type(), BasicTokenType::Bearer);
        assert_eq!(token.expires_in(), Some(std::time::Duration::from_secs(900)));
        assert_eq!(token.scopes().unwrap(), &vec![Scope::new("users:read".into())]);
        assert!(!token.access_token().secret().is_empty());
        assert!(token.refresh_token().is_none(), "client credentials must not get a refresh token");
    }
    // Without a scope parameter: every scope the account has.
    let res = client_credentials(&app, &client_id, &secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let mut scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["audit:read", "users:read"]);
    // A wrong secret through the stock client: a parsed invalid_client.
    let client = BasicClient::new(ClientId::new(client_id))
        .set_client_secret(ClientSecret::new(format!("{secret}x")))
        .set_token_uri(token_url(&app));
    match client.exchange_client_credentials().request_async(&http).await {
        Err(RequestTokenError::ServerResponse(e)) => assert_eq!(*e.error(), BasicErrorResponseType::InvalidClient),
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

async fn the_service_token_verifies_from_the_jwks_as_an_access_token_for_the_account(app: TestApp) {
    let admin = admin_token(&app).await;
    let (id, client_id, secret) = new_account(&app, &admin, &["users:read", "introspect"]).await;
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(token_url(&app));
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("users:read".into()))
        .request_async(&http())
        .await
        .unwrap();
    let token = token.access_token().secret();
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's kid is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["gatehouse"]);
    validation.set_audience(&["gatehouse"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("verifies with the JWKS").claims;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "users:read");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert!(claims["jti"].is_string());
    for claim in ["sid", "role", "username"] {
        assert!(claims.get(claim).is_none(), "a service token carries {claim}: {claims}");
    }
}

async fn token_endpoint_errors_follow_rfc_6749(app: TestApp) {
    let admin = admin_token(&app).await;
    let (_, client_id, secret) = new_account(&app, &admin, &["users:read"]).await;
    let grant = [("grant_type", "client_credentials")];

    let res = client_credentials(&app, &client_id, "gatehouse_cs_wrong").await;
    let challenge = res.headers()[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_oauth_error(res, 401, "invalid_client").await;
    // An unknown client is answered exactly like a wrong secret.
    assert_oauth_error(client_credentials(&app, "svc_nobody", &secret).await, 401, "invalid_client").await;
    // No credentials at all.
    assert_oauth_error(post_token(&app, None, &grant).await, 401, "invalid_client").await;

    let ungranted = post_token(
        &app,
        Some((&client_id, &secret)),
        &[("grant_type", "client_credentials"), ("scope", "users:write")],
    );
    assert_oauth_error(ungranted.await, 400, "invalid_scope").await;
    let unknown =
        post_token(&app, Some((&client_id, &secret)), &[("grant_type", "client_credentials"), ("scope", "everything")]);
    assert_oauth_error(unknown.await, 400, "invalid_scope").await;

    let password = [("grant_type", "password"), ("username", "root"), ("password", "a long admin password")];
    assert_oauth_error(post_token(&app, Some((&client_id, &secret)), &password).await, 400, "unsupported_grant_type")
        .await;
    assert_oauth_error(post_token(&app, Some((&client_id, &secret)), &[]).await, 400, "invalid_request").await;

    let json_body = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json_body, 400, "invalid_request").await;

    let both =
        [("grant_type", "client_credentials"), ("client_id", client_id.as_str()), ("client_secret", secret.as_str())];
    assert_oauth_error(post_token(&app, Some((&client_id, &secret)), &both).await, 400, "invalid_request").await;
    // client_secret_post alone works.
    assert_eq!(post_token(&app, None, &both).await.status(), 200);
}

async fn a_service_token_is_not_a_user_token(app: TestApp) {
    let admin = admin_token(&app).await;
    let (_, client_id, secret) =
        new_account(&app, &admin, &["users:read", "users:write", "audit:read", "introspect"]).await;
    let body: Value = client_credentials(&app, &client_id, &secret).await.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    // A user's route does not know service tokens at all; the routes that
    // no scope opens refuse them for their scope.
    for path in ["/auth/protected", "/auth/me"] {
        assert_problem(app.get(path, Some(token)).await, 401, "invalid_token").await;
    }
    for path in ["/auth/admin", "/admin/service-accounts"] {
        let res = app.get(path, Some(token)).await;
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains(r#"error="insufficient_scope""#), "{path}: {challenge}");
        assert_problem(res, 403, "insufficient_scope").await;
    }
}

async fn repeated_wrong_secrets_are_throttled_with_slow_down(app: TestApp) {
    let admin = admin_token(&app).await;
    let (_, client_id, secret) = new_account(&app, &admin, &["users:read"]).await;
    for _ in 0..3 {
        assert_oauth_error(client_credentials(&app, &client_id, "gatehouse_cs_wrong").await, 401, "invalid_client")
            .await;
    }
    let res = client_credentials(&app, &client_id, &secret).await;
    let retry_after: u64 = res.headers()[reqwest::header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_oauth_error(res, 429, "slow_down").await;
}

async fn the_metadata_describes_the_token_endpoint(app: TestApp) {
    let res = app.get("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(res.status(), 200);
    let meta: Value = res.json().await.unwrap();
    assert_eq!(meta["issuer"], "gatehouse");
    assert_eq!(meta["token_endpoint"], "https://auth.example/oauth/token");
    assert_eq!(meta["jwks_uri"], "https://auth.example/.well-known/jwks.json");
    assert_eq!(meta["introspection_endpoint"], "https://auth.example/oauth/introspect");
    assert_eq!(meta["revocation_endpoint"], "https://auth.example/oauth/revoke");
    assert_eq!(meta["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(meta["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post"]));
    assert_eq!(meta["response_types_supported"], json!([]));
    let scopes = meta["scopes_supported"].as_array().unwrap();
    for scope in ["users:read", "users:write", "audit:read", "introspect"] {
        assert!(scopes.contains(&json!(scope)), "scope {scope} missing: {meta}");
    }
}
