//! Response headers: hardening on every answer, request ids, caching rules
//! and `Allow` on 405.

use reqwest::Method;

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    every_answer_forbids_sniffing_and_framing_and_names_its_request,
    a_well_formed_client_request_id_is_echoed_and_any_other_is_replaced,
    account_and_admin_answers_are_never_cached,
    the_jwks_may_be_cached_for_the_configured_time,
    a_wrong_method_is_answered_with_the_routes_methods,
);

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

async fn every_answer_forbids_sniffing_and_framing_and_names_its_request(app: TestApp) {
    let token = app.access_token("alice").await;
    let answers = [
        app.get("/health/live", None).await,
        app.get("/auth/protected", Some(&token)).await,
        app.get("/auth/protected", None).await,
        app.get("/no/such/route", None).await,
        app.login("alice", "a wrong password!").await,
        app.get("/.well-known/jwks.json", None).await,
    ];
    for res in answers {
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{}", res.url());
        assert_eq!(header(&res, "x-frame-options"), "DENY", "{}", res.url());
        assert!(!header(&res, "x-request-id").is_empty(), "{}", res.url());
    }
}

async fn a_well_formed_client_request_id_is_echoed_and_any_other_is_replaced(app: TestApp) {
    let send = |id: &str| app.client.get(app.url("/health/live")).header("x-request-id", id).send();
    let echoed = send("trace-42_a.b").await.unwrap();
    assert_eq!(header(&echoed, "x-request-id"), "trace-42_a.b");
    for bad in ["has space", "semi;colon", &"x".repeat(65), "ünïcode"] {
        let res = send(bad).await.unwrap();
        let id = header(&res, "x-request-id");
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "a fresh id replaces {bad:?}: {id}");
    }
    let res = app.client.get(app.url("/health/live")).send().await.unwrap();
    assert!(uuid::Uuid::parse_str(header(&res, "x-request-id")).is_ok());
}

async fn account_and_admin_answers_are_never_cached(app: TestApp) {
    let token = app.access_token("alice").await;
    for res in [
        app.get("/auth/protected", Some(&token)).await,
        app.get("/auth/me", Some(&token)).await,
        app.get("/auth/sessions", Some(&token)).await,
        app.get("/admin/users", Some(&token)).await,
        app.get("/auth/protected", None).await,
        app.login("alice", "a wrong password!").await,
    ] {
        assert_eq!(header(&res, "cache-control"), "no-store", "{} {}", res.status(), res.url());
    }
}

async fn the_jwks_may_be_cached_for_the_configured_time(app: TestApp) {
    let res = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(header(&res, "cache-control"), "public, max-age=300");
    let other = app.another_instance(|s| s.jwt.jwks_max_age_seconds = 60).await;
    let res = other.get("/.well-known/jwks.json", None).await;
    assert_eq!(header(&res, "cache-control"), "public, max-age=60");
}

async fn a_wrong_method_is_answered_with_the_routes_methods(app: TestApp) {
    for (method, path, allow) in [
        (Method::GET, "/auth/login", "POST"),
        (Method::PUT, "/admin/users/0193a6f2-6c1e-7d3a-9f2e-5b8c1d2e3f40", "GET, PATCH, DELETE"),
        (Method::DELETE, "/auth/protected", "GET"),
        (Method::TRACE, "/auth/register", "POST"),
        (Method::POST, "/.well-known/jwks.json", "GET"),
    ] {
        let res = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
        assert_eq!(header(&res, "allow"), allow, "{method} {path}");
        assert_problem(res, 405, "method_not_allowed").await;
    }
}
