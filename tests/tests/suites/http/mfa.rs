//! Second factors over HTTP: TOTP enrolment and confirmation, the two-step
//! login, recovery codes, recent authentication, the `amr`/`auth_time`
//! claims, the admin MFA policy and reset, and secrets sealed at rest.
//!
//! TOTP codes are computed here from the enrolment's secret (RFC 6238,
//! SHA-1, 6 digits, 30 s). The server accepts the current step and one on
//! either side, each step at most once per user and only ever later steps:
//! [`Totp`] hands out the earliest step still acceptable, so a user gets
//! about three codes per 30 s without sleeping.

use std::{
    collections::HashSet,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::STANDARD};
use data_encoding::BASE32_NOPAD;
use gatehouse_domain::Role;
use reqwest::Response;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    http::tokens::claims,
    support::app::{TestApp, assert_problem, http_tests},
};

http_tests!(
    enrolling_totp_gives_a_secret_and_turns_mfa_on_only_after_a_right_code,
    with_totp_on_the_right_password_asks_for_a_second_factor,
    a_totp_code_completes_the_login_once,
    an_unknown_mfa_token_is_refused,
    a_recovery_code_completes_the_login_once,
    regenerated_recovery_codes_replace_the_old_ones_and_disabling_totp_restores_password_logins,
    turning_mfa_on_ends_the_users_other_sessions,
    tokens_say_how_and_when_the_user_signed_in,
    an_admin_can_reset_a_users_second_factors,
    the_totp_secret_is_not_stored_in_clear,
);

// The username's throttle counts every wrong code, so under the default
// limit (5, including the pending login's own slot) the throttle answers
// before the fifth wrong code can reach the mfa_token.
http_tests!(with [("rate_limit.login_failures", "100")]: five_wrong_codes_end_the_mfa_token);

http_tests!(
    with [("security.reauth_max_age_seconds", "1")]:
    changing_second_factors_needs_a_recent_sign_in
);

http_tests!(
    with [("mfa.required_for_admin", "true")]:
    with_mfa_required_for_admins_an_admin_needs_a_second_factor
);

const METHODS: [&str; 2] = ["totp", "recovery_code"];

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn password(username: &str) -> String {
    format!("{username} has a long password")
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// An authenticator app: RFC 6238 codes of one secret, each step handed out
/// once and in increasing order, as the server accepts them.
struct Totp {
    key: Vec<u8>,
    base32: String,
    last: Option<u64>,
}

impl Totp {
    fn new(base32: &str) -> Self {
        let key = BASE32_NOPAD.decode(base32.as_bytes()).unwrap_or_else(|e| panic!("{base32} is not base32: {e}"));
        Self { key, base32: base32.to_owned(), last: None }
    }

    /// RFC 4226 HOTP of `step`, 6 digits.
    fn code_at(&self, step: u64) -> String {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.key), &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[19] & 0x0f);
        let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
        format!("{:06}", binary % 1_000_000)
    }

    /// The earliest step the server still accepts and has not seen from
    /// us; sleeps in the rare case that all three are used.
    async fn next_step(&self) -> u64 {
        loop {
            let now = unix_now();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let current = (now / 30.0) as u64;
            #[allow(clippy::cast_precision_loss)]
            let into = now - (current * 30) as f64;
            // The previous step only while the request surely lands
            // before the window moves on.
            let earliest = if into < 20.0 { current - 1 } else { current };
            let step = self.last.map_or(earliest, |last| earliest.max(last + 1));
            if step <= current + 1 {
                return step;
            }
            #[allow(clippy::cast_precision_loss)]
            let wait = ((step - 1) * 30) as f64 + 0.5 - now;
            tokio::time::sleep(Duration::from_secs_f64(wait.max(0.1))).await;
        }
    }

    /// A code the server would accept now, without using it up here.
    async fn peek(&self) -> String {
        self.code_at(self.next_step().await)
    }

    /// A code the server accepts now; it counts as used.
    async fn next(&mut self) -> String {
        let step = self.next_step().await;
        self.last = Some(step);
        self.code_at(step)
    }

    /// Whether `code` is this secret's code of any step near now.
    fn near(&self, code: &str) -> bool {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let current = (unix_now() / 30.0) as u64;
        (current - 3..=current + 3).any(|step| self.code_at(step) == code)
    }

    /// Six digits that are no code of any step near now.
    fn wrong(&self) -> String {
        (0..10).map(|d| d.to_string().repeat(6)).find(|c| !self.near(c)).unwrap()
    }
}

