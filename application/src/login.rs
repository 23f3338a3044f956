//! Log in: check the password, then (for a user with MFA on) a second
//! factor, open a session, issue a token pair.
//!
//! The two steps are joined by an `mfa_token`: 256 random bits, of which
//! only the digest is stored, usable for five minutes, once, and killed by
//! five wrong codes. Both steps take a login-throttle slot under the
//! username and the client address before they check anything; a right
//! password gives its slot back without clearing anything, a wrong code
//! keeps its slot, and only a completed login clears the username's count:
//! knowing the password does not buy more guesses at the second factor.

use std::net::IpAddr;

use gatehouse_domain::{
    Amr, AuditAction, AuditEvent, AuthMethod, Factor, MfaChallenge, MfaStatus, SecondFactorMethod, Session, SessionId,
    ThrottleKey, User, Username,
    mfa::{MFA_CHALLENGE_TTL, MFA_TOKEN_BYTES, mfa_token_text},
};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use time::OffsetDateTime;

use crate::{
    Adapters, Gatehouse,
    metrics::{LoginOutcome, RevocationReason},
    ports::{
        Admission, AuditLog, Clock, FactorCrypto, HashError, IdSource, LoginThrottle, Metrics, MfaStore,
        PasswordHasher, RevokeScope, SessionStore, StoreError, TokenError, UserStore,
    },
};

/// Where a login with the right password stands.
#[derive(Debug)]
pub enum LoginStep {
    /// Signed in: the session is open.
    SignedIn(TokenPair),
    /// The user has MFA on: no session yet; complete it with
    /// [`Gatehouse::login_second_factor`].
    SecondFactor(MfaPending),
}

impl LoginStep {
    /// The token pair, when the login is complete.
    pub fn signed_in(self) -> Option<TokenPair> {
        match self {
            Self::SignedIn(pair) => Some(pair),
            Self::SecondFactor(_) => None,
        }
    }
}

/// The answer to a right password when MFA is on.
#[derive(Debug)]
pub struct MfaPending {
    /// The opaque token that names this login in its second step.
    pub mfa_token: SecretString,
    pub expires_in: Duration,
    /// The ways the login can be completed.
    pub methods: Vec<SecondFactorMethod>,
    /// WebAuthn request options (`{"publicKey": ...}`) limited to the
    /// user's passkeys, when they have any.
    pub passkey_options: Option<String>,
}

/// What a client presents to complete a login.
#[derive(Debug)]
pub struct SecondFactorRequest {
    pub mfa_token: SecretString,
    pub proof: SecondFactorProof,
    pub client: Option<IpAddr>,
}

/// The second factor itself.
#[derive(Debug)]
pub enum SecondFactorProof {
    /// A TOTP code as typed.
    Totp(SecretString),
    /// A recovery code as typed.
    RecoveryCode(SecretString),
    /// A passkey's `AuthenticationResponseJSON`, answering the login's
    /// `passkey_options`.
    Passkey(String),
}

/// What a client presents to log in.
#[derive(Debug)]
pub struct LoginRequest {
    /// The username as typed; it is parsed here so that a malformed name
    /// fails exactly like an unknown one.
    pub username: String,
    pub password: SecretString,
    /// The client's address (behind trusted proxies, the forwarded one),
    /// for throttling and the audit trail, if known.
    pub client: Option<IpAddr>,
}

