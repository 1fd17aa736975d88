//! Analysis: the checkers run over a run's history, and the console's summary of their results.
//! Writing the results down is [`crate::report`]'s job.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use checkers::history::HistoryFile;
use checkers::results::{self, Checked, Checker, Results};

use crate::error::Error;

/// The history of the run stored in `dir`: its `history.jsonl`, as a run or an earlier crash
/// left it, read from the file each time a check goes through it.
pub fn history(dir: &Path) -> HistoryFile {
    HistoryFile(dir.join("history.jsonl"))
}

/// Runs the `chosen` checkers that fit the run stored in `dir` over its history, streamed from
/// its file (see [`results::check_history`]): a history larger than memory is checked too.
pub fn analyze(dir: &Path, chosen: &BTreeSet<Checker>) -> Result<Results, Error> {
    let history = history(dir);
    results::check_history(&history, chosen).map_err(|e| Error::file(&history.0, e))
}

/// The console's closing lines: each checker's verdict and key figures.
pub fn summary(results: &Results) -> String {
    let mut out = String::new();
    let c = &results.checkers;
    if let Some(m) = &c.mastership {
        let _ = writeln!(out, "mastership: {}", m.valid);
        let _ = writeln!(out, "  {}", m.summary);
        let _ = writeln!(
            out,
            "  convergence after final heal: {}; split-brain windows: {}; leaderless windows: {}; fail-overs: {}; self-terminations: {}",
            m.convergence_ms.map_or("-".to_string(), |v| format!("{v} ms")),
            m.split_brain_windows.len(),
            m.leaderless_windows.len(),
            m.failovers.len(),
            m.self_terminations.len(),
        );
        let _ = writeln!(
            out,
            "  elections: {}; messages per election: {}",
            m.elections,
            m.messages_per_election.map_or("-".to_string(), |v| format!("{v:.1}"))
        );
    }
    if let Some(s) = &c.set {
        let _ = writeln!(out, "set: {} ({})", s.verdict(), s.summary());
    }
    if let Some(v) = &c.convergence {
        let _ = writeln!(out, "convergence: {}", v.valid);
        let _ = writeln!(out, "  {}", v.summary);
    }
    if let Some(l) = &c.linearizable {
        let r = &l.result;
        let _ = writeln!(out, "linearizable: {} ({} operations over {} keys)", r.valid, r.ops, r.keys);
        if let Some(x) = &r.counterexample {
            let b = &x.blocking;
            let _ = writeln!(
                out,
                "  key {}: no order explains {} by process {} at {} (history line {}); last consistent state {}",
                x.key.as_deref().unwrap_or("-"),
                b.op,
                b.process,
                b.node.as_deref().unwrap_or("?"),
                b.line(),
                x.state,
            );
        }
        if let Some(reason) = &r.reason {
            let _ = writeln!(out, "  {reason}");
        }
    }
    for d in c.deposed_masters() {
        let _ = writeln!(out, "  {}", d.words);
    }
    if let Some(s) = &c.stats {
        let _ = writeln!(out, "stats: {} ({})", s.valid, s.summary());
    }
    let _ = write!(out, "overall: {}", results.valid);
    out
}
