//! Every bad-input row of the contract that these routes can reach answers
//! problem+json with the contract's status and code.

use serde_json::{Value, json};

use crate::support::app::{Stack, TestApp, assert_problem, http_tests};

http_tests!(
    a_body_that_is_not_json_is_malformed_json,
    a_json_body_that_is_not_an_object_is_malformed_json,
    missing_and_mistyped_fields_are_all_listed,
    registration_rules_are_reported_per_field,
    common_passwords_are_refused_as_weak,
    a_password_equal_to_the_username_is_refused,
    a_taken_username_is_a_conflict,
    a_body_without_json_content_type_is_unsupported,
    a_body_over_the_limit_is_too_large,
    unknown_routes_are_not_found,
    wrong_methods_are_not_allowed,
    a_wrong_password_is_refused_like_an_unknown_user,
    repeated_failed_logins_are_throttled_with_retry_after,
    protected_routes_without_a_token_ask_for_one,
    a_garbage_token_is_invalid,
    no_error_body_echoes_the_password,
);

async fn a_body_that_is_not_json_is_malformed_json(app: TestApp) {
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\": \"alice\",")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_json").await;
}

async fn a_json_body_that_is_not_an_object_is_malformed_json(app: TestApp) {
    for body in [json!([1, 2]), json!("alice"), json!(null)] {
        assert_problem(app.post_json("/auth/login", &body).await, 400, "malformed_json").await;
    }
}

async fn missing_and_mistyped_fields_are_all_listed(app: TestApp) {
    let body =
        assert_problem(app.post_json("/auth/register", &json!({"username": 42})).await, 400, "validation_failed").await;
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors
            .contains(&json!({"field": "username", "code": "invalid_type", "message": "This field must be a string."}))
    );
    assert!(errors.iter().any(|e| e["field"] == "password" && e["code"] == "required"), "{body}");
    let body = assert_problem(app.post_json("/auth/login", &json!({})).await, 400, "validation_failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
}

async fn registration_rules_are_reported_per_field(app: TestApp) {
    let body = assert_problem(app.register("a!", "short").await, 400, "validation_failed").await;
    let codes: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    assert!(codes.contains(&("username".into(), "invalid_characters".into())), "{body}");
    assert!(codes.contains(&("password".into(), "too_short".into())), "{body}");
    let body = assert_problem(app.register("ab", "long enough password").await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "too_short");
    let long = "x".repeat(65);
    let body = assert_problem(app.register(&long, "long enough password").await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "too_long");
    let body = assert_problem(app.register("alice", &"p4ss".repeat(65)).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "too_long");
}

async fn common_passwords_are_refused_as_weak(app: TestApp) {
    for weak in ["password", "12345678", "qwertyui"] {
        let body = assert_problem(app.register("alice", weak).await, 400, "validation_failed").await;
        assert_eq!(
            body["errors"][0],
            json!({"field": "password", "code": "weak_password", "message": body["errors"][0]["message"]})
        );
    }
}

async fn a_password_equal_to_the_username_is_refused(app: TestApp) {
    let body = assert_problem(app.register("alice.smith", "Alice.Smith").await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "equals_username");
}

async fn a_taken_username_is_a_conflict(app: TestApp) {
    assert_eq!(app.register("alice", "correct horse battery staple").await.status(), 201);
    let body = assert_problem(app.register("ALICE", "another long password").await, 409, "username_taken").await;
    assert_eq!(body["detail"], "That username is already registered.");
}

async fn a_body_without_json_content_type_is_unsupported(app: TestApp) {
    let body = r#"{"username": "alice", "password": "correct horse battery staple"}"#;
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = app.client.post(app.url("/auth/login")).body(body).send().await.unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
}

async fn a_body_over_the_limit_is_too_large(app: TestApp) {
    let body = json!({"username": "alice", "password": "x".repeat(17 * 1024)});
    assert_problem(app.post_json("/auth/register", &body).await, 413, "payload_too_large").await;
}

async fn unknown_routes_are_not_found(app: TestApp) {
    assert_problem(app.get("/auth/nope", None).await, 404, "not_found").await;
    assert_problem(app.get("/", None).await, 404, "not_found").await;
}

async fn wrong_methods_are_not_allowed(app: TestApp) {
    assert_problem(app.get("/auth/login", None).await, 405, "method_not_allowed").await;
    let res = app.client.delete(app.url("/auth/protected")).send().await.unwrap();
    assert_problem(res, 405, "method_not_allowed").await;
}

async fn a_wrong_password_is_refused_like_an_unknown_user(app: TestApp) {
    app.register("alice", "correct horse battery staple").await;
    let wrong = app.login("alice", "wrong horse battery staple").await;
    assert!(wrong.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let wrong = assert_problem(wrong, 401, "invalid_credentials").await;
    let unknown =
        assert_problem(app.login("nobody", "wrong horse battery staple").await, 401, "invalid_credentials").await;
    let malformed =
        assert_problem(app.login("no body!", "wrong horse battery staple").await, 401, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);
}

async fn repeated_failed_logins_are_throttled_with_retry_after(app: TestApp) {
    app.register("alice", "correct horse battery staple").await;
    for _ in 0..5 {
        assert_problem(app.login("alice", "wrong horse battery staple").await, 401, "invalid_credentials").await;
    }
    // Even the right password waits now.
    let res = app.login("alice", "correct horse battery staple").await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_problem(res, 429, "too_many_requests").await;
}

async fn protected_routes_without_a_token_ask_for_one(app: TestApp) {
    for path in ["/auth/protected", "/auth/admin", "/auth/me"] {
        let res = app.get(path, None).await;
        assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="gatehouse""#);
        assert_problem(res, 401, "missing_token").await;
    }
    let res =
        app.client.get(app.url("/auth/protected")).header("authorization", "Basic YWxpY2U6cHc=").send().await.unwrap();
    assert_problem(res, 401, "missing_token").await;
}

async fn a_garbage_token_is_invalid(app: TestApp) {
    let res = app.get("/auth/protected", Some("not.a.jwt")).await;
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));
    assert_problem(res, 401, "invalid_token").await;
}

async fn no_error_body_echoes_the_password(app: TestApp) {
    let secret = "my secret password 123";
    app.register("alice", secret).await;
    let bodies = [
        app.register("alice", secret).await.text().await.unwrap(),
        app.login("alice", "not my secret password").await.text().await.unwrap(),
        app.register("a", secret).await.text().await.unwrap(),
    ];
    for body in bodies {
        assert!(!body.contains("secret password"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_can_be_turned_off() {
    let app = TestApp::spawn_with(Stack::Memory, &[("rate_limit.login_failures", "0")]).await.unwrap();
    app.register("alice", "correct horse battery staple").await;
    for _ in 0..8 {
        assert_problem(app.login("alice", "wrong horse battery staple").await, 401, "invalid_credentials").await;
    }
    let res = app.login("alice", "correct horse battery staple").await;
    assert_eq!(res.status(), 200, "{:?}", res.json::<Value>().await);
}
