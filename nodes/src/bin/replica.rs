//! `replica --config GROUP.yaml --id N [--bug NAME]...`: one server of the group.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::runtime::{parse_args, replica_process};

/// One replica of a fault-tolerant server group.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The group's config file (YAML).
    #[arg(long)]
    config: PathBuf,
    /// This server's index in the group's `members`.
    #[arg(long)]
    id: u32,
    /// Switch on a deliberate bug (repeatable): no-self-monitoring, never-yield, no-forward.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
}

fn main() -> ExitCode {
    match parse_args::<Args>() {
        Ok(args) => replica_process(&args.config, args.id, Bugs::new(args.bugs)),
        Err(code) => code,
    }
}
