//! The OAuth 2.0 endpoints: `/oauth/token` (client credentials),
//! `/oauth/introspect`, `/oauth/revoke` and the authorization-server
//! metadata.
//!
//! These follow RFC 6749 rather than the problem format: bodies are
//! `application/x-www-form-urlencoded`, errors are
//! `{"error": "...", "error_description": "..."}` (what stock OAuth clients
//! parse), and a 401 carries `WWW-Authenticate: Basic`.

use std::collections::HashMap;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{StatusCode, header},
    web::{self, Bytes},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use gatehouse_application::{Adapters, ClientAuthError, Introspection};
use gatehouse_domain::{Scope, service::ALL_SCOPES};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use super::App;

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/token").route(web::post().to(token::<A>)))
        .service(web::resource("/oauth/introspect").route(web::post().to(introspect::<A>)))
        .service(web::resource("/oauth/revoke").route(web::post().to(revoke::<A>)))
        .service(web::resource("/.well-known/oauth-authorization-server").route(web::get().to(metadata::<A>)));
}

/// Where the metadata's endpoint URLs start (`server.public_url`).
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

/// An RFC 6749 error answer.
#[derive(Debug, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

/// The body of an OAuth error.
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`,
    /// `invalid_scope`, `insufficient_scope`, `slow_down` (throttled) or
    /// `temporarily_unavailable`.
    #[schema(example = "invalid_client")]
    pub error: &'static str,
    pub error_description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), retry_after: None }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn invalid_client() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.")
    }
}

impl From<ClientAuthError> for OAuthError {
    fn from(e: ClientAuthError) -> Self {
        match e {
            ClientAuthError::InvalidClient => Self::invalid_client(),
            ClientAuthError::InvalidScope(e) => Self::new(StatusCode::BAD_REQUEST, "invalid_scope", format!("{e}.")),
            ClientAuthError::Throttled { retry_after } => Self {
                retry_after: Some(u64::try_from(retry_after.whole_seconds().max(1)).unwrap_or(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "slow_down", "Too many failed client authentications.")
            },
            ClientAuthError::Store(e) => {
                let unavailable = matches!(e, gatehouse_application::ports::StoreError::Unavailable(_));
                if unavailable {
                    tracing::warn!(cause = %e, "database unavailable");
                } else {
                    tracing::error!(cause = %e, "internal error");
                }
                Self {
                    retry_after: unavailable.then_some(5),
                    ..Self::new(
                        if unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR },
                        if unavailable { "temporarily_unavailable" } else { "server_error" },
                        "The service cannot answer right now; try again shortly.",
                    )
                }
            }
            ClientAuthError::Token(e) => {
                tracing::error!(cause = %e, "token signing failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Something went wrong on our side.")
            }
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="gatehouse""#));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(OAuthErrorBody { error: self.error, error_description: self.description.clone() })
    }
}

/// A form body: each parameter once (RFC 6749 section 3.2), empty values
/// treated as absent.
pub struct Form(HashMap<String, String>);

impl Form {
    /// Parses `body`, which must be sent as form-urlencoded.
    ///
    /// # Errors
    /// `invalid_request` for another content type, a body that does not
    /// parse, or a repeated parameter.
    pub fn parse(req: &HttpRequest, body: &Bytes) -> Result<Self, OAuthError> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form {
            return Err(OAuthError::invalid_request("Send the body as application/x-www-form-urlencoded."));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("The body is not a valid form."))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!("The parameter {key} is repeated.")));
            }
        }
        map.retain(|_, v| !v.is_empty());
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The client's credentials, from HTTP Basic (`client_secret_basic`) or
/// the body (`client_secret_post`), never both.
///
/// # Errors
/// `invalid_request` for both, `invalid_client` for none or a malformed
/// Basic header.
pub fn client_credentials(req: &HttpRequest, form: &Form) -> Result<(String, SecretString), OAuthError> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| {
            let text = v.to_str().map_err(|_| OAuthError::invalid_client())?;
            let (scheme, encoded) = text.split_once(' ').ok_or_else(OAuthError::invalid_client)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client());
            }
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| OAuthError::invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            // RFC 6749 section 2.3.1: each part is form-encoded first.
            let unescape = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
                    .ok_or_else(OAuthError::invalid_client)
            };
            Ok((unescape(id)?, SecretString::from(unescape(secret)?)))
        })
        .transpose()?;
    let posted = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), SecretString::from(secret.to_owned()))),
        (None, None) => None,
        _ if basic.is_some() => None,
        _ => return Err(OAuthError::invalid_client()),
    };
    match (basic, posted) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("Authenticate the client one way, not two.")),
        (Some(credentials), None) | (None, Some(credentials)) => Ok(credentials),
        (None, None) => Err(OAuthError::invalid_client()),
    }
}

/// `POST /oauth/token` form parameters.
#[derive(ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`.
    #[schema(example = "client_credentials")]
    pub grant_type: String,
    /// Space-separated subset of the client's scopes; all of them when
    /// omitted.
    #[schema(example = "users:read")]
    pub scope: Option<String>,
    /// With `client_secret_post`.
    pub client_id: Option<String>,
    /// With `client_secret_post`.
    #[schema(format = Password)]
    pub client_secret: Option<String>,
}

/// A service token (RFC 6749 section 5.1).
#[derive(Serialize, ToSchema)]
pub struct ServiceTokenBody {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: i64,
    #[schema(example = "users:read")]
    pub scope: String,
}

/// The client-credentials grant: a service token for an authenticated
/// client.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "A service token; `Cache-Control: no-store`", body = ServiceTokenBody),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type` or `invalid_scope`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic"))),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 429, description = "`slow_down`: too many failed client authentications", body = OAuthErrorBody,
            headers(("Retry-After" = u64))),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody, headers(("Retry-After" = u64))),
    ))]
