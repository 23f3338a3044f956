//! Sessions: refresh, log out, list and revoke one's own sessions, change
//! one's password.

use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_application::{Adapters, LogoutScope};
use gatehouse_domain::{NewPassword, SessionId};
use secrecy::SecretString;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::{App, auth::token_response, principal};
use crate::{
    error::{ApiError, Problem},
    extract::{Fields, JsonObject},
};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/refresh").route(web::post().to(refresh::<A>)))
        .service(web::resource("/auth/logout").route(web::post().to(logout::<A>)))
        .service(web::resource("/auth/sessions").route(web::get().to(list::<A>)))
        .service(web::resource("/auth/sessions/{id}").route(web::delete().to(revoke::<A>)))
        .service(web::resource("/auth/password").route(web::post().to(change_password::<A>)));
}

/// Body of `POST /auth/refresh`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Body of `POST /auth/password`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordChange {
    #[schema(format = Password)]
    current_password: String,
    #[schema(format = Password)]
    new_password: String,
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
        (status = 400, description = "`malformed_json` or `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_refresh_token`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh<A: Adapters>(app: App<A>, req: HttpRequest, body: JsonObject) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.string("refresh_token");
    fields.finish()?;
    let token = token.ok_or_else(|| ApiError::Internal("validated field missing".into()))?;
    let pair = app.refresh(&token, super::client_address(&req).as_deref()).await?;
    Ok(token_response(&pair))
}

/// Log out: `local` (default) ends this session, `global` every session of
/// the user, `others` every session but this one.
#[utoipa::path(post, path = "/auth/logout", tag = "sessions", security(("bearer" = [])),
    params(("scope" = Option<String>, Query, description = "`local` (default), `global` or `others`")),
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, description = "`validation_failed`: unknown scope", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout<A: Adapters>(app: App<A>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    let scope = logout_scope(req.query_string())?;
    app.logout(&principal, scope).await?;
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
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list<A: Adapters>(app: App<A>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    let format = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let sessions = app
        .list_sessions(&principal)
        .await?
        .into_iter()
        .map(|v| SessionBody {
            id: v.session.id.to_string(),
            created_at: format(v.session.created_at),
            last_used_at: format(v.session.last_used_at),
            expires_at: format(v.session.expires_at),
            current: v.current,
        })
        .collect();
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(SessionList { sessions }))
}

/// Revoke one of the signed-in user's sessions.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such live session of this user", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    app.revoke_own_session(&principal, SessionId::from_uuid(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the signed-in user's password; every other session is revoked.
#[utoipa::path(post, path = "/auth/password", tag = "sessions", security(("bearer" = [])), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions revoked"),
        (status = 400, description = "`malformed_json` or `validation_failed` (new password rules)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials` (wrong current password) or no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    let mut fields = Fields::new(body);
    let current = fields.string("current_password");
    let new = fields.string("new_password").and_then(|raw| {
        NewPassword::parse(SecretString::from(raw), Some(principal.username.as_str()))
            .map_err(|e| fields.reject("new_password", e.code(), format!("Password {e}.")))
            .ok()
    });
    fields.finish()?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    app.change_password(&principal, SecretString::from(current), new).await?;
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
