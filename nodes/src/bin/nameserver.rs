//! `nameserver --config GROUP.yaml [--bug NAME]...`: the name server of the group.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::runtime::{nameserver_process, parse_args};

/// The name server where the group's master registers.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The group's config file (YAML).
    #[arg(long)]
    config: PathBuf,
    /// Switch on a deliberate bug (repeatable): no-ns-dedup.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
}

fn main() -> ExitCode {
    match parse_args::<Args>() {
        Ok(args) => nameserver_process(&args.config, Bugs::new(args.bugs)),
        Err(code) => code,
    }
}
