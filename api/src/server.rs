//! The HTTP server: routes, middleware and the OpenAPI document, generic
//! over the adapter set so that tests can serve any of them.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use actix_web::{
    App, HttpServer,
    body::MessageBody,
    dev::{Server, ServerHandle, ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::{ErrorHandlers, Next, from_fn},
    web,
};
use gatehouse_application::{Adapters, Gatehouse};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    client_address::TrustedProxies,
    cors::{self, CorsOrigins},
    error, extract, responses, routes,
};

/// HTTP settings the server needs.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub host: String,
    /// `0` picks a free port; [`RunningServer::addr`] tells which.
    pub port: u16,
    pub body_limit_bytes: usize,
    /// Worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age_seconds: u32,
    /// Browser origins allowed to call the API (CORS).
    pub cors_allowed_origins: CorsOrigins,
    /// A listener of its own for `/metrics`; `None`: the main one.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token a scrape needs, if any.
    pub metrics_token: Option<secrecy::SecretString>,
    /// `false`: no `/metrics` and no per-request recording.
    pub metrics_enabled: bool,
    /// The base of the URLs in the authorization-server metadata.
    pub public_url: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            body_limit_bytes: 16_384,
            workers: None,
            trusted_proxies: TrustedProxies::default(),
            jwks_max_age_seconds: 300,
            cors_allowed_origins: CorsOrigins::default(),
            metrics_listen: None,
            metrics_token: None,
            metrics_enabled: true,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// A bound, running server: await `server` to run it, stop it with `handle`.
