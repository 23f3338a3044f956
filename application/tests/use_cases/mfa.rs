//! Second factors: enrolment, the two-step login, its window edges,
//! replay, exhaustion and throttling, recovery codes, recent
//! authentication, the admin policy and reset. The clock is fixed: TOTP
//! steps move only when a test advances it.

use aws_lc_rs::hmac;
use gatehouse_application::{
    AuthError, LoginError, LoginStep, MfaError, MfaPending, Principal, SecondFactorProof, SecondFactorRequest,
    TokenPair,
    ports::{AuditLog, Clock, TokenCodec},
};
use gatehouse_domain::{
    AuditAction, AuditEvent, MfaStatus, Role, SecondFactorMethod, SecurityPolicy,
    mfa::{TOTP_PERIOD_SECONDS, totp_step, truncate_hotp},
};
use gatehouse_infrastructure::{
    FixedClock, MemoryLoginThrottle,
    testkit::{InMemory, InMemoryBuilder},
};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::support::{PASSWORD, T0, THROTTLE_WINDOW, expose, login_request, principal, refresh, register, secret};

type App = gatehouse_application::Gatehouse<InMemory<FixedClock>>;

/// An app at [`T0`] with `throttle` attempts per window (0: off) and
/// `security`.
fn app_with(throttle: u32, security: SecurityPolicy) -> App {
    InMemoryBuilder::new()
        .clock(FixedClock::new(T0))
        .throttle(MemoryLoginThrottle::new(throttle, THROTTLE_WINDOW))
        .security(security)
        .build()
        .unwrap()
}

fn app() -> App {
    app_with(0, SecurityPolicy::default())
}

fn now(app: &App) -> OffsetDateTime {
    app.parts().clock.now()
}

/// The audit trail, newest first.
async fn events(app: &App) -> Vec<AuditEvent> {
    app.parts().audit.page(None, 200, None).await.unwrap().into_iter().map(|r| r.event).collect()
}

fn advance(app: &App, by: Duration) {
    app.parts().clock.advance(by);
}

/// The RFC 6238 code of `secret` (base32) for time step `step`.
fn code_at_step(secret: &str, step: u64) -> String {
    let key = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key), &step.to_be_bytes());
    format!("{:06}", truncate_hotp(mac.as_ref().try_into().unwrap()))
}

/// Logs `name` in with the password; the session is open (no MFA).
async fn password_login(app: &App, name: &str) -> TokenPair {
    app.login(login_request(name, PASSWORD, None)).await.unwrap().signed_in().expect("no second factor")
}

/// Logs `name` in with the password; a second factor is due.
async fn first_step(app: &App, name: &str) -> MfaPending {
    match app.login(login_request(name, PASSWORD, None)).await.unwrap() {
        LoginStep::SecondFactor(pending) => pending,
        LoginStep::SignedIn(_) => panic!("{name} has MFA on: the password alone must not sign in"),
    }
}

async fn second_step(app: &App, pending: &MfaPending, proof: SecondFactorProof) -> Result<TokenPair, LoginError> {
    let request = SecondFactorRequest {
        mfa_token: SecretString::from(pending.mfa_token.expose_secret().to_owned()),
        proof,
        client: None,
    };
    app.login_second_factor(request).await
}

fn totp(code: String) -> SecondFactorProof {
    SecondFactorProof::Totp(SecretString::from(code))
}

fn recovery(code: &str) -> SecondFactorProof {
    SecondFactorProof::RecoveryCode(secret(code))
}

/// Registers `name`, enrols and confirms TOTP from a fresh password
/// session; returns the base32 secret, the recovery codes and the session
/// that enrolled.
async fn with_totp(app: &App, name: &str) -> (String, Vec<String>, TokenPair) {
    register(app, name).await;
    let pair = password_login(app, name).await;
    let recent = app.require_recent(principal(app, &pair)).unwrap();
    let enrolment = app.start_totp(&recent).await.unwrap();
    let secret = enrolment.secret.expose_secret().to_owned();
    let codes = app.confirm_totp(&recent, &code_at_step(&secret, totp_step(now(app)))).await.unwrap();
    (secret, codes.iter().map(|c| c.shown().to_owned()).collect(), pair)
}

