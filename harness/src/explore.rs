//! `splitbrain explore`: one plan run in the simulator under each seed of a range, on all
//! cores; every run that is not valid is kept in the store (the layout of any run, its report
//! included) with the command that replays it.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use checkers::history::{HistoryWriter, Op};
use checkers::results::{self, Checker, Results};
use checkers::verdict::Verdict;
use rayon::prelude::*;

use crate::error::Error;
use crate::plan::Plan;
use crate::{report, run, store};

/// A run that was not valid.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Its seed.
    pub seed: u64,
    /// The verdict (invalid or unknown).
    pub verdict: Verdict,
    /// Each checker that did not say valid, with its one-line reason.
    pub checkers: Vec<(Checker, String)>,
    /// Its folder in the store.
    pub dir: PathBuf,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Explored {
    /// Runs made.
    pub runs: u64,
    /// The runs that were not valid, by seed.
    pub failures: Vec<Failure>,
    /// Simulated time, summed over the runs.
    pub simulated: Duration,
    /// Wall-clock time the exploration took.
    pub wall: Duration,
}

impl Explored {
    /// Failing runs per checker (a run fails one checker or several).
    pub fn by_checker(&self) -> BTreeMap<Checker, usize> {
        let mut counts = BTreeMap::new();
        for failure in &self.failures {
            for (checker, _) in &failure.checkers {
                *counts.entry(*checker).or_default() += 1;
            }
        }
        counts
    }

    /// Simulated seconds per wall-clock second.
    pub fn speed(&self) -> f64 {
        self.simulated.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    /// The worst verdict of all runs.
    pub fn verdict(&self) -> Verdict {
        self.failures.iter().fold(Verdict::Valid, |worst, f| worst.worst(f.verdict))
    }
}

/// Runs `plan` under every seed of `seeds` on `jobs` threads (all cores when 0), calling
/// `progress` after each run; stores every run that is not valid under the plan's store.
pub fn explore(
    plan: &Plan,
    seeds: RangeInclusive<u64>,
    jobs: usize,
    progress: impl Fn(Option<&Failure>) + Sync,
) -> Result<Explored, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::Simulation(format!("cannot start {jobs} threads: {e}")))?;
    let started = Instant::now();
    let outcomes: Vec<Result<(Duration, Option<Failure>), Error>> = pool.install(|| {
        seeds
            .clone()
            .into_par_iter()
            .map(|seed| {
                let outcome = one(plan, seed);
                if let Ok((_, failure)) = &outcome {
                    progress(failure.as_ref());
                }
                outcome
            })
            .collect()
    });
    let mut explored =
        Explored { runs: 0, failures: Vec::new(), simulated: Duration::ZERO, wall: Duration::ZERO };
    for outcome in outcomes {
        let (simulated, failure) = outcome?;
        explored.runs += 1;
        explored.simulated += simulated;
        explored.failures.extend(failure);
    }
    explored.wall = started.elapsed();
    Ok(explored)
}

/// Simulates and checks `plan` under `seed`; stores the run when it is not valid.
fn one(plan: &Plan, seed: u64) -> Result<(Duration, Option<Failure>), Error> {
    let plan = Plan { seed, ..plan.clone() };
    let history = run::simulate(&plan)?;
    let simulated = Duration::from_nanos(history.last().map_or(0, |o| o.time));
    let results = results::check(&history, &plan.checkers);
    if results.valid == Verdict::Valid {
        return Ok((simulated, None));
    }
    let dir = keep(&plan, &history, &results)?;
    let checkers = results
        .checkers
        .each()
        .into_iter()
        .filter(|(_, r)| r.verdict() != Verdict::Valid)
        .map(|(name, r)| (name, r.summary()))
        .collect();
    Ok((simulated, Some(Failure { seed, verdict: results.valid, checkers, dir })))
}

/// Stores a failing run as any run is stored: the plan, the history, the reports.
fn keep(plan: &Plan, history: &[Op], results: &Results) -> Result<PathBuf, Error> {
    let dir = store::create_run_dir(&plan.store, &plan.name)?;
    let test_yaml = dir.join("test.yaml");
    std::fs::write(&test_yaml, serde_yaml::to_string(plan).expect("a plan serializes"))
        .map_err(|e| Error::file(&test_yaml, e))?;
    let path = dir.join("history.jsonl");
    let mut writer = HistoryWriter::create(&path).map_err(|e| Error::file(&path, e))?;
    for op in history {
        writer.append(op.clone()).map_err(|e| Error::file(&path, e))?;
    }
    writer.flush().map_err(|e| Error::file(&path, e))?;
    report::write(&dir, results, history)?;
    Ok(dir)
}
