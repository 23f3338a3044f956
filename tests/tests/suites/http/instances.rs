//! Several instances on one database: revocations reach every instance
//! within a second, survive restarts, and signing keys rotate without
//! downtime.

use std::time::{Duration, Instant};

use gatehouse_api::settings::KeyEntry;
use gatehouse_infrastructure::key_file;
use serde_json::Value;

use crate::support::app::{TestApp, assert_problem, http_tests};

http_tests!(
    a_logout_on_one_instance_is_refused_on_another_within_a_second,
    a_restarted_instance_does_not_forget_a_revocation,
    signing_keys_rotate_without_downtime,
);

/// The contract's bound on cross-instance revocation delay.
const BOUND: Duration = Duration::from_secs(1);

async fn a_logout_on_one_instance_is_refused_on_another_within_a_second(first: TestApp) {
    let second = first.another_instance(|_| {}).await;
    let pair = first.signed_in("alice").await;
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(second.get("/auth/protected", Some(token)).await.status(), 200);

    assert_eq!(first.logout(token, None).await.status(), 204);
    let logged_out = Instant::now();
    assert_problem(first.get("/auth/protected", Some(token)).await, 401, "token_revoked").await;
    let delay = loop {
        let res = second.get("/auth/protected", Some(token)).await;
        if res.status() == 401 {
            assert_problem(res, 401, "token_revoked").await;
            break logged_out.elapsed();
        }
        assert!(
            logged_out.elapsed() < 3 * BOUND,
            "still accepted on the second instance after {:?}",
            logged_out.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("cross-instance revocation delay: {} ms", delay.as_millis());
    assert!(delay < BOUND, "took {delay:?}, the bound is {BOUND:?}");
    // The refresh token is checked against the database: refused at once.
    assert_problem(second.refresh(pair["refresh_token"].as_str().unwrap()).await, 401, "invalid_refresh_token").await;
}

async fn a_restarted_instance_does_not_forget_a_revocation(first: TestApp) {
    let token = first.access_token("alice").await;
    assert_eq!(first.logout(&token, Some("global")).await.status(), 204);
    // A new process: nothing in memory, everything from the store.
    let restarted = first.another_instance(|_| {}).await;
    assert_problem(restarted.get("/auth/protected", Some(&token)).await, 401, "token_revoked").await;
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn verify(jwks: &jsonwebtoken::jwk::JwkSet, token: &str) -> Result<Value, String> {
    let jwk = jwks.find(&kid_of(token)).ok_or("kid not in the JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["gatehouse"]);
    validation.set_audience(&["gatehouse"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims).map_err(|e| e.to_string())
}

async fn signing_keys_rotate_without_downtime(app: TestApp) {
    let (a, b) = (app.dir.path().join("a.pem"), app.dir.path().join("b.pem"));
    key_file::generate(&a).unwrap();
    key_file::generate(&b).unwrap();
    let entry = |file: &std::path::Path, state: &str| KeyEntry { file: file.to_owned(), state: state.into() };

    // Step 1: A signs, B is announced.
    let v1 = app.another_instance(|s| s.jwt.keys = vec![entry(&a, "current"), entry(&b, "next")]).await;
    let cached: jsonwebtoken::jwk::JwkSet = v1.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    assert_eq!(cached.keys.len(), 2);
    let old = v1.access_token("alice").await;
    assert_eq!(kid_of(&old), v1.kid);

    // Step 2: B signs, A is retired; a verifier that cached the JWKS before
    // the switch already has B.
    let v2 = app.another_instance(|s| s.jwt.keys = vec![entry(&b, "current"), entry(&a, "retired")]).await;
    let new = v2.logged_in("alice").await["access_token"].as_str().unwrap().to_owned();
    assert_ne!(kid_of(&new), kid_of(&old));
    assert_eq!(verify(&cached, &new).unwrap()["username"], "alice");
    assert_eq!(v2.get("/auth/protected", Some(&old)).await.status(), 200, "a retired key still verifies");
    assert_eq!(v2.get("/auth/protected", Some(&new)).await.status(), 200);
    let published: jsonwebtoken::jwk::JwkSet = v2.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    assert_eq!(published.keys.len(), 2);

    // Step 3: once A's tokens have expired, A is dropped.
    let v3 = app.another_instance(|s| s.jwt.keys = vec![entry(&b, "current")]).await;
    assert_problem(v3.get("/auth/protected", Some(&old)).await, 401, "invalid_token").await;
    assert_eq!(v3.get("/auth/protected", Some(&new)).await.status(), 200);
    let published: Value = v3.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    assert_eq!(published["keys"][0]["kid"], kid_of(&new));
}
