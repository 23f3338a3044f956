//! Access tokens: forgeries are refused, expiry and revocation are
//! enforced, and a third-party JWT library verifies ours from the JWKS alone.

use aws_lc_rs::{
    hmac,
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_domain::SessionId;
use serde_json::{Value, json};

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    a_token_with_alg_none_is_refused,
    a_token_signed_with_hs256_using_the_public_key_is_refused,
    a_token_with_tampered_claims_is_refused,
    a_token_signed_by_another_key_with_our_kid_is_refused,
    a_token_for_another_issuer_or_audience_is_refused,
    a_token_without_the_access_token_type_is_refused,
    a_token_with_an_unknown_kid_is_refused,
    a_token_carrying_its_own_key_or_critical_headers_is_refused,
    a_token_missing_any_claim_is_refused,
    an_expired_token_is_refused_as_expired,
    a_token_not_yet_valid_or_issued_in_the_future_is_refused,
    a_re_signed_untampered_token_is_accepted,
    a_token_whose_session_was_revoked_is_refused_as_revoked,
    a_third_party_library_verifies_our_tokens_from_the_jwks_alone,
    the_jwks_publishes_only_public_key_material,
);

/// The claims of a token, unverified.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// Signs `header`.`claims` with an Ed25519 key (PKCS#8 DER).
fn sign_ed25519(key: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let pair = Ed25519KeyPair::from_pkcs8(key).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()).as_ref()))
}

/// A real token of a signed-in user and its (header, claims).
async fn genuine(app: &TestApp) -> (String, Value, Value) {
    let token = app.access_token("alice").await;
    let (h, c) = (header(&token), claims(&token));
    (token, h, c)
}

async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    assert_problem(app.get("/auth/protected", Some(token)).await, 401, code).await;
}

async fn a_token_with_alg_none_is_refused(app: TestApp) {
    let (_, mut h, c) = genuine(&app).await;
    h["alg"] = json!("none");
    assert_refused(&app, &format!("{}.", signing_input(&h, &c)), "invalid_token").await;
}

async fn a_token_signed_with_hs256_using_the_public_key_is_refused(app: TestApp) {
    let (_, mut h, c) = genuine(&app).await;
    h["alg"] = json!("HS256");
    let public = Ed25519KeyPair::from_pkcs8(&app.signing_key).unwrap().public_key().as_ref().to_vec();
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    for secret in [public, jwks["keys"][0]["x"].as_str().unwrap().as_bytes().to_vec()] {
        let input = signing_input(&h, &c);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), input.as_bytes());
        assert_refused(&app, &format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())), "invalid_token").await;
    }
}

async fn a_token_with_tampered_claims_is_refused(app: TestApp) {
    let (token, h, mut c) = genuine(&app).await;
    c["role"] = json!("admin");
    let signature = token.rsplit('.').next().unwrap();
    assert_refused(&app, &format!("{}.{signature}", signing_input(&h, &c)), "invalid_token").await;
}

async fn a_token_signed_by_another_key_with_our_kid_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    let other = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    assert_refused(&app, &sign_ed25519(other.as_ref(), &h, &c), "invalid_token").await;
}

async fn a_token_for_another_issuer_or_audience_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    for (claim, value) in [("iss", "https://evil.example"), ("aud", "another-service")] {
        let mut forged = c.clone();
        forged[claim] = json!(value);
        assert_refused(&app, &sign_ed25519(&app.signing_key, &h, &forged), "invalid_token").await;
    }
    let mut forged = c.clone();
    forged["aud"] = json!(["gatehouse", "other"]);
    assert_refused(&app, &sign_ed25519(&app.signing_key, &h, &forged), "invalid_token").await;
}

async fn a_token_without_the_access_token_type_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    assert_eq!(h["typ"], "at+jwt");
    for typ in [json!("JWT"), json!("refresh+jwt"), Value::Null] {
        let mut forged = h.clone();
        match typ {
            Value::Null => drop(forged.as_object_mut().unwrap().remove("typ")),
            typ => forged["typ"] = typ,
        }
        assert_refused(&app, &sign_ed25519(&app.signing_key, &forged, &c), "invalid_token").await;
    }
}

