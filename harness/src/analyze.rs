//! Runs the checkers over a history and writes `results.json`; `splitbrain analyze RUN_DIR`
//! gives the verdict of a stored run again.

use std::fmt::Write as _;
use std::path::Path;

use checkers::history::{self, Op};
use checkers::linearizable::{self, Budget, LinearizableResult, Model};
use checkers::verdict::{Results, Verdict};
use checkers::{convergence, deposed, mastership, perf, set, stats};

use crate::error::Error;

/// Every checker's verdict on `ops`: mastership, convergence, stats and perf always; set over the
/// keys appended to (the set workload); linearizability (register model, key by key) over the
/// other keys' reads, writes and compare-and-sets (the register workload).
pub fn analyze(ops: &[Op]) -> Results {
    fn entry<T: serde::Serialize>(
        name: &str,
        valid: Verdict,
        result: &T,
    ) -> (String, Verdict, serde_json::Value) {
        (name.to_string(), valid, serde_json::to_value(result).expect("results serialize"))
    }
    let m = mastership::check(ops);
    let s = stats::check(ops);
    let p = perf::check(ops);
    let mut parts = vec![entry("stats", s.valid, &s), entry("perf", p.valid, &p)];
    let client = |f: &[&str]| ops.iter().any(|o| o.process.is_client() && f.contains(&o.f.as_str()));
    let mut data = Vec::new();
    if client(&["append"]) {
        let set = set::check(ops);
        data.push(entry("set", set.valid, &set));
    }
    let registers = register_ops(ops);
    if registers.iter().any(|o| o.process.is_client()) {
        let l = linearizability(&registers);
        data.push(entry("linearizable", l.valid, &l));
    }
    for (_, _, value) in data.iter_mut().filter(|(_, valid, _)| *valid != Verdict::Valid) {
        value["deposed_masters"] =
            serde_json::to_value(deposed::explain(ops)).expect("explanations serialize");
    }
    parts.extend(data);
    parts.push(entry("mastership", m.valid, &m));
    let c = convergence::check(ops);
    parts.push(entry("convergence", c.valid, &c));
    Results::combine(parts)
}

/// The history without the client operations on keys that were appended to (the set workload's,
/// which the set checker judges): what is left are registers.
fn register_ops(ops: &[Op]) -> Vec<Op> {
    let appended: std::collections::BTreeSet<&Option<String>> =
        ops.iter().filter(|o| o.process.is_client() && o.f == "append").map(|o| &o.key).collect();
    ops.iter().filter(|o| !(o.process.is_client() && appended.contains(&o.key))).cloned().collect()
}

/// The register workload's client operations checked for linearizability; a history whose
/// operations cannot be paired is `unknown`, with the reason.
fn linearizability(ops: &[Op]) -> LinearizableResult {
    let model = Model::Register;
    match linearizable::history_operations(ops, model) {
        Ok(operations) => linearizable::check(&operations, model, Budget::default()),
        Err(e) => LinearizableResult {
            valid: Verdict::Unknown,
            keys: 0,
            ops: 0,
            states: 0,
            reason: Some(format!("history.jsonl {e}")),
            counterexample: None,
        },
    }
}

