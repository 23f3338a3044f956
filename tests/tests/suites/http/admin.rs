//! Administration over HTTP: listing, inspecting, changing and deleting
//! users, and the last-admin rule.

use std::collections::HashSet;

use gatehouse_domain::Role;
use serde_json::{Value, json};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    only_admins_reach_the_admin_routes,
    users_page_through_in_creation_order_without_duplicates_or_gaps,
    bad_page_parameters_are_validation_errors,
    an_admin_reads_one_user_and_unknown_ids_are_not_found,
    promoting_a_user_revokes_their_sessions_and_the_new_login_is_admin,
    a_disabled_user_is_logged_out_and_cannot_log_in,
    a_deleted_user_is_logged_out_and_gone,
    the_last_admin_can_be_neither_demoted_disabled_nor_deleted,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    a_patch_needs_a_valid_role_or_disabled_flag,
);

async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", "a long admin password", Role::Admin).await;
    let res: Value = app.login("root", "a long admin password").await.json().await.unwrap();
    res["access_token"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, token: &str, id: &str, body: &Value) -> reqwest::Response {
    app.client.patch(app.url(&format!("/admin/users/{id}"))).bearer_auth(token).json(body).send().await.unwrap()
}

async fn delete(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client.delete(app.url(&format!("/admin/users/{id}"))).bearer_auth(token).send().await.unwrap()
}

