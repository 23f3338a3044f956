//! Passkeys over HTTP, driven by a software authenticator (see
//! `gatehouse_test_support::authenticator`): registration and `excludeCredentials`,
//! passwordless sign-in, a passkey as the second factor, what the relying
//! party refuses (another origin, another RP id, a replayed ceremony, an
//! unknown credential, a counter that goes back), deletion, the admin
//! reset, disabled users, and ceremonies that cross instances.

use gatehouse_domain::Role;
use reqwest::Response;
use serde_json::{Value, json};

use gatehouse_test_support::authenticator::{Browser, Refused};

use crate::{
    http::tokens::claims,
    support::app::{TestApp, assert_problem, http_tests},
};

http_tests!(
    registering_a_first_passkey_turns_mfa_on_with_recovery_codes_and_ends_other_sessions,
    a_second_registration_excludes_the_passkeys_already_registered,
    a_passkey_signs_in_without_a_username_or_password,
    a_passkey_completes_a_password_login_as_the_second_factor,
    a_credential_made_on_another_origin_is_refused,
    a_credential_made_for_another_rp_id_is_refused,
    a_finished_ceremony_cannot_be_replayed,
    an_unknown_credential_cannot_sign_in,
    a_sign_count_that_goes_backwards_is_refused_and_audited,
    deleting_the_last_passkey_turns_mfa_off_and_another_users_passkey_is_not_found,
    an_admin_reset_removes_the_users_passkeys,
    a_disabled_user_cannot_sign_in_with_a_passkey,
    a_ceremony_started_on_one_instance_finishes_on_another,
    bad_passkey_requests_get_clear_errors,
);

http_tests!(
    with [("security.reauth_max_age_seconds", "1")]:
    registering_and_deleting_passkeys_needs_a_recent_sign_in
);

const ORIGIN: &str = "http://localhost:8080";

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn password(username: &str) -> String {
    format!("{username} has a long password")
}

async fn json_of(res: Response, status: u16) -> Value {
    let code = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(code, status, "{body}");
    body
}

async fn start_registration(app: &TestApp, token: &str) -> Value {
    json_of(app.post_json_as("/auth/passkeys/register/start", token, &json!({})).await, 200).await
}

async fn finish_registration(app: &TestApp, token: &str, ceremony: &Value, credential: &Value) -> Response {
    let body = json!({"ceremony_id": ceremony["ceremony_id"], "name": "laptop", "credential": credential});
    app.post_json_as("/auth/passkeys/register/finish", token, &body).await
}

/// Registers a passkey of `browser` for the holder of `token`; returns the
/// 201 body.
async fn register(app: &TestApp, token: &str, browser: &mut Browser) -> Value {
    let ceremony = start_registration(app, token).await;
    let credential = browser.create(&ceremony["options"]).expect("the browser creates a credential");
    json_of(finish_registration(app, token, &ceremony, &credential).await, 201).await
}

/// A new user `name` with a passkey in a new browser: their access token
/// (a new session, signed in with the passkey) and the browser.
async fn user_with_passkey(app: &TestApp, name: &str) -> (String, Browser) {
    let token = app.access_token(name).await;
    let mut browser = Browser::on(ORIGIN);
    register(app, &token, &mut browser).await;
    let session = json_of(sign_in(app, &mut browser).await, 200).await;
    (str_of(&session, "access_token").to_owned(), browser)
}

async fn start_sign_in(app: &TestApp) -> Value {
    json_of(app.post_json("/auth/passkeys/login/start", &json!({})).await, 200).await
}

/// A passwordless sign-in with `browser`, start to finish.
async fn sign_in(app: &TestApp, browser: &mut Browser) -> Response {
    let ceremony = start_sign_in(app).await;
    let credential = browser.get(&ceremony["options"]).expect("the browser signs");
    finish_sign_in(app, &ceremony, &credential).await
}

async fn finish_sign_in(app: &TestApp, ceremony: &Value, credential: &Value) -> Response {
    app.post_json(
        "/auth/passkeys/login/finish",
        &json!({"ceremony_id": ceremony["ceremony_id"], "credential": credential}),
    )
    .await
}

async fn mfa_status(app: &TestApp, token: &str) -> Value {
    json_of(app.get("/auth/mfa", Some(token)).await, 200).await
}

