//! `/auth/passkeys`: registering, listing and deleting the signed-in
//! user's passkeys, and passwordless sign-in with one.
//!
//! Options go out and responses come in as the WebAuthn Level 3 JSON forms
//! (`PublicKeyCredential.parseCreationOptionsFromJSON` /
//! `parseRequestOptionsFromJSON` take `options.publicKey`, and
//! `credential.toJSON()` is posted back as `credential`).

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use gatehouse_application::{Adapters, PasskeyEnrolment, StartedPasskeyCeremony, mfa::shown};
use gatehouse_domain::{Factor, FactorId};
use serde::Serialize;
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use super::{App, auth::token_response};
use crate::{
    auth::{Authenticated, Recent},
    error::{ApiError, FieldError},
    extract::{Body, Fields, Json},
    responses::{
        AccountDisabled, BadRequest, InvalidCredentials, NotFound, PayloadTooLarge, ReauthenticationRequired,
        Unauthorized, Unavailable, UnsupportedMediaType,
    },
};

/// The name a passkey gets when the client sends none.
pub const DEFAULT_PASSKEY_NAME: &str = "Passkey";

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/passkeys").route(web::get().to(list::<A>)))
        .service(web::resource("/auth/passkeys/register/start").route(web::post().to(register_start::<A>)))
        .service(web::resource("/auth/passkeys/register/finish").route(web::post().to(register_finish::<A>)))
        .service(web::resource("/auth/passkeys/login/start").route(web::post().to(login_start::<A>)))
        .service(web::resource("/auth/passkeys/login/finish").route(web::post().to(login_finish::<A>)))
        .service(web::resource("/auth/passkeys/{id}").route(web::delete().to(delete::<A>)));
}

