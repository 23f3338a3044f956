//! CORS for browser apps on other origins (`server.cors_allowed_origins`).
//!
//! Written here rather than with `actix-cors`, because the contract asks
//! for what that crate does differently: a preflight answers 204 (not 200)
//! with the methods of the route it asks about (not one global list), and a
//! request from an origin that is not allowed is served as usual, only
//! without `Access-Control-*` headers (not refused with 400), so that a
//! server-to-server client that happens to send `Origin` keeps working.
//!
//! Tokens travel in the `Authorization` header, never in cookies, so
//! `Access-Control-Allow-Credentials` is never sent.

use actix_web::{
    HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderValue},
    },
    middleware::Next,
    web,
};

use crate::server::AllowTable;

/// Request headers a browser app may send.
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id";
/// Response headers a browser app may read.
const EXPOSE_HEADERS: &str = "retry-after, www-authenticate, x-request-id";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The origins allowed to call the API from a browser, as browsers send
/// them (`scheme://host[:port]`, lower case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// Parses `server.cors_allowed_origins`.
    ///
    /// # Errors
    /// The first entry that is not an origin (a path, a wildcard, no
    /// scheme...), as given.
    pub fn parse<S: AsRef<str>>(origins: &[S]) -> Result<Self, String> {
        origins
            .iter()
            .map(|raw| {
                let raw = raw.as_ref().trim();
                let lower = raw.to_ascii_lowercase();
                let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
                match rest {
                    Some(host) if !host.is_empty() && !host.contains(['/', '*', '?', '#', ' ', '@']) => Ok(lower),
                    _ => Err(format!("{raw:?} is not an origin such as \"https://app.example\"")),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    fn is_enabled(&self) -> bool {
        !self.0.is_empty()
    }
}

/// The middleware: answers preflights before anything else looks at the
/// request, and adds the CORS headers to every other answer (errors too)
/// for an allowed origin.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origins = req.app_data::<web::Data<CorsOrigins>>().map(|o| o.get_ref().clone()).unwrap_or_default();
    if !origins.is_enabled() {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| origins.allows(o))
        .and_then(|o| HeaderValue::from_str(o).ok());
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = match (&origin, preflight) {
        (Some(origin), true) => {
            let methods = req
                .app_data::<web::Data<AllowTable>>()
                .and_then(|table| table.allow_for_path(req.path()).map(str::to_owned))
                .unwrap_or_default();
            let mut answer = HttpResponse::NoContent();
            answer
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE));
            req.into_response(answer.finish())
        }
        _ => next.call(req).await?.map_into_boxed_body(),
    };
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (Some(origin), false) = (origin, preflight) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        let origins = CorsOrigins::parse(&["https://App.Example", "http://localhost:5173"]).unwrap();
        assert!(origins.allows("https://app.example"));
        assert!(origins.allows("http://localhost:5173"));
        assert!(!origins.allows("https://evil.example"));
        for bad in ["*", "app.example", "https://app.example/", "https://*.example", "ftp://x", "https://"] {
            assert!(CorsOrigins::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