/// The test's own HOTP against RFC 4226 appendix D and RFC 6238 appendix B
/// (SHA-1), so that a failure below is never the test's arithmetic.
#[test]
fn the_test_authenticator_matches_the_rfc_vectors() {
    let rfc = Totp { key: b"12345678901234567890".to_vec(), base32: String::new(), last: None };
    assert_eq!(rfc.code_at(0), "755224");
    assert_eq!(rfc.code_at(9), "520489");
    assert_eq!(rfc.code_at(59 / 30), "287082");
    assert_eq!(rfc.code_at(1_111_111_109 / 30), "081804");
    assert_eq!(rfc.code_at(20_000_000_000 / 30), "353130");
}

async fn post_as(app: &TestApp, path: &str, token: &str) -> Response {
    app.client.post(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn delete_as(app: &TestApp, path: &str, token: &str) -> Response {
    app.client.delete(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn mfa_status(app: &TestApp, token: &str) -> Value {
    let res = app.get("/auth/mfa", Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `POST /auth/mfa/totp`: the enrolment body.
async fn start_totp(app: &TestApp, token: &str) -> Value {
    let res = post_as(app, "/auth/mfa/totp", token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Enrols and confirms TOTP with `token`; returns the authenticator and the
/// recovery codes.
async fn enable_totp(app: &TestApp, token: &str) -> (Totp, Vec<String>) {
    let enrolment = start_totp(app, token).await;
    let mut totp = Totp::new(str_of(&enrolment, "secret"));
    let res = app.post_json_as("/auth/mfa/totp/confirm", token, &json!({"code": totp.next().await})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let codes = body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (totp, codes)
}

/// A new user `username` with TOTP on: their authenticator, recovery codes
/// and the (password-only) session they enrolled with.
async fn enrolled(app: &TestApp, username: &str) -> (Totp, Vec<String>, Value) {
    let pair = app.signed_in(username).await;
    let (totp, codes) = enable_totp(app, str_of(&pair, "access_token")).await;
    (totp, codes, pair)
}

/// The first step of a login for a user with MFA on: its `mfa_token`.
async fn mfa_token(app: &TestApp, username: &str) -> String {
    let res = app.login(username, &password(username)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    str_of(&body, "mfa_token").to_owned()
}

async fn second_factor(app: &TestApp, body: &Value) -> Response {
    app.post_json("/auth/login/mfa", body).await
}

/// A full login with a TOTP code: the token pair.
async fn login_with_totp(app: &TestApp, username: &str, totp: &mut Totp) -> Value {
    let token = mfa_token(app, username).await;
    let res = second_factor(app, &json!({"mfa_token": token, "code": totp.next().await})).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The claims of `token`, verified by a third-party library with the JWKS.
async fn verified_claims(app: &TestApp, token: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["gatehouse"]);
    validation.set_audience(&["gatehouse"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("verifies with the JWKS").claims
}

async fn enrolling_totp_gives_a_secret_and_turns_mfa_on_only_after_a_right_code(app: TestApp) {
    let token = app.access_token("alice").await;
    let status = mfa_status(&app, &token).await;
    assert_eq!(status, json!({"totp": {"enabled": false}, "passkeys": 0, "recovery_codes": {"remaining": 0}}));
    // Nothing to confirm yet.
    let res = app.post_json_as("/auth/mfa/totp/confirm", &token, &json!({"code": "123456"})).await;
    assert_problem(res, 404, "not_found").await;

    let first = start_totp(&app, &token).await;
    let secret = str_of(&first, "secret");
    assert!(!secret.contains('='), "base32 without padding: {secret}");
    assert!(BASE32_NOPAD.decode(secret.as_bytes()).unwrap().len() >= 16, "at least 128 bits (RFC 4226)");
    assert_eq!(
        str_of(&first, "otpauth_uri"),
        format!("otpauth://totp/Gatehouse:alice?secret={secret}&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30")
    );
    let svg = str_of(&first, "qr_svg");
    assert!(svg.starts_with("<?xml") || svg.contains("<svg"), "{svg}");

    // Unconfirmed: nothing changes, and enrolling again replaces the secret.
    assert_eq!(mfa_status(&app, &token).await["totp"]["enabled"], false);
    assert!(app.logged_in("alice").await["access_token"].is_string(), "a password alone still signs in");
    let second = start_totp(&app, &token).await;
    assert_ne!(second["secret"], first["secret"]);
    let stale = Totp::new(secret);
    let mut totp = Totp::new(str_of(&second, "secret"));
    let res = app.post_json_as("/auth/mfa/totp/confirm", &token, &json!({"code": totp.wrong()})).await;
    let body = assert_problem(res, 400, "validation_failed").await;
    assert!(
        body["errors"].as_array().unwrap().iter().any(|e| e["field"] == "code" && e["code"] == "invalid_code"),
        "{body}"
    );
    let replaced = stale.peek().await;
    if !totp.near(&replaced) {
        let res = app.post_json_as("/auth/mfa/totp/confirm", &token, &json!({"code": replaced})).await;
        assert_problem(res, 400, "validation_failed").await;
    }
    assert_eq!(mfa_status(&app, &token).await["totp"]["enabled"], false);

    let res = app.post_json_as("/auth/mfa/totp/confirm", &token, &json!({"code": totp.next().await})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let codes: HashSet<&str> = body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10, "ten distinct recovery codes: {body}");
    assert!(codes.iter().all(|c| c.len() >= 10), "{body}");

    let status = mfa_status(&app, &token).await;
    assert_eq!(status, json!({"totp": {"enabled": true}, "passkeys": 0, "recovery_codes": {"remaining": 10}}));
    assert_problem(post_as(&app, "/auth/mfa/totp", &token).await, 409, "mfa_already_enabled").await;
}

async fn with_totp_on_the_right_password_asks_for_a_second_factor(app: TestApp) {
    enrolled(&app, "alice").await;
    let res = app.login("alice", &password("alice")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(str_of(&body, "mfa_token").len() >= 22, "an opaque token of enough entropy: {body}");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["methods"], json!(METHODS));
    for absent in ["access_token", "refresh_token", "token_type"] {
        assert!(body.get(absent).is_none(), "no session yet: {body}");
    }

    let body = assert_problem(app.login("alice", "a wrong password for alice").await, 401, "invalid_credentials").await;
    for absent in ["mfa_required", "mfa_token", "methods", "expires_in"] {
        assert!(body.get(absent).is_none(), "no hint about MFA: {body}");
    }
}

async fn a_totp_code_completes_the_login_once(app: TestApp) {
    let (mut totp, _, _) = enrolled(&app, "alice").await;
    let token = mfa_token(&app, "alice").await;
    let code = totp.next().await;
    let res = second_factor(&app, &json!({"mfa_token": token, "code": code})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let pair: Value = res.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["expires_in"].as_i64().unwrap() > 0 && pair["refresh_expires_in"].as_i64().unwrap() > 0);
    assert!(pair["refresh_token"].is_string(), "{pair}");
    let me: Value = app.get("/auth/me", Some(str_of(&pair, "access_token"))).await.json().await.unwrap();
    assert_eq!(me["username"], "alice");

    // The mfa_token is spent, even with a code that would be good.
    let res = second_factor(&app, &json!({"mfa_token": token, "code": totp.peek().await})).await;
    assert_problem(res, 401, "invalid_mfa_token").await;
    // The code is spent: a new login cannot replay it.
    let again = mfa_token(&app, "alice").await;
    let res = second_factor(&app, &json!({"mfa_token": again, "code": code})).await;
    assert_problem(res, 401, "invalid_credentials").await;
}

async fn five_wrong_codes_end_the_mfa_token(app: TestApp) {
    let (totp, _, _) = enrolled(&app, "alice").await;
    let token = mfa_token(&app, "alice").await;
    for _ in 0..5 {
        let res = second_factor(&app, &json!({"mfa_token": token, "code": totp.wrong()})).await;
        assert_problem(res, 401, "invalid_credentials").await;
    }
    let good = totp.peek().await;
    let res = second_factor(&app, &json!({"mfa_token": token, "code": good})).await;
    assert_problem(res, 401, "invalid_mfa_token").await;
    // The dead token burnt nothing: the same code completes a new login.
    let fresh = mfa_token(&app, "alice").await;
    assert_eq!(second_factor(&app, &json!({"mfa_token": fresh, "code": good})).await.status(), 200);
}

async fn an_unknown_mfa_token_is_refused(app: TestApp) {
    let (totp, codes, _) = enrolled(&app, "alice").await;
    let genuine = mfa_token(&app, "alice").await;
    let forged = if genuine.starts_with('0') { genuine.replacen('0', "1", 1) } else { format!("0{}", &genuine[1..]) };
    for token in [forged.as_str(), "not-a-token", "00"] {
        let res = second_factor(&app, &json!({"mfa_token": token, "code": totp.peek().await})).await;
        assert_problem(res, 401, "invalid_mfa_token").await;
        let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": codes[0]})).await;
        assert_problem(res, 401, "invalid_mfa_token").await;
    }
    // A body that does not say which factor it brings is refused before
    // anything is checked.
    for (body, code) in [
        (json!({"mfa_token": genuine}), "required"),
        (json!({"mfa_token": genuine, "code": null, "passkey": null}), "required"),
        (json!({"mfa_token": genuine, "code": "123456", "recovery_code": codes[0]}), "conflict"),
    ] {
        let problem = assert_problem(second_factor(&app, &body).await, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "code", "{body}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}");
    }
    // Nothing was used up meanwhile.
    assert_eq!(second_factor(&app, &json!({"mfa_token": genuine, "recovery_code": codes[0]})).await.status(), 200);
}

async fn a_recovery_code_completes_the_login_once(app: TestApp) {
    let (_, codes, enrolment) = enrolled(&app, "alice").await;
    let first = codes[0].clone();
    let token = mfa_token(&app, "alice").await;
    let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": first})).await;
    assert_eq!(res.status(), 200);
    let pair: Value = res.json().await.unwrap();
    let amr = claims(str_of(&pair, "access_token"))["amr"].clone();
    let amr: Vec<&str> = amr.as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(amr.contains(&"pwd") && amr.contains(&"mfa"), "{amr:?}");
    assert_eq!(mfa_status(&app, str_of(&enrolment, "access_token")).await["recovery_codes"]["remaining"], 9);

    // Typed in upper case with spaces instead of dashes, still accepted.
    let typed = codes[1].to_uppercase().replace('-', " ");
    let typed = format!(" {typed} ");
    let token = mfa_token(&app, "alice").await;
    let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": typed})).await;
    assert_eq!(res.status(), 200, "{typed}");
    assert_eq!(mfa_status(&app, str_of(&enrolment, "access_token")).await["recovery_codes"]["remaining"], 8);

    let token = mfa_token(&app, "alice").await;
    let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": first})).await;
    assert_problem(res, 401, "invalid_credentials").await;
    assert_eq!(mfa_status(&app, str_of(&enrolment, "access_token")).await["recovery_codes"]["remaining"], 8);
}

async fn regenerated_recovery_codes_replace_the_old_ones_and_disabling_totp_restores_password_logins(app: TestApp) {
    let (_, old, enrolment) = enrolled(&app, "alice").await;
    let session = str_of(&enrolment, "access_token");
    let res = post_as(&app, "/auth/mfa/recovery-codes", session).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let new: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(new.iter().collect::<HashSet<_>>().len(), 10, "{body}");
    assert!(new.iter().all(|c| !old.contains(c)), "a new set: {body}");
    assert_eq!(mfa_status(&app, session).await["recovery_codes"]["remaining"], 10);

    let token = mfa_token(&app, "alice").await;
    let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": old[0]})).await;
    assert_problem(res, 401, "invalid_credentials").await;
    let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": new[0]})).await;
    assert_eq!(res.status(), 200);
    let pair: Value = res.json().await.unwrap();
    let current = str_of(&pair, "access_token");

    assert_eq!(delete_as(&app, "/auth/mfa/totp", current).await.status(), 204);
    let pair = app.logged_in("alice").await;
    assert!(pair["access_token"].is_string() && pair.get("mfa_required").is_none(), "{pair}");
    let status = mfa_status(&app, current).await;
    assert_eq!(status, json!({"totp": {"enabled": false}, "passkeys": 0, "recovery_codes": {"remaining": 0}}));
    assert_problem(post_as(&app, "/auth/mfa/recovery-codes", current).await, 404, "not_found").await;
    assert_problem(delete_as(&app, "/auth/mfa/totp", current).await, 404, "not_found").await;
}

async fn changing_second_factors_needs_a_recent_sign_in(app: TestApp) {
    let pair = app.signed_in("alice").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let stale = str_of(&pair, "access_token");
    assert_eq!(app.get("/auth/mfa", Some(stale)).await.status(), 200, "reading is not a change");
    assert_problem(post_as(&app, "/auth/mfa/totp", stale).await, 403, "reauthentication_required").await;
    // A refresh does not make the sign-in recent again.
    let refreshed: Value = app.refresh(str_of(&pair, "refresh_token")).await.json().await.unwrap();
    let res = post_as(&app, "/auth/mfa/totp", str_of(&refreshed, "access_token")).await;
    assert_problem(res, 403, "reauthentication_required").await;

    let fresh = app.logged_in("alice").await;
    let enrolment = start_totp(&app, str_of(&fresh, "access_token")).await;
    assert!(enrolment["secret"].is_string());
}

async fn turning_mfa_on_ends_the_users_other_sessions(app: TestApp) {
    let a = app.signed_in("alice").await;
    let b = app.logged_in("alice").await;
    let bob = app.signed_in("bob").await;
    enable_totp(&app, str_of(&a, "access_token")).await;

    assert_problem(app.get("/auth/me", Some(str_of(&b, "access_token"))).await, 401, "token_revoked").await;
    assert_problem(app.refresh(str_of(&b, "refresh_token")).await, 401, "invalid_refresh_token").await;
    assert_eq!(app.get("/auth/me", Some(str_of(&a, "access_token"))).await.status(), 200);
    let refreshed = app.refresh(str_of(&a, "refresh_token")).await;
    assert_eq!(refreshed.status(), 200, "the session that turned MFA on lives on");
    assert_eq!(app.get("/auth/me", Some(str_of(&bob, "access_token"))).await.status(), 200, "other users untouched");
}

async fn tokens_say_how_and_when_the_user_signed_in(app: TestApp) {
    let (mut totp, _, enrolment) = enrolled(&app, "alice").await;
    let password_only = verified_claims(&app, str_of(&enrolment, "access_token")).await;
    assert_eq!(password_only["amr"], json!(["pwd"]));

    let before = unix_now();
    let pair = login_with_totp(&app, "alice", &mut totp).await;
    let claims = verified_claims(&app, str_of(&pair, "access_token")).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let auth_time = claims["auth_time"].as_i64().unwrap_or_else(|| panic!("a NumericDate: {claims}"));
    let iat = claims["iat"].as_i64().unwrap();
    #[allow(clippy::cast_possible_truncation)]
    let before = before as i64;
    assert!((before - 1..=before + 60).contains(&auth_time), "auth_time {auth_time} near {before}");
    assert!(auth_time <= iat, "{claims}");

    // A refresh keeps how and when the user signed in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = app.refresh(str_of(&pair, "refresh_token")).await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    let after = verified_claims(&app, str_of(&refreshed, "access_token")).await;
    assert_eq!(after["auth_time"], auth_time, "{after}");
    assert_eq!(after["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(after["iat"].as_i64().unwrap() > iat, "a new token: {after}");

    let list: Value = app.get("/auth/sessions", Some(str_of(&refreshed, "access_token"))).await.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert!(!sessions.is_empty(), "{list}");
    for session in sessions {
        assert!(session["amr"].is_array(), "{session}");
    }
    let current = sessions.iter().find(|s| s["id"] == after["sid"]).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(current["amr"], json!(["pwd", "otp", "mfa"]));
    let first = sessions.iter().find(|s| s["id"] == password_only["sid"]).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(first["amr"], json!(["pwd"]));
}

async fn with_mfa_required_for_admins_an_admin_needs_a_second_factor(app: TestApp) {
    app.create_user("root", &password("root"), Role::Admin).await;
    let pair = app.logged_in("root").await;
    let password_only = str_of(&pair, "access_token");
    assert_problem(app.get("/admin/users", Some(password_only)).await, 403, "mfa_required").await;
    assert_problem(app.get("/auth/admin", Some(password_only)).await, 403, "mfa_required").await;

    let (mut totp, codes) = enable_totp(&app, password_only).await;
    assert_problem(app.get("/admin/users", Some(password_only)).await, 403, "mfa_required").await;
    let pair = login_with_totp(&app, "root", &mut totp).await;
    let with_totp = str_of(&pair, "access_token");
    assert_eq!(app.get("/admin/users", Some(with_totp)).await.status(), 200);
    assert_eq!(app.get("/auth/admin", Some(with_totp)).await.status(), 200);

    let token = mfa_token(&app, "root").await;
    let res = second_factor(&app, &json!({"mfa_token": token, "recovery_code": codes[0]})).await;
    let pair: Value = res.json().await.unwrap();
    assert_eq!(app.get("/admin/users", Some(str_of(&pair, "access_token"))).await.status(), 200);

    // A plain user is refused for the role, as before.
    let user = app.access_token("alice").await;
    assert_problem(app.get("/admin/users", Some(&user)).await, 403, "insufficient_role").await;
}

async fn an_admin_can_reset_a_users_second_factors(app: TestApp) {
    app.create_user("root", &password("root"), Role::Admin).await;
    let admin = app.logged_in("root").await;
    let admin = str_of(&admin, "access_token");
    let (mut totp, _, enrolment) = enrolled(&app, "alice").await;
    let session = login_with_totp(&app, "alice", &mut totp).await;
    let id = claims(str_of(&session, "access_token"))["sub"].as_str().unwrap().to_owned();

    let user = str_of(&session, "access_token");
    assert_problem(delete_as(&app, &format!("/admin/users/{id}/mfa"), user).await, 403, "insufficient_role").await;

    assert_eq!(delete_as(&app, &format!("/admin/users/{id}/mfa"), admin).await.status(), 204);
    for pair in [&enrolment, &session] {
        assert_problem(app.get("/auth/me", Some(str_of(pair, "access_token"))).await, 401, "token_revoked").await;
        assert_problem(app.refresh(str_of(pair, "refresh_token")).await, 401, "invalid_refresh_token").await;
    }
    let pair = app.logged_in("alice").await;
    assert!(pair["access_token"].is_string() && pair.get("mfa_required").is_none(), "{pair}");
    let status = mfa_status(&app, str_of(&pair, "access_token")).await;
    assert_eq!(status, json!({"totp": {"enabled": false}, "passkeys": 0, "recovery_codes": {"remaining": 0}}));

    let unknown = uuid::Uuid::new_v4();
    assert_problem(delete_as(&app, &format!("/admin/users/{unknown}/mfa"), admin).await, 404, "not_found").await;
    assert_problem(delete_as(&app, "/admin/users/not-an-id/mfa", admin).await, 404, "not_found").await;
}

/// Every text and binary cell of `table` that could hold a secret, as bytes.
async fn cells(app: &TestApp, table: &str, text: &[&str]) -> Vec<Vec<u8>> {
    let conn = sea_orm::Database::connect(app.settings.database.url.as_str()).await.expect("database");
    let backend = conn.get_database_backend();
    let columns = text.iter().chain(["secret"].iter()).copied().collect::<Vec<_>>().join(", ");
    let rows = conn.query_all_raw(Statement::from_string(backend, format!("SELECT {columns} FROM {table}"))).await;
    let mut cells = Vec::new();
    for row in rows.expect("rows") {
        for column in text {
            if let Some(value) = row.try_get::<Option<String>>("", column).unwrap() {
                cells.push(value.into_bytes());
            }
        }
        cells.push(row.try_get::<Vec<u8>>("", "secret").unwrap());
    }
    conn.close().await.unwrap();
    cells
}

fn assert_secret_absent(cells: &[Vec<u8>], totp: &Totp, table: &str) {
    let forms: Vec<Vec<u8>> = vec![
        totp.key.clone(),
        totp.base32.clone().into_bytes(),
        totp.base32.to_lowercase().into_bytes(),
        totp.key.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes(),
        STANDARD.encode(&totp.key).into_bytes(),
    ];
    for cell in cells {
        for form in &forms {
            assert!(!cell.windows(form.len()).any(|w| w == form.as_slice()), "{table} holds the TOTP secret in clear");
        }
    }
}

async fn the_totp_secret_is_not_stored_in_clear(app: TestApp) {
    let token = app.access_token("alice").await;
    let enrolment = start_totp(&app, &token).await;
    let mut totp = Totp::new(str_of(&enrolment, "secret"));
    if app.database().is_none() {
        // The memory stores have no database to look into; their sealing
        // is the same adapter's, covered on the SQL stacks below.
        eprintln!("skipped on memory: no database rows to inspect");
    } else {
        let pending = cells(&app, "mfa_pending_totp", &["key_id"]).await;
        assert!(!pending.is_empty(), "the pending secret is stored");
        assert_secret_absent(&pending, &totp, "mfa_pending_totp");
    }
    let res = app.post_json_as("/auth/mfa/totp/confirm", &token, &json!({"code": totp.next().await})).await;
    assert_eq!(res.status(), 200);
    if app.database().is_some() {
        let factors = cells(&app, "mfa_factors", &["kind", "slot", "name", "key_id"]).await;
        assert!(factors.iter().any(|c| c.len() >= totp.key.len()), "the TOTP factor is stored");
        assert_secret_absent(&factors, &totp, "mfa_factors");
        assert_secret_absent(&cells(&app, "mfa_pending_totp", &["key_id"]).await, &totp, "mfa_pending_totp");
    }
    // Sealed, not lost: the stored secret still checks codes.
    let pair = login_with_totp(&app, "alice", &mut totp).await;
    assert!(pair["access_token"].is_string());
}
