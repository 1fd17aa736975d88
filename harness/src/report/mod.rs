//! The run's reports, written into its folder of the store: `results.json` (the checkers'
//! results), `junit.xml` (one test case per checker, for CI), `report.html` (one page to read)
//! and `schedule.yaml` (the faults it applied, to replay with `--replay`).

pub mod excerpt;
pub mod html;
pub mod junit;
mod links;
mod plots;

use std::collections::BTreeSet;
use std::path::Path;

use checkers::history::Source;
use checkers::results::{Checker, Results};

use crate::analyze;
use crate::error::Error;
use crate::plan::schedule::Schedule;
use excerpt::Excerpt;

/// Writes `results.json`, `junit.xml`, `report.html` and `schedule.yaml` of the run stored in
/// `dir`, whose history is `history` (read once more, for the report's excerpt). The test's
/// name is the run directory's parent's name.
pub fn write<H: Source + ?Sized>(dir: &Path, results: &Results, history: &H) -> Result<(), Error> {
    let write = |file: &str, text: String| {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| Error::file(&path, e))
    };
    write("results.json", serde_json::to_string_pretty(results).expect("results serialize"))?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.parent()?.file_name()?.to_str().map(String::from))
        .unwrap_or_default();
    write("junit.xml", junit::junit(&name, results))?;
    let excerpt =
        Excerpt::of(history, &wanted(results)).map_err(|e| Error::file(dir.join("history.jsonl"), e))?;
    write("report.html", html::report(&name, results, &excerpt, dir)?)?;
    write("schedule.yaml", Schedule::of_history(&excerpt.ops).to_yaml())
}

/// The history's operations that the results point at and the report draws.
fn wanted(results: &Results) -> BTreeSet<u64> {
    let linearizable = results.checkers.linearizable.as_ref();
    let counterexample = linearizable.and_then(|l| l.result.counterexample.as_ref());
    counterexample.map(|c| c.blocking.line().saturating_sub(1) as u64).into_iter().collect()
}

/// Analyses the run stored in `dir` again with the `chosen` checkers and rewrites its reports:
/// `splitbrain analyze RUN_DIR`, and the last step of every run. Its history is streamed from
/// its file, never read into memory whole.
pub fn reanalyze(dir: &Path, chosen: &BTreeSet<Checker>) -> Result<Results, Error> {
    let results = analyze::analyze(dir, chosen)?;
    write(dir, &results, &analyze::history(dir))?;
    Ok(results)
}
