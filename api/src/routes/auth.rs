//! `/auth`: register, log in, and the signed-in user's routes.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use gatehouse_application::{Adapters, LoginRequest, LoginStep, TokenPair};
use gatehouse_domain::{NewPassword, User, Username};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::App;
use crate::{
    auth::{Admin, Authenticated},
    error::ApiError,
    extract::{Body, Fields, Json},
    responses::{
        AccountDisabled, BadRequest, Forbidden, InvalidCredentials, PayloadTooLarge, TooManyRequests, Unauthorized,
        Unavailable, UnsupportedMediaType, UsernameTaken,
    },
};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register::<A>)))
        .service(web::resource("/auth/login").route(web::post().to(login::<A>)))
        .service(web::resource("/auth/protected").route(web::get().to(protected::<A>)))
        .service(web::resource("/auth/admin").route(web::get().to(admin::<A>)))
        .service(web::resource("/auth/me").route(web::get().to(me::<A>)));
}

/// Body of `POST /auth/register`.
#[derive(Debug, ToSchema)]
pub struct Registration {
    /// Trimmed and lower-cased; unique case-insensitively.
    #[schema(value_type = String, example = "alice", min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9._@+-]{3,64}$")]
    pub username: Username,
    /// 8 to 256 characters, not the username, not a commonly used password.
    #[schema(value_type = String, format = Password, example = "correct horse battery staple", min_length = 8, max_length = 256)]
    pub password: NewPassword,
}

impl Body for Registration {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let raw_username = fields.string("username");
        let raw_password = fields.secret("password");
        let username = fields.parsed("username", raw_username.as_deref(), |raw| {
            Username::parse(raw).map_err(|e| (e.code(), format!("Username {e}.")))
        });
        let password = fields.parsed("password", raw_password, |raw| {
            NewPassword::parse(raw, raw_username.as_deref()).map_err(|e| (e.code(), format!("Password {e}.")))
        });
        Some(Self { username: username?, password: password? })
    }
}

/// Body of `POST /auth/login`. The username is not checked against the
/// registration rules: a malformed one fails exactly like an unknown one.
#[derive(Debug, ToSchema)]
pub struct Credentials {
    #[schema(example = "alice")]
    pub username: String,
    #[schema(value_type = String, format = Password, example = "correct horse battery staple")]
    pub password: SecretString,
}

impl Body for Credentials {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let username = fields.string("username");
        let password = fields.secret("password");
        Some(Self { username: username?, password: password? })
    }
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
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = Registration,
    responses(
        (status = 201, description = "Account created", body = UserBody),
        (status = 400, response = BadRequest),
        (status = 409, response = UsernameTaken),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn register<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    Json(body): Json<Registration>,
) -> Result<HttpResponse, ApiError> {
    let user = app.register(body.username, body.password, super::client_address(&req).as_deref()).await?;
    Ok(HttpResponse::Created().json(UserBody::from(&user)))
}

/// Either answer of a login with the right password.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginBody {
    /// Signed in.
    Tokens(TokenBody),
    /// MFA is on: complete the login with `POST /auth/login/mfa`.
    SecondFactor(super::mfa::MfaRequiredBody),
}

/// Log in: opens a new session and returns an access and a refresh token;
/// for a user with MFA on, returns an `mfa_token` for the second step
/// instead.
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in, or a second factor is due; `Cache-Control: no-store`", body = LoginBody),
        (status = 400, response = BadRequest),
        (status = 401, response = InvalidCredentials),
        (status = 403, response = AccountDisabled),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ))]
pub async fn login<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    Json(body): Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let client = super::client_ip(&req);
    match app.login(LoginRequest { username: body.username, password: body.password, client }).await? {
        LoginStep::SignedIn(pair) => Ok(token_response(&pair)),
        LoginStep::SecondFactor(pending) => Ok(super::mfa::mfa_required_response(&pending)),
    }
}

/// Greets the signed-in user.
#[utoipa::path(get, path = "/auth/protected", tag = "signed-in user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Greeting", body = MessageBody),
        (status = 401, response = Unauthorized),
    ))]
pub async fn protected<A: Adapters>(user: Authenticated<A>) -> HttpResponse {
    HttpResponse::Ok().json(MessageBody { message: format!("Hello, {}!", user.username) })
}

/// Admins only.
#[utoipa::path(get, path = "/auth/admin", tag = "signed-in user", security(("bearer" = [])),
    responses(
        (status = 200, description = "Greeting for admins", body = MessageBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ))]
pub async fn admin<A: Adapters>(_admin: Admin<A>) -> HttpResponse {
    HttpResponse::Ok().json(MessageBody { message: "Welcome, Admin!".into() })
}

/// The signed-in user's account.
#[utoipa::path(get, path = "/auth/me", tag = "signed-in user", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserBody),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ))]
pub async fn me<A: Adapters>(app: App<A>, user: Authenticated<A>) -> Result<HttpResponse, ApiError> {
    let user = app.current_user(&user).await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&user)))
}
