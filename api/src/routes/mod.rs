//! Handlers, grouped by resource; each module has one `configure()`.

pub mod admin;
pub mod auth;
pub mod health;
pub mod jwks;
pub mod sessions;

use actix_web::{HttpRequest, web};
use gatehouse_application::{Adapters, Gatehouse, Principal};

use crate::{error::ApiError, extract::bearer_token};

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
/// the TCP peer (a proxy in front means the proxy's address).
pub fn client_address(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|addr| addr.ip().to_string())
}