async fn passkeys(app: &TestApp, token: &str) -> Vec<Value> {
    json_of(app.get("/auth/passkeys", Some(token)).await, 200).await["passkeys"].as_array().unwrap().clone()
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Response {
    app.client.delete(app.url(&format!("/auth/passkeys/{id}"))).bearer_auth(token).send().await.unwrap()
}

fn amr(token: &str) -> Vec<String> {
    claims(token)["amr"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Asserts no member anywhere in `value` is `null`.
fn assert_no_nulls(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::Object(members) => members.iter().for_each(|(k, v)| assert_no_nulls(v, &format!("{path}.{k}"))),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| assert_no_nulls(v, &format!("{path}[{i}]"))),
        _ => {}
    }
}

async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", &password("root"), Role::Admin).await;
    str_of(&app.logged_in("root").await, "access_token").to_owned()
}

async fn audit_actions(app: &TestApp, admin: &str) -> Vec<String> {
    let page = json_of(app.get("/admin/audit?limit=100", Some(admin)).await, 200).await;
    page["events"].as_array().unwrap().iter().map(|e| str_of(e, "action").to_owned()).collect()
}

async fn registering_a_first_passkey_turns_mfa_on_with_recovery_codes_and_ends_other_sessions(app: TestApp) {
    let other = app.signed_in("alice").await;
    let token = str_of(&app.logged_in("alice").await, "access_token").to_owned();
    let ceremony = start_registration(&app, &token).await;
    assert_no_nulls(&ceremony, "");
    let options = &ceremony["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["rp"]["name"], "Gatehouse");
    assert_eq!(options["user"]["name"], "alice");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["excludeCredentials"], json!([]), "{options}");

    let mut browser = Browser::on(ORIGIN);
    let credential = browser.create(&ceremony["options"]).unwrap();
    let res = finish_registration(&app, &token, &ceremony, &credential).await;
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let passkey = json_of(res, 201).await;
    assert_eq!(passkey["name"], "laptop");
    assert!(passkey["created_at"].is_string() && passkey["last_used_at"].is_null(), "{passkey}");
    assert_eq!(passkey["recovery_codes"].as_array().unwrap().len(), 10, "{passkey}");

    assert_eq!(
        mfa_status(&app, &token).await,
        json!({"totp": {"enabled": false}, "passkeys": 1, "recovery_codes": {"remaining": 10}})
    );
    let listed = passkeys(&app, &token).await;
    assert_eq!(
        listed,
        [json!({"id": passkey["id"], "name": "laptop", "created_at": passkey["created_at"], "last_used_at": null})]
    );
    assert_problem(app.get("/auth/me", Some(str_of(&other, "access_token"))).await, 401, "token_revoked").await;
    assert_eq!(app.refresh(str_of(&other, "refresh_token")).await.status(), 401);
    assert_eq!(app.get("/auth/me", Some(&token)).await.status(), 200, "the registering session stays");

    let login = json_of(app.login("alice", &password("alice")).await, 200).await;
    assert_eq!(login["mfa_required"], true, "a password alone no longer signs in: {login}");
}

async fn a_second_registration_excludes_the_passkeys_already_registered(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut laptop = Browser::on(ORIGIN);
    register(&app, &token, &mut laptop).await;

    let ceremony = start_registration(&app, &token).await;
    let excluded: Vec<&str> = ceremony["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, [laptop.credential_id()]);
    assert_eq!(laptop.create(&ceremony["options"]), Err(Refused::InvalidState), "the same authenticator twice");

    let mut phone = Browser::on(ORIGIN);
    let credential = phone.create(&ceremony["options"]).unwrap();
    let second = json_of(finish_registration(&app, &token, &ceremony, &credential).await, 201).await;
    assert!(second.get("recovery_codes").is_none(), "MFA was on already: {second}");
    assert_eq!(passkeys(&app, &token).await.len(), 2);
    assert_eq!(mfa_status(&app, &token).await["recovery_codes"]["remaining"], 10, "the first set stays");
}

async fn a_passkey_signs_in_without_a_username_or_password(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    let passkey = register(&app, &token, &mut browser).await;

    let ceremony = start_sign_in(&app).await;
    assert_no_nulls(&ceremony, "");
    let options = &ceremony["options"]["publicKey"];
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["rpId"], "localhost");
    assert!(options["allowCredentials"].as_array().is_none_or(Vec::is_empty), "{options}");
    let credential = browser.get(&ceremony["options"]).unwrap();
    let res = finish_sign_in(&app, &ceremony, &credential).await;
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let session = json_of(res, 200).await;
    let access = str_of(&session, "access_token");
    let methods = amr(access);
    assert!(methods.contains(&"pop".to_owned()) && methods.contains(&"mfa".to_owned()), "{methods:?}");
    assert!(!methods.contains(&"pwd".to_owned()), "{methods:?}");
    let me = json_of(app.get("/auth/me", Some(access)).await, 200).await;
    assert_eq!(me["username"], "alice");
    let refreshed = json_of(app.refresh(str_of(&session, "refresh_token")).await, 200).await;
    assert_eq!(amr(str_of(&refreshed, "access_token")), methods, "a refresh keeps the amr");

    let listed = passkeys(&app, access).await;
    assert_eq!(listed[0]["id"], passkey["id"]);
    assert!(listed[0]["last_used_at"].is_string(), "{listed:?}");
    let again = json_of(sign_in(&app, &mut browser).await, 200).await;
    assert!(again["access_token"].is_string(), "the counter grew: a second sign-in works");
}

