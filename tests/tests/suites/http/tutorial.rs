//! The tutorial flow every user starts with.

use gatehouse_domain::Role;
use serde_json::Value;

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    the_tutorial_flow_works_from_registration_to_admin,
    usernames_are_stored_in_lower_case_and_logins_ignore_case,
    each_login_opens_a_new_session_with_its_own_refresh_token,
    token_responses_are_never_cached,
    me_returns_the_signed_in_account,
);

async fn the_tutorial_flow_works_from_registration_to_admin(app: TestApp) {
    let res = app.register("alice", "correct horse battery staple").await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["role"], "user");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(
        time::OffsetDateTime::parse(
            user["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );

    let res = app.login("alice", "correct horse battery staple").await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_expires_in"], 2_592_000);
    assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    let token = tokens["access_token"].as_str().unwrap();

    let res = app.get("/auth/protected", Some(token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), serde_json::json!({"message": "Hello, alice!"}));

    assert_problem(app.get("/auth/admin", Some(token)).await, 403, "insufficient_role").await;

    // The first admin comes from the command line's use case, never the API.
    app.create_user("root", "a long admin password", Role::Admin).await;
    let res = app.login("root", "a long admin password").await;
    let admin_token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let res = app.get("/auth/admin", Some(&admin_token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), serde_json::json!({"message": "Welcome, Admin!"}));
}

async fn usernames_are_stored_in_lower_case_and_logins_ignore_case(app: TestApp) {
    let res = app.register("  Alice.Smith ", "correct horse battery staple").await;
    assert_eq!(res.json::<Value>().await.unwrap()["username"], "alice.smith");
    assert_eq!(app.login("ALICE.SMITH", "correct horse battery staple").await.status(), 200);
    assert_problem(app.register("alice.SMITH", "another long password").await, 409, "username_taken").await;
}

async fn each_login_opens_a_new_session_with_its_own_refresh_token(app: TestApp) {
    app.register("bob", "correct horse battery staple").await;
    let a: Value = app.login("bob", "correct horse battery staple").await.json().await.unwrap();
    let b: Value = app.login("bob", "correct horse battery staple").await.json().await.unwrap();
    assert_ne!(a["refresh_token"], b["refresh_token"]);
    let sid = |t: &Value| crate::http::tokens::claims(t["access_token"].as_str().unwrap())["sid"].clone();
    assert_ne!(sid(&a), sid(&b));
}

async fn token_responses_are_never_cached(app: TestApp) {
    app.register("carol", "correct horse battery staple").await;
    let res = app.login("carol", "correct horse battery staple").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}

async fn me_returns_the_signed_in_account(app: TestApp) {
    let token = app.access_token("dave").await;
    let me: Value = app.get("/auth/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["username"], "dave");
    assert_eq!(me["role"], "user");
    assert!(me.get("password_hash").is_none());
}
