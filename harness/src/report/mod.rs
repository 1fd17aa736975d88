//! The run's reports, written into its folder of the store: `results.json` (the checkers'
//! results), `junit.xml` (one test case per checker, for CI), `report.html` (one page to read)
//! and `schedule.yaml` (the faults it applied, to replay with `--replay`).

pub mod html;
pub mod junit;

use std::collections::BTreeSet;
use std::path::Path;

use checkers::history::Op;
use checkers::results::{Checker, Results};

use crate::analyze;
use crate::error::Error;
use crate::plan::schedule::Schedule;

/// Writes `results.json`, `junit.xml`, `report.html` and `schedule.yaml` of the run stored in
/// `dir`, whose history is `ops`. The test's name is the run directory's parent's name.
pub fn write(dir: &Path, results: &Results, ops: &[Op]) -> Result<(), Error> {
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
    write("report.html", html::report(&name, results, ops, dir))?;
    write("schedule.yaml", Schedule::of_history(ops).to_yaml())
}

/// Analyses the run stored in `dir` again with the `chosen` checkers and rewrites its reports:
/// `splitbrain analyze RUN_DIR`, and the last step of every run.
pub fn reanalyze(dir: &Path, chosen: &BTreeSet<Checker>) -> Result<Results, Error> {
    let ops = analyze::load(dir)?;
    let results = analyze::analyze(&ops, chosen);
    write(dir, &results, &ops)?;
    Ok(results)
}
