//! `/metrics`: the contract's families from the first scrape, counts that
//! follow what clients did, bounded labels that never name anyone, a
//! scrape token, and a listener of its own.

use serde_json::json;

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    every_family_is_there_from_the_first_scrape,
    counts_follow_logins_refreshes_and_revocations_by_route_pattern,
    a_scrape_token_is_required_when_set,
    a_metrics_listener_of_its_own_takes_metrics_off_the_main_one,
    metrics_can_be_turned_off,
);

async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    res.text().await.unwrap()
}

/// The value of the sample line that starts with `series` (name and
/// labels, exactly as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

async fn every_family_is_there_from_the_first_scrape(app: TestApp) {
    let text = scrape(&app).await;
    for family in [
        "# TYPE gatehouse_logins_total counter",
        "# TYPE gatehouse_refreshes_total counter",
        "# TYPE gatehouse_sessions_revoked_total counter",
        "# TYPE gatehouse_password_hash_seconds histogram",
        "# TYPE gatehouse_password_hash_waiting gauge",
    ] {
        assert!(text.lines().any(|l| l == family), "{family:?} missing from:\n{text}");
    }
    for outcome in ["success", "invalid_credentials", "throttled", "disabled", "mfa_required"] {
        assert_eq!(value(&text, &format!("gatehouse_logins_total{{outcome=\"{outcome}\"}}")), Some(0.0), "{outcome}");
    }
    for outcome in ["rotated", "grace", "reuse", "invalid"] {
        assert_eq!(value(&text, &format!("gatehouse_refreshes_total{{outcome=\"{outcome}\"}}")), Some(0.0));
    }
    for reason in ["logout", "reuse", "password_change", "admin", "mfa"] {
        assert_eq!(value(&text, &format!("gatehouse_sessions_revoked_total{{reason=\"{reason}\"}}")), Some(0.0));
    }
    // The scrape itself is counted on the next one.
    let again = scrape(&app).await;
    assert!(again.contains("# TYPE gatehouse_http_requests_total counter"), "{again}");
    assert!(again.contains("# TYPE gatehouse_http_request_duration_seconds histogram"), "{again}");
}

async fn counts_follow_logins_refreshes_and_revocations_by_route_pattern(app: TestApp) {
    let pair = app.signed_in("alice").await;
    assert_eq!(app.login("alice", "not alice's password").await.status(), 401);
    let refreshed = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    assert_problem(app.refresh("not-a-refresh-token").await, 401, "invalid_refresh_token").await;
    let token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(app.logout(token, None).await.status(), 204);
    let session = "0193a6f2-6c1e-7d3a-9f2e-5b8c1d2e3f40";
    app.client.delete(app.url(&format!("/auth/sessions/{session}"))).send().await.unwrap();
    app.get("/no/such/route/secret-looking-path", None).await;
    app.post_json("/auth/login", &json!({"username": "bob"})).await;

    let text = scrape(&app).await;
    assert_eq!(value(&text, "gatehouse_logins_total{outcome=\"success\"}"), Some(1.0), "{text}");
    assert_eq!(value(&text, "gatehouse_logins_total{outcome=\"invalid_credentials\"}"), Some(1.0));
    assert_eq!(value(&text, "gatehouse_refreshes_total{outcome=\"rotated\"}"), Some(1.0));
    assert_eq!(value(&text, "gatehouse_refreshes_total{outcome=\"invalid\"}"), Some(1.0));
    assert_eq!(value(&text, "gatehouse_sessions_revoked_total{reason=\"logout\"}"), Some(1.0));
    assert!(value(&text, "gatehouse_password_hash_seconds_count").is_some_and(|n| n >= 3.0), "{text}");
    let login = "gatehouse_http_requests_total{method=\"POST\",route=\"/auth/login\",status=\"200\"}";
    assert_eq!(value(&text, login), Some(1.0), "{text}");
    let pattern = "gatehouse_http_requests_total{method=\"DELETE\",route=\"/auth/sessions/{id}\",status=\"401\"}";
    assert_eq!(value(&text, pattern), Some(1.0), "{text}");
    let unmatched = "gatehouse_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}";
    assert_eq!(value(&text, unmatched), Some(1.0), "{text}");
    for private in ["alice", "secret-looking-path", session, token, "127.0.0.1"] {
        assert!(!text.contains(private), "{private} appears in the metrics");
    }
}

async fn a_scrape_token_is_required_when_set(app: TestApp) {
    let app = app
        .another_instance(|s| s.metrics.token = Some(secrecy::SecretString::from("a-scrape-token-of-some-length")))
        .await;
    assert_problem(app.get("/metrics", None).await, 401, "missing_token").await;
    assert_problem(app.get("/metrics", Some("a-wrong-token-of-some-length")).await, 401, "invalid_token").await;
    let res = app.get("/metrics", Some("a-scrape-token-of-some-length")).await;
    assert_eq!(res.status(), 200);
}

async fn a_metrics_listener_of_its_own_takes_metrics_off_the_main_one(app: TestApp) {
    let app = app.another_instance(|s| s.metrics.listen = Some("127.0.0.1:0".into())).await;
    assert_problem(app.get("/metrics", None).await, 404, "not_found").await;
    let base = app.metrics_base.clone().expect("a metrics listener");
    let res = app.client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("gatehouse_logins_total"));
    let other = app.client.get(format!("{base}/auth/protected")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the metrics listener serves nothing else");
}

async fn metrics_can_be_turned_off(app: TestApp) {
    let app = app.another_instance(|s| s.metrics.enabled = false).await;
    assert_eq!(app.get("/health/live", None).await.status(), 200);
    assert_problem(app.get("/metrics", None).await, 404, "not_found").await;
}
