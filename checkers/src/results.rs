//! Every checker behind one interface: which checkers exist ([`Checker`]), what each says in
//! one line ([`Checked`]), and the combined, typed results of a run ([`Results`]), which is
//! `results.json`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::convergence::{self, ConvergenceResult};
use crate::deposed::{self, DeposedMaster};
use crate::history::{HistoryError, Op, OpType, Source};
use crate::linearizable::{self, Budget, LinearizableResult, Model};
use crate::mastership::{self, MastershipResult};
use crate::perf::{self, PerfResult};
use crate::set::{self, SetResult};
use crate::stats::{self, StatsResult};
use crate::verdict::Verdict;

/// One checker, by the name that `--checkers`, test files and `results.json` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checker {
    /// Exactly one master persisted after recovery.
    Mastership,
    /// Every backup holds the master's data after recovery.
    Convergence,
    /// The register workload's keys, one by one, against the register model.
    Linearizable,
    /// The set workload's appends against its final read.
    Set,
    /// Ok / fail / info counts.
    Stats,
    /// Latencies, throughput and fault windows.
    Perf,
}

impl Checker {
    /// Every checker, in the order the console lists them.
    pub const ALL: [Checker; 6] = [
        Checker::Mastership,
        Checker::Convergence,
        Checker::Linearizable,
        Checker::Set,
        Checker::Stats,
        Checker::Perf,
    ];

    /// The checker's name.
    pub fn name(self) -> &'static str {
        match self {
            Checker::Mastership => "mastership",
            Checker::Convergence => "convergence",
            Checker::Linearizable => "linearizable",
            Checker::Set => "set",
            Checker::Stats => "stats",
            Checker::Perf => "perf",
        }
    }

    /// The checker called `name`, or an error that lists the names there are.
    pub fn parse(name: &str) -> Result<Checker, String> {
        Checker::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Checker::ALL.iter().map(|c| c.name()).collect();
            format!("no checker called {name:?}; the checkers are {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What every checker's result answers: its verdict and one line that says what it found.
pub trait Checked {
    /// The checker's verdict.
    fn verdict(&self) -> Verdict;
    /// One line that says what the checker found (junit.xml, report.html).
    fn summary(&self) -> String;
}

/// A data checker's result, with the deposed masters' deeds that explain it when it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Data<T> {
    /// The checker's own result.
    #[serde(flatten)]
    pub result: T,
    /// What each deposed master acknowledged and answered while a rival served (only when the
    /// verdict is not valid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed_masters: Vec<DeposedMaster>,
}

impl<T> Data<T> {
    /// `result`, not yet explained.
    pub fn new(result: T) -> Data<T> {
        Data { result, deposed_masters: Vec::new() }
    }
}

impl<T: Checked> Checked for Data<T> {
    fn verdict(&self) -> Verdict {
        self.result.verdict()
    }
    fn summary(&self) -> String {
        self.result.summary()
    }
}

/// Each checker's result; a checker that was not chosen, or had nothing to check, is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkers {
    /// Exactly one master after recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mastership: Option<MastershipResult>,
    /// Every backup holds the master's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<ConvergenceResult>,
    /// The register keys' linearizability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearizable: Option<Data<LinearizableResult>>,
    /// The set workload's elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Data<SetResult>>,
    /// Ok / fail / info counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsResult>,
    /// Latencies, throughput and fault windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf: Option<PerfResult>,
}

