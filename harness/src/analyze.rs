//! Runs the checkers over a history and writes `results.json`; `splitbrain analyze RUN_DIR`
//! gives the verdict of a stored run again.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use checkers::history;
use checkers::results::{self, Checked, Checker, Results};

use crate::error::Error;

/// Reads `dir/history.jsonl`, runs the `chosen` checkers over it (those that fit its
/// workload, see [`results::check`]), writes `dir/results.json`, `dir/junit.xml` and
/// `dir/report.html`, and returns the results. The test's name is the run directory's parent's
/// name.
pub fn analyze_dir(dir: &Path, chosen: &BTreeSet<Checker>) -> Result<Results, Error> {
    let path = dir.join("history.jsonl");
    let loaded = history::read(&path).map_err(|e| Error::file(&path, e))?;
    let results = results::check(&loaded.ops, chosen);
    let out = dir.join("results.json");
    let text = serde_json::to_string_pretty(&results).expect("results serialize");
    std::fs::write(&out, text).map_err(|e| Error::file(&out, e))?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.parent()?.file_name()?.to_str().map(String::from))
        .unwrap_or_default();
    let junit_path = dir.join("junit.xml");
    std::fs::write(&junit_path, crate::junit::junit(&name, &results))
        .map_err(|e| Error::file(&junit_path, e))?;
    let report_path = dir.join("report.html");
    let page = crate::report::report(&name, &results, &loaded.ops, dir);
    std::fs::write(&report_path, page).map_err(|e| Error::file(&report_path, e))?;
    Ok(results)
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

/// `text` with the five XML and HTML special characters escaped.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
