//! Passkeys: registration and what it turns on, the ceremony's lifetime
//! and single use, passwordless sign-in and its `amr`, the second factor,
//! the sign count, deletion and the audit trail. The clock is fixed; the
//! authenticator is the test-support browser (a software token on
//! `http://localhost:8080`, the test kit's relying-party origin).

use data_encoding::BASE64URL_NOPAD;
use gatehouse_application::{
    LoginError, LoginStep, MfaPending, PasskeyEnrolment, PasskeyManagementError, SecondFactorProof,
    SecondFactorRequest, TokenPair,
    ports::{AuditLog, Clock, MfaStore, TokenCodec, UserChange, UserStore},
};
use gatehouse_domain::{AuditAction, AuditOutcome, FactorId, SecondFactorMethod};
use gatehouse_test_support::authenticator::Browser;
use serde_json::Value;
use time::Duration;

use crate::support::{
    App, PASSWORD, app, assert_session_ended, assert_session_usable, login, login_request, principal, register,
};

const ORIGIN: &str = "http://localhost:8080";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Registers a passkey of `browser` through `pair`'s session.
async fn enrol(app: &App, pair: &TokenPair, browser: &mut Browser) -> PasskeyEnrolment {
    let recent = app.require_recent(principal(app, pair)).unwrap();
    let started = app.start_passkey_registration(&recent).await.unwrap();
    let credential = browser.create(&json(&started.options)).unwrap();
    app.finish_passkey_registration(&principal(app, pair), &started.ceremony_id, "laptop", &credential.to_string())
        .await
        .unwrap()
}

async fn sign_in(app: &App, browser: &mut Browser) -> Result<TokenPair, LoginError> {
    let started = app.start_passkey_sign_in().await.unwrap();
    let credential = browser.get(&json(&started.options)).unwrap();
    app.finish_passkey_sign_in(&started.ceremony_id, &credential.to_string(), None).await
}

async fn actions(app: &App) -> Vec<(AuditAction, AuditOutcome)> {
    app.parts()
        .audit
        .page(None, 200, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.event.action, r.event.outcome))
        .collect()
}

fn amr(app: &App, pair: &TokenPair) -> Vec<String> {
    app.parts().tokens.verify(&pair.access_token).unwrap().amr.values().to_vec()
}

#[tokio::test]
async fn the_first_passkey_turns_mfa_on_with_recovery_codes_and_ends_other_sessions() {
    let app = app();
    register(&app, "alice").await;
    let other = login(&app, "alice").await;
    let this = login(&app, "alice").await;
    let first = enrol(&app, &this, &mut Browser::on(ORIGIN)).await;
    assert_eq!(first.recovery_codes.as_ref().map(Vec::len), Some(10));
    assert_eq!(first.passkey.name.as_deref(), Some("laptop"));
    assert_eq!(first.passkey.last_used_at, None);
    assert_session_ended(&app, &other, "another session").await;
    assert_session_usable(&app, &this, "the registering session").await;
    let status = app.mfa_status(&principal(&app, &this)).await.unwrap();
    assert_eq!((status.passkeys, status.recovery_codes, status.totp), (1, 10, false));

    let second = enrol(&app, &this, &mut Browser::on(ORIGIN)).await;
    assert!(second.recovery_codes.is_none(), "MFA was on already");
    assert_eq!(app.passkeys(&principal(&app, &this)).await.unwrap().len(), 2);
    assert!(actions(&app).await.contains(&(AuditAction::PasskeyAdded, AuditOutcome::Success)));
}

#[tokio::test]
async fn a_ceremony_expires_after_five_minutes_and_finishes_once() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let mut browser = Browser::on(ORIGIN);
    let recent = app.require_recent(principal(&app, &pair)).unwrap();

    let started = app.start_passkey_registration(&recent).await.unwrap();
    let credential = browser.create(&json(&started.options)).unwrap().to_string();
    app.parts().clock.advance(Duration::seconds(300));
    let late =
        app.finish_passkey_registration(&principal(&app, &pair), &started.ceremony_id, "laptop", &credential).await;
    assert_err!(late, PasskeyManagementError::CredentialRefused(_));

    let started = app.start_passkey_registration(&app.require_recent(principal(&app, &pair)).unwrap()).await.unwrap();
    let credential = Browser::on(ORIGIN).create(&json(&started.options)).unwrap().to_string();
    app.parts().clock.advance(Duration::seconds(299));
    let alice = principal(&app, &pair);
    assert!(app.finish_passkey_registration(&alice, &started.ceremony_id, "laptop", &credential).await.is_ok());
    let again = app.finish_passkey_registration(&alice, &started.ceremony_id, "laptop", &credential).await;
    assert_err!(again, PasskeyManagementError::CredentialRefused(_));
}

