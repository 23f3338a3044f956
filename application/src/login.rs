//! Log in: check the password, open a session, issue a token pair.

use std::net::IpAddr;

use gatehouse_domain::{AuditAction, AuditEvent, Session, SessionId, ThrottleKey, User, Username};
use secrecy::SecretString;
use time::Duration;
use time::OffsetDateTime;

use crate::{
    Adapters, Gatehouse,
    metrics::{LoginOutcome, RevocationReason},
    ports::{
        Admission, AuditLog, Clock, HashError, IdSource, LoginThrottle, Metrics, PasswordHasher, RevokeScope,
        SessionStore, StoreError, TokenError, UserStore,
    },
};

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
    pub async fn login(&self, request: LoginRequest) -> Result<TokenPair, LoginError> {
        let result = self.check_and_open(request).await;
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

    async fn check_and_open(&self, request: LoginRequest) -> Result<TokenPair, LoginError> {
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
        // The username's count is cleared; the address only gets this
        // attempt's slot back (see `ThrottleKey::cleared_by_success`).
        self.throttle.succeeded(&slots).await?;
        if !user.is_active() {
            let audit =
                AuditEvent::failure(now, AuditAction::Login).about(user.id).client(client).detail("account_disabled");
            self.audit.append(&audit).await?;
            tracing::info!(user_id = %user.id, outcome = "account_disabled", "login refused");
            return Err(LoginError::AccountDisabled);
        }

        let pair = self.open_session(&user, now, client).await?;
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
        tracing::info!(user_id = %user.id, session_id = %pair.session_id, outcome = "success", "login");
        Ok(pair)
    }

    /// Opens a new session for `user` at `now` (login's second half).
    async fn open_session(
        &self,
        user: &User,
        now: OffsetDateTime,
        client: Option<&str>,
    ) -> Result<TokenPair, LoginError> {
        let session = Session {
            id: SessionId::from_uuid(self.ids.new_id()),
            user_id: user.id,
            generation: 0,
            rotated_at: None,
            created_at: now,
            last_used_at: now,
            expires_at: self.policy.session_expiry(now),
            revoked_at: None,
        };
        let audit = AuditEvent::success(now, AuditAction::Login)
            .by(user.id)
            .about(user.id)
            .client(client)
            .detail(format!("session={}", session.id));
        self.sessions.insert_audited(&session, Some(&audit)).await?;
        Ok(self.token_pair(user, &session, 0, now)?)
    }
}
