//! The `gatehouse` binary.

use std::process::ExitCode;

use clap::Parser;
use gatehouse_api::cli::{Cli, CliError, run};

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
