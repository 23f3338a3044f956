//! Access-token claims and the policy that issues and checks them.
//!
//! Signature and header checks belong to the token codec; every rule about
//! the claims themselves (issuer, audience and the three timestamps) lives
//! here, with time passed in, so it is tested without a clock.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{Amr, Role, Scopes, ServiceAccount, ServiceAccountId, Session, SessionId, User, UserId, Username};

/// The claims of a Gatehouse access token. Every field is required.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not before, seconds since the Unix epoch.
    pub nbf: i64,
    pub jti: Uuid,
    pub sid: SessionId,
    pub role: Role,
    pub username: Username,
    /// When the user signed in, seconds since the Unix epoch (OIDC
    /// `auth_time`); kept across refreshes.
    pub auth_time: i64,
    /// How the user signed in (RFC 8176); kept across refreshes.
    pub amr: Amr,
}

/// The claims of a service token (RFC 9068): a service account's, issued
/// with the client-credentials grant. No `sid`, `role` or `username`: a
/// service token can never pass as a user's, nor the reverse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceClaims {
    pub iss: String,
    pub aud: String,
    /// The service account.
    pub sub: ServiceAccountId,
    pub client_id: String,
    pub scope: Scopes,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Uuid,
}

/// Lifetimes, identity and tolerance of the tokens this service issues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How long a rotated-away refresh token still answers with the current
    /// pair instead of counting as reuse.
    pub refresh_reuse_grace: Duration,
}

/// Why claims that carry a valid signature are still refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token claims to be issued in the future")]
    IssuedInTheFuture,
}

impl Default for TokenPolicy {
    /// The contract's defaults: 15-minute access tokens, 30-day sessions,
    /// 30 seconds of leeway and a 10-second refresh grace.
    fn default() -> Self {
        Self {
            issuer: "gatehouse".into(),
            audience: "gatehouse".into(),
            access_ttl: Duration::seconds(900),
            refresh_ttl: Duration::seconds(2_592_000),
            leeway: Duration::seconds(30),
            refresh_reuse_grace: Duration::seconds(10),
        }
    }
}

