//! `splitbrain explore`: one plan run in the simulator under each seed of a range, on all
//! cores. Every run that is not valid is shrunk to a smallest fault schedule that still fails the
//! same checker (the workload cut after the operation that convicts, then delta debugging over
//! its fault windows, then their durations, then the workload's length) and kept in the store as
//! that smaller run (the layout of any run, its report and `schedule.yaml` included), to replay
//! with `splitbrain test --replay`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use checkers::history::{HistoryWriter, Op};
use checkers::results::{self, Checker, Results};
use checkers::verdict::Verdict;
use rayon::prelude::*;

use crate::error::Error;
use crate::plan::Plan;
use crate::plan::schedule::{Schedule, Timed, WORKLOAD_START};
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
    /// Its folder in the store (the shrunk run's).
    pub dir: PathBuf,
    /// The fault schedule of the stored run.
    pub schedule: Schedule,
    /// Faults started in the run as first found.
    pub found_with: usize,
    /// The runs shrinking made, and the simulated time they covered.
    pub shrinking: (u32, Duration),
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

    /// The runs shrinking made, and the simulated time they covered, over all failures.
    pub fn shrinking(&self) -> (u32, Duration) {
        self.failures.iter().fold((0, Duration::ZERO), |(n, t), f| (n + f.shrinking.0, t + f.shrinking.1))
    }

    /// Simulated seconds per wall-clock second (the runs of the seeds; shrinking's not counted).
    pub fn speed(&self) -> f64 {
        self.simulated.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    /// The worst verdict of all runs.
    pub fn verdict(&self) -> Verdict {
        self.failures.iter().fold(Verdict::Valid, |worst, f| worst.worst(f.verdict))
    }
}

