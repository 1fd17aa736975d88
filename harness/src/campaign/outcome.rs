//! How each run of a campaign ended, the console summary of them all, and the campaign's exit
//! code.

use std::fmt::Write as _;
use std::path::PathBuf;

use checkers::verdict::Verdict;
use serde::{Deserialize, Serialize};

use crate::exit;

/// The outcome word of a run in which the harness itself failed.
pub(super) const HARNESS_FAILED_WORD: &str = "harness-failed";
/// The outcome word of the run Ctrl-C stopped.
pub(super) const INTERRUPTED_WORD: &str = "interrupted";
/// The outcome word of a run its shard never got to.
pub(super) const NOT_RUN_WORD: &str = "not-run";

/// How one run of a campaign ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The checkers' verdict.
    Verdict(Verdict),
    /// The harness itself failed; the reason.
    HarnessFailed(String),
    /// Ctrl-C stopped the run: it healed, tore down and analysed what it had recorded, but its
    /// verdict covers a shortened test.
    Interrupted,
    /// The run was part of a shard that stopped before it (found by `campaign merge`); why.
    NotRun(String),
}

/// One row of the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The test's name.
    pub name: String,
    /// Its seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Its folder in the store.
    pub dir: Option<PathBuf>,
    /// How long it took, in seconds of wall-clock time.
    #[serde(default)]
    pub seconds: Option<f64>,
}

impl Row {
    /// How bad the outcome is: 0 valid (or interrupted), 1 unknown, 2 invalid, 3 the harness
    /// failed or the run never ran.
    pub(super) fn rank(&self) -> u8 {
        match &self.outcome {
            Outcome::HarnessFailed(_) | Outcome::NotRun(_) => 3,
            Outcome::Verdict(Verdict::Invalid) => 2,
            Outcome::Verdict(Verdict::Unknown) => 1,
            Outcome::Verdict(Verdict::Valid) | Outcome::Interrupted => 0,
        }
    }

    /// The outcome's word, as the summary and the pages print it.
    pub fn word(&self) -> &'static str {
        match &self.outcome {
            Outcome::HarnessFailed(_) => HARNESS_FAILED_WORD,
            Outcome::Interrupted => INTERRUPTED_WORD,
            Outcome::NotRun(_) => NOT_RUN_WORD,
            Outcome::Verdict(v) => v.word(),
        }
    }

    /// The run's identity across shards: its name and seed.
    pub fn identity(&self) -> String {
        super::shard::identity(&self.name, self.seed)
    }
}

/// The console summary: a line per run, then the counts of each outcome.
pub fn summary(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        let _ = writeln!(
            out,
            "{:<15} {:<40} seed {:<20} {}",
            row.word(),
            row.name,
            row.seed,
            match &row.outcome {
                Outcome::HarnessFailed(why) | Outcome::NotRun(why) => why.clone(),
                Outcome::Verdict(_) | Outcome::Interrupted =>
                    row.dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
            }
        );
    }
    out.push_str(&counts(rows));
    out
}

/// The summary's last line: how many runs ended each way.
pub(super) fn counts(rows: &[Row]) -> String {
    let count = |word: &str| rows.iter().filter(|r| r.word() == word).count();
    let mut out = format!(
        "{} runs: {} valid, {} invalid, {} unknown, {} harness-failed",
        rows.len(),
        count(Verdict::Valid.word()),
        count(Verdict::Invalid.word()),
        count(Verdict::Unknown.word()),
        count(HARNESS_FAILED_WORD)
    );
    if count(NOT_RUN_WORD) > 0 {
        let _ = write!(out, ", {} not run", count(NOT_RUN_WORD));
    }
    if count(INTERRUPTED_WORD) > 0 {
        let _ = write!(out, "; interrupted by Ctrl-C");
    }
    out
}

/// The exit code of the worst outcome: 255 harness failure or a run that never ran, 1
/// invalid, 2 unknown, 0 valid.
pub fn exit_code(rows: &[Row]) -> u8 {
    match rows.iter().map(Row::rank).max().unwrap_or(0) {
        3 => exit::HARNESS_FAILED,
        2 => exit::INVALID,
        1 => exit::UNKNOWN,
        _ => exit::VALID,
    }
}
