//! The `gatehouse` binary as an operator runs it: start-up on the embedded
//! defaults, `user create`, `migrate`, and start-up errors that name the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

fn gatehouse(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("GATEHOUSE_ENV")
        .env_remove("GATEHOUSE_CONFIG_DIR")
        .env("GATEHOUSE__PASSWORD__MEMORY_KIB", "8")
        .env("GATEHOUSE__PASSWORD__ITERATIONS", "1");
    cmd
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn assert_one_line_error(output: &Output, key: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("gatehouse: configuration error: ") && lines[0].contains(key), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_short_hs256_secret_stops_start_up_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse(dir.path())
        .env("GATEHOUSE__JWT__ALGORITHM", "HS256")
        .env("GATEHOUSE__JWT__SECRET", "short-secret")
        .output()
        .unwrap();
    assert_one_line_error(&output, "jwt.secret");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("short-secret"), "the secret was echoed");
}

#[test]
fn settings_that_cannot_work_stop_start_up_naming_their_key() {
    for (var, value, key) in [
        ("GATEHOUSE__JWT__ALGORITHM", "RS256", "jwt.algorithm"),
        ("GATEHOUSE__DATABASE__URL", "redis://localhost", "database.url"),
        ("GATEHOUSE__SERVER__PORT", "eighty", "server.port"),
        ("GATEHOUSE__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none", "database.url"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let output = gatehouse(dir.path())
            .env(var, value)
            .env("GATEHOUSE__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "1")
            .output()
            .unwrap();
        assert_one_line_error(&output, key);
    }
}

#[test]
fn production_refuses_to_start_without_a_key_file_instead_of_generating_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse(dir.path()).env("GATEHOUSE_ENV", "production").output().unwrap();
    assert_one_line_error(&output, "jwt.key_file");
    assert!(!dir.path().join("data/jwt-ed25519.pem").exists());
}

#[test]
fn user_create_reads_the_password_from_stdin_and_migrate_status_lists_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = gatehouse(dir.path());
    cmd.args(["user", "create", "--username", "Root", "--role", "admin", "--password-stdin"]);
    let output = run_with_stdin(cmd, "a long admin password\n");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("created admin root ("), "{stdout}");
    assert!(!stdout.contains("a long admin password"));

    let mut again = gatehouse(dir.path());
    again.args(["user", "create", "--username", "root", "--password-stdin"]);
    let output = run_with_stdin(again, "another long password\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already registered"));

    let status = gatehouse(dir.path()).args(["migrate", "status"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success());
    assert!(stdout.lines().all(|l| l.starts_with("applied ")) && stdout.lines().count() >= 1, "{stdout}");
}

#[test]
fn user_create_applies_the_password_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = gatehouse(dir.path());
    cmd.args(["user", "create", "--username", "root", "--role", "admin", "--password-stdin"]);
    let output = run_with_stdin(cmd, "password\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("too common"));
}

#[test]
fn user_create_requires_the_password_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse(dir.path()).args(["user", "create", "--username", "root"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--password-stdin"));
}

#[test]
fn serve_runs_on_the_embedded_defaults_creating_its_database_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = gatehouse(dir.path())
        .env("GATEHOUSE__SERVER__PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(Instant::now() < deadline, "no 'listening' line");
        let line = lines.next().expect("server exited").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(dir.path().join("data/gatehouse.db").exists());
    let key = dir.path().join("data/jwt-ed25519.pem");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn keys_generate_writes_a_private_key_once_and_prints_its_kid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys/next.pem");
    let output = gatehouse(dir.path()).args(["keys", "generate", "--out"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("kid "), "{stdout}");
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let first = std::fs::read(&out).unwrap();
    let again = gatehouse(dir.path()).args(["keys", "generate", "--out"]).arg(&out).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "an existing key must never be overwritten");
    assert_eq!(std::fs::read(&out).unwrap(), first);
}

#[test]
fn keys_generate_refresh_secret_writes_a_private_secret_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("refresh.key");
    let output = gatehouse(dir.path()).args(["keys", "generate-refresh-secret", "--out"]).arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let again = gatehouse(dir.path()).args(["keys", "generate-refresh-secret", "--out"]).arg(&out).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn a_key_list_without_exactly_one_current_key_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/development.toml"), "[[jwt.keys]]\nfile = \"a.pem\"\nstate = \"next\"\n")
        .unwrap();
    let output = gatehouse(dir.path()).output().unwrap();
    assert_one_line_error(&output, "jwt.keys");
}

#[test]
fn audit_verify_reports_an_intact_chain_with_its_length() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["root", "second"] {
        let mut cmd = gatehouse(dir.path());
        cmd.args(["user", "create", "--username", name, "--role", "admin", "--password-stdin"]);
        assert!(run_with_stdin(cmd, "a long admin password\n").status.success());
    }
    let output = gatehouse(dir.path()).args(["audit", "verify"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "audit chain intact: 2 events");
}

