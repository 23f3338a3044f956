//! What a route needs from its caller, as a type in the handler's
//! signature.
//!
//! [`Auth<A, R>`] authenticates the bearer token (the 401 family) and then
//! applies the [`Requirement`] `R`, which turns the principal into the proof
//! the route's use case takes (or refuses with a 403). Adding a requirement
//! is one new type:
//!
//! ```text
//! async fn audit<A: Adapters>(app: App<A>, admin: Admin<A>) -> ... {
//!     app.audit_events(&admin, ...)   // takes &AdminPrincipal
//! }
//! ```
//!
//! Permissions are decided once, in the application: a requirement only
//! asks it for its proof ([`Gatehouse::authorize_admin`] makes the
//! [`AdminPrincipal`] that the admin use cases demand,
//! [`Gatehouse::require_recent`] the [`RecentPrincipal`] of routes that
//! change how an account signs in), so no handler and no use case repeats
//! the check.

use std::{
    future::{Ready, ready},
    marker::PhantomData,
    ops::Deref,
};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use gatehouse_application::{
    Adapters, AdminPrincipal, AuthError, Gatehouse, Operator, Principal, RecentPrincipal, ServicePrincipal,
};
use gatehouse_domain::Scope;

use crate::{error::ApiError, extract::bearer_token, routes::client_address};

/// What a route demands of an authenticated principal, and the proof it
/// hands the handler.
pub trait Requirement: 'static {
    /// What the handler receives.
    type Proof;

    /// Checks `principal` against the application's rules (the request is
    /// there for requirements that depend on it) and makes the proof.
    ///
    /// # Errors
    /// The 403 answer when the principal falls short.
    fn check<A: Adapters>(app: &Gatehouse<A>, principal: Principal, req: &HttpRequest)
    -> Result<Self::Proof, ApiError>;

    /// Checks a service client (a valid service token). By default no
    /// service token may pass: 403 `insufficient_scope`.
    ///
    /// # Errors
    /// The 403 answer when the client falls short.
    fn check_service<A: Adapters>(
        _app: &Gatehouse<A>,
        _service: ServicePrincipal,
        _req: &HttpRequest,
    ) -> Result<Self::Proof, ApiError> {
        Err(ApiError::InsufficientScope(None))
    }
}

/// The scope that lets a service token onto a route.
pub trait ScopeMarker: 'static {
    const SCOPE: Scope;
}

/// `users:read`.
#[derive(Debug)]
pub struct UsersRead;
impl ScopeMarker for UsersRead {
    const SCOPE: Scope = Scope::UsersRead;
}

/// `users:write`.
#[derive(Debug)]
pub struct UsersWrite;
impl ScopeMarker for UsersWrite {
    const SCOPE: Scope = Scope::UsersWrite;
}

/// `audit:read`.
#[derive(Debug)]
pub struct AuditRead;
impl ScopeMarker for AuditRead {
    const SCOPE: Scope = Scope::AuditRead;
}

/// An admin user, or a service client whose token carries `S`.
#[derive(Debug)]
pub struct AdminOrScope<S>(std::marker::PhantomData<S>);

impl<S: ScopeMarker> Requirement for AdminOrScope<S> {
    type Proof = Operator;

    fn check<A: Adapters>(app: &Gatehouse<A>, principal: Principal, _: &HttpRequest) -> Result<Operator, ApiError> {
        Ok(Operator::Admin(app.authorize_admin(principal)?))
    }

    fn check_service<A: Adapters>(
        app: &Gatehouse<A>,
        service: ServicePrincipal,
        _: &HttpRequest,
    ) -> Result<Operator, ApiError> {
        Ok(Operator::Service(app.authorize_service(service, S::SCOPE)?))
    }
}

/// Any valid session: a signed-in user.
#[derive(Debug)]
pub struct Session;

impl Requirement for Session {
    type Proof = Principal;