/// A started ceremony.
#[derive(Serialize, ToSchema)]
pub struct CeremonyBody {
    /// Names the ceremony when it is finished; single use, 300 s.
    pub ceremony_id: String,
    /// `{"publicKey": ...}`: pass `options.publicKey` to
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` (registration)
    /// or `parseRequestOptionsFromJSON` (sign-in). Absent members are left
    /// out, never `null`.
    #[schema(value_type = Object)]
    pub options: Value,
}

fn ceremony_response(started: StartedPasskeyCeremony) -> Result<HttpResponse, ApiError> {
    let options = serde_json::from_str(&started.options)
        .map_err(|e| ApiError::Internal(format!("passkey options are not JSON: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CeremonyBody { ceremony_id: started.ceremony_id, options }))
}

/// A registered passkey.
#[derive(Serialize, ToSchema)]
pub struct PasskeyBody {
    pub id: String,
    #[schema(example = "laptop")]
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `null` until the passkey signs in.
    #[schema(nullable)]
    pub last_used_at: Option<String>,
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl From<&Factor> for PasskeyBody {
    fn from(factor: &Factor) -> Self {
        Self {
            id: factor.id.to_string(),
            name: factor.name.clone().unwrap_or_else(|| DEFAULT_PASSKEY_NAME.into()),
            created_at: rfc3339(factor.created_at),
            last_used_at: factor.last_used_at.map(rfc3339),
        }
    }
}

/// A passkey just registered; `recovery_codes` when it turned MFA on.
#[derive(Serialize, ToSchema)]
pub struct RegisteredBody {
    #[serde(flatten)]
    pub passkey: PasskeyBody,
    /// Ten single-use recovery codes, shown once: only when this passkey
    /// was the account's first factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// The signed-in user's passkeys, oldest first.
#[derive(Serialize, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyBody>,
}

/// Body of `POST /auth/passkeys/register/finish`.
#[derive(Debug, ToSchema)]
pub struct RegistrationFinish {
    pub ceremony_id: String,
    /// What the user calls it: 1 to 64 characters; `Passkey` when absent.
    #[schema(example = "laptop")]
    pub name: Option<String>,
    /// `credential.toJSON()` of `navigator.credentials.create()`: a
    /// WebAuthn `RegistrationResponseJSON`.
    #[schema(value_type = Object)]
    pub credential: String,
}

impl Body for RegistrationFinish {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let ceremony_id = fields.string("ceremony_id");
        let name = fields.optional_string("name");
        let credential = fields.object("credential");
        Some(Self { ceremony_id: ceremony_id?, name, credential: credential? })
    }
}

/// Body of `POST /auth/passkeys/login/finish`.
#[derive(Debug, ToSchema)]
pub struct SignInFinish {
    pub ceremony_id: String,
    /// `credential.toJSON()` of `navigator.credentials.get()`: a WebAuthn
    /// `AuthenticationResponseJSON`.
    #[schema(value_type = Object)]
    pub credential: String,
}

impl Body for SignInFinish {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let ceremony_id = fields.string("ceremony_id");
        let credential = fields.object("credential");
        Some(Self { ceremony_id: ceremony_id?, credential: credential? })
    }
}

/// Start registering a passkey: creation options for a discoverable
/// credential with user verification, excluding the user's passkeys.
#[utoipa::path(post, path = "/auth/passkeys/register/start", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "The ceremony and its creation options", body = CeremonyBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = ReauthenticationRequired),
        (status = 503, response = Unavailable),
    ))]
pub async fn register_start<A: Adapters>(app: App<A>, user: Recent<A>) -> Result<HttpResponse, ApiError> {
    ceremony_response(app.start_passkey_registration(&user).await?)
}

/// Finish registering: the credential must answer this user's ceremony.
/// The account's first factor turns MFA on: the answer then carries ten
/// recovery codes, and every other session is revoked.
#[utoipa::path(post, path = "/auth/passkeys/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = RegistrationFinish,
    responses(
        (status = 201, description = "The passkey; `Cache-Control: no-store`", body = RegisteredBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn register_finish<A: Adapters>(
    app: App<A>,
    user: Authenticated<A>,
    Json(body): Json<RegistrationFinish>,
) -> Result<HttpResponse, ApiError> {
    let name = body.name.as_deref().unwrap_or(DEFAULT_PASSKEY_NAME);
    let PasskeyEnrolment { passkey, recovery_codes } =
        app.finish_passkey_registration(&user, &body.ceremony_id, name, &body.credential).await?;
    let body =
        RegisteredBody { passkey: PasskeyBody::from(&passkey), recovery_codes: recovery_codes.as_deref().map(shown) };
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// The signed-in user's passkeys.
#[utoipa::path(get, path = "/auth/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys, oldest first", body = PasskeyList),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ))]
pub async fn list<A: Adapters>(app: App<A>, user: Authenticated<A>) -> Result<HttpResponse, ApiError> {
    let passkeys = app.passkeys(&user).await?;
    Ok(HttpResponse::Ok().json(PasskeyList { passkeys: passkeys.iter().map(PasskeyBody::from).collect() }))
}

/// Delete one of the signed-in user's passkeys. Deleting the last factor
/// turns MFA off and deletes the recovery codes.
#[utoipa::path(delete, path = "/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "The passkey is gone"),
        (status = 401, response = Unauthorized),
        (status = 403, response = ReauthenticationRequired),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn delete<A: Adapters>(
    app: App<A>,
    user: Recent<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    app.delete_passkey(&user, FactorId::from_uuid(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Start a passwordless sign-in: request options listing no credential
/// (the authenticator offers its discoverable ones), user verification
/// required. The body, if any, is ignored.
#[utoipa::path(post, path = "/auth/passkeys/login/start", tag = "passkeys",
    responses(
        (status = 200, description = "The ceremony and its request options", body = CeremonyBody),
        (status = 503, response = Unavailable),
    ))]
pub async fn login_start<A: Adapters>(app: App<A>) -> Result<HttpResponse, ApiError> {
    ceremony_response(app.start_passkey_sign_in().await?)
}

/// Finish a passwordless sign-in: a session whose `amr` holds `pop` and
/// `mfa`.
#[utoipa::path(post, path = "/auth/passkeys/login/finish", tag = "passkeys", request_body = SignInFinish,
    responses(
        (status = 200, description = "Logged in; `Cache-Control: no-store`", body = super::auth::TokenBody),
        (status = 400, response = BadRequest),
        (status = 401, response = InvalidCredentials),
        (status = 403, response = AccountDisabled),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn login_finish<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    Json(body): Json<SignInFinish>,
) -> Result<HttpResponse, ApiError> {
    let pair = app.finish_passkey_sign_in(&body.ceremony_id, &body.credential, super::client_ip(&req)).await?;
    Ok(token_response(&pair))
}

/// `validation_failed` on `credential`: what a refused registration
/// answers.
pub fn credential_refused() -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "credential",
        "invalid_credential",
        "The passkey did not verify: the ceremony is unknown, expired or used, or the credential was made for \
         another origin or RP id, or it is registered already.",
    )])
}