#[tokio::test]
async fn another_users_ceremony_registers_nothing() {
    let app = app();
    register(&app, "alice").await;
    register(&app, "bob").await;
    let (alice, bob) = (login(&app, "alice").await, login(&app, "bob").await);
    let started = app.start_passkey_registration(&app.require_recent(principal(&app, &alice)).unwrap()).await.unwrap();
    let credential = Browser::on(ORIGIN).create(&json(&started.options)).unwrap().to_string();
    let stolen =
        app.finish_passkey_registration(&principal(&app, &bob), &started.ceremony_id, "mine", &credential).await;
    assert_err!(stolen, PasskeyManagementError::CredentialRefused(_));
    assert!(app.passkeys(&principal(&app, &bob)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_name_is_refused_before_the_ceremony_is_spent() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let started = app.start_passkey_registration(&app.require_recent(principal(&app, &pair)).unwrap()).await.unwrap();
    let credential = Browser::on(ORIGIN).create(&json(&started.options)).unwrap().to_string();
    let alice = principal(&app, &pair);
    let bad = app.finish_passkey_registration(&alice, &started.ceremony_id, "\u{7}", &credential).await;
    assert_err!(bad, PasskeyManagementError::InvalidName(_));
    assert!(app.finish_passkey_registration(&alice, &started.ceremony_id, "laptop", &credential).await.is_ok());
}

#[tokio::test]
async fn a_passkey_sign_in_is_two_factors_and_records_its_use() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let mut browser = Browser::on(ORIGIN);
    let enrolment = enrol(&app, &pair, &mut browser).await;
    app.parts().clock.advance(Duration::minutes(1));
    let signed_in = sign_in(&app, &mut browser).await.unwrap();
    assert_eq!(amr(&app, &signed_in), ["pop", "mfa"]);
    let passkeys = app.passkeys(&principal(&app, &signed_in)).await.unwrap();
    assert_eq!(passkeys[0].id, enrolment.passkey.id);
    assert_eq!(passkeys[0].last_used_at, Some(app.parts().clock.now()));
    assert!(passkeys[0].passkey.as_ref().unwrap().sign_count > 0, "the soft token counts");
}

#[tokio::test]
async fn a_sign_count_that_did_not_grow_is_refused_and_audited() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let mut browser = Browser::on(ORIGIN);
    enrol(&app, &pair, &mut browser).await;
    let clone = browser.snapshot();
    sign_in(&app, &mut browser).await.unwrap();
    browser.restore(&clone);
    assert_err!(sign_in(&app, &mut browser).await, LoginError::InvalidCredentials);
    assert!(actions(&app).await.contains(&(AuditAction::PasskeySignCountRegressed, AuditOutcome::Failure)));
}

#[tokio::test]
async fn a_disabled_user_is_refused_after_the_passkey_verifies() {
    let app = app();
    let alice = register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let mut browser = Browser::on(ORIGIN);
    enrol(&app, &pair, &mut browser).await;
    let change = UserChange { role: None, disabled: Some(true) };
    app.parts().users.update(alice.id, change, app.parts().clock.now()).await.unwrap();
    assert_err!(sign_in(&app, &mut browser).await, LoginError::AccountDisabled);
}

async fn first_step(app: &App, name: &str) -> MfaPending {
    match app.login(login_request(name, PASSWORD, None)).await.unwrap() {
        LoginStep::SecondFactor(pending) => pending,
        LoginStep::SignedIn(_) => panic!("{name} has MFA on"),
    }
}