fn step(app: &App) -> u64 {
    totp_step(now(app))
}

#[tokio::test]
async fn confirming_with_a_code_of_the_new_secret_turns_totp_on_with_ten_recovery_codes() {
    let app = app();
    register(&app, "alice").await;
    let pair = password_login(&app, "alice").await;
    let alice = principal(&app, &pair);
    let recent = app.require_recent(alice.clone()).unwrap();

    let enrolment = app.start_totp(&recent).await.unwrap();
    let secret = enrolment.secret.expose_secret().to_owned();
    assert!(enrolment.otpauth_uri.expose_secret().starts_with("otpauth://totp/Gatehouse:alice?secret="));
    assert_eq!(app.mfa_status(&alice).await.unwrap(), MfaStatus::default(), "nothing changes before the confirmation");

    let wrong = format!("{:06}", (code_at_step(&secret, step(&app)).parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_err!(app.confirm_totp(&recent, &wrong).await, MfaError::InvalidCode);
    assert_eq!(app.mfa_status(&alice).await.unwrap(), MfaStatus::default());

    let codes = app.confirm_totp(&recent, &code_at_step(&secret, step(&app))).await.unwrap();
    let mut distinct: Vec<_> = codes.iter().map(|c| c.canonical()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    assert_eq!(app.mfa_status(&alice).await.unwrap(), MfaStatus { totp: true, passkeys: 0, recovery_codes: 10 });
    assert_err!(app.start_totp(&recent).await, MfaError::AlreadyEnabled);
    assert_err!(app.confirm_totp(&recent, "123456").await, MfaError::NotFound);
    assert!(
        events(&app).await.iter().any(|e| e.action == AuditAction::TotpEnabled && e.subject == Some(alice.user_id))
    );
}

#[tokio::test]
async fn starting_again_replaces_an_unconfirmed_secret() {
    let app = app();
    register(&app, "alice").await;
    let recent = app.require_recent(principal(&app, &password_login(&app, "alice").await)).unwrap();
    let first = app.start_totp(&recent).await.unwrap().secret.expose_secret().to_owned();
    let second = app.start_totp(&recent).await.unwrap().secret.expose_secret().to_owned();
    assert_ne!(first, second);

    assert_err!(app.confirm_totp(&recent, &code_at_step(&first, step(&app))).await, MfaError::InvalidCode);
    assert!(app.confirm_totp(&recent, &code_at_step(&second, step(&app))).await.is_ok());
}

#[tokio::test]
async fn with_totp_on_the_password_alone_opens_no_session() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));

    let pending = first_step(&app, "alice").await;
    assert_eq!(pending.expires_in, Duration::seconds(300));
    assert_eq!(pending.methods, [SecondFactorMethod::Totp, SecondFactorMethod::RecoveryCode]);
    assert_eq!(pending.mfa_token.expose_secret().len(), 64, "256 random bits, hex");

    let pair = second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await.unwrap();
    let claims = app.parts().tokens.verify(&pair.access_token).unwrap();
    assert_eq!(claims.amr.values(), ["pwd", "otp", "mfa"]);
    assert_eq!(claims.auth_time, now(&app).unix_timestamp());
    assert_err!(
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app) + 1))).await,
        LoginError::InvalidMfaToken
    );
}