    fn check<A: Adapters>(_: &Gatehouse<A>, principal: Principal, _: &HttpRequest) -> Result<Principal, ApiError> {
        Ok(principal)
    }

    /// A user's route: a service token is not a token for it.
    fn check_service<A: Adapters>(
        _: &Gatehouse<A>,
        _: ServicePrincipal,
        _: &HttpRequest,
    ) -> Result<Principal, ApiError> {
        Err(ApiError::InvalidToken)
    }
}

/// A signed-in user whose sign-in is recent (`security.reauth_max_age_seconds`).
#[derive(Debug)]
pub struct RecentSignIn;

impl Requirement for RecentSignIn {
    type Proof = RecentPrincipal;

    fn check<A: Adapters>(
        app: &Gatehouse<A>,
        principal: Principal,
        _: &HttpRequest,
    ) -> Result<RecentPrincipal, ApiError> {
        Ok(app.require_recent(principal)?)
    }

    /// A user's route: a service token is not a token for it.
    fn check_service<A: Adapters>(
        _: &Gatehouse<A>,
        _: ServicePrincipal,
        _: &HttpRequest,
    ) -> Result<RecentPrincipal, ApiError> {
        Err(ApiError::InvalidToken)
    }
}

/// A user whose role may administer.
#[derive(Debug)]
pub struct AdminRole;

impl Requirement for AdminRole {
    type Proof = AdminPrincipal;

    fn check<A: Adapters>(
        app: &Gatehouse<A>,
        principal: Principal,
        _: &HttpRequest,
    ) -> Result<AdminPrincipal, ApiError> {
        Ok(app.authorize_admin(principal)?)
    }
}

/// An authenticated caller that meets `R`; dereferences to `R`'s proof.
pub struct Auth<A, R: Requirement> {
    proof: R::Proof,
    _app: PhantomData<fn() -> A>,
}

/// Any signed-in user.
pub type Authenticated<A> = Auth<A, Session>;
/// A signed-in admin (with a second factor under `mfa.required_for_admin`).
pub type Admin<A> = Auth<A, AdminRole>;
/// A user who signed in recently.
pub type Recent<A> = Auth<A, RecentSignIn>;
/// An admin user, or a service token with scope `S`.
pub type AdminOr<A, S> = Auth<A, AdminOrScope<S>>;

impl<A, R: Requirement> Deref for Auth<A, R> {
    type Target = R::Proof;

    fn deref(&self) -> &R::Proof {
        &self.proof
    }
}

impl<A, R: Requirement> std::fmt::Debug for Auth<A, R>
where
    R::Proof: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Auth").field(&self.proof).finish()
    }
}

impl<A: Adapters, R: Requirement> FromRequest for Auth<A, R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// Runs at once, before any body is read: a missing or bad token is the
    /// answer even when the body is bad too.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(app::<A>(req).and_then(|app| {
            let token = bearer_token(req)?;
            let principal = match app.authenticate(token) {
                Ok(mut principal) => {
                    principal.client = client_address(req);
                    principal
                }
                // Not a user's token: perhaps a service client's.
                Err(AuthError::Invalid) => {
                    return match app.authenticate_service(token) {
                        Ok(service) => R::check_service(app, service, req),
                        Err(AuthError::Invalid) => Err(AuthError::Invalid.into()),
                        Err(e) => Err(e.into()),
                    }
                    .map(|proof| Self { proof, _app: PhantomData });
                }
                Err(e) => return Err(e.into()),
            };
            // Body readers that depend on who asks find the principal here.
            req.extensions_mut().insert(principal.clone());
            R::check(app, principal, req).map(|proof| Self { proof, _app: PhantomData })
        }))
    }
}

fn app<A: Adapters>(req: &HttpRequest) -> Result<&Gatehouse<A>, ApiError> {
    req.app_data::<web::Data<Gatehouse<A>>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| ApiError::Internal("the application is not registered with the server".into()))
}
