//! The audit trail over HTTP: every action the contract lists is recorded
//! with who, whom, from where and how it ended; the chain survives
//! concurrency; and the verifier catches a row edited behind its back.

use gatehouse_domain::Role;
use serde_json::{Value, json};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    every_account_and_session_action_is_in_the_audit_trail,
    only_admins_read_the_audit_trail_which_pages_newest_first,
    concurrent_logins_keep_the_audit_chain_intact,
    the_verifier_catches_an_audit_row_edited_in_the_database,
);

async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", "a long admin password", Role::Admin).await;
    let res: Value = app.login("root", "a long admin password").await.json().await.unwrap();
    res["access_token"].as_str().unwrap().to_owned()
}

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let res = app.get(&format!("/admin/audit?{query}"), Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["events"].as_array().unwrap().clone()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn every_account_and_session_action_is_in_the_audit_trail(app: TestApp) {
    let admin = admin_token(&app).await;
    let a = app.signed_in("alice").await;
    let id = app.get("/auth/me", Some(str_of(&a, "access_token"))).await.json::<Value>().await.unwrap()["id"].clone();
    let id = id.as_str().unwrap().to_owned();
    assert_eq!(app.login("alice", "not the password").await.status(), 401);
    let b = app.logged_in("alice").await;
    let b2: Value = app.refresh(str_of(&b, "refresh_token")).await.json().await.unwrap();
    app.refresh(str_of(&b2, "refresh_token")).await;
    // Two rotations old: reuse, which revokes session b.
    assert_eq!(app.refresh(str_of(&b, "refresh_token")).await.status(), 401);
    let change = json!({"current_password": "alice has a long password", "new_password": "a brand new passphrase"});
    assert_eq!(app.post_json_as("/auth/password", str_of(&a, "access_token"), &change).await.status(), 204);
    assert_eq!(app.logout(str_of(&a, "access_token"), Some("global")).await.status(), 204);
    let patch = |body: Value| {
        let req = app.client.patch(app.url(&format!("/admin/users/{id}"))).bearer_auth(&admin).json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(patch(json!({"role": "admin"})).await, 200);
    assert_eq!(patch(json!({"disabled": true})).await, 200);
    let deleted = app.client.delete(app.url(&format!("/admin/users/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(deleted.status(), 204);

    let mut trail = events(&app, &admin, &format!("user_id={id}&limit=200")).await;
    trail.reverse();
    let actions: Vec<(&str, &str)> = trail.iter().map(|e| (str_of(e, "action"), str_of(e, "outcome"))).collect();
    assert_eq!(
        actions,
        [
            ("register", "success"),
            ("login", "success"),
            ("login", "failure"),
            ("login", "success"),
            ("refresh", "success"),
            ("refresh", "success"),
            ("refresh_reuse", "failure"),
            ("password_change", "success"),
            ("logout", "success"),
            ("role_change", "success"),
            ("disable", "success"),
            ("delete", "success"),
        ]
    );
    for e in &trail {
        assert_eq!(e["subject_id"], id.as_str(), "{e}");
        assert!(e["seq"].as_u64().is_some() && e["hash"].as_str().is_some_and(|h| h.len() == 64), "{e}");
        assert!(
            time::OffsetDateTime::parse(str_of(e, "occurred_at"), &time::format_description::well_known::Rfc3339)
                .is_ok()
        );
    }
    assert_eq!(trail[0]["client"], "127.0.0.1");
    assert_eq!(trail[2]["detail"], "wrong_password");
    assert_eq!(trail[8]["detail"], "scope=global");
    assert_eq!(trail[8]["actor_id"], id.as_str());
    let root_id = &trail[9]["actor_id"];
    assert!(root_id.is_string() && *root_id != id.as_str(), "an admin acted: {root_id}");
    assert_eq!(trail[9]["detail"], "role=admin");
    // Failed logins of unknown users are recorded too, with no subject.
    assert_eq!(app.login("nobody", "whatever password").await.status(), 401);
    let newest = &events(&app, &admin, "limit=1").await[0];
    assert_eq!(
        (str_of(newest, "action"), str_of(newest, "outcome"), str_of(newest, "detail")),
        ("login", "failure", "unknown_user")
    );
    assert_eq!(newest["subject_id"], Value::Null);
    assert_eq!(app.verify_audit().await.first_break, None);
}

async fn only_admins_read_the_audit_trail_which_pages_newest_first(app: TestApp) {
    let user = app.access_token("alice").await;
    assert_problem(app.get("/admin/audit", Some(&user)).await, 403, "insufficient_role").await;
    let admin = admin_token(&app).await;
    for i in 0..4 {
        assert_eq!(app.login("alice", &format!("wrong password {i}")).await.status(), 401);
    }
    let all = events(&app, &admin, "limit=200").await;
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "newest first, no gaps: {seqs:?}");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map_or("limit=3".to_owned(), |c| format!("limit=3&cursor={c}"));
        let page: Value = app.get(&format!("/admin/audit?{query}"), Some(&admin)).await.json().await.unwrap();
        paged.extend(page["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, seqs);
    for query in ["limit=0", "limit=201", "cursor=abc", "user_id=not-a-uuid"] {
        assert_problem(app.get(&format!("/admin/audit?{query}"), Some(&admin)).await, 400, "validation_failed").await;
    }
}

async fn concurrent_logins_keep_the_audit_chain_intact(app: TestApp) {
    for i in 0..10 {
        app.register(&format!("user{i}"), "correct horse battery staple").await;
    }
    let app = std::sync::Arc::new(app);
    let logins: Vec<_> = (0..20)
        .map(|i| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move {
                let password = if i % 2 == 0 { "correct horse battery staple" } else { "a wrong password!" };
                app.login(&format!("user{}", i % 10), password).await.status().as_u16()
            })
        })
        .collect();
    let mut recorded = 0;
    for login in logins {
        match login.await.unwrap() {
            200 | 401 => recorded += 1,
            // Ten failures from one address trip the address throttle;
            // throttled attempts are refused before anything is recorded.
            429 => {}
            other => panic!("login answered {other}"),
        }
    }
    let report = app.verify_audit().await;
    assert_eq!(report.first_break, None);
    assert_eq!(report.checked, 10 + recorded, "10 registrations and every evaluated login, each recorded once");
}

async fn the_verifier_catches_an_audit_row_edited_in_the_database(app: TestApp) {
    for name in ["alice", "bob", "carol"] {
        app.signed_in(name).await;
    }
    let Some(db) = app.database() else {
        // The in-memory trail has no database to edit; its tampering rules
        // are in the contract suite.
        return;
    };
    assert!(gatehouse_api::cli::verify_audit(&app.settings).await.is_ok());
    db.execute_unprepared("UPDATE audit_events SET client = '6.6.6.6' WHERE seq = 2").await.unwrap();
    let err = gatehouse_api::cli::verify_audit(&app.settings).await.unwrap_err().to_string();
    assert_eq!(err, "audit chain broken: event 2 was altered (1 events before it verified)");
    db.execute_unprepared("DELETE FROM audit_events WHERE seq = 2").await.unwrap();
    let err = gatehouse_api::cli::verify_audit(&app.settings).await.unwrap_err().to_string();
    assert!(err.starts_with("audit chain broken: event 2 is missing"), "{err}");
}