async fn a_token_with_an_unknown_kid_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    let mut forged = h.clone();
    forged["kid"] = json!("some-other-key");
    assert_refused(&app, &sign_ed25519(&app.signing_key, &forged, &c), "invalid_token").await;
    forged.as_object_mut().unwrap().remove("kid");
    assert_refused(&app, &sign_ed25519(&app.signing_key, &forged, &c), "invalid_token").await;
}

async fn a_token_carrying_its_own_key_or_critical_headers_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    for (name, value) in [
        ("crit", json!(["exp"])),
        ("jwk", jwks["keys"][0].clone()),
        ("jku", json!("https://evil.example/jwks.json")),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut forged = h.clone();
        forged[name] = value;
        assert_refused(&app, &sign_ed25519(&app.signing_key, &forged, &c), "invalid_token").await;
    }
}

async fn a_token_missing_any_claim_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    for claim in ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "role", "username"] {
        let mut forged = c.clone();
        forged.as_object_mut().unwrap().remove(claim);
        assert_refused(&app, &sign_ed25519(&app.signing_key, &h, &forged), "invalid_token").await;
    }
    let mut forged = c.clone();
    forged["exp"] = json!("tomorrow");
    assert_refused(&app, &sign_ed25519(&app.signing_key, &h, &forged), "invalid_token").await;
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn an_expired_token_is_refused_as_expired(app: TestApp) {
    let (_, h, mut c) = genuine(&app).await;
    // Beyond the 30-second leeway.
    c["iat"] = json!(now() - 1000);
    c["nbf"] = json!(now() - 1000);
    c["exp"] = json!(now() - 31);
    let res = app.get("/auth/protected", Some(&sign_ed25519(&app.signing_key, &h, &c))).await;
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));
    assert_problem(res, 401, "token_expired").await;
}

async fn a_token_not_yet_valid_or_issued_in_the_future_is_refused(app: TestApp) {
    let (_, h, c) = genuine(&app).await;
    for claim in ["nbf", "iat"] {
        let mut forged = c.clone();
        forged[claim] = json!(now() + 3600);
        assert_refused(&app, &sign_ed25519(&app.signing_key, &h, &forged), "invalid_token").await;
    }
}

async fn a_re_signed_untampered_token_is_accepted(app: TestApp) {
    // Guards the forgery tests above: our own signing helper makes tokens
    // the server accepts, so each refusal is down to the one change made.
    let (_, h, c) = genuine(&app).await;
    assert_eq!(app.get("/auth/protected", Some(&sign_ed25519(&app.signing_key, &h, &c))).await.status(), 200);
}

async fn a_token_whose_session_was_revoked_is_refused_as_revoked(app: TestApp) {
    let (token, _, c) = genuine(&app).await;
    assert_eq!(app.get("/auth/protected", Some(&token)).await.status(), 200);
    let sid = uuid::Uuid::parse_str(c["sid"].as_str().unwrap()).unwrap();
    app.revoke_session(SessionId::from_uuid(sid)).await;
    assert_refused(&app, &token, "token_revoked").await;
}

async fn a_third_party_library_verifies_our_tokens_from_the_jwks_alone(app: TestApp) {
    let token = app.access_token("alice").await;
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["gatehouse"]);
    validation.set_audience(&["gatehouse"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies with the JWKS");
    assert_eq!(data.claims["username"], "alice");
    assert_eq!(data.claims["role"], "user");
    for claim in ["sub", "exp", "iat", "nbf", "jti", "sid"] {
        assert!(!data.claims[claim].is_null(), "claim {claim}");
    }
}

async fn the_jwks_publishes_only_public_key_material(app: TestApp) {
    let res = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(res.status(), 200);
    let jwks: Value = res.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], app.kid.as_str());
    assert!(!key.contains_key("d"), "private key material published");
}
