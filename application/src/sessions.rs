//! Refresh, log out, and a user's own sessions.

use gatehouse_domain::{AuditAction, AuditEvent, RefreshDecision, Revocation, Session, SessionId, SessionState, User};
use time::OffsetDateTime;

use crate::{
    Adapters, Gatehouse, Principal, TokenPair,
    metrics::{RefreshOutcome, RevocationReason},
    ports::{
        AuditLog, Clock, IdSource, Metrics, RefreshTokens, RevokeScope, SessionStore, StoreError, TokenCodec,
        TokenError, UserStore,
    },
};

/// Why a refresh was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, forged, expired, revoked or reused token, or the account is
    /// gone or disabled.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Internal to the use case: reuse, answered as
    /// [`RefreshError::InvalidRefreshToken`]; never returned.
    #[doc(hidden)]
    #[error("invalid refresh token")]
    Reused,
}

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogoutScope {
    /// This session.
    #[default]
    Local,
    /// Every session of the user.
    Global,
    /// Every session but this one.
    Others,
}

/// Why a session could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeSessionError {
    /// No such session of this user (another user's session looks the same).
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: Session,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

/// Concurrent refreshes of one token race for the conditional update; a
/// loser re-reads and lands in the grace rule. Two rounds always settle it;
/// the third is a safety margin.
const REFRESH_ROUNDS: usize = 3;

impl<A: Adapters> Gatehouse<A> {
    /// Exchanges a refresh token for a new pair (rotation). Within the grace
    /// interval the token just rotated away answers with the current
    /// refresh token; an older token, or that one later, revokes the session.
    ///
    /// # Errors
    /// [`RefreshError::InvalidRefreshToken`] in every refusal case.
    #[tracing::instrument(skip_all, fields(session_id))]
    pub async fn refresh(&self, token: &str, client: Option<&str>) -> Result<TokenPair, RefreshError> {
        let (result, outcome) = self.judge_and_refresh(token, client).await;
        if let Some(outcome) = outcome {
            self.metrics.refresh(outcome);
        }
        result
    }

    /// [`Self::refresh`], and the outcome to count (none for a store or
    /// token failure, which is no answer about the token).
    async fn judge_and_refresh(
        &self,
        token: &str,
        client: Option<&str>,
    ) -> (Result<TokenPair, RefreshError>, Option<RefreshOutcome>) {
        let result = self.refresh_once(token, client).await;
        let outcome = match &result {
            Ok((_, outcome)) => Some(*outcome),
            Err(RefreshError::InvalidRefreshToken) => Some(RefreshOutcome::Invalid),
            Err(_) => None,
        };
        match result {
            Ok((pair, _)) => (Ok(pair), outcome),
            // Reuse answers like any invalid token, but counts as reuse.
            Err(RefreshError::Reused) => (Err(RefreshError::InvalidRefreshToken), Some(RefreshOutcome::Reuse)),
            Err(e) => (Err(e), outcome),
        }
    }

    async fn refresh_once(
        &self,
        token: &str,
        client: Option<&str>,
    ) -> Result<(TokenPair, RefreshOutcome), RefreshError> {
        let (session_id, presented) = self.refresh.parse(token).ok_or(RefreshError::InvalidRefreshToken)?;
        tracing::Span::current().record("session_id", tracing::field::display(session_id));
        for _ in 0..REFRESH_ROUNDS {
            let now = self.clock.now();
            let session = self.sessions.find(session_id).await?.ok_or(RefreshError::InvalidRefreshToken)?;
            match session.judge_refresh(presented, now, self.policy.refresh_reuse_grace) {
                RefreshDecision::Rotate => {
                    // The account is checked before the token moves on, so a
                    // refused refresh never spends the token.
                    let user = self.active_user(&session).await?;
                    let audit = AuditEvent::success(now, AuditAction::Refresh)
                        .by(user.id)
                        .about(user.id)
                        .client(client)
                        .detail(format!("session={session_id} generation={}", presented + 1));
                    if self.sessions.rotate_audited(session_id, presented, now, Some(&audit)).await? {
                        tracing::info!(%session_id, generation = presented + 1, "refresh token rotated");
                        return Ok((self.token_pair(&user, &session, presented + 1, now)?, RefreshOutcome::Rotated));
                    }
                    // Another request rotated it first: judge again.
                }
                RefreshDecision::Grace => {
                    let user = self.active_user(&session).await?;
                    tracing::info!(%session_id, "refresh within the reuse grace interval");
                    let audit = AuditEvent::success(now, AuditAction::Refresh)
                        .by(user.id)
                        .about(user.id)
                        .client(client)
                        .detail(format!("session={session_id} grace"));
                    self.audit.append(&audit).await?;
                    return Ok((self.token_pair(&user, &session, session.generation, now)?, RefreshOutcome::Grace));
                }
                RefreshDecision::Reuse => {
                    tracing::warn!(%session_id, user_id = %session.user_id, "refresh token reuse detected; session revoked");
                    let audit = AuditEvent::failure(now, AuditAction::RefreshReuse)
                        .about(session.user_id)
                        .client(client)
                        .detail(format!("session={session_id} presented={presented}"));
                    self.revoke_audited(RevokeScope::Session(session_id), RevocationReason::Reuse, Some(&audit))
                        .await?;
                    return Err(RefreshError::Reused);
                }
                RefreshDecision::Refuse => return Err(RefreshError::InvalidRefreshToken),
            }
        }
        Err(RefreshError::InvalidRefreshToken)
    }

