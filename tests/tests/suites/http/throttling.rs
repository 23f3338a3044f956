//! Login throttling over HTTP (default limit: 5 attempts per username and
//! per client address in 15 minutes): parallel guesses check at most the
//! limit, instances on one database share the counts, and the client
//! address is the forwarded one only behind a trusted proxy.

use std::sync::Arc;

use gatehouse_domain::Role;
use reqwest::Response;
use serde_json::{Value, json};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    thirty_parallel_wrong_passwords_for_one_user_check_at_most_five,
    failures_spread_over_two_instances_lock_the_user_on_both,
    a_successful_login_clears_the_usernames_count,
    a_trusted_proxys_forwarded_address_is_throttled_and_audited,
    an_untrusted_peers_forwarded_header_is_ignored,
);

const PASSWORD: &str = "correct horse battery staple";
const WRONG: &str = "wrong horse battery staple";

/// `POST /auth/login` with an `X-Forwarded-For` header.
async fn login_via(app: &TestApp, forwarded_for: &str, username: &str, password: &str) -> Response {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &Response) -> u64 {
    res.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

/// An admin's access token, logged in from `from`.
async fn admin_token(app: &TestApp, from: &str) -> String {
    app.create_user("root", "a long admin password", Role::Admin).await;
    let res: Value = login_via(app, from, "root", "a long admin password").await.json().await.unwrap();
    res["access_token"].as_str().unwrap().to_owned()
}

/// The audit trail, newest first.
async fn audit_events(app: &TestApp, admin: &str) -> Vec<Value> {
    let res: Value = app.get("/admin/audit?limit=200", Some(admin)).await.json().await.unwrap();
    res["events"].as_array().unwrap().clone()
}

async fn thirty_parallel_wrong_passwords_for_one_user_check_at_most_five(app: TestApp) {
    app.register("alice", PASSWORD).await;
    let app = Arc::new(app);
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let res = app.login("alice", WRONG).await;
                let wait = (res.status() == 429).then(|| retry_after(&res));
                (res.status().as_u16(), wait)
            })
        })
        .collect();
    let mut checked = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            (401, _) => checked += 1,
            (429, Some(wait)) => assert!((1..=900).contains(&wait), "Retry-After {wait}"),
            other => panic!("a parallel guess answered {other:?}"),
        }
    }
    assert_eq!(checked, 5, "passwords checked out of 30 parallel guesses");
    // The right password waits too, now.
    assert_problem(app.login("alice", PASSWORD).await, 429, "too_many_requests").await;
}

async fn failures_spread_over_two_instances_lock_the_user_on_both(first: TestApp) {
    let second = first.another_instance(|_| {}).await;
    first.register("alice", PASSWORD).await;
    for i in 0..5 {
        let instance = if i % 2 == 0 { &first } else { &second };
        assert_problem(instance.login("alice", WRONG).await, 401, "invalid_credentials").await;
    }
    for instance in [&first, &second] {
        let res = instance.login("alice", PASSWORD).await;
        assert!((1..=900).contains(&retry_after(&res)));
        assert_problem(res, 429, "too_many_requests").await;
    }
}

async fn a_successful_login_clears_the_usernames_count(app: TestApp) {
    // Behind a trusted proxy, so that each attempt can come from an
    // address of its own and only the username's count is in play.
    let app = app.another_instance(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    app.register("alice", PASSWORD).await;
    for i in 0..4 {
        assert_eq!(login_via(&app, &format!("192.0.2.{i}"), "alice", WRONG).await.status(), 401);
    }
    assert_eq!(login_via(&app, "192.0.2.10", "alice", PASSWORD).await.status(), 200);
    for i in 0..5 {
        assert_eq!(login_via(&app, &format!("192.0.2.{}", 20 + i), "alice", WRONG).await.status(), 401);
    }
    assert_problem(login_via(&app, "192.0.2.30", "alice", PASSWORD).await, 429, "too_many_requests").await;
}

async fn a_trusted_proxys_forwarded_address_is_throttled_and_audited(app: TestApp) {
    let app = app.another_instance(|s| s.server.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let admin = admin_token(&app, "198.51.100.2").await;
    // A client-supplied entry on the left is never believed.
    let attacker = "6.6.6.6, 203.0.113.7";
    for i in 0..5 {
        let res = login_via(&app, attacker, &format!("victim{i}"), WRONG).await;
        assert_problem(res, 401, "invalid_credentials").await;
    }
    assert_problem(login_via(&app, attacker, "victim9", WRONG).await, 429, "too_many_requests").await;
    assert_problem(login_via(&app, "203.0.113.7", "alice", PASSWORD).await, 429, "too_many_requests").await;
    // Another client behind the same proxy is not locked out with it.
    assert_problem(login_via(&app, "198.51.100.1", "victim9", WRONG).await, 401, "invalid_credentials").await;

    let events = audit_events(&app, &admin).await;
    let failures: Vec<&Value> = events.iter().filter(|e| e["action"] == "login" && e["outcome"] == "failure").collect();
    assert_eq!(failures.len(), 6, "five from the attacker, one from the neighbour: {events:?}");
    assert_eq!(failures.iter().filter(|e| e["client"] == "203.0.113.7").count(), 5);
    assert_eq!(failures[0]["client"], "198.51.100.1");
    let admin_login = events.iter().find(|e| e["action"] == "login" && e["outcome"] == "success").unwrap();
    assert_eq!(admin_login["client"], "198.51.100.2");
}

async fn an_untrusted_peers_forwarded_header_is_ignored(app: TestApp) {
    // No trusted proxies (the default): every request is from 127.0.0.1,
    // whatever it claims.
    let admin = admin_token(&app, "192.0.2.100").await;
    for i in 0..5 {
        let res = login_via(&app, &format!("192.0.2.{i}"), &format!("victim{i}"), WRONG).await;
        assert_problem(res, 401, "invalid_credentials").await;
    }
    assert_problem(login_via(&app, "192.0.2.99", "victim9", WRONG).await, 429, "too_many_requests").await;
    let events = audit_events(&app, &admin).await;
    assert_eq!(events.iter().filter(|e| e["action"] == "login").count(), 6, "{events:?}");
    assert!(events.iter().filter(|e| e["action"] == "login").all(|e| e["client"] == "127.0.0.1"), "{events:?}");
}
