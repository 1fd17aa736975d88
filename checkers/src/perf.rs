//! Performance as data the report can plot: latency quantiles and throughput per second, per
//! operation and outcome, with the fault windows. Informational: always valid.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use serde::{Deserialize, Serialize};

use crate::history::{FAULTS, Op, OpType, Process, undoes};
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
    let mut meter = Meter::default();
    ops.iter().for_each(|op| meter.push(op));
    meter.finish()
}

/// Significant decimal digits the latency histograms keep: quantiles are within 0.1 % of the
/// exact ones, in a few hundred kilobytes per series however long the history.
const SIGNIFICANT_DIGITS: u8 = 3;

/// The longest latency the histograms tell apart (one hour, in ns); longer ones count as that,
/// though the largest is reported exactly.
const LONGEST_NS: u64 = 3_600_000_000_000;

/// One series' latencies: a histogram in nanoseconds, and the exact largest.
struct Series {
    histogram: Histogram<u64>,
    max_ns: u64,
}

/// The perf checker as a fold over a history read once, in order: memory for one histogram and
/// one count per second for each series, and the open client operations.
#[derive(Default)]
pub struct Meter {
    latency: BTreeMap<String, Series>,
    throughput: BTreeMap<String, Vec<u64>>,
    /// Each client process's open invocation's time.
    open: HashMap<u64, u64>,
    /// Faults begun and not yet undone: name and start.
    faults: Vec<(String, u64)>,
    windows: Vec<FaultWindow>,
    end: u64,
}

impl Meter {
    /// Takes the next operation into account.
    pub fn push(&mut self, op: &Op) {
        self.end = self.end.max(op.time);
        match op.process {
            Process::Client(p) if op.kind == OpType::Invoke => {
                self.open.insert(p, op.time);
            }
            Process::Client(p) => {
                if let Some(invoked) = self.open.remove(&p) {
                    self.complete(invoked, op);
                }
            }
            _ if op.process.is_nemesis() && op.kind == OpType::Invoke => self.nemesis(op),
            _ => {}
        }
    }

    fn complete(&mut self, invoked: u64, done: &Op) {
        let series = format!("{} {}", done.f, done.kind.name());
        let ns = done.time.saturating_sub(invoked);
        let s = self.latency.entry(series.clone()).or_insert_with(|| Series {
            histogram: Histogram::new_with_bounds(1, LONGEST_NS, SIGNIFICANT_DIGITS)
                .expect("the bounds and digits are valid"),
            max_ns: 0,
        });
        s.histogram.saturating_record(ns);
        s.max_ns = s.max_ns.max(ns);
        let second = (done.time / 1_000_000_000) as usize;
        let buckets = self.throughput.entry(series).or_default();
        if buckets.len() <= second {
            buckets.resize(second + 1, 0);
        }
        buckets[second] += 1;
    }

    fn nemesis(&mut self, op: &Op) {
        match undoes(&op.f) {
            None if FAULTS.contains(&op.f.as_str()) => self.faults.push((op.f.clone(), op.time)),
            None => {}
            Some(undone) => {
                let windows = &mut self.windows;
                self.faults.retain(|(f, start)| {
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

    /// The result over every operation pushed.
    pub fn finish(self) -> PerfResult {
        let Meter { latency, mut throughput, faults, mut windows, end, .. } = self;
        let ms = |ns: u64| ns as f64 / 1e6;
        let latency = latency
            .into_iter()
            .map(|(series, s)| {
                let h = &s.histogram;
                let at = |q: f64| ms(h.median_equivalent(h.value_at_quantile(q)).min(s.max_ns));
                let count = h.len() as usize;
                (series, Latency { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: ms(s.max_ns) })
            })
            .collect();
        for buckets in throughput.values_mut() {
            buckets.resize((end / 1_000_000_000) as usize + 1, 0);
        }
        windows.extend(faults.into_iter().map(|(f, start)| FaultWindow {
            f,
            start_ms: start / 1_000_000,
            end_ms: end / 1_000_000,
        }));
        windows.sort_by_key(|w| w.start_ms);
        PerfResult { valid: Verdict::Valid, latency, throughput, faults: windows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((l.count, l.max), (100, 10.0));
        assert!((l.p50 - 5.0).abs() <= 0.005, "{}", l.p50);
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
