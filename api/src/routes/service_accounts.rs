//! `/admin/service-accounts`: non-human clients, managed by admin users
//! only (never with a service token).

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use gatehouse_application::{Adapters, IssuedSecret};
use gatehouse_domain::{Scope, Scopes, ServiceAccount, ServiceAccountId, ServiceName};
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::App;
use crate::{
    auth::Admin,
    error::ApiError,
    extract::{Body, Fields, Json},
    responses::{BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable, UnsupportedMediaType},
};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/service-accounts").route(web::post().to(create::<A>)).route(web::get().to(list::<A>)),
    )
    .service(
        web::resource("/admin/service-accounts/{id}")
            .route(web::get().to(get::<A>))
            .route(web::delete().to(delete::<A>)),
    )
    .service(web::resource("/admin/service-accounts/{id}/secret").route(web::post().to(rotate::<A>)));
}

/// Body of `POST /admin/service-accounts`.
#[derive(Debug, ToSchema)]
pub struct NewServiceAccount {
    #[schema(value_type = String, example = "billing-sync", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: ServiceName,
    /// Any of `users:read`, `users:write`, `audit:read`, `introspect`.
    #[schema(value_type = Vec<String>, example = json!(["users:read"]))]
    pub scopes: Scopes,
}

impl Body for NewServiceAccount {
    fn read(fields: &mut Fields, _: &HttpRequest) -> Option<Self> {
        let raw_name = fields.string("name");
        let name = fields.parsed("name", raw_name, |raw| {
            ServiceName::parse(&raw).map_err(|e| ("invalid_name", format!("The name {e}.")))
        });
        let scopes = match fields.take("scopes") {
            Some(Value::Array(items)) => {
                let mut scopes = Vec::new();
                for item in items {
                    match item.as_str().and_then(Scope::parse) {
                        Some(scope) => scopes.push(scope),
                        None => {
                            fields.reject(
                                "scopes",
                                "unknown_scope",
                                "Scopes are users:read, users:write, audit:read and introspect.",
                            );
                            return None;
                        }
                    }
                }
                Some(Scopes::new(scopes))
            }
            None | Some(Value::Null) => {
                fields.reject("scopes", "required", "This field is required.");
                None
            }
            Some(_) => {
                fields.reject("scopes", "invalid_type", "This field must be a list of scope names.");
                None
            }
        };
        Some(Self { name: name?, scopes: scopes? })
    }
}

/// A service account as the API shows it (never its secret).
#[derive(Serialize, ToSchema)]
pub struct ServiceAccountBody {
    #[schema(example = "0193a6f2-6c1e-7d3a-9f2e-5b8c1d2e3f40")]
    pub id: String,
    #[schema(example = "billing-sync")]
    pub name: String,
    #[schema(example = json!(["users:read"]))]
    pub scopes: Vec<&'static str>,
    #[schema(example = "svc_4f0c2a9e1b7d3c5a8e6f0b1d")]
    pub client_id: String,
    pub created_at: String,
}

impl From<&ServiceAccount> for ServiceAccountBody {
    fn from(a: &ServiceAccount) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.as_str().to_owned(),
            scopes: a.scopes.iter().map(Scope::as_str).collect(),
            client_id: a.client_id.clone(),
            created_at: a.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// A service account with its new secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct ServiceAccountWithSecret {
    #[serde(flatten)]
    pub account: ServiceAccountBody,
    /// Shown once; only its SHA-256 digest is kept.
    #[schema(example = "gatehouse_cs_3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub client_secret: String,
}

impl From<&IssuedSecret> for ServiceAccountWithSecret {
    fn from(issued: &IssuedSecret) -> Self {
        Self {
            account: ServiceAccountBody::from(&issued.account),
            client_secret: issued.client_secret.expose().to_owned(),
        }
    }
}

/// The service accounts.
#[derive(Serialize, ToSchema)]
pub struct ServiceAccountList {
    pub service_accounts: Vec<ServiceAccountBody>,
}

fn account_id(raw: &str) -> Result<ServiceAccountId, ApiError> {
    uuid::Uuid::parse_str(raw).map(ServiceAccountId::from_uuid).map_err(|_| ApiError::NotFound)
}

/// Create a service account; its `client_secret` is shown only here.
#[utoipa::path(post, path = "/admin/service-accounts", tag = "administration", security(("bearer" = [])),
    request_body = NewServiceAccount,
    responses(
        (status = 201, description = "Created; `Cache-Control: no-store`", body = ServiceAccountWithSecret),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 503, response = Unavailable),
    ))]
pub async fn create<A: Adapters>(
    app: App<A>,
    admin: Admin<A>,
    Json(body): Json<NewServiceAccount>,
) -> Result<HttpResponse, ApiError> {
    let issued = app.create_service_account(&admin, body.name, body.scopes).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ServiceAccountWithSecret::from(&issued)))
}

/// Every service account, oldest first.
#[utoipa::path(get, path = "/admin/service-accounts", tag = "administration", security(("bearer" = [])),
    responses(
        (status = 200, description = "The service accounts", body = ServiceAccountList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ))]
pub async fn list<A: Adapters>(app: App<A>, admin: Admin<A>) -> Result<HttpResponse, ApiError> {
    let accounts = app.list_service_accounts(&admin).await?;
    Ok(HttpResponse::Ok()
        .json(ServiceAccountList { service_accounts: accounts.iter().map(ServiceAccountBody::from).collect() }))
}

/// One service account.
#[utoipa::path(get, path = "/admin/service-accounts/{id}", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "Service account id")),
    responses(
        (status = 200, description = "The service account", body = ServiceAccountBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn get<A: Adapters>(app: App<A>, admin: Admin<A>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let account = app.service_account(&admin, account_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ServiceAccountBody::from(&account)))
}

/// A new client secret; the old one stops working at once.
#[utoipa::path(post, path = "/admin/service-accounts/{id}/secret", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "Service account id")),
    responses(
        (status = 200, description = "The new secret; `Cache-Control: no-store`", body = ServiceAccountWithSecret),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn rotate<A: Adapters>(
    app: App<A>,
    admin: Admin<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let issued = app.rotate_service_secret(&admin, account_id(&id)?).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ServiceAccountWithSecret::from(&issued)))
}

/// Delete a service account; its tokens stop working (within 1 s on
/// every instance).
#[utoipa::path(delete, path = "/admin/service-accounts/{id}", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "Service account id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    ))]
pub async fn delete<A: Adapters>(
    app: App<A>,
    admin: Admin<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app.delete_service_account(&admin, account_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
