//! `splitbrain check`: linearizability of histories that other tools wrote (or ours), one line
//! per file, the files checked on all cores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use checkers::linearizable::{self, Budget, Format, History, Model};
use checkers::verdict::Verdict;
use rayon::prelude::*;

use crate::exit;

/// What to check, and how: the flags of `splitbrain check`.
#[derive(Clone, Debug, clap::Args)]
pub struct CheckPlan {
    /// The history files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// register (starts absent; nil reads are exact), cas-register (starts at 0; nil reads
    /// are wildcards) or kv (strings: get / put / append).
    #[arg(long, value_parser = parse_model)]
    pub model: Model,
    /// jepsen-log, edn or jsonl.
    #[arg(long, value_parser = parse_format)]
    pub format: Format,
    /// Print one JSON object per file: {"file", "valid", "ms"}.
    #[arg(long)]
    pub json: bool,
    /// Seconds per file before its verdict is unknown.
    #[arg(long, default_value_t = 60)]
    pub time_limit: u64,
    /// MiB the search may memoise per file before its verdict is unknown.
    #[arg(long, default_value_t = linearizable::DEFAULT_BUDGET_BYTES >> 20)]
    pub memory_mb: usize,
}

fn parse_model(text: &str) -> Result<Model, String> {
    Model::parse(text).ok_or_else(|| format!("{text:?}: use register, cas-register or kv"))
}

fn parse_format(text: &str) -> Result<Format, String> {
    Format::parse(text).ok_or_else(|| format!("{text:?}: use jepsen-log, edn or jsonl"))
}

/// The operations of `file`, streamed: what cannot be read or parsed is named with its line.
fn read(file: &Path, plan: &CheckPlan) -> Result<History, String> {
    let opened = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let input = std::io::BufReader::with_capacity(64 << 10, opened);
    linearizable::read_operations(input, plan.format, plan.model).map_err(|e| match e.line {
        0 => format!("{}: {}", file.display(), e.problem),
        line => format!("{}:{line}: {}", file.display(), e.problem),
    })
}

/// Checks every file of `plan`, prints a verdict per file (and the counterexample of each that
/// is not linearizable), and returns the exit code of the worst verdict; a file that cannot be
/// read or parsed is bad input, named with its line.
pub fn check(plan: &CheckPlan) -> u8 {
    let budget = Budget { time: Duration::from_secs(plan.time_limit), bytes: plan.memory_mb << 20 };
    let mut histories = Vec::new();
    for file in &plan.files {
        match read(file, plan) {
            Ok(ops) => histories.push((file, ops)),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        }
    }
    let check_one = |ops: &History| {
        let started = std::time::Instant::now();
        let result = linearizable::check(ops, plan.model, budget);
        (result, started.elapsed().as_secs_f64() * 1000.0)
    };
    // One file is checked on this thread (its keys may still use all cores).
    let checked: Vec<_> = if histories.len() == 1 {
        histories.iter().map(|(file, ops)| (file, check_one(ops))).collect()
    } else {
        histories.par_iter().map(|(file, ops)| (file, check_one(ops))).collect()
    };
    let mut worst = Verdict::Valid;
    for (file, (result, ms)) in checked {
        worst = worst.worst(result.valid);
        if plan.json {
            println!("{}", serde_json::json!({"file": file, "valid": result.valid, "ms": ms}));
            continue;
        }
        println!(
            "{}: {} ({} ops, {} keys, {ms:.1} ms)",
            file.display(),
            result.valid,
            result.ops,
            result.keys
        );
        if let Some(reason) = &result.reason {
            println!("  {reason}");
        }
        if let Some(c) = &result.counterexample {
            println!(
                "  key {}: after {} operations in state {}, cannot linearize {} (process {}, events {}..{})",
                c.key.as_deref().unwrap_or("-"),
                c.linearized,
                c.state,
                c.blocking.op,
                c.blocking.process,
                c.blocking.invoked_at,
                c.blocking.completed_at.map_or("-".into(), |t| t.to_string())
            );
            for other in &c.candidates {
                println!(
                    "    candidate: {} (process {}, invoked at event {})",
                    other.op, other.process, other.invoked_at
                );
            }
        }
    }
    exit::of(worst)
}