async fn id_of(app: &TestApp, token: &str) -> String {
    app.get("/auth/me", Some(token)).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn only_admins_reach_the_admin_routes(app: TestApp) {
    let user = app.access_token("alice").await;
    let id = id_of(&app, &user).await;
    assert_problem(app.get("/admin/users", Some(&user)).await, 403, "insufficient_role").await;
    assert_problem(app.get(&format!("/admin/users/{id}"), Some(&user)).await, 403, "insufficient_role").await;
    assert_problem(patch(&app, &user, &id, &json!({"role": "admin"})).await, 403, "insufficient_role").await;
    assert_problem(delete(&app, &user, &id).await, 403, "insufficient_role").await;
    assert_problem(app.get("/admin/users", None).await, 401, "missing_token").await;
}

async fn users_page_through_in_creation_order_without_duplicates_or_gaps(app: TestApp) {
    let admin = admin_token(&app).await;
    for i in 0..7 {
        app.register(&format!("user{i}"), "correct horse battery staple").await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = false;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=3&cursor={c}"),
            None => "/admin/users?limit=3".to_owned(),
        };
        let page: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 3);
        seen.extend(users.iter().map(|u| u["username"].as_str().unwrap().to_owned()));
        if !added {
            // Users added while paging appear at the end, not in between.
            app.register("latecomer", "correct horse battery staple").await;
            added = true;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = std::iter::once("root".to_owned())
        .chain((0..7).map(|i| format!("user{i}")))
        .chain(std::iter::once("latecomer".to_owned()))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

async fn bad_page_parameters_are_validation_errors(app: TestApp) {
    let admin = admin_token(&app).await;
    for query in ["limit=0", "limit=201", "limit=ten", "cursor=not-a-cursor"] {
        assert_problem(app.get(&format!("/admin/users?{query}"), Some(&admin)).await, 400, "validation_failed").await;
    }
    let page: Value = app.get("/admin/users?limit=200", Some(&admin)).await.json().await.unwrap();
    assert_eq!(page["next_cursor"], Value::Null);
}

async fn an_admin_reads_one_user_and_unknown_ids_are_not_found(app: TestApp) {
    let admin = admin_token(&app).await;
    let alice = app.access_token("alice").await;
    let id = id_of(&app, &alice).await;
    let user: Value = app.get(&format!("/admin/users/{id}"), Some(&admin)).await.json().await.unwrap();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["role"], "user");
    assert_eq!(user["disabled"], false);
    assert!(user.get("password_hash").is_none());
    let unknown = uuid::Uuid::now_v7();
    assert_problem(app.get(&format!("/admin/users/{unknown}"), Some(&admin)).await, 404, "not_found").await;
    assert_problem(app.get("/admin/users/not-an-id", Some(&admin)).await, 404, "not_found").await;
    assert_problem(patch(&app, &admin, &unknown.to_string(), &json!({"disabled": true})).await, 404, "not_found").await;
    assert_problem(delete(&app, &admin, &unknown.to_string()).await, 404, "not_found").await;
}

async fn promoting_a_user_revokes_their_sessions_and_the_new_login_is_admin(app: TestApp) {
    let admin = admin_token(&app).await;
    let alice = app.signed_in("alice").await;
    let token = alice["access_token"].as_str().unwrap();
    let id = id_of(&app, token).await;
    let res = patch(&app, &admin, &id, &json!({"role": "admin"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "admin");
    assert_problem(app.get("/auth/protected", Some(token)).await, 401, "token_revoked").await;
    assert_problem(app.refresh(alice["refresh_token"].as_str().unwrap()).await, 401, "invalid_refresh_token").await;
    let again = app.logged_in("alice").await;
    assert_eq!(app.get("/auth/admin", Some(again["access_token"].as_str().unwrap())).await.status(), 200);
}

async fn a_disabled_user_is_logged_out_and_cannot_log_in(app: TestApp) {
    let admin = admin_token(&app).await;
    let alice = app.signed_in("alice").await;
    let token = alice["access_token"].as_str().unwrap();
    let id = id_of(&app, token).await;
    let res = patch(&app, &admin, &id, &json!({"disabled": true})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["disabled"], true);
    assert_problem(app.get("/auth/protected", Some(token)).await, 401, "token_revoked").await;
    assert_problem(app.login("alice", "alice has a long password").await, 403, "account_disabled").await;
    assert_problem(app.login("alice", "a wrong password!").await, 401, "invalid_credentials").await;
    assert_eq!(patch(&app, &admin, &id, &json!({"disabled": false})).await.status(), 200);
    assert_eq!(app.login("alice", "alice has a long password").await.status(), 200);
}

async fn a_deleted_user_is_logged_out_and_gone(app: TestApp) {
    let admin = admin_token(&app).await;
    let alice = app.signed_in("alice").await;
    let token = alice["access_token"].as_str().unwrap();
    let id = id_of(&app, token).await;
    assert_eq!(delete(&app, &admin, &id).await.status(), 204);
    assert_problem(app.get("/auth/protected", Some(token)).await, 401, "token_revoked").await;
    assert_problem(app.refresh(alice["refresh_token"].as_str().unwrap()).await, 401, "invalid_refresh_token").await;
    assert_problem(app.login("alice", "alice has a long password").await, 401, "invalid_credentials").await;
    assert_problem(app.get(&format!("/admin/users/{id}"), Some(&admin)).await, 404, "not_found").await;
    // The name is free again.
    assert_eq!(app.register("alice", "correct horse battery staple").await.status(), 201);
}

async fn the_last_admin_can_be_neither_demoted_disabled_nor_deleted(app: TestApp) {
    let admin = admin_token(&app).await;
    let id = id_of(&app, &admin).await;
    assert_problem(patch(&app, &admin, &id, &json!({"role": "user"})).await, 409, "last_admin").await;
    assert_problem(patch(&app, &admin, &id, &json!({"disabled": true})).await, 409, "last_admin").await;
    assert_problem(delete(&app, &admin, &id).await, 409, "last_admin").await;
    // Nothing changed, and the refusal did not log the admin out.
    assert_eq!(app.get("/auth/admin", Some(&admin)).await.status(), 200);
    // With a second admin, the first may step down.
    app.create_user("second", "another admin password", Role::Admin).await;
    assert_eq!(patch(&app, &admin, &id, &json!({"role": "user"})).await.status(), 200);
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(app: TestApp) {
    app.create_user("ann", "ann's long admin password", Role::Admin).await;
    app.create_user("ben", "ben's long admin password", Role::Admin).await;
    let login = |name: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.login(name, password).await.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let ann = login("ann", "ann's long admin password").await;
    let ben = login("ben", "ben's long admin password").await;
    let (ann_id, ben_id) = (id_of(&app, &ann).await, id_of(&app, &ben).await);
    let demote = json!({"role": "user"});
    let (a, b) = tokio::join!(patch(&app, &ann, &ben_id, &demote), patch(&app, &ben, &ann_id, &demote));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    // One demotion wins. The other is refused as the last admin, or (if the
    // winner's revocation landed first) as a revoked token.
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert!(statuses[1] == 409 || statuses[1] == 401, "{statuses:?}");
    let root = app.create_user("root", "a long admin password", Role::Admin).await;
    let token = login("root", "a long admin password").await;
    let page: Value = app.get("/admin/users", Some(&token)).await.json().await.unwrap();
    let admins: Vec<&Value> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["id"] != root.id.to_string())
        .collect();
    assert_eq!(admins.len(), 1, "{page}");
}

async fn a_patch_needs_a_valid_role_or_disabled_flag(app: TestApp) {
    let admin = admin_token(&app).await;
    let alice = app.access_token("alice").await;
    let id = id_of(&app, &alice).await;
    for body in [json!({}), json!({"role": "root"}), json!({"disabled": "yes"}), json!({"role": 1})] {
        assert_problem(patch(&app, &admin, &id, &body).await, 400, "validation_failed").await;
    }
    assert_eq!(app.get("/auth/protected", Some(&alice)).await.status(), 200, "a refused change revokes nothing");
}