/// An access token and the refresh token of its session.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: Duration,
    pub refresh_token: SecretString,
    pub refresh_expires_in: Duration,
    pub session_id: SessionId,
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right but an administrator disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// Too many recent failures for this username or client address.
    #[error("too many failed logins")]
    Throttled { retry_after: Duration },
    /// An unknown, expired, spent or exhausted `mfa_token`.
    #[error("invalid mfa token")]
    InvalidMfaToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(HashError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl<A: Adapters> Gatehouse<A> {
    /// Checks the credentials and opens a new session.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for an unknown user and a wrong
    /// password alike (both run one password verification);
    /// [`LoginError::Throttled`] once the username or the client address has
    /// used its attempts for the window, even with the right password: the
    /// attempt's slot is taken before the password is checked.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, request: LoginRequest) -> Result<LoginStep, LoginError> {
        let result = self.check_and_open(request).await;
        let outcome = match &result {
            Ok(LoginStep::SignedIn(_)) => Some(LoginOutcome::Success),
            Ok(LoginStep::SecondFactor(_)) => Some(LoginOutcome::MfaRequired),
            Err(LoginError::InvalidCredentials) => Some(LoginOutcome::InvalidCredentials),
            Err(LoginError::Throttled { .. }) => Some(LoginOutcome::Throttled),
            Err(LoginError::AccountDisabled) => Some(LoginOutcome::Disabled),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.login(outcome);
        }
        result
    }

    async fn check_and_open(&self, request: LoginRequest) -> Result<LoginStep, LoginError> {
        let now = self.clock.now();
        let username = Username::parse(&request.username).ok();
        // The slot is taken before anything is checked, so that attempts in
        // flight count too: N parallel guesses check at most the limit.
        let keys = ThrottleKey::for_attempt(username.as_ref(), request.client);
        let slots = match self.throttle.acquire(&keys, now).await? {
            Admission::Granted(slots) => slots,
            Admission::Refused { retry_after } => {
                tracing::info!(outcome = "throttled", "login refused");
                return Err(LoginError::Throttled { retry_after });
            }
        };

        let user = match &username {
            Some(name) => self.users.find_by_username(name).await?,
            None => None,
        };
        let verified = match self.hasher.verify(request.password, user.as_ref().map(|u| u.password_hash.clone())).await
        {
            Ok(verified) => verified,
            Err(HashError::Refused) => {
                tracing::warn!("stored password hash refused: parameters outside the configured bounds");
                false
            }
            Err(HashError::Overloaded) => {
                // Nothing was checked: the attempt must not cost a slot.
                self.throttle.release(&slots).await?;
                return Err(LoginError::Hash(HashError::Overloaded));
            }
            Err(e) => return Err(LoginError::Hash(e)),
        };
        let client = request.client.map(|ip| ip.to_string());
        let client = client.as_deref();
        let user = match user {
            Some(user) if verified => user,
            user => {
                let (subject, detail) = match &user {
                    Some(user) => (Some(user.id), "wrong_password"),
                    None => (None, "unknown_user"),
                };
                let audit = AuditEvent::failure(now, AuditAction::Login).about(subject).client(client).detail(detail);
                self.audit.append(&audit).await?;
                tracing::info!(outcome = "invalid_credentials", "login refused");
                return Err(LoginError::InvalidCredentials);
            }
        };
        let factors = self.mfa.factors(user.id).await?;
        let status = MfaStatus::of(&factors, 0);
        if status.is_on() {
            // The login is not complete, so nothing is cleared: the
            // attempt only gives its slots back. Every second factor then
            // takes a slot of its own before it is checked, so the
            // username's window bounds the guesses at the code whatever
            // the number of mfa_tokens, and a token can see its five
            // wrong codes within the default limit of five.
            self.throttle.release(&slots).await?;
        } else {
            // The username's count is cleared; the address only gets this
            // attempt's slot back (see `ThrottleKey::cleared_by_success`).
            self.throttle.succeeded(&slots).await?;
        }
        if !user.is_active() {
            return Err(self.refuse_disabled(&user, now, client).await?);
        }

        if status.is_on() {
            let pending = self.challenge(&user, &factors, status, now).await?;
            tracing::info!(user_id = %user.id, outcome = "mfa_required", "login needs a second factor");
            return Ok(LoginStep::SecondFactor(pending));
        }
        let pair = self.open_checked_session(&user, now, client, Amr::password()).await?;
        tracing::info!(user_id = %user.id, session_id = %pair.session_id, outcome = "success", "login");
        Ok(LoginStep::SignedIn(pair))
    }

    /// Issues the `mfa_token` of a login whose password was right.
    async fn challenge(
        &self,
        user: &User,
        factors: &[Factor],
        status: MfaStatus,
        now: OffsetDateTime,
    ) -> Result<MfaPending, LoginError> {
        let mut random = [0u8; MFA_TOKEN_BYTES];
        self.crypto.random(&mut random);
        let token = mfa_token_text(&random);
        let challenge = MfaChallenge::issue(self.crypto.digest(token.as_bytes()), user.id, now);
        self.mfa.insert_challenge(&challenge).await?;
        let passkey_options = if status.passkeys > 0 {
            self.start_second_factor_passkey(user, factors, challenge.token_hash.to_hex()).await?
        } else {
            None
        };
        let mut methods = status.methods();
        if passkey_options.is_none() {
            methods.retain(|m| *m != SecondFactorMethod::Passkey);
        }
        Ok(MfaPending { mfa_token: SecretString::from(token), expires_in: MFA_CHALLENGE_TTL, methods, passkey_options })
    }

    /// Completes a login with its second factor.
    ///
    /// # Errors
    /// [`LoginError::InvalidMfaToken`] for a token that is unknown,
    /// expired, spent or has seen five wrong codes;
    /// [`LoginError::InvalidCredentials`] for a wrong code, a used recovery
    /// code or a TOTP code of a step already accepted (each counts against
    /// the token and the username's throttle); [`LoginError::Throttled`].
    #[tracing::instrument(skip_all)]
    pub async fn login_second_factor(&self, request: SecondFactorRequest) -> Result<TokenPair, LoginError> {
        let result = self.check_second_factor(request).await;
        let outcome = match &result {
            Ok(_) => Some(LoginOutcome::Success),
            Err(LoginError::InvalidCredentials) => Some(LoginOutcome::InvalidCredentials),
            Err(LoginError::Throttled { .. }) => Some(LoginOutcome::Throttled),
            Err(LoginError::AccountDisabled) => Some(LoginOutcome::Disabled),
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.login(outcome);
        }
        result
    }

    async fn check_second_factor(&self, request: SecondFactorRequest) -> Result<TokenPair, LoginError> {
        let now = self.clock.now();
        let token_hash = self.crypto.digest(request.mfa_token.expose_secret().as_bytes());
        // Checked before any code is: a dead token burns no TOTP step and
        // no recovery code.
        let challenge = match self.mfa.challenge(&token_hash).await? {
            Some(challenge) if challenge.is_usable(now) => challenge,
            _ => return Err(LoginError::InvalidMfaToken),
        };
        let Some(user) = self.users.find_by_id(challenge.user_id).await? else {
            return Err(LoginError::InvalidMfaToken);
        };
        let keys = ThrottleKey::for_attempt(Some(&user.username), request.client);
        let slots = match self.throttle.acquire(&keys, now).await? {
            Admission::Granted(slots) => slots,
            Admission::Refused { retry_after } => {
                tracing::info!(outcome = "throttled", "second factor refused");
                return Err(LoginError::Throttled { retry_after });
            }
        };
        let client = request.client.map(|ip| ip.to_string());
        let client = client.as_deref();
        let (method, accepted) = match &request.proof {
            SecondFactorProof::Totp(code) => {
                (AuthMethod::Totp, self.accept_totp(&user, code.expose_secret(), now).await?)
            }
            SecondFactorProof::RecoveryCode(code) => {
                let audit = AuditEvent::success(now, AuditAction::RecoveryCodeUsed)
                    .by(user.id)
                    .about(user.id)
                    .client(client)
                    .detail("at=login");
                (AuthMethod::RecoveryCode, self.use_recovery_code(user.id, code.expose_secret(), &audit).await?)
            }
            SecondFactorProof::Passkey(response) => {
                let accepted =
                    self.accept_second_factor_passkey(&user, &token_hash.to_hex(), response, now, client).await?;
                (AuthMethod::Passkey, accepted)
            }
        };
        let detail = match method {
            AuthMethod::Totp => "method=totp",
            AuthMethod::Passkey => "method=passkey",
            _ => "method=recovery_code",
        };
        if !accepted {
            self.mfa.challenge_failed(&token_hash).await?;
            let audit = AuditEvent::failure(now, AuditAction::MfaFailed).about(user.id).client(client).detail(detail);
            self.audit.append(&audit).await?;
            tracing::info!(user_id = %user.id, outcome = "invalid_second_factor", "second factor refused");
            return Err(LoginError::InvalidCredentials);
        }
        if !self.mfa.spend_challenge(&token_hash, now).await? {
            // Spent or exhausted by a concurrent submission meanwhile.
            self.throttle.release(&slots).await?;
            return Err(LoginError::InvalidMfaToken);
        }
        self.throttle.succeeded(&slots).await?;
        if !user.is_active() {
            return Err(self.refuse_disabled(&user, now, client).await?);
        }
        let pair = self.open_checked_session(&user, now, client, Amr::of(&[AuthMethod::Password, method])).await?;
        tracing::info!(user_id = %user.id, session_id = %pair.session_id, outcome = "success", "login with a second factor");
        Ok(pair)
    }

    /// Records a login refused because an admin disabled the account (the
    /// proof was right); returns the error to answer.
    pub(crate) async fn refuse_disabled(
        &self,
        user: &User,
        now: OffsetDateTime,
        client: Option<&str>,
    ) -> Result<LoginError, StoreError> {
        let audit =
            AuditEvent::failure(now, AuditAction::Login).about(user.id).client(client).detail("account_disabled");
        self.audit.append(&audit).await?;
        tracing::info!(user_id = %user.id, outcome = "account_disabled", "login refused");
        Ok(LoginError::AccountDisabled)
    }

    /// Opens a session and re-reads the account (login's last step).
    pub(crate) async fn open_checked_session(
        &self,
        user: &User,
        now: OffsetDateTime,
        client: Option<&str>,
        amr: Amr,
    ) -> Result<TokenPair, LoginError> {
        let pair = self.open_session(user, now, client, amr).await?;
        // An admin may have changed or removed the account while the password
        // was being verified; that change revoked the sessions that existed
        // then, not this one. Read the account again and undo the session if
        // it no longer matches what the token says.
        match self.users.find_by_id(user.id).await? {
            Some(current) if current.role == user.role && current.is_active() => {}
            current => {
                self.revoke(RevokeScope::Session(pair.session_id), RevocationReason::Admin).await?;
                tracing::info!(user_id = %user.id, outcome = "changed_during_login", "login refused");
                return Err(match current {
                    Some(current) if !current.is_active() => LoginError::AccountDisabled,
                    _ => LoginError::InvalidCredentials,
                });
            }
        }
        Ok(pair)
    }

    /// Opens a new session for `user` at `now` (login's second half).
    async fn open_session(
        &self,
        user: &User,
        now: OffsetDateTime,
        client: Option<&str>,
        amr: Amr,
    ) -> Result<TokenPair, LoginError> {
        let detail = format!("amr={}", amr.values().join("+"));
        let session = Session {
            id: SessionId::from_uuid(self.ids.new_id()),
            user_id: user.id,
            generation: 0,
            rotated_at: None,
            created_at: now,
            last_used_at: now,
            expires_at: self.policy.session_expiry(now),
            revoked_at: None,
            auth_time: now,
            amr,
        };
        let audit = AuditEvent::success(now, AuditAction::Login)
            .by(user.id)
            .about(user.id)
            .client(client)
            .detail(format!("session={} {detail}", session.id));
        self.sessions.insert_audited(&session, Some(&audit)).await?;
        Ok(self.token_pair(user, &session, 0, now)?)
    }
}