/// Reads `dir/history.jsonl`, checks it, writes `dir/results.json`, `dir/junit.xml` and
/// `dir/report.html`, and
/// returns the results. The test's name is the run directory's parent's name.
pub fn analyze_dir(dir: &Path) -> Result<Results, Error> {
    let path = dir.join("history.jsonl");
    let loaded = history::read(&path).map_err(|e| Error::file(&path, e))?;
    let results = analyze(&loaded.ops);
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
    if let Some(m) = results.checkers.get("mastership") {
        let _ = writeln!(out, "mastership: {}", verdict(m));
        let _ = writeln!(out, "  {}", m["summary"].as_str().unwrap_or_default());
        let count = |k: &str| m[k].as_array().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "  convergence after final heal: {}; split-brain windows: {}; leaderless windows: {}; fail-overs: {}; self-terminations: {}",
            m["convergence_ms"].as_u64().map_or("-".to_string(), |v| format!("{v} ms")),
            count("split_brain_windows"),
            count("leaderless_windows"),
            count("failovers"),
            count("self_terminations"),
        );
        let _ = writeln!(
            out,
            "  elections: {}; messages per election: {}",
            m["elections"],
            m["messages_per_election"].as_f64().map_or("-".to_string(), |v| format!("{v:.1}"))
        );
    }
    if let Some(s) = results.checkers.get("set") {
        let count = |k: &str| s[k].as_array().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "set: {} ({} acknowledged, {} read back; lost {}, unexpected {}, recovered {}, duplicated {})",
            verdict(s),
            s["acknowledged"],
            s["read"],
            count("lost"),
            count("unexpected"),
            count("recovered"),
            count("duplicated")
        );
    }
    if let Some(c) = results.checkers.get("convergence") {
        let _ = writeln!(out, "convergence: {}", verdict(c));
        let _ = writeln!(out, "  {}", c["summary"].as_str().unwrap_or_default());
    }
    if let Some(l) = results.checkers.get("linearizable") {
        let _ =
            writeln!(out, "linearizable: {} ({} operations over {} keys)", verdict(l), l["ops"], l["keys"]);
        if let Some(c) = l["counterexample"].as_object() {
            let _ = writeln!(
                out,
                "  key {}: no order explains {} by process {} at {} (history line {}); last consistent state {}",
                c["key"].as_str().unwrap_or("-"),
                c["blocking"]["op"].as_str().unwrap_or("?"),
                c["blocking"]["process"].as_str().unwrap_or("?"),
                c["blocking"]["node"].as_str().unwrap_or("?"),
                c["blocking"]["lines"][1].as_u64().unwrap_or(0),
                c["state"].as_str().unwrap_or("?"),
            );
        }
        if let Some(reason) = l["reason"].as_str() {
            let _ = writeln!(out, "  {reason}");
        }
    }
    for data in ["linearizable", "set"].iter().filter_map(|k| results.checkers.get(*k)) {
        for d in data["deposed_masters"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "  {}", d["words"].as_str().unwrap_or_default());
        }
    }
    if let Some(s) = results.checkers.get("stats") {
        let t = &s["total"];
        let _ =
            writeln!(out, "stats: {} (ok {}, fail {}, info {})", verdict(s), t["ok"], t["fail"], t["info"]);
    }
    let _ = write!(
        out,
        "overall: {}",
        verdict(&serde_json::to_value(results.valid).expect("a verdict serializes"))
    );
    out
}

fn verdict(v: &serde_json::Value) -> &'static str {
    match verdict_word(v) {
        "invalid" => "INVALID",
        word => word,
    }
}

/// One line that says what a checker found, for junit.xml and report.html.
pub(crate) fn checker_summary(checker: &str, r: &serde_json::Value) -> String {
    let count = |k: &str| r[k].as_array().map_or(0, Vec::len);
    match checker {
        "mastership" | "convergence" => r["summary"].as_str().unwrap_or_default().to_string(),
        "linearizable" => match (&r["counterexample"]["blocking"]["op"], r["reason"].as_str()) {
            (serde_json::Value::String(op), _) => format!(
                "key {}: no order of the operations explains {op} (history line {})",
                r["counterexample"]["key"].as_str().unwrap_or("-"),
                r["counterexample"]["blocking"]["lines"][1]
            ),
            (_, Some(reason)) => reason.to_string(),
            _ => format!("{} operations over {} keys", r["ops"], r["keys"]),
        },
        "stats" => {
            format!("ok {}, fail {}, info {}", r["total"]["ok"], r["total"]["fail"], r["total"]["info"])
        }
        "set" => format!(
            "{} acknowledged, {} read back; lost {}, unexpected {}, duplicated {}",
            r["acknowledged"],
            r["read"],
            count("lost"),
            count("unexpected"),
            count("duplicated")
        ),
        _ => String::new(),
    }
}

/// `valid`, `invalid` or `unknown`, from a checker's result (or a bare verdict value).
pub(crate) fn verdict_word(v: &serde_json::Value) -> &'static str {
    match v.get("valid").unwrap_or(v) {
        serde_json::Value::Bool(true) => "valid",
        serde_json::Value::Bool(false) => "invalid",
        _ => "unknown",
    }
}

/// `text` with the five XML and HTML special characters escaped.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
