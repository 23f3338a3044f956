//! The two yardsticks `bench/run` measures Gatehouse against.
//!
//! - `serve`: a bare actix-web route, `GET /auth/protected`, answering the
//!   body Gatehouse answers there, on the same actix-web version and worker
//!   count. No authentication, no middleware: what the framework alone costs.
//! - `argon2-ceiling`: N threads verifying one argon2id hash in a loop with
//!   the given parameters, each reusing its memory, as Gatehouse's hashing
//!   threads do on login. It prints the verifications per second, the most
//!   logins per second the machine can give with those parameters.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::{App, HttpResponse, HttpServer, get};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher as _, Version};
use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Yardsticks for bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bare route until killed.
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long)]
        port: u16,
        /// actix-web workers; 0 keeps actix-web's default, as Gatehouse does.
        #[arg(long, default_value_t = 0)]
        workers: usize,
    },
    /// Verify an argon2id hash in a loop on N threads and print verifications/s.
    Argon2Ceiling {
        #[arg(long)]
        threads: usize,
        #[arg(long, default_value_t = 19456)]
        memory_kib: u32,
        #[arg(long, default_value_t = 2)]
        iterations: u32,
        #[arg(long, default_value_t = 1)]
        parallelism: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[derive(Serialize)]
struct Greeting {
    message: String,
}

#[get("/auth/protected")]
async fn protected() -> HttpResponse {
    HttpResponse::Ok().json(Greeting { message: format!("Hello, {}!", "alice") })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Serve { host, port, workers } => serve(&host, port, workers)?,
        Command::Argon2Ceiling { threads, memory_kib, iterations, parallelism, seconds } => {
            let params = Params::new(memory_kib, iterations, parallelism, None).map_err(|e| e.to_string())?;
            let per_second = argon2_ceiling(threads.max(1), params, Duration::from_secs(seconds))?;
            println!("verifications_per_second {per_second:.1}");
        }
    }
    Ok(())
}

#[actix_web::main]
async fn serve(host: &str, port: u16, workers: usize) -> std::io::Result<()> {
    let mut server = HttpServer::new(|| App::new().service(protected));
    if workers > 0 {
        server = server.workers(workers);
    }
    server.bind((host, port))?.run().await
}

fn argon2_ceiling(threads: usize, params: Params, window: Duration) -> Result<f64, Box<dyn std::error::Error>> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let password = b"bench-password-1";
    let phc = argon2.hash_password(password).map_err(|e| e.to_string())?.to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon2, phc, stop, done) = (argon2.clone(), phc.clone(), Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || -> Result<(), String> {
                let parsed = PasswordHash::new(&phc).map_err(|e| e.to_string())?;
                let (salt, expected) = (parsed.salt.ok_or("no salt")?, parsed.hash.ok_or("no hash")?);
                // Each thread reuses its memory, as Gatehouse's hashing threads do.
                let mut blocks = vec![Block::default(); blocks];
                let mut out = vec![0u8; expected.len()];
                while !stop.load(Ordering::Relaxed) {
                    argon2
                        .hash_password_into_with_memory(password, &salt, &mut out, &mut blocks[..])
                        .map_err(|e| e.to_string())?;
                    if out != expected.as_bytes() {
                        return Err("the hash did not verify".into());
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    // Count only whole verifications finished inside the window.
    std::thread::sleep(Duration::from_millis(500));
    let (start, before) = (Instant::now(), done.load(Ordering::Relaxed));
    std::thread::sleep(window);
    let (elapsed, after) = (start.elapsed(), done.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().map_err(|_| "a verifying thread panicked")??;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok((after - before) as f64 / elapsed.as_secs_f64())
}
