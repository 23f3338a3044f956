//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use gatehouse_application::Adapters;
use serde::Serialize;
use utoipa::ToSchema;

use super::App;
use crate::{error::ApiError, responses::Unavailable};

pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(web::get().to(live)))
        .service(web::resource("/health/ready").route(web::get().to(ready::<A>)));
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// 200 while the process serves.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, body = Status)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// 200 when the database answers, else 503 `unavailable`.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, body = Status),
    (status = 503, response = Unavailable),
))]
pub async fn ready<A: Adapters>(app: App<A>) -> Result<HttpResponse, ApiError> {
    app.ready().await?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}
