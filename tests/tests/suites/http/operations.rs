//! Operations: health probes, the OpenAPI document, the self-hosted docs,
//! HS256 mode, a database outage and recovery, and an exhausted pool.

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

/// A TCP proxy to the database that can be cut, to simulate an outage,
/// and restored on the same address.
struct Proxy {
    addr: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn to(upstream: std::net::SocketAddr) -> Self {
        Self::listen(listener("127.0.0.1:0".parse().unwrap()), upstream)
    }

    /// Listens on the old address again: the database is back.
    async fn restore(&mut self) {
        *self = Self::listen(listener(self.addr), self.upstream);
    }

    fn listen(listener: TcpListener, upstream: std::net::SocketAddr) -> Self {
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
        Self { addr, upstream, tasks }
    }

    /// Closes the listener and every open connection.
    async fn cut(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_postgres_database_is_unreachable_requests_get_503_then_recover_without_a_restart() {
    let Some(test_db) = db::postgres().await else {
        eprintln!("skipped: {} is not set", db::POSTGRES_URL_VAR);
        return;
    };
    requests_get_503_with_retry_after_when_unreachable(test_db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_mysql_database_is_unreachable_requests_get_503_then_recover_without_a_restart() {
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

    // The database comes back: the same process serves again, no restart.
    proxy.restore().await;
    let back = std::time::Instant::now();
    loop {
        let res = client.get(format!("{base}/health/ready")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < std::time::Duration::from_secs(30),
            "still {} after the database came back",
            res.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login after the database came back");
    running.handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_postgres_pool_is_exhausted_requests_get_503_in_time() {
    let Some(test_db) = db::postgres().await else {
        eprintln!("skipped: {} is not set", db::POSTGRES_URL_VAR);
        return;
    };
    an_exhausted_pool_answers_503_within_the_acquire_timeout(test_db, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_mysql_pool_is_exhausted_requests_get_503_in_time() {
    let Some(test_db) = db::mysql().await else {
        eprintln!("skipped: {} is not set", db::MYSQL_URL_VAR);
        return;
    };
    an_exhausted_pool_answers_503_within_the_acquire_timeout(test_db, "LOCK TABLES users WRITE").await;
}

/// A pool of one connection, held by a registration that waits on a table
/// lock taken from outside: the next request cannot get a connection and
/// must answer 503 after `acquire_timeout`, not hang; once the lock goes,
/// everything completes.
async fn an_exhausted_pool_answers_503_within_the_acquire_timeout(test_db: db::TestDb, lock: &str) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), &test_db.url, &[]);
    let acquire = std::time::Duration::from_secs(1);
    let db = Database::connect(&DatabaseSettings {
        max_connections: 1,
        acquire_timeout: acquire,
        ..DatabaseSettings::new(test_db.url.clone())
    })
    .await
    .unwrap();
    let app = Arc::new(compose::build(&settings, &db).unwrap());
    let running = server::start(app, &HttpSettings { port: 0, workers: Some(2), ..HttpSettings::default() }).unwrap();
    tokio::spawn(running.server);
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();

    let outside = sea_orm::Database::connect(test_db.url.as_str()).await.unwrap();
    let txn = outside.begin().await.unwrap();
    txn.execute_unprepared(lock).await.unwrap();
    let blocked = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .post(format!("{base}/auth/register"))
                .json(&serde_json::json!({"username": "alice", "password": "correct horse battery staple"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let res = client.get(format!("{base}/health/ready")).send().await.unwrap();
    let waited = started.elapsed();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "unavailable").await;
    assert!(
        waited >= acquire / 2 && waited < acquire * 10,
        "answered after {waited:?} with a {acquire:?} acquire timeout"
    );

    txn.rollback().await.unwrap();
    let _ = outside.close().await;
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), blocked).await.unwrap().unwrap();
    assert!(status == 201 || status == 503, "the blocked registration answered {status}");
    assert_eq!(client.get(format!("{base}/health/ready")).send().await.unwrap().status(), 200);
    running.handle.stop(false).await;
}

/// A listener that may take an address a cut proxy just left.
fn listener(addr: std::net::SocketAddr) -> TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(128).unwrap()
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
