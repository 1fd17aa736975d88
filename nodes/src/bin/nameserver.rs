//! `nameserver --config GROUP.yaml [--bug NAME]...`: the name server of the group.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::runtime::{EXIT_BAD_INPUT, nameserver_process};

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
    match Args::try_parse() {
        Ok(args) => nameserver_process(&args.config, Bugs::new(args.bugs)),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = e.print();
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
