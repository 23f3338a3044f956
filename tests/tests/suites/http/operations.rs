//! Operations: health probes, the OpenAPI document, the self-hosted docs,
//! HS256 mode, and a database outage.

use std::sync::Arc;

use gatehouse_api::{
    compose,
    server::{self, HttpSettings},
};
use gatehouse_infrastructure::{Database, sea_orm::DatabaseSettings};
use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

use crate::support::{
    app::{Stack, TestApp, assert_problem, http_tests, settings},
    db,
};

http_tests!(
    the_service_is_live_and_ready,
    the_openapi_document_describes_every_route,
    the_openapi_document_states_the_request_rules,
    the_docs_are_served_without_a_cdn
);

async fn the_service_is_live_and_ready(app: TestApp) {
    assert_eq!(app.get("/health/live", None).await.status(), 200);
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
}

async fn the_openapi_document_describes_every_route(app: TestApp) {
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/protected", "get"),
        ("/auth/admin", "get"),
        ("/auth/me", "get"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/sessions", "get"),
        ("/auth/sessions/{id}", "delete"),
        ("/auth/password", "post"),
        ("/admin/users", "get"),
        ("/admin/users/{id}", "get"),
        ("/admin/users/{id}", "patch"),
        ("/admin/users/{id}", "delete"),
        ("/admin/audit", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the OpenAPI document");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

async fn the_openapi_document_states_the_request_rules(app: TestApp) {
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let username = &schemas["Registration"]["properties"]["username"];
    assert_eq!((username["minLength"].as_u64(), username["maxLength"].as_u64()), (Some(3), Some(64)), "{username}");
    assert_eq!(username["pattern"], "^[A-Za-z0-9._@+-]{3,64}$");
    let password = &schemas["Registration"]["properties"]["password"];
    assert_eq!((password["minLength"].as_u64(), password["maxLength"].as_u64()), (Some(8), Some(256)), "{password}");
    let new_password = &schemas["PasswordChange"]["properties"]["new_password"];
    assert_eq!(new_password["minLength"].as_u64(), Some(8), "{new_password}");
    let required = schemas["Registration"]["required"].as_array().unwrap();
    assert_eq!(required.len(), 2, "{required:?}");
    // Problem answers are shared responses, each a problem+json body.
    let register = &doc["paths"]["/auth/register"]["post"]["responses"];
    assert_eq!(register["409"]["$ref"], "#/components/responses/UsernameTaken", "{register}");
    let taken = &doc["components"]["responses"]["UsernameTaken"]["content"]["application/problem+json"]["schema"];
    assert_eq!(taken["$ref"], "#/components/schemas/Problem", "{taken}");
}

async fn the_docs_are_served_without_a_cdn(app: TestApp) {
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.url().path(), "/docs/", "/docs leads to the docs page");
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "the docs page loads something from elsewhere: {html}"
    );
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
        assert_eq!(app.get(asset, None).await.status(), 200, "{asset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_hs256_mode_tokens_work_and_the_jwks_is_empty() {
    let secret = "a shared secret that is long enough!";
    let app = TestApp::spawn_with(Stack::Memory, &[("jwt.algorithm", "HS256"), ("jwt.secret", secret)]).await.unwrap();
    let token = app.access_token("alice").await;
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(app.get("/auth/protected", Some(&token)).await.status(), 200);
    let jwks: Value = app.get("/.well-known/jwks.json", None).await.json().await.unwrap();
    assert_eq!(jwks, serde_json::json!({"keys": []}));
}

/// A TCP proxy to the database that can be cut, to simulate an outage.
struct Proxy {
    addr: std::net::SocketAddr,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn to(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut pipes = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                pipes.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { addr, tasks }
    }

    /// Closes the listener and every open connection.
    async fn cut(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_is_unreachable_requests_get_503_with_retry_after() {
    let Some(test_db) = db::postgres().await else {
        eprintln!("skipped: {} is not set", db::POSTGRES_URL_VAR);
        return;
    };
    requests_get_503_with_retry_after_when_unreachable(test_db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_mysql_database_is_unreachable_requests_get_503_with_retry_after() {
    let Some(test_db) = db::mysql().await else {
        eprintln!("skipped: {} is not set", db::MYSQL_URL_VAR);
        return;
    };
    requests_get_503_with_retry_after_when_unreachable(test_db).await;
}

/// The server on `test_db` through a [`Proxy`] that is cut mid-run.
async fn requests_get_503_with_retry_after_when_unreachable(test_db: db::TestDb) {
    let url = url_parts(&test_db.url);
    let mut proxy = Proxy::to(url.1).await;
    let proxied_url = format!("{}://{}@{}/{}", url.0, url.2, proxy.addr, url.3);
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), &proxied_url, &[]);
    let db = Database::connect(&DatabaseSettings {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..DatabaseSettings::new(proxied_url.clone())
    })
    .await
    .unwrap();
    let app = Arc::new(compose::build(&settings, &db).unwrap());
    let running = server::start(app, &HttpSettings { port: 0, workers: Some(1), ..HttpSettings::default() }).unwrap();
    tokio::spawn(running.server);
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let register = || {
        client
            .post(format!("{base}/auth/register"))
            .json(&serde_json::json!({"username": "alice", "password": "correct horse battery staple"}))
            .send()
    };
    assert_eq!(register().await.unwrap().status(), 201);

    proxy.cut().await;
    let started = std::time::Instant::now();
    let res = client.get(format!("{base}/health/ready")).send().await.unwrap();
    assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_problem(res, 503, "unavailable").await;
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 503, "unavailable").await;
    for leak in ["5432", "3306", "postgres", "mysql", "maria"] {
        assert!(!body.to_string().to_lowercase().contains(leak), "{body}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "an outage must not hang requests");
    running.handle.stop(false).await;
}

/// (scheme, host:port, user, database) of a `scheme://user@host:port/db`
/// URL.
fn url_parts(url: &str) -> (String, std::net::SocketAddr, String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, rest) = rest.split_once('@').unwrap();
    let (host, db) = rest.split_once('/').unwrap();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host).unwrap().next().unwrap();
    (scheme.to_owned(), addr, userinfo.to_owned(), db.split('?').next().unwrap().to_owned())
}