/// With `metrics.listen`, `metrics` is the second listener that serves
/// `/metrics` only (run and stop it alike).
#[allow(missing_debug_implementations)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
    pub metrics: Option<(SocketAddr, ServerHandle, Server)>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse", description = "Authentication and authorization service: accounts, sessions and signed access tokens. Every error is `application/problem+json` (RFC 9457) with a stable `code`."),
    paths(
        routes::auth::register, routes::auth::login, routes::auth::protected, routes::auth::admin, routes::auth::me,
        routes::sessions::refresh, routes::sessions::logout, routes::sessions::list, routes::sessions::revoke,
        routes::sessions::change_password,
        routes::admin::list, routes::admin::get, routes::admin::change, routes::admin::delete, routes::admin::audit,
        routes::mfa::login_mfa, routes::mfa::status, routes::mfa::start_totp, routes::mfa::confirm_totp,
        routes::mfa::disable_totp, routes::mfa::regenerate, routes::mfa::reset,
        routes::passkeys::register_start, routes::passkeys::register_finish, routes::passkeys::list,
        routes::passkeys::delete, routes::passkeys::login_start, routes::passkeys::login_finish,
        routes::service_accounts::create, routes::service_accounts::list, routes::service_accounts::get,
        routes::service_accounts::rotate, routes::service_accounts::delete,
        routes::oauth::token, routes::oauth::introspect, routes::oauth::revoke, routes::oauth::metadata,
        routes::jwks::jwks, routes::health::live, routes::health::ready, routes::metrics::metrics,
    ),
    components(
        schemas(error::Problem, error::FieldError),
        responses(
            responses::BadRequest, responses::Unauthorized, responses::InvalidCredentials,
            responses::InvalidRefreshToken, responses::Forbidden, responses::AccountDisabled, responses::NotFound,
            responses::UsernameTaken, responses::LastAdmin, responses::PayloadTooLarge,
            responses::UnsupportedMediaType, responses::TooManyRequests, responses::Unavailable,
            responses::ReauthenticationRequired, responses::MfaAlreadyEnabled, responses::SecondFactorRefused,
        ),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Register and log in"),
        (name = "signed-in user", description = "Routes that need an access token"),
        (name = "second factors", description = "TOTP and recovery codes of the signed-in user"),
        (name = "passkeys", description = "WebAuthn passkeys: registration, the list, passwordless sign-in"),
        (name = "sessions", description = "Refresh, log out, list and revoke sessions, change the password"),
        (name = "administration", description = "User management (role `admin`)"),
        (name = "oauth", description = "OAuth 2.0 for service accounts: RFC 6749 form bodies and JSON errors, not problem+json"),
        (name = "operations", description = "Health probes and public keys"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Registers every route of the API on `cfg`, `/metrics` included.
pub fn configure<A: Adapters>(cfg: &mut web::ServiceConfig) {
    configure_api::<A>(cfg);
    routes::metrics::configure::<A>(cfg);
}

/// Every route but `/metrics`.
fn configure_api<A: Adapters>(cfg: &mut web::ServiceConfig) {
    routes::auth::configure::<A>(cfg);
    routes::mfa::configure::<A>(cfg);
    routes::passkeys::configure::<A>(cfg);
    routes::oauth::configure::<A>(cfg);
    routes::service_accounts::configure::<A>(cfg);
    routes::sessions::configure::<A>(cfg);
    routes::admin::configure::<A>(cfg);
    routes::jwks::configure::<A>(cfg);
    routes::health::configure::<A>(cfg);
    cfg.service(web::resource("/docs").route(
        web::get().to(|| async {
            actix_web::HttpResponse::PermanentRedirect().insert_header(("location", "/docs/")).finish()
        }),
    ))
    .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}

/// Binds and starts the server on the current Tokio runtime.
///
/// # Errors
/// The bind error (address in use, permission denied...).
pub fn start<A: Adapters>(app: Arc<Gatehouse<A>>, http: &HttpSettings) -> std::io::Result<RunningServer> {
    let app = web::Data::from(app);
    let limit = http.body_limit_bytes;
    let proxies = web::Data::new(http.trusted_proxies.clone());
    let jwks_cache = web::Data::new(routes::jwks::CacheFor(http.jwks_max_age_seconds));
    let allow = web::Data::new(AllowTable::from_openapi(&ApiDoc::openapi()));
    let origins = web::Data::new(http.cors_allowed_origins.clone());
    let token = web::Data::new(routes::metrics::MetricsToken(http.metrics_token.clone()));
    let metrics_here = http.metrics_enabled && http.metrics_listen.is_none();
    let recording = web::Data::new(Recording(http.metrics_enabled));
    let public_url = web::Data::new(routes::oauth::PublicUrl(http.public_url.clone()));
    let metrics = match http.metrics_listen {
        Some(listen) if http.metrics_enabled => Some(start_metrics::<A>(app.clone(), token.clone(), listen)?),
        _ => None,
    };
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app.clone())
            .app_data(proxies.clone())
            .app_data(jwks_cache.clone())
            .app_data(allow.clone())
            .app_data(origins.clone())
            .app_data(token.clone())
            .app_data(recording.clone())
            .app_data(public_url.clone())
            .app_data(extract::payload_config(limit))
            .configure(configure_api::<A>)
            .configure(|cfg| {
                if metrics_here {
                    routes::metrics::configure::<A>(cfg);
                }
            })
            .default_service(web::to(not_found))
            .wrap(ErrorHandlers::new().default_handler(error::problem_for_framework_errors))
            .wrap(from_fn(cors::cors))
            .wrap(from_fn(response_headers))
            .wrap(from_fn(request_span::<A>))
    })
    .disable_signals()
    .shutdown_timeout(10);
    if let Some(workers) = http.workers {
        server = server.workers(workers);
    }
    let server = server.bind((http.host.as_str(), http.port))?;
    let addr = server.addrs().first().copied().ok_or_else(|| std::io::Error::other("bound to no address"))?;
    let server = server.run();
    Ok(RunningServer { addr, handle: server.handle(), server, metrics })
}

/// Whether each answer is recorded in the metrics (`metrics.enabled`).
#[derive(Debug, Clone, Copy)]
struct Recording(bool);

/// The listener of `metrics.listen`: `/metrics` and nothing else.
fn start_metrics<A: Adapters>(
    app: web::Data<Gatehouse<A>>,
    token: web::Data<routes::metrics::MetricsToken>,
    listen: SocketAddr,
) -> std::io::Result<(SocketAddr, ServerHandle, Server)> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app.clone())
            .app_data(token.clone())
            .configure(routes::metrics::configure::<A>)
            .default_service(web::to(not_found))
            .wrap(ErrorHandlers::new().default_handler(error::problem_for_framework_errors))
            .wrap(from_fn(response_headers))
            .wrap(from_fn(request_span::<A>))
    })
    .disable_signals()
    .workers(1)
    .shutdown_timeout(5)
    .bind(listen)?;
    let addr = server.addrs().first().copied().ok_or_else(|| std::io::Error::other("bound to no address"))?;
    let server = server.run();
    Ok((addr, server.handle(), server))
}

