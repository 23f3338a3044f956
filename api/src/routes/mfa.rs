//! `/auth/mfa`: second factors of the signed-in user, the second step of a
//! login, and an admin's reset.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use gatehouse_application::{Adapters, MfaPending, SecondFactorProof, SecondFactorRequest, TotpEnrolment, mfa::shown};
use gatehouse_domain::{MfaStatus, RecoveryCode};
use qrcode::{QrCode, render::svg};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use super::{App, auth::token_response};
use crate::{
    auth::{AdminOr, Authenticated, Recent, UsersWrite},
    error::ApiError,
    extract::{Body, Fields, Json},
    responses::{
        AccountDisabled, BadRequest, Forbidden, MfaAlreadyEnabled, NotFound, PayloadTooLarge, ReauthenticationRequired,
        SecondFactorRefused, TooManyRequests, Unauthorized, Unavailable, UnsupportedMediaType,
    },
};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/mfa").route(web::get().to(status::<A>)))
        .service(
            web::resource("/auth/mfa/totp")
                .route(web::post().to(start_totp::<A>))
                .route(web::delete().to(disable_totp::<A>)),
        )
        .service(web::resource("/auth/mfa/totp/confirm").route(web::post().to(confirm_totp::<A>)))
        .service(web::resource("/auth/mfa/recovery-codes").route(web::post().to(regenerate::<A>)))
        .service(web::resource("/auth/login/mfa").route(web::post().to(login_mfa::<A>)))
        .service(web::resource("/admin/users/{id}/mfa").route(web::delete().to(reset::<A>)));
}

/// Whether TOTP is on.
#[derive(Serialize, ToSchema)]
pub struct TotpState {
    pub enabled: bool,
}

/// How many recovery codes are left.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesState {
    #[schema(example = 10)]
    pub remaining: u32,
}

/// What the signed-in user has set up. MFA is on when TOTP is enabled or a
/// passkey is registered.
#[derive(Serialize, ToSchema)]
pub struct MfaStatusBody {
    pub totp: TotpState,
    /// Registered passkeys.
    #[schema(example = 0)]
    pub passkeys: u32,
    pub recovery_codes: RecoveryCodesState,
}

impl From<MfaStatus> for MfaStatusBody {
    fn from(status: MfaStatus) -> Self {
        Self {
            totp: TotpState { enabled: status.totp },
            passkeys: status.passkeys,
            recovery_codes: RecoveryCodesState { remaining: status.recovery_codes },
        }
    }
}

/// A new, unconfirmed TOTP secret.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentBody {
    /// The shared secret, RFC 4648 base32 without padding, for typing in.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same for scanning: SHA-1, 6 digits, 30 s.
    #[schema(
        example = "otpauth://totp/Gatehouse:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
    )]
    pub otpauth_uri: String,
    /// A QR code of `otpauth_uri` as an SVG document, drawn by this
    /// service (the secret never goes to a third party).
    pub qr_svg: String,
}

/// Recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesBody {
    /// Ten single-use codes; only their digests are kept.
    #[schema(example = json!(["abcd-efgh-ijkl", "mnop-qrst-uvwx"]))]
    pub recovery_codes: Vec<String>,
}

fn recovery_codes(codes: &[RecoveryCode]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RecoveryCodesBody { recovery_codes: shown(codes) })
}

/// The answer to the right password of a user with MFA on: no session yet.
#[derive(Serialize, ToSchema)]
pub struct MfaRequiredBody {
    /// Always `true`.
    pub mfa_required: bool,
    /// Names this login in `POST /auth/login/mfa`; single use.
    pub mfa_token: String,
    #[schema(example = 300)]
    pub expires_in: i64,
    /// `totp`, `passkey`, `recovery_code`.
    #[schema(example = json!(["totp", "recovery_code"]))]
    pub methods: Vec<&'static str>,
    /// With `passkey` among the methods: WebAuthn request options
    /// (`{"publicKey": ...}`) limited to the user's passkeys; answer them
    /// with `passkey` in `POST /auth/login/mfa`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub passkey_options: Option<serde_json::Value>,
}

/// `POST /auth/login`'s answer when a second factor is due.
pub fn mfa_required_response(pending: &MfaPending) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(MfaRequiredBody {
            mfa_required: true,
            mfa_token: pending.mfa_token.expose_secret().to_owned(),
            expires_in: pending.expires_in.whole_seconds(),
            methods: pending.methods.iter().map(|m| m.as_str()).collect(),
            passkey_options: pending.passkey_options.as_deref().and_then(|o| serde_json::from_str(o).ok()),
        })
}

/// What the user has set up.
#[utoipa::path(get, path = "/auth/mfa", tag = "second factors", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's second factors", body = MfaStatusBody),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ))]
pub async fn status<A: Adapters>(app: App<A>, user: Authenticated<A>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(MfaStatusBody::from(app.mfa_status(&user).await?)))
}

fn qr_svg(uri: &SecretString) -> Result<String, ApiError> {
    let code = QrCode::new(uri.expose_secret().as_bytes()).map_err(|e| ApiError::Internal(format!("QR code: {e}")))?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(200, 200).build())
}

/// Start TOTP enrolment: a new secret, kept unconfirmed (calling again
/// replaces it). Nothing changes for logins until it is confirmed.
#[utoipa::path(post, path = "/auth/mfa/totp", tag = "second factors", security(("bearer" = [])),
    responses(
        (status = 200, description = "A new secret; `Cache-Control: no-store`", body = TotpEnrolmentBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = ReauthenticationRequired),
        (status = 409, response = MfaAlreadyEnabled),
        (status = 503, response = Unavailable),
    ))]
