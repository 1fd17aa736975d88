//! The tokio runtime: drives the protocol cores over TCP with length-delimited frames, runs their
//! timers, serves the admin port's status query, reads the config file and writes the logs.

mod admin;
pub mod config;
pub mod frame;
mod nameserver;
mod net;
mod replica;
pub mod tcp;

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::error;

pub use nameserver::{NameServerReport, run_nameserver};
pub use replica::{Exit, ReplicaReport, run_replica};

use crate::error::Error;
use crate::protocol::ReplicaId;
use crate::protocol::bugs::Bugs;
use config::GroupConfig;

/// Exit code of a replica that terminated itself in recovery (M3 act 1050).
pub const EXIT_SELF_TERMINATED: u8 = 3;
/// Exit code for bad arguments or a bad config file.
pub const EXIT_BAD_INPUT: u8 = 254;
/// Exit code for any other failure (a port already in use, say).
pub const EXIT_FAILURE: u8 = 255;

/// Facts about the running process, reported with the status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// The process id.
    pub pid: u32,
    /// Wall-clock start time, ms since the Unix epoch.
    pub started_unix_ms: u64,
}

impl ProcessInfo {
    fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        ProcessInfo { pid: std::process::id(), started_unix_ms: since_epoch.as_millis() as u64 }
    }
}

/// Logs to stderr, each line stamped with the seconds since the process started (monotonic).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Parses the command line as `A`. On failure, prints clap's message and returns the exit code:
/// 0 for `--help` and `--version`, [`EXIT_BAD_INPUT`] for anything else.
pub fn parse_args<A: clap::Parser>() -> Result<A, ExitCode> {
    A::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() { ExitCode::from(EXIT_BAD_INPUT) } else { ExitCode::SUCCESS }
    })
}

/// The whole life of a `replica` process: load the config, run, and turn the outcome into the
/// exit code (0 on shutdown, 3 on self-termination, 254 on bad input, 255 on failure).
pub fn replica_process(config: &Path, id: ReplicaId, bugs: Bugs) -> ExitCode {
    init_logging();
    process(config, |config| async move {
        config.member(id)?;
        run_replica(config, id, bugs, shutdown_signal()).await.map(|exit| match exit {
            Exit::Shutdown => ExitCode::SUCCESS,
            Exit::Terminated(_) => ExitCode::from(EXIT_SELF_TERMINATED),
        })
    })
}

/// The whole life of a `nameserver` process, as [`replica_process`].
pub fn nameserver_process(config: &Path, bugs: Bugs) -> ExitCode {
    init_logging();
    process(config, |config| async move {
        run_nameserver(config, bugs, shutdown_signal()).await.map(|()| ExitCode::SUCCESS)
    })
}

fn process<F, Fut>(path: &Path, run: F) -> ExitCode
where
    F: FnOnce(GroupConfig) -> Fut,
    Fut: Future<Output = Result<ExitCode, Error>>,
{
    let outcome = GroupConfig::load(path).and_then(|config| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::net("start the tokio runtime", e))?;
        runtime.block_on(run(config))
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            error!("{e}");
            eprintln!("error: {e}");
            match e {
                Error::ConfigRead { .. }
                | Error::ConfigSyntax { .. }
                | Error::ConfigField { .. }
                | Error::UnknownMember { .. } => ExitCode::from(EXIT_BAD_INPUT),
                _ => ExitCode::from(EXIT_FAILURE),
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