#[tokio::test]
async fn codes_one_step_either_side_are_accepted_but_not_two_steps_away() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(10 * TOTP_PERIOD_SECONDS));
    let s = step(&app);

    for far in [s - 2, s + 2] {
        let pending = first_step(&app, "alice").await;
        assert_err!(
            second_step(&app, &pending, totp(code_at_step(&secret, far))).await,
            LoginError::InvalidCredentials
        );
    }
    let pending = first_step(&app, "alice").await;
    assert!(second_step(&app, &pending, totp(code_at_step(&secret, s - 1))).await.is_ok(), "one step behind");
    let pending = first_step(&app, "alice").await;
    assert!(second_step(&app, &pending, totp(code_at_step(&secret, s + 1))).await.is_ok(), "one step ahead");
    // The step after has been used: the current one is now in the past.
    let pending = first_step(&app, "alice").await;
    assert_err!(second_step(&app, &pending, totp(code_at_step(&secret, s))).await, LoginError::InvalidCredentials);
}

#[tokio::test]
async fn a_code_accepted_once_is_refused_in_the_next_login() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
    let code = code_at_step(&secret, step(&app));

    let first = first_step(&app, "alice").await;
    second_step(&app, &first, totp(code.clone())).await.unwrap();
    let second = first_step(&app, "alice").await;
    assert_err!(second_step(&app, &second, totp(code)).await, LoginError::InvalidCredentials);
    // The replay counted as a wrong code; the token still works with the
    // next step's code.
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
    assert!(second_step(&app, &second, totp(code_at_step(&secret, step(&app)))).await.is_ok());
}

#[tokio::test]
async fn the_code_of_the_enrolment_step_cannot_log_in() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    let pending = first_step(&app, "alice").await;
    assert_err!(
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await,
        LoginError::InvalidCredentials
    );
}

#[tokio::test]
async fn five_wrong_codes_kill_the_mfa_token() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
    let pending = first_step(&app, "alice").await;
    for _ in 0..5 {
        assert_err!(second_step(&app, &pending, totp("000000".into())).await, LoginError::InvalidCredentials);
    }
    assert_err!(
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await,
        LoginError::InvalidMfaToken
    );
    let failures = events(&app).await.iter().filter(|e| e.action == AuditAction::MfaFailed).count();
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn the_mfa_token_expires_after_five_minutes() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    let pending = first_step(&app, "alice").await;
    advance(&app, Duration::seconds(300));
    assert_err!(
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await,
        LoginError::InvalidMfaToken
    );
}

#[tokio::test]
async fn wrong_second_factors_count_against_the_usernames_throttle() {
    // Three attempts per window: a right password gives its slot back,
    // each wrong code keeps one; then even the right code is refused, and
    // so is the password.
    let app = app_with(3, SecurityPolicy::default());
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));

    let pending = first_step(&app, "alice").await;
    for _ in 0..3 {
        assert_err!(second_step(&app, &pending, totp("000000".into())).await, LoginError::InvalidCredentials);
    }
    assert_err!(
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await,
        LoginError::Throttled { .. }
    );
    assert_err!(app.login(login_request("alice", PASSWORD, None)).await, LoginError::Throttled { .. });

    // A new window: a completed login clears the username's count.
    advance(&app, THROTTLE_WINDOW);
    let pending = first_step(&app, "alice").await;
    for _ in 0..2 {
        assert_err!(second_step(&app, &pending, totp("000000".into())).await, LoginError::InvalidCredentials);
    }
    second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await.unwrap();
    for _ in 0..3 {
        let pending = first_step(&app, "alice").await;
        advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await.unwrap();
    }
}

#[tokio::test]
async fn five_wrong_codes_fit_in_the_default_throttle_and_kill_the_token() {
    let app = app_with(5, SecurityPolicy::default());
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
    let pending = first_step(&app, "alice").await;
    for _ in 0..5 {
        assert_err!(second_step(&app, &pending, totp("000000".into())).await, LoginError::InvalidCredentials);
    }
    assert_err!(
        second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await,
        LoginError::InvalidMfaToken
    );
}

