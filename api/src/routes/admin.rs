//! `/admin`: user management for admins.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_application::{Adapters, admin::MAX_PAGE, ports::UserChange};
use gatehouse_domain::{Role, User, UserId};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::App;
use crate::{
    auth::{AdminOr, AuditRead, UsersRead, UsersWrite},
    error::{ApiError, FieldError},
    extract::{Body, Fields, Json},
    responses::{
        BadRequest, Forbidden, LastAdmin, NotFound, PayloadTooLarge, Unauthorized, Unavailable, UnsupportedMediaType,
    },
};

/// Page size when the client does not say.
const DEFAULT_PAGE: u32 = 50;

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users").route(web::get().to(list::<A>)))
        .service(web::resource("/admin/audit").route(web::get().to(audit::<A>)))
        .service(
            web::resource("/admin/users/{id}")
                .route(web::get().to(get::<A>))
                .route(web::patch().to(change::<A>))
                .route(web::delete().to(delete::<A>)),
        );
}

/// A user as administrators see it.
#[derive(Serialize, ToSchema)]
pub struct AdminUserBody {
    pub id: String,
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "user")]
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
}

impl From<&User> for AdminUserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.to_string(),
            role: user.role.to_string(),
            disabled: user.disabled,
            created_at: user.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// A page of users.
#[derive(Serialize, ToSchema)]
pub struct UserPageBody {
    pub users: Vec<AdminUserBody>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Body of `PATCH /admin/users/{id}`: either field, or both.
#[derive(Debug, ToSchema)]
#[schema(min_properties = 1)]
pub struct UserPatch {
    #[schema(value_type = Option<String>, example = "admin", pattern = "^(admin|user)$")]
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

impl Body for UserPatch {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let named_a_field = fields.has("role") || fields.has("disabled");
        let raw_role = fields.optional_string("role");
        let disabled = fields.optional_bool("disabled");
        let role = match raw_role.as_deref().map(str::parse::<Role>) {
            Some(Ok(role)) => Some(role),
            Some(Err(_)) => {
                fields.reject("role", "invalid_value", "role must be admin or user.");
                return None;
            }
            None => None,
        };
        if !named_a_field {
            fields.reject("role", "required", "Send role, disabled, or both.");
            return None;
        }
        Some(Self { role, disabled })
    }
}

fn encode_cursor(id: UserId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_uuid().as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<UserId> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    uuid::Uuid::from_slice(&bytes).ok().map(UserId::from_uuid)
}

/// The query string as a map, or a validation error.
fn query_map(query: &str) -> Result<HashMap<String, String>, ApiError> {
    web::Query::<HashMap<String, String>>::from_query(query).map(web::Query::into_inner).map_err(|_| {
        ApiError::Validation(vec![FieldError::new("query", "invalid_query", "The query string cannot be read.")])
    })
}

/// `limit`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
fn page_limit(params: &HashMap<String, String>, errors: &mut Vec<FieldError>) -> u32 {
    match params.get("limit").map(|raw| raw.parse::<u32>()) {
        None => DEFAULT_PAGE,
        Some(Ok(limit)) if (1..=MAX_PAGE).contains(&limit) => limit,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                "out_of_range",
                format!("limit must be an integer from 1 to {MAX_PAGE}."),
            ));
            DEFAULT_PAGE
        }
    }
}

fn page_params(query: &str) -> Result<(Option<UserId>, u32), ApiError> {
    let params = query_map(query)?;
    let mut errors = Vec::new();
    let limit = page_limit(&params, &mut errors);
    let after = match params.get("cursor") {
        None => None,
        Some(raw) => {
            let cursor = decode_cursor(raw);
            if cursor.is_none() {
                errors.push(FieldError::new("cursor", "invalid_cursor", "Use the next_cursor of a previous page."));
            }
            cursor
        }
    };
    if errors.is_empty() { Ok((after, limit)) } else { Err(ApiError::Validation(errors)) }
}

/// A user id from a path; anything that is not one names no user.
pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    uuid::Uuid::parse_str(raw).map(UserId::from_uuid).map_err(|_| ApiError::NotFound)
}

