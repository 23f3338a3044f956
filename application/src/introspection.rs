//! Token introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Access and service tokens are judged like a request's bearer token:
//! signature, claims, then the in-memory revocation list, so a logout shows
//! as inactive at once on the instance that revoked it and within the feed's
//! bound elsewhere. A refresh token is looked up in the session store.

use gatehouse_domain::{AccessClaims, RefreshDecision, Revocation, ServiceClaims, Session, SessionId, User, UserId};

use crate::{
    Adapters, Gatehouse,
    metrics::RevocationReason,
    ports::{Clock, RefreshTokens, RevokeScope, SessionStore, StoreError, TokenCodec, UserStore},
};

/// What a presented token is, if it is live.
#[derive(Debug)]
pub enum Introspection {
    /// Expired, revoked, forged, unknown or garbage.
    Inactive,
    /// A user's access token.
    Access(AccessClaims),
    /// A service account's access token.
    Service(ServiceClaims),
    /// A user's refresh token of a live session.
    Refresh { session: Session, user: User },
}

impl<A: Adapters> Gatehouse<A> {
    /// Whether `token` is live, and what it says.
    ///
    /// # Errors
    /// [`StoreError`] when a refresh token's session cannot be read.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, StoreError> {
        let now = self.clock.now();
        match self.verified_claims(token) {
            Ok(claims) if !self.revocations.is_revoked(claims.sid) => return Ok(Introspection::Access(claims)),
            Ok(_) | Err(crate::AuthError::Expired) => return Ok(Introspection::Inactive),
            Err(_) => {}
        }
        if let Ok(claims) = self.tokens.verify_service(token) {
            let live = self.policy.check_service(&claims, now).is_ok()
                && !self.revocations.is_revoked(SessionId::from_uuid(claims.sub.as_uuid()))
                && !self.revocations.is_revoked(SessionId::from_uuid(claims.jti));
            return Ok(if live { Introspection::Service(claims) } else { Introspection::Inactive });
        }
        let Some((session_id, generation)) = self.refresh.parse(token) else { return Ok(Introspection::Inactive) };
        let Some(session) = self.sessions.find(session_id).await? else { return Ok(Introspection::Inactive) };
        if !matches!(
            session.judge_refresh(generation, now, self.policy.refresh_reuse_grace),
            RefreshDecision::Rotate | RefreshDecision::Grace
        ) {
            return Ok(Introspection::Inactive);
        }
        match self.users.find_by_id(session.user_id).await? {
            Some(user) if user.is_active() => Ok(Introspection::Refresh { session, user }),
            _ => Ok(Introspection::Inactive),
        }
    }

    /// Revokes what `token` grants: a user's access or refresh token ends
    /// its session; a service token stops working (here at once, on other
    /// instances through the feed). Anything else is ignored: holding a
    /// token is the right to revoke it, and an unknown one needs nothing.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn revoke_token(&self, token: &str) -> Result<(), StoreError> {
        if let Ok(claims) = self.tokens.verify(token) {
            self.revoke(RevokeScope::Session(claims.sid), RevocationReason::Logout).await?;
            return Ok(());
        }
        if let Ok(claims) = self.tokens.verify_service(token) {
            let now = self.clock.now();
            let revocation = Revocation {
                session_id: SessionId::from_uuid(claims.jti),
                user_id: UserId::from_uuid(claims.sub.as_uuid()),
                revoked_at: now,
                relevant_until: self.policy.revocation_relevant_until(now),
            };
            self.sessions.record_revocation(&revocation).await?;
            self.revocations.extend(&[revocation]);
            return Ok(());
        }
        if let Some((session_id, _)) = self.refresh.parse(token) {
            self.revoke(RevokeScope::Session(session_id), RevocationReason::Logout).await?;
        }
        Ok(())
    }
}