async fn a_passkey_completes_a_password_login_as_the_second_factor(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    register(&app, &token, &mut browser).await;

    let login = json_of(app.login("alice", &password("alice")).await, 200).await;
    assert_eq!(login["mfa_required"], true);
    assert_eq!(login["methods"], json!(["passkey", "recovery_code"]));
    assert_no_nulls(&login, "");
    let options = &login["passkey_options"]["publicKey"];
    assert_eq!(options["userVerification"], "required");
    let allowed: Vec<&str> =
        options["allowCredentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(allowed, [browser.credential_id()], "limited to the user's passkeys");

    let credential = browser.get(&login["passkey_options"]).unwrap();
    let body = json!({"mfa_token": login["mfa_token"], "passkey": credential});
    let session = json_of(app.post_json("/auth/login/mfa", &body).await, 200).await;
    let methods = amr(str_of(&session, "access_token"));
    for value in ["pwd", "pop", "mfa"] {
        assert!(methods.contains(&value.to_owned()), "{value} in {methods:?}");
    }
    assert_problem(app.post_json("/auth/login/mfa", &body).await, 401, "invalid_mfa_token").await;

    // The options of one login answer once: a wrong passkey spends them.
    let login = json_of(app.login("alice", &password("alice")).await, 200).await;
    let mut stranger = Browser::on(ORIGIN);
    register(&app, &app.access_token("bob").await, &mut stranger).await;
    let bobs = stranger.get(&start_sign_in(&app).await["options"]).unwrap();
    let body = json!({"mfa_token": login["mfa_token"], "passkey": bobs});
    assert_problem(app.post_json("/auth/login/mfa", &body).await, 401, "invalid_credentials").await;
    let credential = browser.get(&login["passkey_options"]).unwrap();
    let body = json!({"mfa_token": login["mfa_token"], "passkey": credential});
    assert_problem(app.post_json("/auth/login/mfa", &body).await, 401, "invalid_credentials").await;
}

async fn a_credential_made_on_another_origin_is_refused(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut phished = Browser::on("http://evil.localhost:8080");
    let ceremony = start_registration(&app, &token).await;
    let credential = phished.create(&ceremony["options"]).unwrap();
    let body =
        assert_problem(finish_registration(&app, &token, &ceremony, &credential).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credential", "{body}");
    assert_eq!(passkeys(&app, &token).await.len(), 0);

    let mut browser = Browser::on(ORIGIN);
    register(&app, &token, &mut browser).await;
    browser.move_to("http://evil.localhost:8080");
    assert_problem(sign_in(&app, &mut browser).await, 401, "invalid_credentials").await;
    browser.move_to(ORIGIN);
    assert_eq!(sign_in(&app, &mut browser).await.status(), 200);
}

async fn a_credential_made_for_another_rp_id_is_refused(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    browser.forged_rp_id = Some("example.com".into());
    let ceremony = start_registration(&app, &token).await;
    let credential = browser.create(&ceremony["options"]).unwrap();
    let body =
        assert_problem(finish_registration(&app, &token, &ceremony, &credential).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credential", "{body}");

    let mut honest = Browser::on(ORIGIN);
    register(&app, &token, &mut honest).await;
    honest.forged_rp_id = Some("example.com".into());
    // The soft token keys its credentials by id, not RP id: it signs, for
    // the wrong RP id.
    let ceremony = start_sign_in(&app).await;
    let credential = honest.get(&ceremony["options"]).unwrap();
    assert_problem(finish_sign_in(&app, &ceremony, &credential).await, 401, "invalid_credentials").await;
}

async fn a_finished_ceremony_cannot_be_replayed(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    let ceremony = start_registration(&app, &token).await;
    let credential = browser.create(&ceremony["options"]).unwrap();
    assert_eq!(finish_registration(&app, &token, &ceremony, &credential).await.status(), 201);
    let body =
        assert_problem(finish_registration(&app, &token, &ceremony, &credential).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credential");
    let unknown = json!({"ceremony_id": "0".repeat(64)});
    let body =
        assert_problem(finish_registration(&app, &token, &unknown, &credential).await, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credential");

    let ceremony = start_sign_in(&app).await;
    let credential = browser.get(&ceremony["options"]).unwrap();
    assert_eq!(finish_sign_in(&app, &ceremony, &credential).await.status(), 200);
    assert_problem(finish_sign_in(&app, &ceremony, &credential).await, 401, "invalid_credentials").await;
    assert_problem(finish_sign_in(&app, &unknown, &credential).await, 401, "invalid_credentials").await;
    // Nor does a fresh ceremony accept an assertion signed for another.
    let fresh = start_sign_in(&app).await;
    assert_problem(finish_sign_in(&app, &fresh, &credential).await, 401, "invalid_credentials").await;
}

async fn an_unknown_credential_cannot_sign_in(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    // Created for alice's ceremony, never finished: the server never saw it.
    let ceremony = start_registration(&app, &token).await;
    browser.create(&ceremony["options"]).unwrap();
    assert_problem(sign_in(&app, &mut browser).await, 401, "invalid_credentials").await;
}

async fn a_sign_count_that_goes_backwards_is_refused_and_audited(app: TestApp) {
    let admin = admin_token(&app).await;
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    register(&app, &token, &mut browser).await;
    let clone = browser.snapshot();
    assert_eq!(sign_in(&app, &mut browser).await.status(), 200);
    assert_eq!(sign_in(&app, &mut browser).await.status(), 200);

    browser.restore(&clone);
    assert_problem(sign_in(&app, &mut browser).await, 401, "invalid_credentials").await;
    assert!(audit_actions(&app, &admin).await.contains(&"passkey_sign_count_regressed".to_owned()));
    // Once the clone's counter has passed the stored one, it signs again:
    // the count is a signal, the key is still the user's.
    assert_problem(sign_in(&app, &mut browser).await, 401, "invalid_credentials").await;
    assert_eq!(sign_in(&app, &mut browser).await.status(), 200);
}

async fn deleting_the_last_passkey_turns_mfa_off_and_another_users_passkey_is_not_found(app: TestApp) {
    let (token, mut browser) = user_with_passkey(&app, "alice").await;
    let (bob, _) = user_with_passkey(&app, "bob").await;
    let alices = passkeys(&app, &token).await;
    let id = str_of(&alices[0], "id");
    let bobs = passkeys(&app, &bob).await;

    assert_problem(delete(&app, &token, str_of(&bobs[0], "id")).await, 404, "not_found").await;
    assert_problem(delete(&app, &token, "not-a-uuid").await, 404, "not_found").await;
    assert_eq!(delete(&app, &token, id).await.status(), 204);
    assert_problem(delete(&app, &token, id).await, 404, "not_found").await;
    assert_eq!(
        mfa_status(&app, &token).await,
        json!({"totp": {"enabled": false}, "passkeys": 0, "recovery_codes": {"remaining": 0}})
    );
    assert!(passkeys(&app, &token).await.is_empty());
    assert_eq!(passkeys(&app, &bob).await.len(), 1, "bob's stays");
    assert_problem(sign_in(&app, &mut browser).await, 401, "invalid_credentials").await;
    let login = json_of(app.login("alice", &password("alice")).await, 200).await;
    assert!(login["access_token"].is_string(), "a password signs in again: {login}");
}

async fn an_admin_reset_removes_the_users_passkeys(app: TestApp) {
    let admin = admin_token(&app).await;
    let (token, mut browser) = user_with_passkey(&app, "alice").await;
    let id = str_of(&json_of(app.get("/auth/me", Some(&token)).await, 200).await, "id").to_owned();
    let res = app.client.delete(app.url(&format!("/admin/users/{id}/mfa"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get("/auth/me", Some(&token)).await.status(), 401, "the user's sessions end");
    assert_problem(sign_in(&app, &mut browser).await, 401, "invalid_credentials").await;
    let login = json_of(app.login("alice", &password("alice")).await, 200).await;
    let token = str_of(&login, "access_token");
    assert!(passkeys(&app, token).await.is_empty());
    assert_eq!(mfa_status(&app, token).await["recovery_codes"]["remaining"], 0);
}

async fn a_disabled_user_cannot_sign_in_with_a_passkey(app: TestApp) {
    let admin = admin_token(&app).await;
    let (token, mut browser) = user_with_passkey(&app, "alice").await;
    let id = str_of(&json_of(app.get("/auth/me", Some(&token)).await, 200).await, "id").to_owned();
    let res = app
        .client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_problem(sign_in(&app, &mut browser).await, 403, "account_disabled").await;
}

async fn a_ceremony_started_on_one_instance_finishes_on_another(app: TestApp) {
    let other = app.another_instance(|_| {}).await;
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    let ceremony = start_registration(&app, &token).await;
    let credential = browser.create(&ceremony["options"]).unwrap();
    assert_eq!(finish_registration(&other, &token, &ceremony, &credential).await.status(), 201);

    let ceremony = start_sign_in(&other).await;
    let credential = browser.get(&ceremony["options"]).unwrap();
    assert_eq!(finish_sign_in(&app, &ceremony, &credential).await.status(), 200);
    assert_problem(finish_sign_in(&other, &ceremony, &credential).await, 401, "invalid_credentials").await;
}

async fn post_finish(app: &TestApp, token: &str, body: &Value) -> Response {
    app.post_json_as("/auth/passkeys/register/finish", token, body).await
}

async fn bad_passkey_requests_get_clear_errors(app: TestApp) {
    let token = app.access_token("alice").await;
    let ceremony = start_registration(&app, &token).await;
    let id = &ceremony["ceremony_id"];
    for (body, field) in [
        (json!({"ceremony_id": id}), "credential"),
        (json!({"ceremony_id": id, "credential": "x"}), "credential"),
        (json!({"credential": {}}), "ceremony_id"),
        (json!({"ceremony_id": id, "name": "  ", "credential": {"id": "x"}}), "name"),
        (json!({"ceremony_id": id, "name": "k".repeat(65), "credential": {"id": "x"}}), "name"),
    ] {
        let problem = assert_problem(post_finish(&app, &token, &body).await, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    // None of those spent the ceremony: it still registers.
    let mut browser = Browser::on(ORIGIN);
    let credential = browser.create(&ceremony["options"]).unwrap();
    assert_eq!(finish_registration(&app, &token, &ceremony, &credential).await.status(), 201);

    let fresh = start_registration(&app, &token).await;
    let garbage = json!({"ceremony_id": fresh["ceremony_id"], "credential": {"id": "garbage", "response": {}}});
    let problem = assert_problem(post_finish(&app, &token, &garbage).await, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "credential");

    for garbage in [json!({}), json!({"id": "x", "rawId": "!!", "response": {}, "type": "public-key"})] {
        let sign_in = start_sign_in(&app).await;
        let body = json!({"ceremony_id": sign_in["ceremony_id"], "credential": garbage});
        assert_problem(app.post_json("/auth/passkeys/login/finish", &body).await, 401, "invalid_credentials").await;
    }
    let body = json!({"credential": {}});
    assert_problem(app.post_json("/auth/passkeys/login/finish", &body).await, 400, "validation_failed").await;
    let res = app.post_json("/auth/login/mfa", &json!({"mfa_token": "x", "passkey": "not an object"})).await;
    assert_problem(res, 400, "validation_failed").await;
    assert_problem(app.post_json("/auth/passkeys/register/start", &json!({})).await, 401, "missing_token").await;
    assert_problem(app.get("/auth/passkeys", None).await, 401, "missing_token").await;
}

async fn registering_and_deleting_passkeys_needs_a_recent_sign_in(app: TestApp) {
    let token = app.access_token("alice").await;
    let mut browser = Browser::on(ORIGIN);
    let passkey = register(&app, &token, &mut browser).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_problem(
        app.post_json_as("/auth/passkeys/register/start", &token, &json!({})).await,
        403,
        "reauthentication_required",
    )
    .await;
    assert_problem(delete(&app, &token, str_of(&passkey, "id")).await, 403, "reauthentication_required").await;
    assert_eq!(app.get("/auth/passkeys", Some(&token)).await.status(), 200, "listing needs no recent sign-in");
    let fresh = json_of(sign_in(&app, &mut browser).await, 200).await;
    assert_eq!(delete(&app, str_of(&fresh, "access_token"), str_of(&passkey, "id")).await.status(), 204);
}