#[tokio::test]
async fn knowing_the_password_buys_no_extra_guesses_at_the_code() {
    // Fresh mfa_tokens do not reset the count: the guesses in one window
    // stay within the username's limit.
    let app = app_with(3, SecurityPolicy::default());
    with_totp(&app, "alice").await;
    let mut guesses = 0;
    for _ in 0..10 {
        match app.login(login_request("alice", PASSWORD, None)).await {
            Ok(LoginStep::SecondFactor(pending)) => {
                if matches!(
                    second_step(&app, &pending, totp("000000".into())).await,
                    Err(LoginError::InvalidCredentials)
                ) {
                    guesses += 1;
                }
            }
            Err(LoginError::Throttled { .. }) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(guesses, 3, "code guesses in one window with a limit of 3");
}

#[tokio::test]
async fn a_recovery_code_logs_in_once_in_any_case_and_spacing() {
    let app = app();
    let (_, codes, _) = with_totp(&app, "alice").await;

    let pending = first_step(&app, "alice").await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let pair = second_step(&app, &pending, recovery(&typed)).await.unwrap();
    let claims = app.parts().tokens.verify(&pair.access_token).unwrap();
    assert_eq!(claims.amr.values(), ["pwd", "mfa"]);

    let pending = first_step(&app, "alice").await;
    assert_err!(second_step(&app, &pending, recovery(&codes[0])).await, LoginError::InvalidCredentials);
    assert!(second_step(&app, &pending, recovery(&codes[1])).await.is_ok());
    let alice = principal(&app, &pair);
    assert_eq!(app.mfa_status(&alice).await.unwrap().recovery_codes, 8);
    assert!(events(&app).await.iter().any(|e| e.action == AuditAction::RecoveryCodeUsed));
}

#[tokio::test]
async fn regenerated_recovery_codes_replace_the_old_set() {
    let app = app();
    let (_, old, pair) = with_totp(&app, "alice").await;
    let recent = app.require_recent(principal(&app, &pair)).unwrap();

    let new = app.regenerate_recovery_codes(&recent).await.unwrap();

    let pending = first_step(&app, "alice").await;
    assert_err!(second_step(&app, &pending, recovery(&old[0])).await, LoginError::InvalidCredentials);
    assert!(second_step(&app, &pending, recovery(new[0].shown())).await.is_ok());
}

#[tokio::test]
async fn turning_totp_off_drops_the_recovery_codes_and_the_password_signs_in_again() {
    let app = app();
    let (_, _, pair) = with_totp(&app, "alice").await;
    let alice = principal(&app, &pair);
    let recent = app.require_recent(alice.clone()).unwrap();

    app.disable_totp(&recent).await.unwrap();

    assert_eq!(app.mfa_status(&alice).await.unwrap(), MfaStatus::default());
    assert_err!(app.disable_totp(&recent).await, MfaError::NotFound);
    assert_err!(app.regenerate_recovery_codes(&recent).await, MfaError::NotFound);
    password_login(&app, "alice").await;
}

#[tokio::test]
async fn turning_mfa_on_revokes_every_other_session() {
    let app = app();
    register(&app, "alice").await;
    let other = password_login(&app, "alice").await;
    let this = password_login(&app, "alice").await;
    let recent = app.require_recent(principal(&app, &this)).unwrap();
    let secret = app.start_totp(&recent).await.unwrap().secret.expose_secret().to_owned();

    app.confirm_totp(&recent, &code_at_step(&secret, step(&app))).await.unwrap();

    assert_err!(app.authenticate(&other.access_token), AuthError::Revoked);
    assert!(app.refresh(expose(&other.refresh_token), None).await.is_err());
    assert!(app.authenticate(&this.access_token).is_ok());
}

#[tokio::test]
async fn a_refresh_keeps_the_sign_in_time_and_methods() {
    let app = app();
    let (secret, _, _) = with_totp(&app, "alice").await;
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
    let signed_in_at = now(&app);
    let pending = first_step(&app, "alice").await;
    let pair = second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await.unwrap();

    advance(&app, Duration::minutes(20));
    let refreshed = refresh(&app, &pair).await;

    let claims = app.parts().tokens.verify(&refreshed.access_token).unwrap();
    assert_eq!(claims.auth_time, signed_in_at.unix_timestamp());
    assert_eq!(claims.amr.values(), ["pwd", "otp", "mfa"]);
    assert_eq!(claims.iat, now(&app).unix_timestamp());
    let sessions = app.list_sessions(&principal(&app, &refreshed)).await.unwrap();
    assert_eq!(sessions[0].session.amr.values(), ["pwd", "otp", "mfa"]);
}

#[tokio::test]
async fn a_sign_in_older_than_the_max_age_is_not_recent() {
    let security = SecurityPolicy { reauth_max_age: Duration::seconds(900), ..SecurityPolicy::default() };
    let app = app_with(0, security);
    register(&app, "alice").await;
    let pair = password_login(&app, "alice").await;

    advance(&app, Duration::seconds(900));
    assert!(app.require_recent(principal(&app, &pair)).is_ok(), "900 s is still recent");
    advance(&app, Duration::seconds(1));
    assert_err!(app.require_recent(principal(&app, &pair)), AuthError::ReauthenticationRequired);
    // A refresh does not make the session recent again; a new login does.
    let refreshed = refresh(&app, &pair).await;
    assert_err!(app.require_recent(principal(&app, &refreshed)), AuthError::ReauthenticationRequired);
    assert!(app.require_recent(principal(&app, &password_login(&app, "alice").await)).is_ok());
}

async fn admin_principal(app: &App, name: &str) -> Principal {
    app.create_user(crate::support::username(name), crate::support::new_password(PASSWORD), Role::Admin).await.unwrap();
    principal(app, &password_login(app, name).await)
}

#[tokio::test]
async fn under_the_admin_policy_an_admin_needs_a_second_factor() {
    let security = SecurityPolicy { mfa_required_for_admin: true, ..SecurityPolicy::default() };
    let app = app_with(0, security);
    let root = admin_principal(&app, "root").await;
    assert_err!(app.authorize_admin(root.clone()), AuthError::MfaRequired);

    let recent = app.require_recent(root).unwrap();
    let secret = app.start_totp(&recent).await.unwrap().secret.expose_secret().to_owned();
    app.confirm_totp(&recent, &code_at_step(&secret, step(&app))).await.unwrap();
    advance(&app, Duration::seconds(TOTP_PERIOD_SECONDS));
    let pending = first_step(&app, "root").await;
    let pair = second_step(&app, &pending, totp(code_at_step(&secret, step(&app)))).await.unwrap();
    assert!(app.authorize_admin(principal(&app, &pair)).is_ok());

    // The role still comes first.
    register(&app, "bob").await;
    assert_err!(app.authorize_admin(principal(&app, &password_login(&app, "bob").await)), AuthError::Forbidden);
}

#[tokio::test]
async fn an_admin_reset_removes_the_factors_and_ends_the_sessions() {
    let app = app();
    let root = app.authorize_admin(admin_principal(&app, "root").await).unwrap();
    let (_, codes, pair) = with_totp(&app, "alice").await;
    let alice = principal(&app, &pair);

    app.reset_mfa(&root, alice.user_id).await.unwrap();

    assert_err!(app.authenticate(&pair.access_token), AuthError::Revoked);
    assert_eq!(app.mfa_status(&alice).await.unwrap(), MfaStatus::default());
    let fresh = password_login(&app, "alice").await;
    assert!(app.authenticate(&fresh.access_token).is_ok());
    assert!(!codes.is_empty());
    assert!(events(&app).await.iter().any(|e| e.action == AuditAction::MfaReset));
    let ghost = gatehouse_domain::UserId::from_uuid(uuid::Uuid::now_v7());
    assert_err!(app.reset_mfa(&root, ghost).await, MfaError::NotFound);
}