#[test]
fn config_check_prints_every_key_with_secrets_redacted_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse(dir.path())
        .args(["config", "check"])
        .env("GATEHOUSE__JWT__REFRESH_SECRET", "a-refresh-secret-of-at-least-32-bytes")
        .env("GATEHOUSE__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8"]"#)
        .env("GATEHOUSE__WEBAUTHN__RP_ID", "example.com")
        .env("GATEHOUSE__WEBAUTHN__ORIGINS", r#"["https://login.example.com", "https://example.com:8443"]"#)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    for line in [
        "environment = \"development\"",
        "server.port = 8080",
        "server.trusted_proxies = [\"10.0.0.0/8\"]",
        "database.url = \"sqlite://data/gatehouse.db?mode=rwc\"",
        "jwt.refresh_secret = \"<redacted>\"",
        "rate_limit.login_failures = 5",
        "webauthn.rp_id = \"example.com\"",
        "webauthn.rp_name = \"Gatehouse\"",
        "webauthn.origins = [\"https://login.example.com\",\"https://example.com:8443\"]",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} missing from:\n{stdout}");
    }
    assert!(!stdout.contains("a-refresh-secret"), "a secret was printed");
    assert!(!dir.path().join("data").exists(), "config check created files");
}

#[test]
fn config_check_refuses_what_start_up_refuses_with_the_same_line() {
    for (var, value, key) in [
        ("GATEHOUSE__SERVER__TRUSTED_PROXIES", r#"["not-a-block"]"#, "server.trusted_proxies"),
        ("GATEHOUSE__JWT__ALGORITHM", "RS256", "jwt.algorithm"),
        ("GATEHOUSE__PASSWORD__MEMORY_KIB", "1", "password.memory_kib"),
        ("GATEHOUSE__WEBAUTHN__RP_ID", "example.com", "webauthn.rp_id"),
        ("GATEHOUSE__WEBAUTHN__ORIGINS", r#"["https://login.example.org"]"#, "webauthn.rp_id"),
        ("GATEHOUSE__WEBAUTHN__ORIGINS", r#"["http://login.example.com"]"#, "webauthn.origins"),
        ("GATEHOUSE__WEBAUTHN__ORIGINS", "[]", "webauthn.origins"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let check = gatehouse(dir.path()).args(["config", "check"]).env(var, value).output().unwrap();
        assert_one_line_error(&check, key);
        let serve = gatehouse(dir.path()).env(var, value).output().unwrap();
        assert_one_line_error(&serve, key);
        assert_eq!(check.stderr, serve.stderr, "{var}={value}");
    }
}

/// Starts `gatehouse serve` on a free port with the environment `env`;
/// returns the child, its address, and a thread that collects every stderr
/// line until the process ends.
fn serve_collecting_logs(
    dir: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String, std::thread::JoinHandle<Vec<String>>) {
    let mut cmd = gatehouse(dir);
    cmd.env("GATEHOUSE__SERVER__PORT", "0").stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let collector = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || ".:".contains(*c)).collect();
                let _ = tx.send(addr);
            }
            all.push(line);
        }
        all
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("a 'listening' line");
    (child, addr, collector)
}

#[test]
fn no_password_token_or_hash_reaches_the_logs_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, collector) =
        serve_collecting_logs(dir.path(), &[("RUST_LOG", "trace"), ("GATEHOUSE__LOG__FORMAT", "json")]);
    let base = format!("http://{addr}");
    let password = "correct horse battery staple";
    let new_password = "purple elephant juggling quietly";
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let secrets: Vec<String> = runtime.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| http.post(format!("{base}{path}")).json(&body).send();
        let register = post("/auth/register", serde_json::json!({"username": "alice", "password": password})).await;
        assert_eq!(register.unwrap().status(), 201);
        let wrong = post("/auth/login", serde_json::json!({"username": "alice", "password": "not the password!"}));
        assert_eq!(wrong.await.unwrap().status(), 401);
        let pair: serde_json::Value =
            post("/auth/login", serde_json::json!({"username": "alice", "password": password}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let access = pair["access_token"].as_str().unwrap().to_owned();
        let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
        let refreshed: serde_json::Value =
            post("/auth/refresh", serde_json::json!({"refresh_token": refresh})).await.unwrap().json().await.unwrap();
        let access2 = refreshed["access_token"].as_str().unwrap().to_owned();
        let refresh2 = refreshed["refresh_token"].as_str().unwrap().to_owned();
        let ok = http.get(format!("{base}/auth/protected")).bearer_auth(&access2).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let change = serde_json::json!({"current_password": password, "new_password": new_password});
        let changed = http.post(format!("{base}/auth/password")).bearer_auth(&access2).json(&change).send().await;
        assert_eq!(changed.unwrap().status(), 204);
        let forged = format!("{access2}x");
        let bad = http.get(format!("{base}/auth/me")).bearer_auth(&forged).send().await.unwrap();
        assert_eq!(bad.status(), 401);
        let out = http.post(format!("{base}/auth/logout")).bearer_auth(&access2).send().await.unwrap();
        assert_eq!(out.status(), 204);
        // Reuse of a rotated-away refresh token, and a garbage one.
        post("/auth/refresh", serde_json::json!({"refresh_token": refresh.clone()})).await.unwrap();
        post("/auth/refresh", serde_json::json!({"refresh_token": "garbage-refresh-token-value"})).await.unwrap();
        vec![password.into(), new_password.into(), access, refresh, access2, refresh2, forged]
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let logs = collector.join().unwrap();
    assert!(logs.len() > 20, "trace logging produced {} lines", logs.len());
    let request_lines: Vec<serde_json::Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert!(
        request_lines.iter().any(|v| v["route"] == "/auth/login"
            && v["status"] == 200
            && v["request_id"].is_string()
            && v["method"] == "POST"
            && v["duration_ms"].is_number()
            && v["timestamp"].is_string()
            && v["level"] == "INFO"),
        "no JSON request line for the login: {request_lines:?}"
    );
    let text = logs.join("\n");
    for secret in secrets.iter().map(String::as_str).chain(["garbage-refresh-token-value", "$argon2id$"]) {
        // Tokens also must not leak in part: their signature is the secret bit.
        let needle = secret.rsplit('.').next().unwrap_or(secret);
        assert!(!text.contains(needle), "a secret ({} characters) appears in the logs", secret.len());
    }
}

/// `kill -9` while ten refreshes of one session are in flight, then a
/// restart on the same database and keys: the session still has exactly
/// one current refresh token, and an older one is reuse.
fn a_hard_kill_during_concurrent_refreshes_leaves_no_fork(kind: gatehouse_test_support::Kind, var: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(db) = runtime.block_on(gatehouse_test_support::from_env(kind, var)) else {
        eprintln!("skipped: {var} is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [("GATEHOUSE__DATABASE__URL", db.url.as_str())];
    let (mut child, addr, _logs) = serve_collecting_logs(dir.path(), &env);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let refresh = |token: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.post(format!("{base}/auth/refresh")).json(&serde_json::json!({"refresh_token": token})).send().await
        }
    };
    let r0: String = runtime.block_on(async {
        let body = serde_json::json!({"username": "alice", "password": "correct horse battery staple"});
        assert_eq!(http.post(format!("{base}/auth/register")).json(&body).send().await.unwrap().status(), 201);
        let pair: serde_json::Value =
            http.post(format!("{base}/auth/login")).json(&body).send().await.unwrap().json().await.unwrap();
        pair["refresh_token"].as_str().unwrap().to_owned()
    });
    // Ten refreshes at once; the process dies while they run.
    let answered: Vec<String> = runtime.block_on(async {
        let inflight: Vec<_> = (0..10).map(|_| tokio::spawn(refresh(r0.clone()))).collect();
        // Kill as soon as the first answer is back: the others are in flight.
        for _ in 0..500 {
            if inflight.iter().any(tokio::task::JoinHandle::is_finished) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.kill().unwrap();
        let mut tokens = Vec::new();
        for res in inflight {
            if let Ok(Ok(res)) = res.await
                && res.status() == 200
                && let Ok(body) = res.json::<serde_json::Value>().await
            {
                tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
            }
        }
        tokens
    });
    child.wait().unwrap();
    eprintln!("{} of 10 refreshes answered before the kill", answered.len());
    assert!(answered.windows(2).all(|w| w[0] == w[1]), "answers before the kill forked: {answered:?}");

    let (mut child, addr, _logs) = serve_collecting_logs(dir.path(), &env);
    let base = format!("http://{addr}");
    let refresh = |token: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let res = http
                .post(format!("{base}/auth/refresh"))
                .json(&serde_json::json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            (status, body["refresh_token"].as_str().map(str::to_owned))
        }
    };
    runtime.block_on(async {
        // The first token names the session's one current token, whatever
        // committed before the kill (rotation or grace).
        let (status, current) = refresh(r0.clone()).await;
        assert_eq!(status, 200);
        let current = current.unwrap();
        if let Some(before) = answered.first() {
            assert_eq!(*before, current, "a token answered before the kill is the current one");
        }
        // It rotates...
        let (status, next) = refresh(current.clone()).await;
        assert_eq!(status, 200);
        let next = next.unwrap();
        // ...and the first token, two generations back, is now reuse: the
        // session ends, its newest token with it.
        assert_eq!(refresh(r0.clone()).await.0, 401);
        assert_eq!(refresh(next).await.0, 401);
    });
    child.kill().unwrap();
    child.wait().unwrap();
    drop(db);
}

#[test]
fn a_hard_kill_during_concurrent_refreshes_leaves_no_fork_on_postgres() {
    a_hard_kill_during_concurrent_refreshes_leaves_no_fork(
        gatehouse_test_support::Kind::Postgres,
        "GATEHOUSE_TEST_POSTGRES_URL",
    );
}

#[test]
fn a_hard_kill_during_concurrent_refreshes_leaves_no_fork_on_mysql() {
    a_hard_kill_during_concurrent_refreshes_leaves_no_fork(
        gatehouse_test_support::Kind::Mysql,
        "GATEHOUSE_TEST_MYSQL_URL",
    );
}