pub async fn start_totp<A: Adapters>(app: App<A>, user: Recent<A>) -> Result<HttpResponse, ApiError> {
    let TotpEnrolment { secret, otpauth_uri } = app.start_totp(&user).await?;
    let body = TotpEnrolmentBody {
        qr_svg: qr_svg(&otpauth_uri)?,
        secret: secret.expose_secret().to_owned(),
        otpauth_uri: otpauth_uri.expose_secret().to_owned(),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// Body of `POST /auth/mfa/totp/confirm`.
#[derive(Debug, ToSchema)]
pub struct TotpConfirmation {
    /// The current code of the new secret: six digits.
    #[schema(value_type = String, example = "123456")]
    pub code: SecretString,
}

impl Body for TotpConfirmation {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        Some(Self { code: fields.secret("code")? })
    }
}

/// Confirm TOTP with a code from the new secret: TOTP is on, ten recovery
/// codes are returned once, and every other session is revoked.
#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "second factors", security(("bearer" = [])),
    request_body = TotpConfirmation,
    responses(
        (status = 200, description = "TOTP is on; the recovery codes, shown once", body = RecoveryCodesBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = ReauthenticationRequired),
        (status = 404, response = NotFound),
        (status = 409, response = MfaAlreadyEnabled),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn confirm_totp<A: Adapters>(
    app: App<A>,
    user: Recent<A>,
    Json(body): Json<TotpConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let codes = app.confirm_totp(&user, body.code.expose_secret()).await?;
    Ok(recovery_codes(&codes))
}

/// Turn TOTP off (with the recovery codes, when it was the last factor).
#[utoipa::path(delete, path = "/auth/mfa/totp", tag = "second factors", security(("bearer" = [])),
    responses(
        (status = 204, description = "TOTP is off"),
        (status = 401, response = Unauthorized),
        (status = 403, response = ReauthenticationRequired),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn disable_totp<A: Adapters>(app: App<A>, user: Recent<A>) -> Result<HttpResponse, ApiError> {
    app.disable_totp(&user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new set of recovery codes; the old set stops working.
#[utoipa::path(post, path = "/auth/mfa/recovery-codes", tag = "second factors", security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown once", body = RecoveryCodesBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = ReauthenticationRequired),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn regenerate<A: Adapters>(app: App<A>, user: Recent<A>) -> Result<HttpResponse, ApiError> {
    let codes = app.regenerate_recovery_codes(&user).await?;
    Ok(recovery_codes(&codes))
}

/// Body of `POST /auth/login/mfa`: the `mfa_token` and exactly one of
/// `code`, `recovery_code` or `passkey`.
#[derive(Debug, ToSchema)]
pub struct SecondFactor {
    pub mfa_token: String,
    /// A TOTP code.
    #[schema(value_type = Option<String>, example = "123456")]
    pub code: Option<SecretString>,
    /// A recovery code, in any case, with or without spaces and `-`.
    #[schema(value_type = Option<String>, example = "abcd-efgh-ijkl")]
    pub recovery_code: Option<SecretString>,
    /// A WebAuthn `AuthenticationResponseJSON` (passkeys): `toJSON()` of
    /// the credential `navigator.credentials.get()` returned for the
    /// login's `passkey_options`.
    #[schema(value_type = Option<Object>)]
    pub passkey: Option<String>,
}

impl Body for SecondFactor {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let mfa_token = fields.string("mfa_token");
        let code = fields.optional_string("code").map(SecretString::from);
        let recovery_code = fields.optional_string("recovery_code").map(SecretString::from);
        let sent_passkey = fields.present("passkey");
        let passkey = fields.optional_object("passkey");
        if sent_passkey && passkey.is_none() {
            return None;
        }
        match usize::from(code.is_some()) + usize::from(recovery_code.is_some()) + usize::from(passkey.is_some()) {
            0 => {
                fields.reject("code", "required", "Send one of code, recovery_code or passkey.");
                return None;
            }
            1 => {}
            _ => {
                fields.reject("code", "conflict", "Send only one of code, recovery_code or passkey.");
                return None;
            }
        }
        Some(Self { mfa_token: mfa_token?, code, recovery_code, passkey })
    }
}

/// Complete a login with its second factor.
#[utoipa::path(post, path = "/auth/login/mfa", tag = "accounts", request_body = SecondFactor,
    responses(
        (status = 200, description = "Logged in; `Cache-Control: no-store`", body = super::auth::TokenBody),
        (status = 400, response = BadRequest),
        (status = 401, response = SecondFactorRefused),
        (status = 403, response = AccountDisabled),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ))]
pub async fn login_mfa<A: Adapters>(
    app: App<A>,
    req: HttpRequest,
    Json(body): Json<SecondFactor>,
) -> Result<HttpResponse, ApiError> {
    let proof = match (body.code, body.recovery_code, body.passkey) {
        (Some(code), _, _) => SecondFactorProof::Totp(code),
        (None, Some(code), _) => SecondFactorProof::RecoveryCode(code),
        (None, None, Some(response)) => SecondFactorProof::Passkey(response),
        (None, None, None) => return Err(ApiError::InvalidCredentials),
    };
    let request =
        SecondFactorRequest { mfa_token: SecretString::from(body.mfa_token), proof, client: super::client_ip(&req) };
    let pair = app.login_second_factor(request).await?;
    Ok(token_response(&pair))
}

/// Remove every second factor and recovery code of a user and end their
/// sessions (for a user who lost their factors, once you know who asks).
#[utoipa::path(delete, path = "/admin/users/{id}/mfa", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "The user's second factors are gone"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn reset<A: Adapters>(
    app: App<A>,
    admin: AdminOr<A, UsersWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app.reset_mfa(&*admin, super::admin::user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
