//! The `gatehouse` binary.

use std::process::ExitCode;

use clap::Parser;
use gatehouse_api::cli::{Cli, CliError, run};

/// jemalloc rather than glibc's malloc or mimalloc. Measured with bench/run
/// (docs/benchmarks.md): glibc's per-thread arenas kept every freed 19 MiB
/// argon2 block (a registration flood left 355 MiB); mimalloc kept them
/// too, in its arenas, until the process ended (idle at 67 MiB after a few
/// logins, where jemalloc is back at 29 MiB). jemalloc gives allocations
/// over 8 MiB pages of their own and returns them when freed, and its
/// arenas are bounded (4 per core).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            ExitCode::from(match e {
                CliError::Settings(_) => 2,
                CliError::Failed(_) => 1,
            })
        }
    }
}