/// Users in creation order, a page at a time (keyset pagination: stable,
/// no duplicates or gaps while users are added).
#[utoipa::path(get, path = "/admin/users", tag = "administration", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UserPageBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ))]
pub async fn list<A: Adapters>(
    app: App<A>,
    admin: AdminOr<A, UsersRead>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = page_params(req.query_string())?;
    let page = app.list_users(&*admin, after, limit).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(UserPageBody {
        users: page.users.iter().map(AdminUserBody::from).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// One user.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = AdminUserBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn get<A: Adapters>(
    app: App<A>,
    admin: AdminOr<A, UsersRead>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = app.get_user(&*admin, user_id(&id)?).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(AdminUserBody::from(&user)))
}

/// Change a user's role and/or disabled flag; the user's sessions are
/// revoked. The last active admin cannot be demoted or disabled.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "administration", security(("bearer" = [])), request_body = UserPatch,
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The changed user", body = AdminUserBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = LastAdmin),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn change<A: Adapters>(
    app: App<A>,
    admin: AdminOr<A, UsersWrite>,
    id: web::Path<String>,
    Json(patch): Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let change = UserChange { role: patch.role, disabled: patch.disabled };
    let user = app.change_user(&*admin, user_id(&id)?, change).await?;
    Ok(HttpResponse::Ok().json(AdminUserBody::from(&user)))
}

/// Delete a user and revoke their sessions. The last active admin cannot be
/// deleted.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = LastAdmin),
        (status = 503, response = Unavailable),
    ))]
pub async fn delete<A: Adapters>(
    app: App<A>,
    admin: AdminOr<A, UsersWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app.delete_user(&*admin, user_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One audit event.
#[derive(Serialize, ToSchema)]
pub struct AuditEventBody {
    pub seq: u64,
    pub occurred_at: String,
    #[schema(example = "login")]
    pub action: &'static str,
    #[schema(example = "failure")]
    pub outcome: &'static str,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    /// The client's address, when known.
    pub client: Option<String>,
    #[schema(example = "wrong_password")]
    pub detail: Option<String>,
    /// This event's link in the hash chain.
    pub hash: String,
}

/// A page of audit events, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPageBody {
    pub events: Vec<AuditEventBody>,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    pub next_cursor: Option<String>,
}

fn audit_params(query: &str) -> Result<(Option<u64>, u32, Option<UserId>), ApiError> {
    let params = query_map(query)?;
    let mut errors = Vec::new();
    let limit = page_limit(&params, &mut errors);
    let before = match params.get("cursor").map(|raw| raw.parse::<u64>()) {
        None => None,
        Some(Ok(seq)) => Some(seq),
        Some(Err(_)) => {
            errors.push(FieldError::new("cursor", "invalid_cursor", "Use the next_cursor of a previous page."));
            None
        }
    };
    let user = match params.get("user_id").map(|raw| uuid::Uuid::parse_str(raw)) {
        None => None,
        Some(Ok(id)) => Some(UserId::from_uuid(id)),
        Some(Err(_)) => {
            errors.push(FieldError::new("user_id", "invalid_value", "user_id must be a user id."));
            None
        }
    };
    if errors.is_empty() { Ok((before, limit, user)) } else { Err(ApiError::Validation(errors)) }
}

/// The audit trail, newest first: every register, login (success and
/// failure), refresh, reuse detection, logout, password change, role
/// change, disable and delete, with time, actor, subject, client address
/// and outcome. `user_id` keeps the events where that user is actor or
/// subject.
#[utoipa::path(get, path = "/admin/audit", tag = "administration", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("user_id" = Option<String>, Query, description = "Only events whose actor or subject is this user"),
    ),
    responses(
        (status = 200, description = "A page of events", body = AuditPageBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ))]
pub async fn audit<A: Adapters>(
    app: App<A>,
    admin: AdminOr<A, AuditRead>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (before, limit, user) = audit_params(req.query_string())?;
    let page = app.audit_events(&*admin, before, limit, user).await?;
    let events = page
        .events
        .into_iter()
        .map(|e| AuditEventBody {
            seq: e.seq,
            occurred_at: e.event.occurred_at.format(&Rfc3339).unwrap_or_default(),
            action: e.event.action.as_str(),
            outcome: e.event.outcome.as_str(),
            actor_id: e.event.actor.map(|u| u.to_string()),
            subject_id: e.event.subject.map(|u| u.to_string()),
            client: e.event.client,
            detail: e.event.detail,
            hash: e.hash,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(AuditPageBody { events, next_cursor: page.next.map(|seq| seq.to_string()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = UserId::from_uuid(uuid::Uuid::now_v7());
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("not a cursor"), None);
        assert!(matches!(page_params("limit=0"), Err(ApiError::Validation(_))));
        assert!(matches!(page_params("limit=201"), Err(ApiError::Validation(_))));
        assert!(matches!(page_params("limit=ten"), Err(ApiError::Validation(_))));
        assert_eq!(page_params("").unwrap(), (None, 50));
        assert_eq!(page_params("limit=200").unwrap(), (None, 200));
    }
}