    /// The session's user, who must still exist and be active.
    async fn active_user(&self, session: &Session) -> Result<User, RefreshError> {
        match self.users.find_by_id(session.user_id).await? {
            Some(user) if user.is_active() => Ok(user),
            _ => Err(RefreshError::InvalidRefreshToken),
        }
    }

    /// The one place a token pair is minted: a new access token (with the
    /// user's current role) and the refresh token of `generation`, which
    /// lives as long as its session.
    pub(crate) fn token_pair(
        &self,
        user: &User,
        session: &Session,
        generation: u64,
        now: OffsetDateTime,
    ) -> Result<TokenPair, TokenError> {
        let claims = self.policy.access_claims(user, session, self.ids.new_id(), now);
        Ok(TokenPair {
            access_token: self.tokens.sign(&claims)?,
            expires_in: time::Duration::seconds(claims.exp - claims.iat),
            refresh_token: self.refresh.issue(session.id, generation),
            refresh_expires_in: session.expires_at - now,
            session_id: session.id,
        })
    }

    /// Revokes sessions and makes the revocation effective on this instance
    /// at once (other instances learn it from the feed).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn revoke(&self, scope: RevokeScope, reason: RevocationReason) -> Result<Vec<Revocation>, StoreError> {
        self.revoke_audited(scope, reason, None).await
    }

    /// [`Self::revoke`], recording `audit` in the same transaction.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn revoke_audited(
        &self,
        scope: RevokeScope,
        reason: RevocationReason,
        audit: Option<&AuditEvent>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let now = self.clock.now();
        let until = self.policy.revocation_relevant_until(now);
        let revoked = self.sessions.revoke_audited(scope, now, until, audit).await?;
        self.revocations.extend(&revoked);
        if !revoked.is_empty() {
            self.metrics.sessions_revoked(reason, revoked.len());
            tracing::info!(sessions = revoked.len(), ?scope, reason = reason.as_str(), "sessions revoked");
        }
        Ok(revoked)
    }

    /// Logs out: this session, every session, or every other session.
    ///
    /// # Errors
    /// [`StoreError`].
    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id, ?scope))]
    pub async fn logout(&self, principal: &Principal, scope: LogoutScope) -> Result<(), StoreError> {
        let (scope, detail) = match scope {
            LogoutScope::Local => (RevokeScope::Session(principal.session_id), "scope=local"),
            LogoutScope::Global => (RevokeScope::User(principal.user_id), "scope=global"),
            LogoutScope::Others => (RevokeScope::UserExcept(principal.user_id, principal.session_id), "scope=others"),
        };
        let audit = principal.event(self.clock.now(), AuditAction::Logout).about(principal.user_id).detail(detail);
        self.revoke_audited(scope, RevocationReason::Logout, Some(&audit)).await.map(|_| ())
    }

    /// The principal's live sessions, newest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<SessionView>, StoreError> {
        let now = self.clock.now();
        let sessions = self.sessions.list_live(principal.user_id, now).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView { current: session.id == principal.session_id, session })
            .collect())
    }

    /// Revokes one of the principal's own sessions.
    ///
    /// # Errors
    /// [`RevokeSessionError::NotFound`] for an unknown, ended, or another
    /// user's session.
    #[tracing::instrument(skip_all, fields(user_id = %principal.user_id, session_id = %id))]
    pub async fn revoke_own_session(&self, principal: &Principal, id: SessionId) -> Result<(), RevokeSessionError> {
        let now = self.clock.now();
        match self.sessions.find(id).await? {
            Some(s) if s.user_id == principal.user_id && s.state(now) == SessionState::Live => {
                let audit =
                    principal.event(now, AuditAction::Logout).about(principal.user_id).detail(format!("session={id}"));
                self.revoke_audited(RevokeScope::Session(id), RevocationReason::Logout, Some(&audit)).await?;
                Ok(())
            }
            _ => Err(RevokeSessionError::NotFound),
        }
    }
}
