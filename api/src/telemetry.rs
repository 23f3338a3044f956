//! Structured logs with `tracing`.

use tracing_subscriber::{EnvFilter, fmt};

use crate::settings::LogSettings;

/// Installs the global subscriber: `RUST_LOG` if set, else `log.level`;
/// `log.format` chooses JSON lines (`timestamp`, `level`, the event's
/// fields with `message` at the top level, and the request span) or
/// human-readable text. Calling it twice is harmless (the second call does
/// nothing).
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = if log.format == "json" {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}
