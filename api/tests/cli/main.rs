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
    ] {
        let dir = tempfile::tempdir().unwrap();
        let check = gatehouse(dir.path()).args(["config", "check"]).env(var, value).output().unwrap();
        assert_one_line_error(&check, key);
        let serve = gatehouse(dir.path()).env(var, value).output().unwrap();
        assert_one_line_error(&serve, key);
        assert_eq!(check.stderr, serve.stderr, "{var}={value}");
    }
}
