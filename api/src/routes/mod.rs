//! Handlers, grouped by resource; each module has one `configure()`.

pub mod admin;
pub mod auth;
pub mod health;
pub mod jwks;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod service_accounts;
pub mod sessions;

use actix_web::{HttpRequest, web};
use gatehouse_application::Gatehouse;

use std::net::IpAddr;

use crate::client_address::TrustedProxies;

/// The application as handlers receive it.
pub type App<A> = web::Data<Gatehouse<A>>;

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
