//! Authenticate a bearer token, and what an authenticated principal may do.

use gatehouse_domain::{
    AccessClaims, Amr, AuditAction, AuditEvent, ClaimsError, Permission, Role, SessionId, User, UserId, Username,
};
use time::OffsetDateTime;

use crate::{
    Adapters, Gatehouse,
    ports::{Clock, StoreError, TokenCodec, TokenError, UserStore, VerifiedTokenCache},
};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub username: Username,
    pub role: Role,
    pub session_id: SessionId,
    /// When the session's user signed in.
    pub auth_time: OffsetDateTime,
    /// How they signed in.
    pub amr: Amr,
    /// The client's address, for the audit trail; set by the transport.
    pub client: Option<String>,
}

/// Why a bearer token was refused, or a principal may not proceed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad signature, wrong algorithm, `typ`, issuer or audience, malformed.
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    /// The token's session was revoked or has ended, or its user is gone.
    #[error("token revoked")]
    Revoked,
    /// Authenticated, but the role lacks the permission.
    #[error("insufficient role")]
    Forbidden,
    /// The route needs a session signed in with a second factor.
    #[error("a second factor is required")]
    MfaRequired,
    /// The route needs a sign-in within `security.reauth_max_age`.
    #[error("a recent sign-in is required")]
    ReauthenticationRequired,
    /// A service token without the scope the route needs (`None`: no
    /// scope lets a service token in).
    #[error("insufficient scope")]
    InsufficientScope(Option<gatehouse_domain::Scope>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClaimsError> for AuthError {
    fn from(e: ClaimsError) -> Self {
        match e {
            ClaimsError::Expired => Self::Expired,
            ClaimsError::WrongIssuer
            | ClaimsError::WrongAudience
            | ClaimsError::NotYetValid
            | ClaimsError::IssuedInTheFuture => Self::Invalid,
        }
    }
}

impl<A: Adapters> Gatehouse<A> {
    /// Turns an access token into a principal: signature and header, claim
    /// rules, then the in-memory revocation list (see [`crate::revocations`]).
    ///
    /// # Errors
    /// [`AuthError::Invalid`], [`AuthError::Expired`] or [`AuthError::Revoked`].
    pub fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.verified_claims(token)?;
        // No database round trip: the token is ours (signature), its session
        // existed when it was signed, and it cannot outlive that session; so
        // only a revocation can stop it, and those are held in memory.
        if self.revocations.is_revoked(claims.sid) {
            return Err(AuthError::Revoked);
        }
        Ok(Principal {
            user_id: claims.sub,
            username: claims.username,
            role: claims.role,
            session_id: claims.sid,
            auth_time: OffsetDateTime::from_unix_timestamp(claims.auth_time).map_err(|_| AuthError::Invalid)?,
            amr: claims.amr,
            client: None,
        })
    }

    /// The claims of `token` after the signature and claim checks: from the
    /// cache when it passed them before (the times are checked again on
    /// every hit), else verified and, when it passes, cached.
    pub(crate) fn verified_claims(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let now = self.clock.now();
        if let Some(claims) = self.token_cache.get(token) {
            self.policy.check(&claims, now)?;
            return Ok(claims);
        }
        let claims = self.tokens.verify(token).map_err(|e| match e {
            TokenError::Invalid => AuthError::Invalid,
            TokenError::Internal(e) => AuthError::Store(StoreError::Internal(e)),
        })?;
        self.policy.check(&claims, now)?;
        self.token_cache.insert(token, &claims);
        Ok(claims)
    }

    /// The proof that `principal` signed in recently enough for a
    /// sensitive change (`security.reauth_max_age`).
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`] when the sign-in is older.
    pub fn require_recent(&self, principal: Principal) -> Result<RecentPrincipal, AuthError> {
        if self.security.is_recent(principal.auth_time, self.clock.now()) {
            Ok(RecentPrincipal(principal))
        } else {
            Err(AuthError::ReauthenticationRequired)
        }
    }

    /// The proof that `principal` may administer: a role that grants
    /// [`Permission::Administer`] and, under `mfa.required_for_admin`, a
    /// session signed in with a second factor.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] for the role, then
    /// [`AuthError::MfaRequired`].
    pub fn authorize_admin(&self, principal: Principal) -> Result<AdminPrincipal, AuthError> {
        let admin = principal.into_admin()?;
        if self.security.mfa_required_for_admin && !admin.0.amr.is_multi_factor() {
            return Err(AuthError::MfaRequired);
        }
        Ok(admin)
    }

    /// The principal's account, as stored now.
    ///
    /// # Errors
    /// [`AuthError::Revoked`] when the account no longer exists or is disabled.
    pub async fn current_user(&self, principal: &Principal) -> Result<User, AuthError> {
        match self.users.find_by_id(principal.user_id).await? {
            Some(user) if user.is_active() => Ok(user),
            _ => Err(AuthError::Revoked),
        }
    }
}

impl Principal {
    /// A successful audit event acted by this principal, from its client.
    pub fn event(&self, at: time::OffsetDateTime, action: AuditAction) -> AuditEvent {
        AuditEvent::success(at, action).by(self.user_id).client(self.client.as_deref())
    }

    /// Whether the principal's role grants `permission`.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] when it does not.
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        if self.role.allows(permission) { Ok(()) } else { Err(AuthError::Forbidden) }
    }

    /// The role half of [`Gatehouse::authorize_admin`], which drivers call.
    fn into_admin(self) -> Result<AdminPrincipal, AuthError> {
        self.require(Permission::Administer)?;
        Ok(AdminPrincipal(self))
    }
}

/// A principal whose role grants [`Permission::Administer`] (and who meets
/// the admin MFA policy). Only [`Gatehouse::authorize_admin`] makes one, and the admin use cases take it
/// instead of a [`Principal`]: the permission is checked once, where the
/// proof is made, and no admin use case can run without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal(Principal);

impl AdminPrincipal {
    /// The admin as a plain principal (actor of audit events, ...).
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

/// A principal whose sign-in is recent (within
/// `security.reauth_max_age`). Only [`Gatehouse::require_recent`] makes
/// one, and the use cases that change how an account signs in take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentPrincipal(Principal);

impl RecentPrincipal {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

/// A service client allowed on an admin route by one of its scopes. Only
/// [`Gatehouse::authorize_service`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAdmin(crate::ServicePrincipal);

impl ServiceAdmin {
    pub fn service(&self) -> &crate::ServicePrincipal {
        &self.0
    }
}

/// Who acts in an admin use case: an admin user, or a service client whose
/// token carries the route's scope. The audit trail records either as the
/// actor (a service account by its id).
pub trait ActsAsAdmin: Send + Sync {
    /// A successful event acted by this operator.
    fn audit_event(&self, at: OffsetDateTime, action: AuditAction) -> AuditEvent;
    /// The actor's id: the user's, or the service account's.
    fn actor_id(&self) -> uuid::Uuid;
}

impl ActsAsAdmin for AdminPrincipal {
    fn audit_event(&self, at: OffsetDateTime, action: AuditAction) -> AuditEvent {
        self.0.event(at, action)
    }

    fn actor_id(&self) -> uuid::Uuid {
        self.0.user_id.as_uuid()
    }
}

impl ActsAsAdmin for ServiceAdmin {
    fn audit_event(&self, at: OffsetDateTime, action: AuditAction) -> AuditEvent {
        AuditEvent::success(at, action).by(UserId::from_uuid(self.0.account_id.as_uuid()))
    }

    fn actor_id(&self) -> uuid::Uuid {
        self.0.account_id.as_uuid()
    }
}

/// An admin user or a scoped service client, as an admin route that
/// accepts both receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Admin(AdminPrincipal),
    Service(ServiceAdmin),
}

impl ActsAsAdmin for Operator {
    fn audit_event(&self, at: OffsetDateTime, action: AuditAction) -> AuditEvent {
        match self {
            Self::Admin(a) => a.audit_event(at, action),
            Self::Service(s) => s.audit_event(at, action),
        }
    }

    fn actor_id(&self) -> uuid::Uuid {
        match self {
            Self::Admin(a) => a.actor_id(),
            Self::Service(s) => s.actor_id(),
        }
    }
}

impl<A: Adapters> Gatehouse<A> {
    /// The proof that a service client may act on an admin route that
    /// `scope` opens.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] when its token lacks `scope`.
    pub fn authorize_service(
        &self,
        service: crate::ServicePrincipal,
        scope: gatehouse_domain::Scope,
    ) -> Result<ServiceAdmin, AuthError> {
        if service.has(scope) { Ok(ServiceAdmin(service)) } else { Err(AuthError::InsufficientScope(Some(scope))) }
    }
}
