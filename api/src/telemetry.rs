//! Structured logs with `tracing`.

use tracing_subscriber::{EnvFilter, fmt};

use crate::settings::LogSettings;

/// Installs the global subscriber: `RUST_LOG` if set, else `log.level`;
/// `log.format` chooses JSON lines or human-readable output. Calling it
/// twice is harmless (the second call does nothing).
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = if log.format == "json" { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}
