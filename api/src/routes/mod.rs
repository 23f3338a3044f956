//! Handlers, grouped by resource; each module has one `configure()`.

pub mod admin;
pub mod auth;
pub mod health;
pub mod jwks;
pub mod sessions;

use actix_web::{HttpRequest, web};
use gatehouse_application::{Adapters, Gatehouse, Principal};

use std::net::IpAddr;

use crate::{client_address::TrustedProxies, error::ApiError, extract::bearer_token};

/// The application as handlers receive it.
pub type App<A> = web::Data<Gatehouse<A>>;

/// Authenticates the request's bearer token.
///
/// # Errors
/// The 401 family: `missing_token`, `invalid_token`, `token_expired`,
/// `token_revoked`.
pub fn principal<A: Adapters>(app: &Gatehouse<A>, req: &HttpRequest) -> Result<Principal, ApiError> {
    let token = bearer_token(req)?;
    let mut principal = app.authenticate(token)?;
    principal.client = client_address(req);
    Ok(principal)
}

/// The client's address as the audit trail and the login throttle see it:
/// the TCP peer, or the address a trusted proxy forwarded (see
/// [`TrustedProxies`]).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.of(req),
        None => TrustedProxies::default().of(req),
    }
}

/// [`client_ip`] as the audit trail records it.
pub fn client_address(req: &HttpRequest) -> Option<String> {
    client_ip(req).map(|ip| ip.to_string())
}
