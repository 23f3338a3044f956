//! `/auth`: register, log in, and the signed-in user's routes.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use gatehouse_application::{Adapters, LoginRequest, TokenPair};
use gatehouse_domain::{NewPassword, Permission, User, Username};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::{App, principal};
use crate::{
    error::{ApiError, Problem},
    extract::{Fields, JsonObject},
};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register::<A>)))
        .service(web::resource("/auth/login").route(web::post().to(login::<A>)))
        .service(web::resource("/auth/protected").route(web::get().to(protected::<A>)))
        .service(web::resource("/auth/admin").route(web::get().to(admin::<A>)))
        .service(web::resource("/auth/me").route(web::get().to(me::<A>)));
}

/// Body of `POST /auth/register` and `POST /auth/login`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Credentials {
    #[schema(example = "alice")]
    username: String,
    #[schema(example = "correct horse battery staple", format = Password)]
    password: String,
}

/// A user as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserBody {
    #[schema(example = "0193a6f2-6c1e-7d3a-9f2e-5b8c1d2e3f40")]
    pub id: String,
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "user")]
    pub role: String,
    #[schema(example = "2026-11-25T17:00:00Z")]
    pub created_at: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.to_string(),
            role: user.role.to_string(),
            created_at: user.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// A new token pair.
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: i64,
    pub refresh_token: String,
    #[schema(example = 2_592_000)]
    pub refresh_expires_in: i64,
}

/// A greeting.
#[derive(Serialize, ToSchema)]
pub struct MessageBody {
    #[schema(example = "Hello, alice!")]
    pub message: String,
}

/// Token responses must never be cached (RFC 6749 section 5.1).
pub fn token_response(pair: &TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenBody {
            access_token: pair.access_token.clone(),
            token_type: "Bearer",
            expires_in: pair.expires_in.whole_seconds(),
            refresh_token: pair.refresh_token.expose_secret().to_owned(),
            refresh_expires_in: pair.refresh_expires_in.whole_seconds(),
        })
}

/// Register a new account (role `user`).
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = UserBody),
        (status = 400, description = "`malformed_json` or `validation_failed` (see `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register<A: Adapters>(app: App<A>, req: HttpRequest, body: JsonObject) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let raw_username = fields.string("username");
    let raw_password = fields.string("password");
    let username = raw_username.as_deref().and_then(|raw| {
        Username::parse(raw).map_err(|e| fields.reject("username", e.code(), format!("Username {e}."))).ok()
    });
    let password = raw_password.and_then(|raw| {
        NewPassword::parse(SecretString::from(raw), raw_username.as_deref())
            .map_err(|e| fields.reject("password", e.code(), format!("Password {e}.")))
            .ok()
    });
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let user = app.register(username, password, super::client_address(&req).as_deref()).await?;
    Ok(HttpResponse::Created().json(UserBody::from(&user)))
}

/// Log in: opens a new session and returns an access and a refresh token.
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; `Cache-Control: no-store`", body = TokenBody),
        (status = 400, description = "`malformed_json` or `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials` (unknown user and wrong password alike)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`, with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login<A: Adapters>(app: App<A>, req: HttpRequest, body: JsonObject) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let username = fields.string("username");
    let password = fields.string("password");
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let client = super::client_ip(&req);
    let pair = app.login(LoginRequest { username, password: SecretString::from(password), client }).await?;
    Ok(token_response(&pair))
}

/// Greets the signed-in user.
#[utoipa::path(get, path = "/auth/protected", tag = "signed-in user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Greeting", body = MessageBody),
        (status = 401, description = "`missing_token`, `invalid_token`, `token_expired` or `token_revoked`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn protected<A: Adapters>(app: App<A>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    Ok(HttpResponse::Ok().json(MessageBody { message: format!("Hello, {}!", principal.username) }))
}

/// Admins only.
#[utoipa::path(get, path = "/auth/admin", tag = "signed-in user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Greeting for admins", body = MessageBody),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_role`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin<A: Adapters>(app: App<A>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    principal.require(Permission::Administer)?;
    Ok(HttpResponse::Ok().json(MessageBody { message: "Welcome, Admin!".into() }))
}

/// The signed-in user's account.
#[utoipa::path(get, path = "/auth/me", tag = "signed-in user", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserBody),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me<A: Adapters>(app: App<A>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let principal = principal(&app, &req)?;
    let user = app.current_user(&principal).await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}
