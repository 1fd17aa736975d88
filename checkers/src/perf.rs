//! Performance as data the report can plot: latency quantiles and throughput per second, per
//! operation and outcome, with the fault windows. Informational: always valid.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{FAULTS, Op, OpType, client_pairs, undoes};
use crate::verdict::Verdict;

/// Latency quantiles in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Completions measured.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// A fault's active span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault (`partition`, `kill`, `pause`, `clock`, `packet`).
    pub f: String,
    /// Start, ms since the test started.
    pub start_ms: u64,
    /// End (when its undoing began), or the end of the history.
    pub end_ms: u64,
}

/// The checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerfResult {
    /// Always valid: this checker only measures.
    pub valid: Verdict,
    /// `"<f> <outcome>"` -> latency quantiles.
    pub latency: BTreeMap<String, Latency>,
    /// `"<f> <outcome>"` -> completions in each second of the test.
    pub throughput: BTreeMap<String, Vec<u64>>,
    /// When faults were active.
    pub faults: Vec<FaultWindow>,
}

/// Measures the history.
pub fn check(ops: &[Op]) -> PerfResult {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut throughput: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let end = ops.iter().map(|o| o.time).max().unwrap_or(0);
    for (_, invoke, done) in client_pairs(ops) {
        let Some(done) = done else { continue };
        let series = format!("{} {}", done.f, done.kind.name());
        samples.entry(series.clone()).or_default().push((done.time - invoke.time) as f64 / 1e6);
        let buckets = throughput.entry(series).or_insert_with(|| vec![0; (end / 1_000_000_000) as usize + 1]);
        buckets[(done.time / 1_000_000_000) as usize] += 1;
    }
    let latency = samples
        .into_iter()
        .map(|(series, mut v)| {
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
            (
                series,
                Latency { count: v.len(), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: v[v.len() - 1] },
            )
        })
        .collect();
    PerfResult { valid: Verdict::Valid, latency, throughput, faults: fault_windows(ops, end) }
}

fn fault_windows(ops: &[Op], end: u64) -> Vec<FaultWindow> {
    let mut open: Vec<(String, u64)> = Vec::new();
    let mut windows = Vec::new();
    for op in ops.iter().filter(|o| o.process.is_nemesis() && o.kind == OpType::Invoke) {
        match undoes(&op.f) {
            None if FAULTS.contains(&op.f.as_str()) => open.push((op.f.clone(), op.time)),
            None => continue,
            Some(undone) => {
                open.retain(|(f, start)| {
                    let closes = f == undone;
                    if closes {
                        windows.push(FaultWindow {
                            f: f.clone(),
                            start_ms: start / 1_000_000,
                            end_ms: op.time / 1_000_000,
                        });
                    }
                    !closes
                });
            }
        }
    }
    windows.extend(open.into_iter().map(|(f, start)| FaultWindow {
        f,
        start_ms: start / 1_000_000,
        end_ms: end / 1_000_000,
    }));
    windows.sort_by_key(|w| w.start_ms);
    windows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;

    fn op(ms: u64, process: Process, kind: OpType, f: &str) -> Op {
        Op::new(ms * 1_000_000, process, kind, f)
    }

    #[test]
    fn latencies_throughput_and_fault_windows() {
        let mut ops = Vec::new();
        for i in 0..100 {
            ops.push(op(i * 20, Process::Client(1), OpType::Invoke, "read"));
            ops.push(op(i * 20 + 1 + i % 10, Process::Client(1), OpType::Ok, "read"));
        }
        ops.push(op(500, Process::nemesis(), OpType::Invoke, "partition"));
        ops.push(op(1500, Process::nemesis(), OpType::Invoke, "heal"));
        ops.push(op(1600, Process::nemesis(), OpType::Invoke, "packet"));
        ops.push(op(1800, Process::nemesis(), OpType::Invoke, "heal-packet"));
        ops.sort_by_key(|o| o.time);
        let r = check(&ops);
        let l = &r.latency["read ok"];
        assert_eq!((l.count, l.p50, l.max), (100, 5.0, 10.0));
        assert_eq!(r.throughput["read ok"], vec![50, 50]);
        assert_eq!(
            r.faults,
            vec![
                FaultWindow { f: "partition".into(), start_ms: 500, end_ms: 1500 },
                FaultWindow { f: "packet".into(), start_ms: 1600, end_ms: 1800 },
            ]
        );
    }
}