/// Keeps the revocation list in step with the store and purges ended
/// sessions, until the process ends. Spawn it next to the server after one
/// successful [`Gatehouse::sync_revocations`] (so a restart forgets no
/// revocation before it serves).
pub async fn run_background<A: Adapters>(app: Arc<Gatehouse<A>>, poll: Duration, purge: Duration) {
    let mut poll_tick = tokio::time::interval(poll);
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purge_tick = tokio::time::interval(purge);
    purge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut feed_failing = false;
    loop {
        tokio::select! {
            _ = poll_tick.tick() => match app.sync_revocations().await {
                Ok(_) if feed_failing => {
                    feed_failing = false;
                    tracing::info!("revocation feed reachable again");
                }
                Ok(_) => {}
                Err(e) if !feed_failing => {
                    feed_failing = true;
                    tracing::warn!(error = %e, "revocation feed unreachable; other instances' logouts are delayed until it answers");
                }
                Err(_) => {}
            },
            _ = purge_tick.tick() => {
                if let Err(e) = app.purge_sessions().await {
                    tracing::warn!(error = %e, "purging ended sessions failed; will retry");
                }
                if let Err(e) = app.purge_throttle().await {
                    tracing::warn!(error = %e, "purging closed login-throttle windows failed; will retry");
                }
                if let Err(e) = app.purge_mfa().await {
                    tracing::warn!(error = %e, "purging expired MFA challenges failed; will retry");
                }
            }
        }
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound)
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The methods each route pattern answers, read from the OpenAPI document
/// (which lists every route): the `Allow` header of 405 answers and the
/// `Access-Control-Allow-Methods` of CORS preflights.
#[derive(Debug, Default)]
pub struct AllowTable(Vec<(actix_web::dev::ResourceDef, String)>);

impl AllowTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let table = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allow: Vec<&str> = methods.iter().filter(|(_, on)| *on).map(|(m, _)| *m).collect();
                (actix_web::dev::ResourceDef::new(path.as_str()), allow.join(", "))
            })
            .collect();
        Self(table)
    }

    /// `Allow` for a route pattern such as `/admin/users/{id}`.
    pub fn allow(&self, pattern: &str) -> Option<&str> {
        self.0.iter().find(|(def, _)| def.pattern() == Some(pattern)).map(|(_, allow)| allow.as_str())
    }

    /// `Allow` for the route a request path such as `/admin/users/42`
    /// would reach (before routing has run).
    pub fn allow_for_path(&self, path: &str) -> Option<&str> {
        self.0.iter().find(|(def, _)| def.is_match(path)).map(|(_, allow)| allow.as_str())
    }
}

/// Headers every answer carries: no MIME sniffing, no framing, and no
/// caching of anything under `/auth`, `/admin` or `/oauth` (tokens and
/// account data). Routes that may be cached (the JWKS) set their own.
async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let private = ["/auth/", "/admin/", "/oauth/"].iter().any(|p| req.path().starts_with(p))
        || matches!(req.path(), "/auth" | "/admin" | "/oauth");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    if private {
        headers.insert(actix_web::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// A client's `X-Request-Id` is kept when it is 1 to 64 characters of
/// `A-Z a-z 0-9 - _ .` (safe to log and echo); anything else is replaced.
fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let valid = (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then(|| value.to_owned())
}

/// Gives every request an id (the client's, when acceptable, else a new
/// one; echoed in `x-request-id`) and a span that carries it, and logs one
/// line per request: method, route, status, latency. Never headers, query
/// strings or bodies.
async fn request_span<A: Adapters>(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let recording = req.app_data::<web::Data<Recording>>().is_none_or(|r| r.0);
    let app = req.app_data::<web::Data<Gatehouse<A>>>().cloned().filter(|_| recording);
    let id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().clone();
    // Only the id and the method: the raw path may carry ids a client
    // chose, and the route pattern is known only after routing.
    let span = tracing::info_span!("request", request_id = %id, method = %method);
    let started = std::time::Instant::now();
    let mut res = tracing::Instrument::instrument(next.call(req), span.clone()).await?;
    let status = res.status().as_u16();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let seconds = started.elapsed().as_secs_f64();
    if let Some(app) = app {
        app.record_request(method.as_str(), &route, status, seconds);
    }
    span.in_scope(|| {
        let duration_ms = seconds * 1000.0;
        if res.status().is_server_error() {
            tracing::warn!(request_id = %id, method = %method, route, status, duration_ms, "request failed");
        } else {
            tracing::info!(request_id = %id, method = %method, route, status, duration_ms, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}
