//! Reusable OpenAPI responses for the problem+json answers, so that each
//! route lists the statuses it can answer in one line apiece.

use utoipa::ToResponse;

use crate::error::Problem;

/// `malformed_json` (the body is not a JSON object) or `validation_failed`
/// (every problem is listed in `errors`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// `missing_token`, `invalid_token`, `token_expired` or `token_revoked`;
/// `WWW-Authenticate: Bearer` says which.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
pub struct Unauthorized(pub Problem);

/// `invalid_credentials`: an unknown user or a wrong password, alike.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
pub struct InvalidCredentials(pub Problem);

/// `invalid_refresh_token`: unknown, expired, revoked or reused.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
pub struct InvalidRefreshToken(pub Problem);

/// `insufficient_role`: signed in, but the role does not allow this; or,
/// under `mfa.required_for_admin`, `mfa_required`: an admin whose session
/// was signed in without a second factor; or `insufficient_scope`: a
/// service token without the route's scope (`WWW-Authenticate` names it).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// `account_disabled`: the right password, but an admin disabled the account.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct AccountDisabled(pub Problem);

/// `not_found`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// `username_taken` (case-insensitively).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UsernameTaken(pub Problem);

/// `last_admin`: the change would leave no active admin.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct LastAdmin(pub Problem);

/// `payload_too_large`: the body is over `server.body_limit_bytes`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// `unsupported_media_type`: the body is not sent as `application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// `too_many_requests`: throttled; `Retry-After` gives the seconds to wait.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64)))]
pub struct TooManyRequests(pub Problem);

/// `unavailable` (the database cannot be reached) or, on routes that check
/// a password, `overloaded` (the hashing queue is full); `Retry-After` is
/// set.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("Retry-After" = u64)))]
pub struct Unavailable(pub Problem);

/// `reauthentication_required`: the session's sign-in is older than
/// `security.reauth_max_age_seconds`; log in again.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct ReauthenticationRequired(pub Problem);

/// `mfa_already_enabled`: TOTP is on already.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct MfaAlreadyEnabled(pub Problem);

/// `invalid_credentials` (a wrong code, a used recovery code, a TOTP code
/// already accepted) or `invalid_mfa_token` (unknown, expired, spent, or
/// five wrong codes).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
pub struct SecondFactorRefused(pub Problem);
