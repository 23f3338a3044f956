//! `/.well-known/jwks.json`: the public keys that verify our access tokens.

use actix_web::{HttpResponse, http::header, web};
use gatehouse_application::Adapters;
use serde::Serialize;
use utoipa::ToSchema;

use super::App;

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.well-known/jwks.json").route(web::get().to(jwks::<A>)));
}

/// How long verifiers may cache the JWKS, in seconds
/// (`jwt.jwks_max_age_seconds`).
#[derive(Debug, Clone, Copy)]
pub struct CacheFor(pub u32);

impl Default for CacheFor {
    fn default() -> Self {
        Self(300)
    }
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A public Ed25519 key (RFC 8037).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    #[schema(example = "OKP")]
    pub kty: String,
    #[schema(example = "Ed25519")]
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[schema(example = "EdDSA")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
}

/// Public keys of the signing key and of keys still accepted; empty in HS256 mode.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations", responses((status = 200, body = Jwks)))]
pub async fn jwks<A: Adapters>(app: App<A>, cache: Option<web::Data<CacheFor>>) -> HttpResponse {
    let keys = app
        .published_keys()
        .into_iter()
        .map(|k| Jwk { kty: k.kty, crv: k.crv, x: k.x, kid: k.kid, alg: k.alg, use_: "sig" })
        .collect();
    let max_age = cache.map_or(CacheFor::default().0, |c| c.0);
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}"))).json(Jwks { keys })
}