pub async fn token<A: Adapters>(app: App<A>, req: HttpRequest, body: Bytes) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    let (client_id, client_secret) = client_credentials(&req, &form)?;
    match form.get("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only client_credentials is supported.",
            ));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required.")),
    }
    let token = app.issue_service_token(&client_id, &client_secret, form.get("scope")).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(ServiceTokenBody {
            access_token: token.access_token.expose_secret().to_owned(),
            token_type: "Bearer",
            expires_in: token.expires_in.whole_seconds(),
            scope: token.scope.to_string(),
        }))
}

/// Authorization-server metadata (RFC 8414).
#[derive(Serialize, ToSchema)]
pub struct MetadataBody {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
}

/// What this authorization server offers, with absolute URLs built from
/// `server.public_url`.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "The metadata", body = MetadataBody)))]
pub async fn metadata<A: Adapters>(app: App<A>, req: HttpRequest) -> HttpResponse {
    let base = req.app_data::<web::Data<PublicUrl>>().map_or("http://127.0.0.1:8080", |u| u.0.as_str());
    let base = base.trim_end_matches('/');
    let auth_methods = vec!["client_secret_basic", "client_secret_post"];
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=300")).json(MetadataBody {
        issuer: app.policy().issuer.clone(),
        token_endpoint: format!("{base}/oauth/token"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        introspection_endpoint: format!("{base}/oauth/introspect"),
        revocation_endpoint: format!("{base}/oauth/revoke"),
        grant_types_supported: vec!["client_credentials"],
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: auth_methods,
        scopes_supported: ALL_SCOPES.iter().map(|s| s.as_str()).collect(),
        response_types_supported: Vec::new(),
    })
}

impl From<gatehouse_application::ports::StoreError> for OAuthError {
    fn from(e: gatehouse_application::ports::StoreError) -> Self {
        ClientAuthError::Store(e).into()
    }
}

/// `POST /oauth/introspect` and `/oauth/revoke` form parameters.
#[derive(ToSchema)]
pub struct TokenParameter {
    /// The token to look at: an access, refresh or service token.
    pub token: String,
    /// `access_token` or `refresh_token`; only a hint.
    pub token_type_hint: Option<String>,
    /// With `client_secret_post` (introspection only).
    pub client_id: Option<String>,
    /// With `client_secret_post` (introspection only).
    #[schema(format = Password)]
    pub client_secret: Option<String>,
}

/// An introspection answer (RFC 7662); `{"active": false}` for anything
/// that is not a live token.
#[derive(Serialize, ToSchema, Default)]
pub struct IntrospectionBody {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Whether a token is live, for resource servers that must know about
/// revocations (RFC 7662). The caller authenticates as a client with the
/// `introspect` scope.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "`active` and, for a live token, its claims; `Cache-Control: no-store`", body = IntrospectionBody),
        (status = 400, description = "`invalid_request`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "Basic"))),
        (status = 403, description = "`insufficient_scope`: the client lacks `introspect`", body = OAuthErrorBody),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 429, description = "`slow_down`", body = OAuthErrorBody, headers(("Retry-After" = u64))),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody, headers(("Retry-After" = u64))),
    ))]
pub async fn introspect<A: Adapters>(app: App<A>, req: HttpRequest, body: Bytes) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    let (client_id, client_secret) = client_credentials(&req, &form)?;
    let client = app.authenticate_client(&client_id, &client_secret).await?;
    if !client.scopes.contains(Scope::Introspect) {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "This client lacks the introspect scope.",
        ));
    }
    let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let body = match app.introspect(token).await? {
        Introspection::Inactive => IntrospectionBody::default(),
        Introspection::Access(c) => IntrospectionBody {
            active: true,
            sub: Some(c.sub.to_string()),
            username: Some(c.username.to_string()),
            exp: Some(c.exp),
            iat: Some(c.iat),
            iss: Some(c.iss),
            aud: Some(c.aud),
            token_type: Some("access_token"),
            sid: Some(c.sid.to_string()),
            ..IntrospectionBody::default()
        },
        Introspection::Service(c) => IntrospectionBody {
            active: true,
            sub: Some(c.sub.to_string()),
            scope: Some(c.scope.to_string()),
            client_id: Some(c.client_id),
            exp: Some(c.exp),
            iat: Some(c.iat),
            iss: Some(c.iss),
            aud: Some(c.aud),
            token_type: Some("access_token"),
            ..IntrospectionBody::default()
        },
        Introspection::Refresh { session, user } => IntrospectionBody {
            active: true,
            sub: Some(user.id.to_string()),
            username: Some(user.username.to_string()),
            exp: Some(session.expires_at.unix_timestamp()),
            iat: Some(session.rotated_at.unwrap_or(session.created_at).unix_timestamp()),
            iss: Some(app.policy().issuer.clone()),
            aud: Some(app.policy().audience.clone()),
            token_type: Some("refresh_token"),
            sid: Some(session.id.to_string()),
            ..IntrospectionBody::default()
        },
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// Revoke a token (RFC 7009): a user's access or refresh token ends its
/// session; a service token stops working. Always 200, also for an unknown
/// token; no client authentication (holding the token is the right to
/// revoke it).
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "`invalid_request`", body = OAuthErrorBody),
        (status = 413, response = crate::responses::PayloadTooLarge),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorBody, headers(("Retry-After" = u64))),
    ))]
pub async fn revoke<A: Adapters>(app: App<A>, req: HttpRequest, body: Bytes) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    app.revoke_token(token).await?;
    Ok(HttpResponse::Ok().finish())
}
