//! `splitbrain`: the test harness's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use harness::demo::{self, DemoPlan};
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::protocol::params::AckMode;

/// Exit codes: 0 valid, 1 invalid (an anomaly was found), 254 bad arguments, 255 harness failure.
const EXIT_INVALID: u8 = 1;
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
}

#[derive(Clone, Copy, ValueEnum)]
enum Ack {
    Async,
    All,
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
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Command::Demo { replicas, ack, writes, bin_dir, bugs } = cli.command;
    let bin_dir = match bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("locate the splitbrain binary")?
            .parent()
            .context("the splitbrain binary has no directory")?
            .to_path_buf(),
    };
    let ack = match ack {
        Ack::Async => AckMode::Async,
        Ack::All => AckMode::All,
    };
    let plan = DemoPlan { replicas, ack, writes, bin_dir, bugs: Bugs::new(bugs) };
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let outcome = runtime.block_on(demo::run(&plan))?;
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
    Ok(if valid { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INVALID) })
}