#[tokio::test]
async fn a_passkey_answers_the_second_step_of_a_password_login_once() {
    let app = app();
    register(&app, "alice").await;
    let pair = login(&app, "alice").await;
    let mut browser = Browser::on(ORIGIN);
    enrol(&app, &pair, &mut browser).await;

    let pending = first_step(&app, "alice").await;
    assert_eq!(pending.methods, [SecondFactorMethod::Passkey, SecondFactorMethod::RecoveryCode]);
    let options = json(pending.passkey_options.as_deref().unwrap());
    let answer = browser.get(&options).unwrap().to_string();
    let request = |answer: &str| SecondFactorRequest {
        mfa_token: pending.mfa_token.clone(),
        proof: SecondFactorProof::Passkey(answer.to_owned()),
        client: None,
    };
    let signed_in = app.login_second_factor(request(&answer)).await.unwrap();
    assert_eq!(amr(&app, &signed_in), ["pwd", "pop", "mfa"]);
    assert_err!(app.login_second_factor(request(&answer)).await, LoginError::InvalidMfaToken);

    // A wrong answer spends the login's passkey options: the right one
    // after it is refused too, and both count against the mfa_token.
    let pending = first_step(&app, "alice").await;
    let options = json(pending.passkey_options.as_deref().unwrap());
    let request = |answer: String| SecondFactorRequest {
        mfa_token: pending.mfa_token.clone(),
        proof: SecondFactorProof::Passkey(answer),
        client: None,
    };
    assert_err!(app.login_second_factor(request("{}".into())).await, LoginError::InvalidCredentials);
    let answer = browser.get(&options).unwrap().to_string();
    assert_err!(app.login_second_factor(request(answer)).await, LoginError::InvalidCredentials);
    let failures =
        actions(&app).await.iter().filter(|a| **a == (AuditAction::MfaFailed, AuditOutcome::Failure)).count();
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn deleting_the_last_passkey_turns_mfa_off_and_only_the_owner_can() {
    let app = app();
    register(&app, "alice").await;
    register(&app, "bob").await;
    let alice = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    let id = enrol(&app, &alice, &mut Browser::on(ORIGIN)).await.passkey.id;

    let as_bob = app.require_recent(principal(&app, &bob)).unwrap();
    assert_err!(app.delete_passkey(&as_bob, id).await, PasskeyManagementError::NotFound);
    let as_alice = app.require_recent(principal(&app, &alice)).unwrap();
    assert_err!(
        app.delete_passkey(&as_alice, FactorId::from_uuid(uuid::Uuid::nil())).await,
        PasskeyManagementError::NotFound
    );
    app.delete_passkey(&as_alice, id).await.unwrap();
    let status = app.mfa_status(&principal(&app, &alice)).await.unwrap();
    assert_eq!((status.passkeys, status.recovery_codes), (0, 0));
    assert!(app.login(login_request("alice", PASSWORD, None)).await.unwrap().signed_in().is_some());
    assert!(actions(&app).await.contains(&(AuditAction::PasskeyRemoved, AuditOutcome::Success)));
}

#[tokio::test]
async fn a_passkey_sealed_for_one_user_does_not_open_for_another() {
    let app = app();
    register(&app, "alice").await;
    register(&app, "bob").await;
    let alice = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    let mut browser = Browser::on(ORIGIN);
    let enrolment = enrol(&app, &alice, &mut browser).await;
    // A database writer copies alice's passkey row to bob's account.
    let mut copied = enrolment.passkey.clone();
    copied.id = FactorId::from_uuid(uuid::Uuid::now_v7());
    copied.user_id = principal(&app, &bob).user_id;
    app.parts().mfa.add_factor_audited(&copied, None, None).await.unwrap();
    let started = app.start_passkey_sign_in().await.unwrap();
    let mut answer = browser.get(&json(&started.options)).unwrap();
    // The browser names bob's handle, as it would for a row of bob's.
    answer["response"]["userHandle"] = Value::from(BASE64URL_NOPAD.encode(copied.user_id.as_uuid().as_bytes()));
    let refused = app.finish_passkey_sign_in(&started.ceremony_id, &answer.to_string(), None).await;
    assert_err!(refused, LoginError::InvalidCredentials);
}
