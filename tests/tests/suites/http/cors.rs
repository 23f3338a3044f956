//! CORS: browser apps on an allowed origin can call the API, preflights are
//! answered before any check, errors are readable, and other origins get no
//! CORS header at all.

use reqwest::{Method, Response};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    without_allowed_origins_no_cors_header_is_ever_sent,
    a_preflight_from_an_allowed_origin_is_answered_before_any_check,
    answers_to_an_allowed_origin_carry_cors_headers_errors_included,
    another_origin_is_served_without_cors_headers,
);

const APP: &str = "https://app.example";

async fn with_cors(app: TestApp) -> TestApp {
    app.another_instance(|s| s.server.cors_allowed_origins = vec![APP.into(), "http://localhost:5173".into()]).await
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

fn cors_headers(res: &Response) -> Vec<String> {
    res.headers().keys().map(|k| k.as_str().to_owned()).filter(|k| k.starts_with("access-control-")).collect()
}

async fn preflight(app: &TestApp, origin: &str, method: &str, path: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

async fn without_allowed_origins_no_cors_header_is_ever_sent(app: TestApp) {
    let res = app.client.get(app.url("/health/live")).header("origin", APP).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
    let res = preflight(&app, APP, "POST", "/auth/login").await;
    assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
}

async fn a_preflight_from_an_allowed_origin_is_answered_before_any_check(app: TestApp) {
    let app = with_cors(app).await;
    for (method, path, allow) in [
        ("POST", "/auth/login", "POST"),
        ("GET", "/auth/protected", "GET"),
        ("PATCH", "/admin/users/0193a6f2-6c1e-7d3a-9f2e-5b8c1d2e3f40", "GET, PATCH, DELETE"),
        // A browser app's passkey calls: the preflight carries no token.
        ("POST", "/auth/passkeys/register/start", "POST"),
        ("POST", "/auth/passkeys/login/finish", "POST"),
        ("DELETE", "/auth/passkeys/0193a6f2-6c1e-7d3a-9f2e-5b8c1d2e3f40", "DELETE"),
    ] {
        let res = preflight(&app, APP, method, path).await;
        assert_eq!(res.status(), 204, "{method} {path}");
        assert_eq!(header(&res, "access-control-allow-origin"), Some(APP));
        assert_eq!(header(&res, "access-control-allow-methods"), Some(allow), "{path}");
        let allowed = header(&res, "access-control-allow-headers").unwrap().to_ascii_lowercase();
        for h in ["authorization", "content-type", "x-request-id"] {
            assert!(allowed.contains(h), "{h} in {allowed}");
        }
        assert!(header(&res, "access-control-max-age").is_some());
        assert_eq!(header(&res, "vary"), Some("Origin"));
        assert_eq!(header(&res, "access-control-allow-credentials"), None);
    }
    let other = preflight(&app, "http://localhost:5173", "POST", "/auth/login").await;
    assert_eq!(header(&other, "access-control-allow-origin"), Some("http://localhost:5173"));
}

async fn answers_to_an_allowed_origin_carry_cors_headers_errors_included(app: TestApp) {
    let app = with_cors(app).await;
    let token = app.access_token("alice").await;
    let ok = app.client.get(app.url("/auth/protected")).bearer_auth(&token).header("origin", APP).send().await.unwrap();
    let unauthorized = app.client.get(app.url("/auth/protected")).header("origin", APP).send().await.unwrap();
    let not_found = app.client.get(app.url("/nowhere")).header("origin", APP).send().await.unwrap();
    for res in [&ok, &unauthorized, &not_found] {
        assert_eq!(header(res, "access-control-allow-origin"), Some(APP), "{}", res.status());
        assert_eq!(header(res, "vary"), Some("Origin"));
        let exposed = header(res, "access-control-expose-headers").unwrap().to_ascii_lowercase();
        for h in ["retry-after", "www-authenticate", "x-request-id"] {
            assert!(exposed.contains(h), "{h} in {exposed}");
        }
        assert_eq!(header(res, "access-control-allow-credentials"), None);
    }
    assert_eq!(ok.status(), 200);
    assert_problem(unauthorized, 401, "missing_token").await;
}

async fn another_origin_is_served_without_cors_headers(app: TestApp) {
    let app = with_cors(app).await;
    let res = app.client.get(app.url("/health/live")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
    let res = preflight(&app, "https://evil.example", "POST", "/auth/login").await;
    assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
    let res = app.login("nobody", "whatever password").await;
    assert!(cors_headers(&res).is_empty(), "no Origin, no CORS: {:?}", res.headers());
}
