//! `/metrics`: the operator's metrics in the Prometheus text format.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use gatehouse_application::Adapters;
use secrecy::{ExposeSecret, SecretString};

use super::App;
use crate::{error::ApiError, extract::bearer_token};

/// `metrics.token`: when set, a scrape must present it as a bearer token.
#[derive(Debug, Clone, Default)]
pub struct MetricsToken(pub Option<SecretString>);

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics::<A>)));
}

/// Prometheus text exposition format 0.0.4 (requests by route and status,
/// latency, logins, refreshes, revocations, password hashing).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, response = crate::responses::Unauthorized),
    ))]
pub async fn metrics<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    token: Option<web::Data<MetricsToken>>,
) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = token.as_ref().and_then(|t| t.0.as_ref()) {
        let presented = bearer_token(&req)?;
        if !same_secret(presented.as_bytes(), expected.expose_secret().as_bytes()) {
            return Err(ApiError::InvalidToken);
        }
    }
    let text = app.metrics_text().unwrap_or_default();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text))
}

/// Compares in time that depends only on the lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_byte_for_byte() {
        assert!(same_secret(b"scrape-token", b"scrape-token"));
        assert!(!same_secret(b"scrape-token", b"scrape-tokem"));
        assert!(!same_secret(b"scrape", b"scrape-token"));
    }
}
