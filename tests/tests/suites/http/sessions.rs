//! Sessions over HTTP: refresh rotation, the grace race, reuse detection,
//! logout scopes, the session list, and password change.

use std::{collections::HashSet, sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::support::app::{Stack, TestApp, assert_problem, http_tests};

http_tests!(
    a_refresh_rotates_the_refresh_token_and_issues_a_new_access_token,
    ten_concurrent_refreshes_with_one_token_all_get_the_same_new_token,
    a_reused_refresh_token_revokes_the_whole_session,
    an_access_token_is_not_a_refresh_token_and_the_reverse,
    a_malformed_refresh_request_is_a_validation_error,
    logout_local_ends_only_this_session,
    logout_global_ends_every_session_of_the_user,
    logout_others_keeps_only_this_session,
    an_unknown_logout_scope_is_refused,
    the_session_list_shows_live_sessions_and_marks_the_current_one,
    a_user_can_end_one_of_their_sessions_but_not_someone_elses,
    a_password_change_keeps_this_session_and_ends_the_others,
    a_password_change_with_a_wrong_current_password_is_refused,
);

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn a_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(app: TestApp) {
    let first = app.signed_in("alice").await;
    let res = app.refresh(str_of(&first, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["token_type"], "Bearer");
    assert!(second["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(app.get("/auth/protected", Some(str_of(&second, "access_token"))).await.status(), 200);
    // The new refresh token rotates in turn.
    let third: Value = app.refresh(str_of(&second, "refresh_token")).await.json().await.unwrap();
    assert_ne!(third["refresh_token"], second["refresh_token"]);
}

async fn ten_concurrent_refreshes_with_one_token_all_get_the_same_new_token(app: TestApp) {
    let first = app.signed_in("alice").await;
    let app = Arc::new(app);
    let token = str_of(&first, "refresh_token").to_owned();
    let racers: Vec<_> = (0..10)
        .map(|_| {
            let (app, token) = (Arc::clone(&app), token.clone());
            tokio::spawn(async move {
                let res = app.refresh(&token).await;
                (res.status().as_u16(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut refresh_tokens = HashSet::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        assert_eq!(status, 200, "{body}");
        refresh_tokens.insert(str_of(&body, "refresh_token").to_owned());
        assert_eq!(app.get("/auth/protected", Some(str_of(&body, "access_token"))).await.status(), 200);
    }
    assert_eq!(refresh_tokens.len(), 1, "the race forked the session: {refresh_tokens:?}");
    assert!(!refresh_tokens.contains(&token));
}

async fn a_reused_refresh_token_revokes_the_whole_session(app: TestApp) {
    let first = app.signed_in("alice").await;
    let second: Value = app.refresh(str_of(&first, "refresh_token")).await.json().await.unwrap();
    let third: Value = app.refresh(str_of(&second, "refresh_token")).await.json().await.unwrap();
    // `first` is two rotations old: reuse at once, no grace.
    assert_problem(app.refresh(str_of(&first, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_problem(app.refresh(str_of(&third, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_problem(app.get("/auth/protected", Some(str_of(&third, "access_token"))).await, 401, "token_revoked").await;
}

async fn an_access_token_is_not_a_refresh_token_and_the_reverse(app: TestApp) {
    let pair = app.signed_in("alice").await;
    assert_problem(app.refresh(str_of(&pair, "access_token")).await, 401, "invalid_refresh_token").await;
    assert_problem(app.get("/auth/protected", Some(str_of(&pair, "refresh_token"))).await, 401, "invalid_token").await;
    assert_problem(app.refresh("not-a-token").await, 401, "invalid_refresh_token").await;
    // Neither misuse harmed the session.
    assert_eq!(app.refresh(str_of(&pair, "refresh_token")).await.status(), 200);
}

async fn a_malformed_refresh_request_is_a_validation_error(app: TestApp) {
    let body = assert_problem(app.post_json("/auth/refresh", &json!({})).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "refresh_token");
    assert_problem(app.post_json("/auth/refresh", &json!({"refresh_token": 7})).await, 400, "validation_failed").await;
}

async fn logout_local_ends_only_this_session(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    assert_eq!(app.logout(str_of(&a, "access_token"), None).await.status(), 204);
    assert_problem(app.get("/auth/protected", Some(str_of(&a, "access_token"))).await, 401, "token_revoked").await;
    assert_problem(app.refresh(str_of(&a, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_eq!(app.get("/auth/protected", Some(str_of(&b, "access_token"))).await.status(), 200);
    assert_eq!(app.refresh(str_of(&b, "refresh_token")).await.status(), 200);
    // Logging out twice: the token is already refused.
    assert_problem(app.logout(str_of(&a, "access_token"), Some("local")).await, 401, "token_revoked").await;
}

async fn logout_global_ends_every_session_of_the_user(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    let other = app.signed_in("bob").await;
    assert_eq!(app.logout(str_of(&a, "access_token"), Some("global")).await.status(), 204);
    for pair in [&a, &b] {
        assert_problem(app.get("/auth/protected", Some(str_of(pair, "access_token"))).await, 401, "token_revoked")
            .await;
        assert_problem(app.refresh(str_of(pair, "refresh_token")).await, 401, "invalid_refresh_token").await;
    }
    assert_eq!(app.get("/auth/protected", Some(str_of(&other, "access_token"))).await.status(), 200);
}

async fn logout_others_keeps_only_this_session(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    let c = app.logged_in("alice").await;
    assert_eq!(app.logout(str_of(&a, "access_token"), Some("others")).await.status(), 204);
    assert_eq!(app.get("/auth/protected", Some(str_of(&a, "access_token"))).await.status(), 200);
    for pair in [&b, &c] {
        assert_problem(app.get("/auth/protected", Some(str_of(pair, "access_token"))).await, 401, "token_revoked")
            .await;
    }
    let sessions: Value = app.get("/auth/sessions", Some(str_of(&a, "access_token"))).await.json().await.unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
}

async fn an_unknown_logout_scope_is_refused(app: TestApp) {
    let a = app.signed_in("alice").await;
    let body =
        assert_problem(app.logout(str_of(&a, "access_token"), Some("everywhere")).await, 400, "validation_failed")
            .await;
    assert_eq!(body["errors"][0]["field"], "scope");
    assert_eq!(app.get("/auth/protected", Some(str_of(&a, "access_token"))).await.status(), 200);
    assert_problem(app.client.post(app.url("/auth/logout")).send().await.unwrap(), 401, "missing_token").await;
}

async fn the_session_list_shows_live_sessions_and_marks_the_current_one(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    let c = app.logged_in("alice").await;
    app.signed_in("bob").await;
    assert_eq!(app.logout(str_of(&c, "access_token"), None).await.status(), 204);
    let res = app.get("/auth/sessions", Some(str_of(&b, "access_token"))).await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    let sid = |pair: &Value| crate::http::tokens::claims(str_of(pair, "access_token"))["sid"].clone();
    assert_eq!(sessions[0]["id"], sid(&b), "newest first");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["id"], sid(&a));
    assert_eq!(sessions[1]["current"], false);
    for s in sessions {
        for field in ["created_at", "last_used_at", "expires_at"] {
            let text = s[field].as_str().unwrap();
            assert!(
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok(),
                "{text}"
            );
        }
    }
}

async fn a_user_can_end_one_of_their_sessions_but_not_someone_elses(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    let bob = app.signed_in("bob").await;
    let sid =
        |pair: &Value| crate::http::tokens::claims(str_of(pair, "access_token"))["sid"].as_str().unwrap().to_owned();
    let delete = |token: String, id: String| {
        let req = app.client.delete(app.url(&format!("/auth/sessions/{id}"))).bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    assert_problem(delete(str_of(&a, "access_token").into(), sid(&bob)).await, 404, "not_found").await;
    assert_eq!(app.get("/auth/protected", Some(str_of(&bob, "access_token"))).await.status(), 200);
    assert_problem(delete(str_of(&a, "access_token").into(), "not-a-uuid".into()).await, 404, "not_found").await;
    assert_problem(delete(str_of(&a, "access_token").into(), uuid::Uuid::now_v7().to_string()).await, 404, "not_found")
        .await;
    assert_eq!(delete(str_of(&a, "access_token").into(), sid(&b)).await.status(), 204);
    assert_problem(app.get("/auth/protected", Some(str_of(&b, "access_token"))).await, 401, "token_revoked").await;
    assert_eq!(app.get("/auth/protected", Some(str_of(&a, "access_token"))).await.status(), 200);
    // An ended session is gone from the user's point of view.
    assert_problem(delete(str_of(&a, "access_token").into(), sid(&b)).await, 404, "not_found").await;
}

async fn a_password_change_keeps_this_session_and_ends_the_others(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    let body = json!({"current_password": "alice has a long password", "new_password": "a brand new passphrase"});
    assert_eq!(app.post_json_as("/auth/password", str_of(&a, "access_token"), &body).await.status(), 204);
    assert_eq!(app.get("/auth/protected", Some(str_of(&a, "access_token"))).await.status(), 200);
    assert_problem(app.get("/auth/protected", Some(str_of(&b, "access_token"))).await, 401, "token_revoked").await;
    assert_problem(app.refresh(str_of(&b, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_problem(app.login("alice", "alice has a long password").await, 401, "invalid_credentials").await;
    assert_eq!(app.login("alice", "a brand new passphrase").await.status(), 200);
}

async fn a_password_change_with_a_wrong_current_password_is_refused(app: TestApp) {
    let a = app.signed_in("alice").await;
    let token = str_of(&a, "access_token");
    let wrong = json!({"current_password": "not the password", "new_password": "a brand new passphrase"});
    assert_problem(app.post_json_as("/auth/password", token, &wrong).await, 401, "invalid_credentials").await;
    let weak = json!({"current_password": "alice has a long password", "new_password": "password"});
    let body = assert_problem(app.post_json_as("/auth/password", token, &weak).await, 400, "validation_failed").await;
    assert_eq!(
        body["errors"][0],
        json!({"field": "new_password", "code": "weak_password", "message": body["errors"][0]["message"]})
    );
    let missing =
        assert_problem(app.post_json_as("/auth/password", token, &json!({})).await, 400, "validation_failed").await;
    assert_eq!(missing["errors"].as_array().unwrap().len(), 2);
    // The new password may not be the signed-in user's name; every problem
    // is listed at once.
    let own_name = json!({"new_password": "ALICE"});
    let body =
        assert_problem(app.post_json_as("/auth/password", token, &own_name).await, 400, "validation_failed").await;
    let codes: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, [("current_password", "required"), ("new_password", "too_short")]);
    let own_name = json!({"current_password": "x", "new_password": "alice.has.a.name"});
    let alice_long = app.signed_in("alice.has.a.name").await;
    let token_long = str_of(&alice_long, "access_token");
    let body =
        assert_problem(app.post_json_as("/auth/password", token_long, &own_name).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "equals_username", "{body}");
    assert_eq!(app.login("alice", "alice has a long password").await.status(), 200);
}

/// The grace interval ends: the token rotated away is now reuse. Needs a
/// short grace, so it has its own server.
async fn after_the_grace_interval_the_previous_token_is_reuse(stack: Stack) {
    let Some(app) = TestApp::spawn_with(stack, &[("jwt.refresh_reuse_grace_seconds", "1")]).await else {
        eprintln!("skipped: the database server of {stack:?} is not configured");
        return;
    };
    let first = app.signed_in("alice").await;
    let second: Value = app.refresh(str_of(&first, "refresh_token")).await.json().await.unwrap();
    // Within the grace interval: the same current token.
    let again: Value = app.refresh(str_of(&first, "refresh_token")).await.json().await.unwrap();
    assert_eq!(again["refresh_token"], second["refresh_token"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_problem(app.refresh(str_of(&first, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_problem(app.refresh(str_of(&second, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_problem(app.get("/auth/protected", Some(str_of(&second, "access_token"))).await, 401, "token_revoked").await;
}

mod after_the_grace_interval {
    use super::{Stack, after_the_grace_interval_the_previous_token_is_reuse as rule};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_previous_token_is_reuse_on_memory() {
        rule(Stack::Memory).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_previous_token_is_reuse_on_sqlite() {
        rule(Stack::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_previous_token_is_reuse_on_postgres() {
        rule(Stack::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_previous_token_is_reuse_on_mysql() {
        rule(Stack::Mysql).await;
    }
}