impl Checkers {
    /// The checkers that ran, in [`Checker::ALL`]'s order, with their results.
    pub fn each(&self) -> Vec<(Checker, &dyn Checked)> {
        fn entry<T: Checked>(c: Checker, r: &Option<T>) -> Option<(Checker, &dyn Checked)> {
            r.as_ref().map(|r| (c, r as &dyn Checked))
        }
        [
            entry(Checker::Mastership, &self.mastership),
            entry(Checker::Convergence, &self.convergence),
            entry(Checker::Linearizable, &self.linearizable),
            entry(Checker::Set, &self.set),
            entry(Checker::Stats, &self.stats),
            entry(Checker::Perf, &self.perf),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The deposed masters' explanations attached to the data checkers (each data checker
    /// carries the same ones: they come from the history, not from the checker).
    pub fn deposed_masters(&self) -> &[DeposedMaster] {
        let linearizable = self.linearizable.as_ref().map(|d| d.deposed_masters.as_slice());
        let set = self.set.as_ref().map(|d| d.deposed_masters.as_slice());
        [linearizable, set].into_iter().flatten().find(|d| !d.is_empty()).unwrap_or_default()
    }
}

/// `results.json`: the overall verdict and each checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The worst verdict of the checkers that ran (Jepsen's compose: invalid > unknown > valid);
    /// unknown when none ran.
    pub valid: Verdict,
    /// Each checker's result.
    pub checkers: Checkers,
}

impl Results {
    /// The results of `checkers`, with their overall verdict.
    pub fn new(checkers: Checkers) -> Results {
        let each = checkers.each();
        let valid = if each.is_empty() {
            Verdict::Unknown
        } else {
            each.iter().map(|(_, r)| r.verdict()).fold(Verdict::Valid, Verdict::worst)
        };
        Results { valid, checkers }
    }
}

/// Runs the `chosen` checkers that fit `ops`: mastership, convergence, stats and perf always;
/// set over the keys appended to (the set workload); linearizability (register model, key by
/// key) over the other keys' reads, writes and compare-and-sets (the register workload). A data
/// checker that did not pass carries the deposed masters' explanations.
pub fn check(ops: &[Op], chosen: &BTreeSet<Checker>) -> Results {
    check_history(ops, chosen).expect("a history in memory reads without error")
}

/// The verdicts of [`check`] without the deposed masters' explanations: for a search that only
/// needs to know which checkers fail (shrinking a failing run).
pub fn check_unexplained(ops: &[Op], chosen: &BTreeSet<Checker>) -> Results {
    checked(ops, chosen, false).expect("a history in memory reads without error")
}

/// [`check`] over a history that may be larger than memory: it is read at most twice, start to
/// end, and only its operations other than the clients' (the observer's rounds, the nemesis's
/// faults, the harness's phases) are kept whole; the clients' are folded into each checker's
/// compact state as they pass. An error is the history's (unreadable, or a bad line).
pub fn check_history<H: Source + ?Sized>(
    history: &H,
    chosen: &BTreeSet<Checker>,
) -> Result<Results, HistoryError> {
    checked(history, chosen, true)
}

fn checked<H: Source + ?Sized>(
    history: &H,
    chosen: &BTreeSet<Checker>,
    explain: bool,
) -> Result<Results, HistoryError> {
    let on = |c: Checker| chosen.contains(&c);
    // First reading: what is not the clients', the keys appended to, counts and latencies.
    let mut others: Vec<Op> = Vec::new();
    let mut appends = set::Appends::default();
    let mut stats = on(Checker::Stats).then(stats::Counter::default);
    let mut perf = on(Checker::Perf).then(perf::Meter::default);
    history.each(&mut |op| {
        if op.process.is_client() {
            appends.push(op);
        } else {
            others.push(op.clone());
        }
        stats.iter_mut().for_each(|s| s.push(op));
        perf.iter_mut().for_each(|p| p.push(op));
    })?;
    let mut checkers = Checkers {
        mastership: on(Checker::Mastership).then(|| mastership::check(&others)),
        convergence: on(Checker::Convergence).then(|| convergence::check(&others)),
        stats: stats.map(stats::Counter::finish),
        perf: perf.map(perf::Meter::finish),
        ..Checkers::default()
    };
    // Second reading, for the data checkers: the appended keys' operations to the set checker,
    // the others' to the linearizability search, and what deposed masters served.
    let faults = others.iter().filter(|o| o.process.is_nemesis() && o.kind == OpType::Invoke);
    let mut set = (on(Checker::Set) && !appends.is_empty()).then(|| set::Tally::new(appends.clone(), faults));
    let mut registers = on(Checker::Linearizable).then(|| linearizable::Collector::new(Model::Register));
    if set.is_none() && registers.is_none() {
        return Ok(Results::new(checkers));
    }
    let mut deeds = explain.then(|| deposed::Deeds::new(&others));
    let mut register_clients = false;
    history.each(&mut |op| {
        let client = op.process.is_client();
        if client && appends.contains(op.key.as_deref()) {
            set.iter_mut().for_each(|s| s.push(op));
        } else if let Some(r) = registers.as_mut() {
            r.push(op);
            register_clients |= client;
        }
        deeds.iter_mut().for_each(|d| d.push(op));
    })?;
    checkers.set = set.map(|s| Data::new(s.finish()));
    checkers.linearizable = registers.filter(|_| register_clients).map(|r| Data::new(linearizability(r)));
    // The deposed masters' deeds explain a data checker that did not pass.
    if let Some(deeds) = deeds {
        let failed = |v: Verdict| v != Verdict::Valid;
        let linearizable = checkers.linearizable.as_mut().filter(|d| failed(d.verdict()));
        let set = checkers.set.as_mut().filter(|d| failed(d.verdict()));
        let unexplained: Vec<&mut Vec<DeposedMaster>> = linearizable
            .map(|d| &mut d.deposed_masters)
            .into_iter()
            .chain(set.map(|d| &mut d.deposed_masters))
            .collect();
        if !unexplained.is_empty() {
            let explained = deeds.finish();
            for deposed in unexplained {
                deposed.clone_from(&explained);
            }
        }
    }
    Ok(Results::new(checkers))
}

/// Every checker.
pub fn all() -> BTreeSet<Checker> {
    Checker::ALL.into_iter().collect()
}

/// The register workload's client operations checked for linearizability; a history whose
/// operations cannot be paired is `unknown`, with the reason.
fn linearizability(registers: linearizable::Collector) -> LinearizableResult {
    match registers.finish() {
        Ok(history) => linearizable::check(&history, Model::Register, Budget::default()),
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

impl Checked for MastershipResult {
    fn verdict(&self) -> Verdict {
        self.valid
    }
    fn summary(&self) -> String {
        self.summary.clone()
    }
}

impl Checked for ConvergenceResult {
    fn verdict(&self) -> Verdict {
        self.valid
    }
    fn summary(&self) -> String {
        self.summary.clone()
    }
}

impl Checked for LinearizableResult {
    fn verdict(&self) -> Verdict {
        self.valid
    }
    fn summary(&self) -> String {
        match (&self.counterexample, &self.reason) {
            (Some(c), _) => format!(
                "key {}: no order of the operations explains {} (history line {})",
                c.key.as_deref().unwrap_or("-"),
                c.blocking.op,
                c.blocking.line()
            ),
            (None, Some(reason)) => reason.clone(),
            (None, None) => format!("{} operations over {} keys", self.ops, self.keys),
        }
    }
}

impl Checked for SetResult {
    fn verdict(&self) -> Verdict {
        self.valid
    }
    fn summary(&self) -> String {
        let mut line = format!(
            "{} acknowledged, {} read back; lost {}, unexpected {}, recovered {}, duplicated {}",
            self.acknowledged,
            self.read,
            self.lost.len(),
            self.unexpected.len(),
            self.recovered.len(),
            self.duplicated.len()
        );
        if !self.lost.is_empty() {
            line = format!("{line}; the lost were acknowledged by {}", lost_by_node(&self.lost));
        }
        if let Some(reason) = &self.reason {
            line = format!("{line} ({reason})");
        }
        line
    }
}

/// Who acknowledged the lost elements, and when: `n1 (300, at 8.0 s to 27.1 s), n2 (...)`.
fn lost_by_node(lost: &[crate::set::Lost]) -> String {
    let mut by: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for l in lost {
        let at = l.written_ms.1;
        let e = by.entry(l.node.as_deref().unwrap_or("an unknown node")).or_insert((0, at, at));
        *e = (e.0 + 1, e.1.min(at), e.2.max(at));
    }
    let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
    by.iter()
        .map(|(node, (n, from, to))| format!("{node} ({n}, at {} to {})", secs(*from), secs(*to)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Checked for StatsResult {
    fn verdict(&self) -> Verdict {
        self.valid
    }
    fn summary(&self) -> String {
        format!("ok {}, fail {}, info {}", self.total.ok, self.total.fail, self.total.info)
    }
}

impl Checked for PerfResult {
    fn verdict(&self) -> Verdict {
        self.valid
    }
    fn summary(&self) -> String {
        let worst = self.latency.iter().max_by(|a, b| a.1.p99.total_cmp(&b.1.p99));
        let worst =
            worst.map_or("no latencies".to_string(), |(k, l)| format!("worst p99 {:.1} ms ({k})", l.p99));
        format!("{worst}; {} fault windows", self.faults.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_a_wrong_name_lists_the_right_ones() {
        for c in Checker::ALL {
            assert_eq!(Checker::parse(c.name()), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
        let e = Checker::parse("linearizability").unwrap_err();
        assert!(e.contains("\"linearizability\"") && e.contains("mastership, convergence"), "{e}");
    }

    #[test]
    fn the_overall_verdict_is_the_worst_and_nothing_checked_is_unknown() {
        let stats = |valid| StatsResult { valid, total: Default::default(), by_f: Default::default() };
        let r = Results::new(Checkers { stats: Some(stats(Verdict::Valid)), ..Default::default() });
        assert_eq!(r.valid, Verdict::Valid);
        let mastership = serde_json::from_value::<MastershipResult>(serde_json::json!({
            "valid": "unknown", "summary": "no rounds", "master": null, "persisted_masters": [],
            "violation_ms": null, "convergence_ms": null, "window_rounds": 0, "split_brain_windows": [],
            "leaderless_windows": [], "failovers": [], "self_terminations": [], "elections": 0,
            "election_messages": 0, "messages_per_election": null
        }))
        .unwrap();
        let r = Results::new(Checkers {
            stats: Some(stats(Verdict::Valid)),
            mastership: Some(mastership),
            ..Default::default()
        });
        assert_eq!(r.valid, Verdict::Unknown);
        assert_eq!(Results::new(Checkers::default()).valid, Verdict::Unknown);
    }

    #[test]
    fn results_json_keeps_each_checkers_valid_field_and_reads_back() {
        let stats =
            StatsResult { valid: Verdict::Invalid, total: Default::default(), by_f: Default::default() };
        let r = Results::new(Checkers { stats: Some(stats), ..Default::default() });
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["valid"], false);
        assert_eq!(json["checkers"]["stats"]["valid"], false);
        assert!(json["checkers"].get("mastership").is_none());
        let back: Results = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