impl TokenPolicy {
    /// The claims of a new access token for `user` in `session`, issued at
    /// `now`. The token never outlives its session.
    pub fn access_claims(&self, user: &User, session: &Session, jti: Uuid, now: OffsetDateTime) -> AccessClaims {
        let iat = now.unix_timestamp();
        AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id,
            exp: (iat + self.access_ttl.whole_seconds()).min(session.expires_at.unix_timestamp()),
            iat,
            nbf: iat,
            jti,
            sid: session.id,
            role: user.role,
            username: user.username.clone(),
            auth_time: session.auth_time.unix_timestamp(),
            amr: session.amr.clone(),
        }
    }

    /// The claims of a new service token for `account` with `scope`, issued
    /// at `now`; it lasts the access-token lifetime.
    pub fn service_claims(
        &self,
        account: &ServiceAccount,
        scope: Scopes,
        jti: Uuid,
        now: OffsetDateTime,
    ) -> ServiceClaims {
        let iat = now.unix_timestamp();
        ServiceClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: account.id,
            client_id: account.client_id.clone(),
            scope,
            exp: iat + self.access_ttl.whole_seconds(),
            iat,
            nbf: iat,
            jti,
        }
    }

    /// [`Self::check`] for a service token.
    ///
    /// # Errors
    /// The first [`ClaimsError`] found.
    pub fn check_service(&self, claims: &ServiceClaims, now: OffsetDateTime) -> Result<(), ClaimsError> {
        self.check_parts(&claims.iss, &claims.aud, claims.exp, claims.nbf, claims.iat, now)
    }

    /// When a session opened at `now` stops accepting its refresh token.
    pub fn session_expiry(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self.refresh_ttl
    }

    /// Until when a session revoked at `revoked_at` must be remembered as
    /// revoked: after that, every access token it issued has expired (with
    /// leeway).
    pub fn revocation_relevant_until(&self, revoked_at: OffsetDateTime) -> OffsetDateTime {
        revoked_at + self.access_ttl + self.leeway
    }

    /// Checks issuer, audience, `exp`, `nbf` and `iat` at `now`, each time
    /// rule with the configured leeway.
    ///
    /// # Errors
    /// The first [`ClaimsError`] found.
    pub fn check(&self, claims: &AccessClaims, now: OffsetDateTime) -> Result<(), ClaimsError> {
        self.check_parts(&claims.iss, &claims.aud, claims.exp, claims.nbf, claims.iat, now)
    }

    fn check_parts(
        &self,
        iss: &str,
        aud: &str,
        exp: i64,
        nbf: i64,
        iat: i64,
        now: OffsetDateTime,
    ) -> Result<(), ClaimsError> {
        if iss != self.issuer {
            return Err(ClaimsError::WrongIssuer);
        }
        if aud != self.audience {
            return Err(ClaimsError::WrongAudience);
        }
        let now = now.unix_timestamp();
        let leeway = self.leeway.whole_seconds();
        if now >= exp.saturating_add(leeway) {
            return Err(ClaimsError::Expired);
        }
        if now.saturating_add(leeway) < nbf {
            return Err(ClaimsError::NotYetValid);
        }
        if now.saturating_add(leeway) < iat {
            return Err(ClaimsError::IssuedInTheFuture);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::{PasswordHash, SessionId};

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn alice() -> User {
        User {
            id: UserId::from_uuid(Uuid::from_u128(1)),
            username: Username::parse("alice").unwrap(),
            password_hash: PasswordHash::new("x".into()),
            role: Role::User,
            disabled: false,
            created_at: NOW,
        }
    }

    fn session(expires_at: OffsetDateTime) -> Session {
        Session {
            id: SessionId::from_uuid(Uuid::from_u128(2)),
            user_id: UserId::from_uuid(Uuid::from_u128(1)),
            generation: 0,
            rotated_at: None,
            created_at: NOW,
            last_used_at: NOW,
            expires_at,
            revoked_at: None,
            auth_time: NOW - Duration::seconds(120),
            amr: Amr::password(),
        }
    }

    fn claims(policy: &TokenPolicy) -> AccessClaims {
        policy.access_claims(&alice(), &session(policy.session_expiry(NOW)), Uuid::from_u128(3), NOW)
    }

    #[test]
    fn an_access_token_never_outlives_its_session() {
        let policy = TokenPolicy::default();
        let c = policy.access_claims(&alice(), &session(NOW + Duration::seconds(60)), Uuid::from_u128(3), NOW);
        assert_eq!(c.exp, NOW.unix_timestamp() + 60);
    }

    #[test]
    fn revocations_matter_until_the_last_access_token_has_expired() {
        let policy = TokenPolicy::default();
        assert_eq!(policy.revocation_relevant_until(NOW), NOW + Duration::seconds(930));
    }

    #[test]
    fn issued_claims_last_for_the_access_ttl() {
        let policy = TokenPolicy::default();
        let c = claims(&policy);
        assert_eq!(c.exp - c.iat, 900);
        assert_eq!(c.nbf, c.iat);
        assert_eq!(c.username.as_str(), "alice");
        assert_eq!(c.auth_time, NOW.unix_timestamp() - 120, "the sign-in time, not the issue time");
        assert_eq!(c.amr, Amr::password());
        assert_eq!(policy.check(&c, NOW), Ok(()));
    }

    #[test]
    fn tokens_expire_after_the_ttl_plus_leeway() {
        let policy = TokenPolicy::default();
        let c = claims(&policy);
        assert_eq!(policy.check(&c, NOW + Duration::seconds(929)), Ok(()));
        assert_eq!(policy.check(&c, NOW + Duration::seconds(930)), Err(ClaimsError::Expired));
    }

    #[test]
    fn tokens_from_the_future_are_refused_beyond_the_leeway() {
        let policy = TokenPolicy::default();
        let mut c = claims(&policy);
        c.nbf += 31;
        assert_eq!(policy.check(&c, NOW), Err(ClaimsError::NotYetValid));
        c.nbf -= 1;
        assert_eq!(policy.check(&c, NOW), Ok(()));
        let mut c = claims(&policy);
        c.iat += 31;
        assert_eq!(policy.check(&c, NOW), Err(ClaimsError::IssuedInTheFuture));
    }

    #[test]
    fn tokens_for_another_issuer_or_audience_are_refused() {
        let policy = TokenPolicy::default();
        let mut c = claims(&policy);
        c.iss = "evil".into();
        assert_eq!(policy.check(&c, NOW), Err(ClaimsError::WrongIssuer));
        let mut c = claims(&policy);
        c.aud = "other-service".into();
        assert_eq!(policy.check(&c, NOW), Err(ClaimsError::WrongAudience));
    }

    #[test]
    fn service_tokens_last_for_the_access_ttl_and_are_checked_like_user_tokens() {
        let policy = TokenPolicy::default();
        let account = ServiceAccount {
            id: ServiceAccountId::from_uuid(Uuid::from_u128(9)),
            name: crate::ServiceName::parse("billing").unwrap(),
            client_id: "svc_1".into(),
            secret_hash: crate::Digest([0; 32]),
            scopes: Scopes::new([crate::Scope::UsersRead]),
            created_at: NOW,
        };
        let mut c = policy.service_claims(&account, account.scopes.clone(), Uuid::from_u128(3), NOW);
        assert_eq!((c.sub, c.client_id.as_str(), c.exp - c.iat), (account.id, "svc_1", 900));
        assert_eq!(policy.check_service(&c, NOW + Duration::seconds(929)), Ok(()));
        assert_eq!(policy.check_service(&c, NOW + Duration::seconds(930)), Err(ClaimsError::Expired));
        c.aud = "other".into();
        assert_eq!(policy.check_service(&c, NOW), Err(ClaimsError::WrongAudience));
    }

    #[test]
    fn sessions_last_for_the_refresh_ttl() {
        let policy = TokenPolicy::default();
        assert_eq!(policy.session_expiry(NOW), NOW + Duration::days(30));
    }
}
