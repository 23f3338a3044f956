//! The `gatehouse` command line.

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};
use gatehouse_domain::{NewPassword, Role, User, Username};
use secrecy::SecretString;

use crate::{compose, server, settings::Settings, telemetry};

/// Gatehouse: accounts, sessions and signed access tokens.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "Gatehouse: accounts, sessions and signed access tokens.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve HTTP (the default).
    Serve,
    /// Schema migrations only.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration (every key; secrets redacted) and
    /// check it: a setting that cannot work exits 2 with the line start-up
    /// would print. Nothing is written and no database is contacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chain from the first event and report the first
    /// altered or missing one (exit code 1 when the chain is broken).
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Write a new Ed25519 signing key (PEM, mode 0600) and print its kid.
    Generate {
        /// Where to write it; an existing file is never overwritten.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Write a new refresh token key (32 random bytes, base64, mode 0600).
    GenerateRefreshSecret {
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the latest migrations.
    Down {
        /// How many to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["user", "admin"], default_value = "user")]
        role: String,
        /// Read the password from standard input (the only way: a password
        /// on the command line would end up in shell history and `ps`).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// A failure the binary reports in one line before exiting non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("configuration error: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    #[error("{0}")]
    Failed(String),
}

/// Runs the command line.
///
/// # Errors
/// [`CliError`], printed by `main` as one line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    if let Some(Command::Keys { action }) = &cli.command {
        return keys(action);
    }
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config { action: ConfigAction::Check } => {
            compose::check(&settings)?;
            println!("{}", settings.effective());
            Ok(())
        }
        Command::Serve => serve(&settings).await,
        Command::Migrate { action } => migrate(&settings, action).await,
        Command::Keys { action } => keys(&action),
        Command::Audit { action: AuditAction::Verify } => verify_audit(&settings).await,
        Command::User { action: UserAction::Create { username, role, password_stdin: _ } } => {
            let user = create_user(&settings, &username, &role, read_password()?).await?;
            println!("created {} {} ({})", user.role, user.username, user.id);
            Ok(())
        }
    }
}

async fn serve(settings: &Settings) -> Result<(), CliError> {
    let db = compose::connect(settings).await?;
    // Building loads the keys: a setting that cannot work stops start-up
    // before the database is changed.
    let app = compose::build(settings, &db)?;
    db.migrate_up().await.map_err(|e| CliError::Failed(format!("migrations failed: {e}")))?;
    let http = compose::http_settings(settings)?;
    let app = std::sync::Arc::new(app);
    app.sync_revocations().await.map_err(|e| CliError::Failed(format!("cannot load session revocations: {e}")))?;
    tokio::spawn(server::run_background(
        std::sync::Arc::clone(&app),
        std::time::Duration::from_millis(settings.sessions.revocation_poll_milliseconds),
        std::time::Duration::from_secs(settings.sessions.purge_interval_seconds),
    ));
    let running = server::start(app, &http).map_err(|e| {
        CliError::Failed(format!("server.host/server.port: cannot listen on {}:{}: {e}", http.host, http.port))
    })?;
    tracing::info!(addr = %running.addr, "gatehouse listening on http://{}", running.addr);
    let handle = running.handle.clone();
    let metrics_handle = running.metrics.as_ref().map(|(_, handle, _)| handle.clone());
    if let Some((addr, _, metrics)) = running.metrics {
        tracing::info!(%addr, "metrics listening on http://{addr}/metrics");
        tokio::spawn(metrics);
    }
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        if let Some(metrics) = metrics_handle {
            metrics.stop(true).await;
        }
        handle.stop(true).await;
    });
    running.server.await.map_err(|e| CliError::Failed(format!("server failed: {e}")))?;
    db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn keys(action: &KeysAction) -> Result<(), CliError> {
    use gatehouse_infrastructure::{JwtCodec, SigningKey, key_file};
    let failed = |e: key_file::KeyFileError| CliError::Failed(e.to_string());
    match action {
        KeysAction::Generate { out } => {
            let der = key_file::generate(out).map_err(failed)?;
            let codec =
                JwtCodec::new(&SigningKey::Ed25519 { pkcs8_der: der }).map_err(|e| CliError::Failed(e.to_string()))?;
            println!("wrote {} (kid {})", out.display(), codec.kid());
        }
        KeysAction::GenerateRefreshSecret { out } => {
            if out.exists() {
                return Err(CliError::Failed(format!("{}: exists; refusing to overwrite", out.display())));
            }
            key_file::load_or_create_secret(out, true).map_err(failed)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// `gatehouse audit verify`: walks the chain from the first event; `Ok`
/// when intact, else the one-line report of the first broken event.
///
/// # Errors
/// [`CliError::Failed`] naming the first missing, unlinked or altered event.
pub async fn verify_audit(settings: &Settings) -> Result<(), CliError> {
    use gatehouse_application::ports::{AuditLog, ChainBreak};
    let db = compose::connect(settings).await?;
    let report =
        db.audit().verify().await.map_err(|e| CliError::Failed(format!("cannot read the audit trail: {e}")))?;
    db.close().await;
    match report.first_break {
        None => {
            println!("audit chain intact: {} events", report.checked);
            Ok(())
        }
        Some(broken) => {
            let (seq, what) = match broken {
                ChainBreak::Missing { seq } => (seq, "is missing"),
                ChainBreak::BrokenLink { seq } => (seq, "does not link to the event before it"),
                ChainBreak::Altered { seq } => (seq, "was altered"),
            };
            Err(CliError::Failed(format!(
                "audit chain broken: event {seq} {what} ({} events before it verified)",
                report.checked
            )))
        }
    }
}

async fn migrate(settings: &Settings, action: MigrateAction) -> Result<(), CliError> {
    let db = compose::connect(settings).await?;
    let failed = |e: gatehouse_application::ports::StoreError| CliError::Failed(format!("migration failed: {e}"));
    match action {
        MigrateAction::Up => db.migrate_up().await.map_err(failed)?,
        MigrateAction::Down { steps } => db.migrate_down(steps).await.map_err(failed)?,
        MigrateAction::Status => {
            for m in db.migration_status().await.map_err(failed)? {
                println!("{} {}", if m.applied { "applied" } else { "pending" }, m.name);
            }
        }
    }
    db.close().await;
    Ok(())
}

/// `gatehouse user create`: checks the same rules as registration, runs
/// pending migrations, and inserts the user with the given role.
///
/// # Errors
/// [`CliError`] naming the argument or setting that is wrong.
pub async fn create_user(
    settings: &Settings,
    username: &str,
    role: &str,
    password: SecretString,
) -> Result<User, CliError> {
    let username = Username::parse(username).map_err(|e| CliError::Failed(format!("--username: username {e}")))?;
    let role: Role = role.parse().map_err(|e| CliError::Failed(format!("--role: {e}")))?;
    let password =
        NewPassword::parse(password, Some(username.as_str())).map_err(|e| CliError::Failed(format!("password {e}")))?;
    let db = compose::connect(settings).await?;
    db.migrate_up().await.map_err(|e| CliError::Failed(format!("migrations failed: {e}")))?;
    let app = compose::build(settings, &db)?;
    let user = app.create_user(username, password, role).await.map_err(|e| match e {
        gatehouse_application::CreateUserError::UsernameTaken => {
            CliError::Failed("that username is already registered".into())
        }
        other => CliError::Failed(other.to_string()),
    })?;
    db.close().await;
    Ok(user)
}

/// One line from standard input, without its line ending.
fn read_password() -> Result<SecretString, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| CliError::Failed(format!("cannot read the password: {e}")))?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    Ok(SecretString::from(password.to_owned()))
}
