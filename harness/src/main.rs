//! `splitbrain`: the test harness's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use harness::cluster::local::{self, DEFAULT_PREFIX, DEFAULT_STATE_DIR, LocalSpec};
use harness::demo::{self, DemoPlan};
use harness::error::Error;
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::protocol::params::AckMode;

/// Exit codes: 0 valid, 1 invalid (an anomaly was found), 130 interrupted, 254 bad arguments,
/// 255 harness failure.
const EXIT_INVALID: u8 = 1;
const EXIT_INTERRUPTED: u8 = 130;
const EXIT_FAILURE: u8 = 255;

#[derive(Parser)]
#[command(version, about = "A Jepsen-style test harness for fault-tolerant server groups")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local group on 127.0.0.1, SIGKILL its master, and show the new one.
    Demo {
        /// Number of replicas.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=32))]
        replicas: u32,
        /// When the master acknowledges writes.
        #[arg(long, value_enum, default_value_t = Ack::All)]
        ack: Ack,
        /// Writes made before the kill.
        #[arg(long, default_value_t = 100)]
        writes: u32,
        /// Directory of the `replica` and `nameserver` binaries (default: beside this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// Switch on a deliberate bug in every process (repeatable).
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<Bug>,
    },
    /// Make, inspect or remove the local cluster of test hosts (network namespaces with sshd).
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
        /// Where the cluster's keys, configs, pidfiles and nodes file live.
        #[arg(long, global = true, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Prefix of the namespaces and links the cluster makes (1 to 4 characters).
        #[arg(long, global = true, default_value = DEFAULT_PREFIX)]
        prefix: String,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Make the cluster (removing any earlier one first) and write its nodes file.
    Up {
        /// Number of replica hosts; a name-server host comes on top.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=200))]
        nodes: u32,
        /// The /24 the hosts live in, as its first three octets.
        #[arg(long, default_value = "10.213.77", value_parser = parse_subnet)]
        subnet: [u8; 3],
    },
    /// Remove everything a local cluster made (idempotent).
    Down,
    /// List what exists.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum Ack {
    Async,
    All,
}

fn parse_subnet(text: &str) -> Result<[u8; 3], String> {
    let octets: Vec<u8> =
        text.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad_subnet(text))?;
    octets.try_into().map_err(|_| bad_subnet(text))
}

fn bad_subnet(text: &str) -> String {
    format!("{text:?} is not the first three octets of a /24, for example 10.213.77")
}

fn main() -> ExitCode {
    let cli = match nodes::runtime::parse_args::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let interrupted = e.downcast_ref::<Error>().is_some_and(|e| matches!(e, Error::Interrupted));
            ExitCode::from(if interrupted { EXIT_INTERRUPTED } else { EXIT_FAILURE })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    match cli.command {
        Command::Demo { replicas, ack, writes, bin_dir, bugs } => {
            let bin_dir = match bin_dir {
                Some(dir) => dir,
                None => beside_this_binary()?,
            };
            let ack = match ack {
                Ack::Async => AckMode::Async,
                Ack::All => AckMode::All,
            };
            let plan = DemoPlan { replicas, ack, writes, bin_dir, bugs: Bugs::new(bugs) };
            let outcome = runtime.block_on(demo::run(&plan))?;
            Ok(report_demo(&outcome))
        }
        Command::Cluster { action, state_dir, prefix } => {
            runtime.block_on(cluster(action, state_dir, prefix))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn cluster(action: ClusterAction, state_dir: PathBuf, prefix: String) -> Result<(), Error> {
    match action {
        ClusterAction::Up { nodes, subnet } => {
            let spec = LocalSpec { nodes, state_dir, subnet, prefix };
            let cancel = Arc::new(AtomicBool::new(false));
            let building = tokio::task::spawn_blocking({
                let (spec, cancel) = (spec.clone(), cancel.clone());
                move || local::up(&spec, &cancel)
            });
            tokio::pin!(building);
            let built = tokio::select! {
                built = &mut building => built,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: removing what was made");
                    cancel.store(true, Ordering::SeqCst);
                    let _ = building.await;
                    local::down(&spec.state_dir, &spec.prefix)?;
                    return Err(Error::Interrupted);
                }
            };
            let file = built
                .map_err(|e| Error::Local { command: "cluster up".into(), problem: e.to_string() })??;
            println!("local cluster up: {} replica hosts and a name-server host", file.replicas.len());
            for node in file.all() {
                println!("  {:<4} {}", node.name, node.address);
            }
            println!("nodes file: {}", spec.nodes_file_path().display());
            Ok(())
        }
        ClusterAction::Down => {
            local::down(&state_dir, &prefix)?;
            println!("local cluster removed");
            Ok(())
        }
        ClusterAction::Status => {
            let status = local::status(&state_dir, &prefix)?;
            if status.is_empty() {
                println!("no local cluster");
            } else {
                println!("namespaces: {}", status.namespaces.join(" "));
                println!("links: {}", status.links.join(" "));
                println!("host process trees (pids): {:?}", status.host_pids);
                if let Some(path) = status.nodes_file {
                    println!("nodes file: {}", path.display());
                }
            }
            Ok(())
        }
    }
}

fn beside_this_binary() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()
        .context("locate the splitbrain binary")?
        .parent()
        .context("the splitbrain binary has no directory")?
        .to_path_buf())
}

fn report_demo(outcome: &demo::DemoOutcome) -> ExitCode {
    match outcome.new_master {
        Some(m) => println!(
            "exactly one new master: S_{m}, {} ms after the kill; {} of {} acknowledged writes read back",
            outcome.failover.as_millis(),
            outcome.acknowledged as usize - outcome.lost.len(),
            outcome.acknowledged
        ),
        None => println!("INVALID: no single master {} ms after the kill", outcome.failover.as_millis()),
    }
    if !outcome.lost.is_empty() {
        println!("INVALID: acknowledged writes lost: {:?}", outcome.lost);
    }
    let valid = outcome.new_master.is_some() && outcome.lost.is_empty();
    if valid { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INVALID) }
}