/// Runs `plan` under every seed of `seeds` on `jobs` threads (all cores when 0), calling
/// `progress` after each run; shrinks (when `shrink`) and stores every run that is not valid
/// under the plan's store.
pub fn explore(
    plan: &Plan,
    seeds: RangeInclusive<u64>,
    jobs: usize,
    shrink: bool,
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
                let outcome = one(plan, seed, shrink);
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

/// Simulates and checks `plan` under `seed`; shrinks and stores the run when it is not valid.
fn one(plan: &Plan, seed: u64, shrink: bool) -> Result<(Duration, Option<Failure>), Error> {
    let plan = Plan { seed, ..plan.clone() };
    let history = run::simulate(&plan)?;
    let simulated = Duration::from_nanos(history.last().map_or(0, |o| o.time));
    let results = results::check(&history, &plan.checkers);
    if results.valid == Verdict::Valid {
        return Ok((simulated, None));
    }
    let found_with = Schedule::of_history(&history).starts();
    let mut shrinking = (0, Duration::ZERO);
    let (plan, history, results) =
        if shrink { shrunk(plan, history, results, &mut shrinking)? } else { (plan, history, results) };
    let dir = keep(&plan, &history, &results)?;
    let checkers = failing(&results);
    let schedule = Schedule::of_history(&history);
    Ok((
        simulated,
        Some(Failure { seed, verdict: results.valid, checkers, dir, schedule, found_with, shrinking }),
    ))
}

/// Each checker of `results` that did not say valid, with its summary.
fn failing(results: &Results) -> Vec<(Checker, String)> {
    let each = results.checkers.each();
    each.into_iter().filter(|(_, r)| r.verdict() != Verdict::Valid).map(|(n, r)| (n, r.summary())).collect()
}

/// A run found failing checker `target`, as its plan, history and results.
type Run = (Plan, Vec<Op>, Results);

/// The smallest run this search finds that still fails the first checker `results` names:
/// first the workload cut short after the operation that convicts it (when the checker names
/// one) and halved while it fails, so that every later trial is short; then the fewest fault
/// windows (delta debugging); then each window as short as it can be; then the workload as
/// short as it can be without cutting a fault off. The run as found when its own schedule does
/// not fail again. Counts its runs and their simulated time into `trials`.
fn shrunk(
    plan: Plan,
    history: Vec<Op>,
    results: Results,
    trials: &mut (u32, Duration),
) -> Result<Run, Error> {
    let Some((target, _)) = failing(&results).into_iter().next() else { return Ok((plan, history, results)) };
    let only = BTreeSet::from([target]);
    // The last run that failed, for the plan and windows kept.
    let mut best: Option<(Plan, Vec<Op>)> = None;
    let mut attempt = |plan: &Plan, windows: &[Window]| -> Result<bool, Error> {
        let plan = Plan { schedule: Some(Schedule::of_windows(windows)), ..plan.clone() };
        let history = run::simulate(&plan)?;
        *trials = (trials.0 + 1, trials.1 + Duration::from_nanos(history.last().map_or(0, |o| o.time)));
        // Only the verdict of the checker that failed: the stored run is checked in full.
        let fails = failing(&results::check_unexplained(&history, &only)).iter().any(|(c, _)| *c == target);
        if fails {
            best = Some((plan, history));
        }
        Ok(fails)
    };
    let mut windows = Schedule::of_history(&history).windows();
    let mut plan = plan;
    let (original, convicted) = (plan.clone(), convicted_at(&history, &results));
    // The workload cut after the convicting operation (else in half), then halved while it
    // fails and keeps that operation.
    let first = convicted.map_or(plan.time_limit / 2, |at| Duration::from_secs(at.as_secs() + 2));
    let mut cut = Some(first).filter(|&t| t < plan.time_limit && t >= Duration::from_secs(1));
    let mut reproduced = false;
    while let Some(limit) = cut {
        let shorter = Plan { time_limit: limit, ..plan.clone() };
        let kept = within(&windows, limit);
        if !attempt(&shorter, &kept)? {
            break;
        }
        (plan, windows, reproduced) = (shorter, kept, true);
        cut = Some(limit / 2).filter(|&t| t >= Duration::from_secs(1) && convicted.is_none_or(|c| t > c));
    }
    if !reproduced && !attempt(&plan, &windows)? {
        return Ok((original, history, results));
    }
    windows = ddmin(windows, |w| attempt(&plan, w))?;
    // Each window as short as it fails: halve it while it does, but not under MIN_WINDOW.
    for i in 0..windows.len() {
        while let (start, Some(end)) = &windows[i] {
            let length = end.at_ms - start.at_ms;
            if length / 2 < MIN_WINDOW_MS {
                break;
            }
            let mut shorter = windows.clone();
            if let Some(end) = &mut shorter[i].1 {
                end.at_ms = start.at_ms + length / 2;
            }
            if !attempt(&plan, &shorter)? {
                break;
            }
            windows = shorter;
        }
    }
    // The workload as short as it fails, but never cutting a fault off.
    let last = windows.iter().map(|(s, e)| e.as_ref().unwrap_or(s).at_ms).max().unwrap_or(0);
    loop {
        let shorter = (plan.time_limit / 2).max(Duration::from_millis(last + 1000));
        if shorter >= plan.time_limit {
            break;
        }
        let candidate = Plan { time_limit: shorter, ..plan.clone() };
        if !attempt(&candidate, &windows)? {
            break;
        }
        plan = candidate;
    }
    let (plan, history) = best.expect("a trial failed: the run's own schedule, or a shorter one");
    let results = results::check(&history, &plan.checkers);
    Ok((plan, history, results))
}

/// How long after the workload's start the operation completed that a checker names as the one
/// no order explains (linearizability's counterexample), if one does.
fn convicted_at(history: &[Op], results: &Results) -> Option<Duration> {
    let blocking = &results.checkers.linearizable.as_ref()?.result.counterexample.as_ref()?.blocking;
    let line = blocking.line() as u64;
    let op = history.iter().find(|o| o.index + 1 == line)?;
    let start = history.iter().find(|o| o.process.is_harness() && o.f == WORKLOAD_START)?;
    Some(Duration::from_nanos(op.time.saturating_sub(start.time)))
}

/// The windows that start before `limit`, those still open then left to the final phase.
fn within(windows: &[Window], limit: Duration) -> Vec<Window> {
    let limit = limit.as_millis() as u64;
    windows
        .iter()
        .filter(|(start, _)| start.at_ms < limit)
        .map(|(start, end)| (start.clone(), end.clone().filter(|e| e.at_ms < limit)))
        .collect()
}

/// The shortest fault window shrinking tries, in ms: the simulated group elects in about half a
/// second, real hosts take longer, and a schedule shrunk to the simulator's edge would not fail
/// on them.
const MIN_WINDOW_MS: u64 = 2000;

/// A fault and the one that undoes it.
type Window = (Timed, Option<Timed>);

/// Delta debugging (Zeller's ddmin): a smallest subset of `items` (1-minimal: no one item can
/// go) for which `fails` holds, given that it holds for all of them.
fn ddmin<T: Clone>(
    mut items: Vec<T>,
    mut fails: impl FnMut(&[T]) -> Result<bool, Error>,
) -> Result<Vec<T>, Error> {
    if fails(&[])? {
        return Ok(Vec::new());
    }
    let mut n = 2;
    while items.len() >= 2 {
        let size = items.len().div_ceil(n);
        let chunks: Vec<Vec<T>> = items.chunks(size).map(<[T]>::to_vec).collect();
        let mut reduced = false;
        for (i, chunk) in chunks.iter().enumerate() {
            if fails(chunk)? {
                (items, n, reduced) = (chunk.clone(), 2, true);
                break;
            }
            let rest: Vec<T> =
                chunks.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, c)| c.clone()).collect();
            if chunks.len() > 2 && fails(&rest)? {
                (items, n, reduced) = (rest, (n - 1).max(2), true);
                break;
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (2 * n).min(items.len());
        }
    }
    Ok(items)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddmin_finds_a_one_minimal_subset() {
        let needs = |set: &[u32]| Ok(set.contains(&3) && set.contains(&7));
        assert_eq!(ddmin((0..10).collect(), needs).unwrap(), vec![3, 7]);
        let any = |set: &[u32]| Ok(set.iter().any(|&x| x % 4 == 1));
        assert_eq!(ddmin((0..10).collect(), any).unwrap().len(), 1);
        let always = |_: &[u32]| Ok(true);
        assert!(ddmin((0..10).collect(), always).unwrap().is_empty(), "no item needed");
    }
}
