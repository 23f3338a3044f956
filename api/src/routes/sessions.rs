//! Sessions: refresh, log out, list and revoke one's own sessions, change
//! one's password.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use gatehouse_application::{Adapters, LogoutScope, Principal};
use gatehouse_domain::{NewPassword, SessionId};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::{App, auth::token_response};
use crate::{
    auth::Authenticated,
    error::ApiError,
    extract::{Body, Fields, Json},
    responses::{
        BadRequest, InvalidRefreshToken, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
        UnsupportedMediaType,
    },
};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/refresh").route(web::post().to(refresh::<A>)))
        .service(web::resource("/auth/logout").route(web::post().to(logout::<A>)))
        .service(web::resource("/auth/sessions").route(web::get().to(list::<A>)))
        .service(web::resource("/auth/sessions/{id}").route(web::delete().to(revoke::<A>)))
        .service(web::resource("/auth/password").route(web::post().to(change_password::<A>)));
}

/// Body of `POST /auth/refresh`.
#[derive(Debug, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

impl Body for RefreshRequest {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        Some(Self { refresh_token: fields.secret("refresh_token")? })
    }
}

/// Body of `POST /auth/password`.
#[derive(Debug, ToSchema)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// 8 to 256 characters, not the username, not a commonly used password.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 256)]
    pub new_password: NewPassword,
}

impl Body for PasswordChange {
    /// The new password must not equal the signed-in user's name, whom the
    /// auth extractor has put in the request's extensions.
    fn read(fields: &mut Fields, req: &HttpRequest) -> Option<Self> {
        let username = req.extensions().get::<Principal>().map(|p| p.username.to_string());
        let current_password = fields.secret("current_password");
        let raw_new = fields.secret("new_password");
        let new_password = fields.parsed("new_password", raw_new, |raw| {
            NewPassword::parse(raw, username.as_deref()).map_err(|e| (e.code(), format!("Password {e}.")))
        });
        Some(Self { current_password: current_password?, new_password: new_password? })
    }
}

/// One live session.
#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    pub id: String,
    pub created_at: String,
    /// The last login or refresh (access-token use is not recorded).
    pub last_used_at: String,
    pub expires_at: String,
    /// Whether this is the session of the token that asked.
    pub current: bool,
    /// How the session was signed in (RFC 8176): `["pwd"]`, `["pwd", "otp", "mfa"]`, ...
    #[schema(example = json!(["pwd"]))]
    pub amr: Vec<String>,
}

/// The signed-in user's live sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionBody>,
}

/// Exchange a refresh token for a new pair; the token is spent (rotation).
///
/// Presenting the token that was rotated away less than
/// `jwt.refresh_reuse_grace_seconds` ago returns the same current refresh
/// token (and a new access token). Any older token is reuse: 401 and the
/// whole session is revoked.
#[utoipa::path(post, path = "/auth/refresh", tag = "sessions", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; `Cache-Control: no-store`", body = crate::routes::auth::TokenBody),
        (status = 400, response = BadRequest),
        (status = 401, response = InvalidRefreshToken),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn refresh<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let pair = app.refresh(body.refresh_token.expose_secret(), super::client_address(&req).as_deref()).await?;
    Ok(token_response(&pair))
}

/// Log out: `local` (default) ends this session, `global` every session of
/// the user, `others` every session but this one.
#[utoipa::path(post, path = "/auth/logout", tag = "sessions", security(("bearer" = [])),
    params(("scope" = Option<String>, Query, description = "`local` (default), `global` or `others`")),
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ))]
pub async fn logout<A: Adapters>(
    app: App<A>,
    user: Authenticated<A>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let scope = logout_scope(req.query_string())?;
    app.logout(&user, scope).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn logout_scope(query: &str) -> Result<LogoutScope, ApiError> {
    let mut scope = LogoutScope::Local;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "scope" {
            scope = match value {
                "local" => LogoutScope::Local,
                "global" => LogoutScope::Global,
                "others" => LogoutScope::Others,
                _ => {
                    return Err(ApiError::Validation(vec![crate::error::FieldError::new(
                        "scope",
                        "invalid_value",
                        "scope must be local, global or others.",
                    )]));
                }
            };
        }
    }
    Ok(scope)
}

/// The signed-in user's live sessions, newest first.
#[utoipa::path(get, path = "/auth/sessions", tag = "sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions", body = SessionList),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ))]
pub async fn list<A: Adapters>(app: App<A>, user: Authenticated<A>) -> Result<HttpResponse, ApiError> {
    let format = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let sessions = app
        .list_sessions(&user)
        .await?
        .into_iter()
        .map(|v| SessionBody {
            id: v.session.id.to_string(),
            created_at: format(v.session.created_at),
            last_used_at: format(v.session.last_used_at),
            expires_at: format(v.session.expires_at),
            current: v.current,
            amr: v.session.amr.values().to_vec(),
        })
        .collect();
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(SessionList { sessions }))
}

/// Revoke one of the signed-in user's sessions.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn revoke<A: Adapters>(
    app: App<A>,
    user: Authenticated<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    app.revoke_own_session(&user, SessionId::from_uuid(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the signed-in user's password; every other session is revoked.
#[utoipa::path(post, path = "/auth/password", tag = "sessions", security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions revoked"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ))]
pub async fn change_password<A: Adapters>(
    app: App<A>,
    user: Authenticated<A>,
    Json(body): Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    app.change_password(&user, body.current_password, body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logout_scope_defaults_to_local_and_refuses_unknown_values() {
        assert_eq!(logout_scope("").unwrap(), LogoutScope::Local);
        assert_eq!(logout_scope("scope=global").unwrap(), LogoutScope::Global);
        assert_eq!(logout_scope("x=1&scope=others").unwrap(), LogoutScope::Others);
        assert!(matches!(logout_scope("scope=everything"), Err(ApiError::Validation(_))));
    }
}
