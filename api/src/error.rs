//! The one place that turns failures into HTTP: status, stable `code`,
//! RFC 9457 problem+json body and `WWW-Authenticate`, and the one place that
//! logs the causes of 5xx answers (the body never carries them).

use actix_web::{
    HttpResponse, ResponseError,
    body::BoxBody,
    dev::ServiceResponse,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    middleware::ErrorHandlerResponse,
};
use gatehouse_application::{
    AdminError, AuthError, ChangePasswordError, CreateUserError, LoginError, MfaError, PasskeyManagementError,
    RefreshError, RevokeSessionError, ServiceAccountError,
    ports::{HashError, StoreError},
};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client is told to wait when the database is unreachable.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;
/// Seconds a client is told to wait when the hashing queue is full: it
/// drains in well under that.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

/// Every error the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The request body is not a valid JSON object.")]
    MalformedJson,
    #[error("The request has invalid fields.")]
    Validation(Vec<FieldError>),
    #[error("This route needs an `Authorization: Bearer` access token.")]
    MissingToken,
    #[error("The access token is invalid.")]
    InvalidToken,
    #[error("The access token has expired.")]
    TokenExpired,
    #[error("The access token's session has ended.")]
    TokenRevoked,
    #[error("Invalid username or password.")]
    InvalidCredentials,
    #[error("The refresh token is invalid, expired, revoked or was already used.")]
    InvalidRefreshToken,
    #[error("Your role does not allow this.")]
    InsufficientRole,
    #[error("This account has been disabled.")]
    AccountDisabled,
    #[error("No such resource.")]
    NotFound,
    #[error("This method is not allowed on this resource.")]
    MethodNotAllowed,
    #[error("That username is already registered.")]
    UsernameTaken,
    #[error("This would leave no active admin: the last admin cannot be demoted, disabled or deleted.")]
    LastAdmin,
    #[error("The request body is larger than this service accepts.")]
    PayloadTooLarge,
    #[error("Send the body as `Content-Type: application/json`.")]
    UnsupportedMediaType,
    #[error("Too many failed attempts; try again later.")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("The second-step token is unknown, expired, already used or has seen too many wrong codes; log in again.")]
    InvalidMfaToken,
    #[error("This needs a session signed in with a second factor.")]
    MfaRequired,
    #[error("This needs a recent sign-in; log in again.")]
    ReauthenticationRequired,
    #[error("TOTP is already enabled for this account.")]
    MfaAlreadyEnabled,
    #[error("This token's scope does not allow this.")]
    InsufficientScope(Option<gatehouse_domain::Scope>),
    #[error("The service cannot reach its database; try again shortly.")]
    Unavailable(String),
    #[error("The service is busy checking passwords; try again shortly.")]
    Overloaded,
    #[error("Something went wrong on our side.")]
    Internal(String),
    /// A client error raised by the framework itself (bad header, URI too
    /// long...), with no more specific code.
    #[error("The request could not be processed.")]
    BadRequest(StatusCode),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    #[schema(example = "Conflict")]
    pub title: String,
    #[schema(example = 409)]
    pub status: u16,
    #[schema(example = "username_taken")]
    pub code: &'static str,
    #[schema(example = "That username is already registered.")]
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ApiError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::Validation(_) => "validation_failed",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::InsufficientRole => "insufficient_role",
            Self::AccountDisabled => "account_disabled",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UsernameTaken => "username_taken",
            Self::LastAdmin => "last_admin",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::InvalidMfaToken => "invalid_mfa_token",
            Self::MfaRequired => "mfa_required",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::MfaAlreadyEnabled => "mfa_already_enabled",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal(_) => "internal_error",
            Self::BadRequest(_) => "bad_request",
        }
    }

    /// `error="invalid_token"` goes with the 401s where a token was presented.
    fn token_presented(&self) -> bool {
        matches!(self, Self::InvalidToken | Self::TokenExpired | Self::TokenRevoked | Self::InvalidRefreshToken)
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: self.code(),
            detail: self.to_string(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::TokenRevoked
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken
            | Self::InvalidMfaToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientRole
            | Self::AccountDisabled
            | Self::MfaRequired
            | Self::ReauthenticationRequired
            | Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UsernameTaken | Self::LastAdmin | Self::MfaAlreadyEnabled => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadRequest(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        match self {
            Self::Unavailable(cause) => tracing::warn!(code = self.code(), %cause, "database unavailable"),
            Self::Internal(cause) => tracing::error!(code = self.code(), %cause, "internal error"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.status_code() == StatusCode::UNAUTHORIZED {
            let challenge = if self.token_presented() {
                format!(r#"Bearer realm="gatehouse", error="invalid_token", error_description="{self}""#)
            } else {
                r#"Bearer realm="gatehouse""#.to_owned()
            };
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Self::InsufficientScope(scope) = self {
            let challenge = match scope {
                Some(scope) => format!(r#"Bearer realm="gatehouse", error="insufficient_scope", scope="{scope}""#),
                None => r#"Bearer realm="gatehouse", error="insufficient_scope""#.to_owned(),
            };
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        match self {
            Self::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS.to_string()));
            }
            Self::Overloaded => {
                response.insert_header((header::RETRY_AFTER, OVERLOADED_RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        response.body(body)
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Overloaded => Self::Overloaded,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<CreateUserError> for ApiError {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::UsernameTaken => Self::UsernameTaken,
            CreateUserError::Store(e) => e.into(),
            CreateUserError::Hash(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::AccountDisabled => Self::AccountDisabled,
            LoginError::Throttled { retry_after } => {
                Self::TooManyRequests { retry_after_secs: retry_after_secs(retry_after) }
            }
            LoginError::InvalidMfaToken => Self::InvalidMfaToken,
            LoginError::Store(e) => e.into(),
            LoginError::Hash(e) => e.into(),
            LoginError::Token(e) => Self::Internal(e.to_string()),
        }
    }
}

fn retry_after_secs(retry_after: time::Duration) -> u64 {
    u64::try_from(retry_after.whole_seconds().max(1)).unwrap_or(1)
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound => Self::NotFound,
            AdminError::LastAdmin => Self::LastAdmin,
            AdminError::Store(e) => e.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::InvalidRefreshToken | RefreshError::Reused => Self::InvalidRefreshToken,
            RefreshError::Store(e) => e.into(),
            RefreshError::Token(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::InvalidCredentials => Self::InvalidCredentials,
            ChangePasswordError::AccountUnavailable => Self::TokenRevoked,
            ChangePasswordError::Throttled { retry_after } => {
                Self::TooManyRequests { retry_after_secs: retry_after_secs(retry_after) }
            }
            ChangePasswordError::Store(e) => e.into(),
            ChangePasswordError::Hash(e) => e.into(),
        }
    }
}

impl From<RevokeSessionError> for ApiError {
    fn from(e: RevokeSessionError) -> Self {
        match e {
            RevokeSessionError::NotFound => Self::NotFound,
            RevokeSessionError::Store(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid => Self::InvalidToken,
            AuthError::Expired => Self::TokenExpired,
            AuthError::Revoked => Self::TokenRevoked,
            AuthError::Forbidden => Self::InsufficientRole,
            AuthError::MfaRequired => Self::MfaRequired,
            AuthError::ReauthenticationRequired => Self::ReauthenticationRequired,
            AuthError::InsufficientScope(scope) => Self::InsufficientScope(scope),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<ServiceAccountError> for ApiError {
    fn from(e: ServiceAccountError) -> Self {
        match e {
            ServiceAccountError::NotFound => Self::NotFound,
            ServiceAccountError::Store(e) => e.into(),
        }
    }
}

impl From<MfaError> for ApiError {
    fn from(e: MfaError) -> Self {
        match e {
            MfaError::NotFound => Self::NotFound,
            MfaError::AlreadyEnabled => Self::MfaAlreadyEnabled,
            MfaError::InvalidCode => Self::Validation(vec![FieldError::new(
                "code",
                "invalid_code",
                "The code does not match; check the authenticator's clock and try the current code.",
            )]),
            MfaError::Store(e) => e.into(),
        }
    }
}

impl From<PasskeyManagementError> for ApiError {
    fn from(e: PasskeyManagementError) -> Self {
        match e {
            PasskeyManagementError::NotFound => Self::NotFound,
            PasskeyManagementError::InvalidName(reason) => {
                Self::Validation(vec![FieldError::new("name", "invalid", format!("The name {reason}."))])
            }
            PasskeyManagementError::CredentialRefused(_) => crate::routes::passkeys::credential_refused(),
            PasskeyManagementError::Internal(reason) => Self::Internal(reason),
            PasskeyManagementError::Store(e) => e.into(),
        }
    }
}

/// Safety net for responses the framework builds itself (unknown route,
/// wrong method, unreadable request): any error response that is not
/// problem+json yet becomes one, so clients see a single error format.
///
/// # Errors
/// Never; the signature is the middleware's.
pub fn problem_for_framework_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem =
        res.response().headers().get(header::CONTENT_TYPE).is_some_and(|v| v == HeaderValue::from_static(PROBLEM_JSON));
    // The OAuth endpoints answer RFC 6749 JSON errors of their own.
    let is_oauth_error = res.request().path().starts_with("/oauth/")
        && res
            .response()
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == HeaderValue::from_static("application/json"));
    if is_problem || is_oauth_error {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        s if s.is_server_error() => ApiError::Internal(format!("framework answered {s}")),
        s => ApiError::BadRequest(s),
    };
    let (req, _) = res.into_parts();
    let mut response = error.error_response();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = req.match_pattern().and_then(|pattern| {
            req.app_data::<actix_web::web::Data<crate::server::AllowTable>>()
                .and_then(|table| table.allow(&pattern).map(str::to_owned))
        });
        if let Some(allow) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body()))
}
