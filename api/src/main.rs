//! The `gatehouse` binary.

use std::process::ExitCode;

use clap::Parser;
use gatehouse_api::cli::{Cli, CliError, run};

/// mimalloc rather than glibc's malloc: every password hash allocates and
/// frees `password.memory_kib` (19 MiB) on a hashing thread, and glibc's
/// per-thread arenas kept those blocks, so a registration flood left the
/// process at about 355 MiB; mimalloc hands them back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
