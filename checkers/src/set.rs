//! The set workload's checker: elements appended to a key, then that key read back at the end.
//!
//! * lost: acknowledged (`ok`) but missing from the key's final read (a final read of `null`, the
//!   key absent, holds nothing: every acknowledged element is lost);
//! * unexpected: in the final read but never appended to that key, or appended with a definite
//!   failure (`fail`: it did not happen);
//! * recovered: outcome unknown (`info`) but present;
//! * duplicated: present more than once.
//!
//! The final read of a key is the last successful read of that key (reads of other keys do not
//! count). Invalid when anything is lost, unexpected or duplicated; unknown when a key appended to
//! has no final read, or the read is not a list.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::fx::FxMap;
use crate::history::{Op, OpType, Process};
use crate::verdict::Verdict;

/// A nemesis event near a lost element's write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Milliseconds since the start.
    pub at_ms: u64,
    /// The fault (`partition`, `kill`, `heal`, …).
    pub f: String,
}

/// A lost element and the faults around its write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lost {
    /// The element.
    pub element: serde_json::Value,
    /// When its append was invoked and acknowledged (ms).
    pub written_ms: (u64, u64),
    /// The node that acknowledged it.
    pub node: Option<String>,
    /// Nemesis events within 5 s of the write.
    pub faults_nearby: Vec<FaultEvent>,
}

/// The checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetResult {
    /// The verdict.
    pub valid: Verdict,
    /// Elements acknowledged.
    pub acknowledged: usize,
    /// Elements in the final reads.
    pub read: usize,
    /// Acknowledged but missing.
    pub lost: Vec<Lost>,
    /// Present but never appended, or appended with a definite failure.
    pub unexpected: Vec<serde_json::Value>,
    /// Outcome unknown but present.
    pub recovered: Vec<serde_json::Value>,
    /// Present more than once.
    pub duplicated: Vec<serde_json::Value>,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

const NEARBY_NS: u64 = 5_000_000_000;

/// An element as the checker compares it: an integer by value, anything else by its JSON text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Element {
    Int(i64),
    Text(String),
}

impl Element {
    fn of(v: &serde_json::Value) -> Element {
        match v.as_i64() {
            Some(i) if !v.is_f64() => Element::Int(i),
            _ => Element::Text(v.to_string()),
        }
    }

    fn value(&self) -> serde_json::Value {
        match self {
            Element::Int(i) => serde_json::Value::from(*i),
            Element::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// What one element of a key went through.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// Invoked as an append to the key.
    attempted: bool,
    /// An append of it failed.
    failed: bool,
    /// An append of it has an unknown outcome.
    unknown: bool,
    /// Times the key's final read holds it.
    reads: u32,
}

/// What one key's appends and reads amount to: one table of its elements, each numbered by
/// its first appearance, so that an append's completion and the final read find an element's
/// record without hashing it again where they can.
#[derive(Default)]
struct KeyLog<'a> {
    numbers: FxMap<Element, u32>,
    seen: Vec<Seen>,
    /// Acknowledged appends: the element's number, its value, invoked and acknowledged (ns),
    /// the node.
    acked: Vec<(u32, &'a serde_json::Value, u64, u64, Option<&'a str>)>,
}

impl KeyLog<'_> {
    /// The number of element `e`, recorded if new.
    fn number(&mut self, e: Element) -> u32 {
        let next = self.seen.len() as u32;
        let n = *self.numbers.entry(e).or_insert(next);
        if n == next {
            self.seen.push(Seen::default());
        }
        n
    }
}

/// Checks the appends and the final read of every key appended to.
pub fn check(ops: &[Op]) -> SetResult {
    // Per process: its open append's invocation time, value, key and element number.
    let mut invoked: FxMap<u64, (u64, &serde_json::Value, &str, u32)> = FxMap::default();
    let mut keys: BTreeMap<&str, KeyLog> = BTreeMap::new();
    let mut reads: HashMap<&str, (u64, &serde_json::Value)> = HashMap::new();
    for op in ops {
        let Process::Client(p) = op.process else { continue };
        let key = op.key.as_deref().unwrap_or_default();
        match (op.f.as_str(), op.kind) {
            ("append", OpType::Invoke) => {
                let log = keys.entry(key).or_default();
                let n = log.number(Element::of(&op.value));
                log.seen[n as usize].attempted = true;
                invoked.insert(p, (op.time, &op.value, key, n));
            }
            ("append", kind) => {
                let Some((start, v, invoked_key, n)) = invoked.remove(&p) else { continue };
                let log = keys.entry(key).or_default();
                // The element's number is its invocation key's; a completion on another key
                // (a malformed history) numbers it in its own.
                let n = if invoked_key == key { n } else { log.number(Element::of(v)) };
                match kind {
                    OpType::Ok => log.acked.push((n, v, start, op.time, op.node.as_deref())),
                    OpType::Fail => log.seen[n as usize].failed = true,
                    _ => log.seen[n as usize].unknown = true,
                }
            }
            ("read", OpType::Ok) => {
                reads.insert(key, (op.index, &op.value));
            }
            _ => {}
        }
    }
    let faults: Vec<(u64, String)> = ops
        .iter()
        .filter(|o| o.process.is_nemesis() && o.kind == OpType::Invoke)
        .map(|o| (o.time, o.f.clone()))
        .collect();
    let mut result = SetResult {
        valid: Verdict::Valid,
        acknowledged: 0,
        read: 0,
        lost: Vec::new(),
        unexpected: Vec::new(),
        recovered: Vec::new(),
        duplicated: Vec::new(),
        reason: None,
    };
    let mut unknown_reasons = Vec::new();
    for (key, mut log) in keys {
        result.acknowledged += log.acked.len();
        let read: &[serde_json::Value] = match reads.remove(key) {
            None => {
                unknown_reasons.push(format!("key {key:?} has no final read"));
                continue;
            }
            Some((_, serde_json::Value::Null)) => &[],
            Some((_, serde_json::Value::Array(items))) => items,
            Some((index, other)) => {
                unknown_reasons.push(format!(
                    "the final read of key {key:?} (history line {}) is {other}, not a list",
                    index + 1
                ));
                continue;
            }
        };
        result.read += read.len();
        log.numbers.reserve(read.len().saturating_sub(log.numbers.len()));
        for v in read {
            let n = log.number(Element::of(v));
            log.seen[n as usize].reads += 1;
        }
        result.lost.extend(log.acked.iter().filter(|(n, ..)| log.seen[*n as usize].reads == 0).map(
            |(_, v, start, end, node)| {
                Lost {
                    element: (*v).clone(),
                    written_ms: (start / 1_000_000, end / 1_000_000),
                    node: node.map(str::to_string),
                    faults_nearby: faults
                        .iter()
                        .filter(|(t, _)| *t + NEARBY_NS >= *start && *t <= end + NEARBY_NS)
                        .map(|(t, f)| FaultEvent { at_ms: t / 1_000_000, f: f.clone() })
                        .collect(),
                }
            },
        ));
        // Each list in the elements' order.
        let (mut unexpected, mut recovered, mut duplicated) = (Vec::new(), Vec::new(), Vec::new());
        for (e, &n) in &log.numbers {
            let seen = log.seen[n as usize];
            if seen.reads == 0 {
                continue;
            }
            if !seen.attempted || seen.failed {
                unexpected.push(e);
            }
            if seen.unknown {
                recovered.push(e);
            }
            if seen.reads > 1 {
                duplicated.push(e);
            }
        }
        for (list, out) in [
            (&mut unexpected, &mut result.unexpected),
            (&mut recovered, &mut result.recovered),
            (&mut duplicated, &mut result.duplicated),
        ] {
            list.sort_unstable();
            out.extend(list.iter().map(|e| e.value()));
        }
    }
    result.valid =
        if !result.lost.is_empty() || !result.unexpected.is_empty() || !result.duplicated.is_empty() {
            Verdict::Invalid
        } else if !unknown_reasons.is_empty() {
            result.reason = Some(unknown_reasons.join("; "));
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(time_ms: u64, process: Process, kind: OpType, f: &str, value: serde_json::Value) -> Op {
        let mut op = Op::new(time_ms * 1_000_000, process, kind, f).with_value(value);
        op.key = Some("set".into());
        op.node = Some("n1".into());
        op
    }

    fn append(p: u64, t: u64, v: i64, outcome: OpType) -> [Op; 2] {
        [
            op(t, Process::Client(p), OpType::Invoke, "append", v.into()),
            op(t + 1, Process::Client(p), outcome, "append", v.into()),
        ]
    }

    #[test]
    fn lost_unexpected_recovered_and_duplicated_elements_are_told_apart() {
        let mut ops: Vec<Op> = Vec::new();
        ops.extend(append(1, 100, 1, OpType::Ok));
        ops.extend(append(1, 200, 2, OpType::Ok));
        ops.extend(append(2, 300, 3, OpType::Info));
        ops.push(op(250, Process::nemesis(), OpType::Invoke, "partition", serde_json::Value::Null));
        ops.push(op(900, Process::Client(9), OpType::Ok, "read", serde_json::json!([1, 3, 7, 1])));
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid);
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost[0].element, serde_json::json!(2));
        assert_eq!(r.lost[0].faults_nearby, vec![FaultEvent { at_ms: 250, f: "partition".into() }]);
        assert_eq!(r.unexpected, vec![serde_json::json!(7)]);
        assert_eq!(r.recovered, vec![serde_json::json!(3)]);
        assert_eq!(r.duplicated, vec![serde_json::json!(1)]);
    }

    #[test]
    fn elements_are_compared_exactly_an_integer_is_not_its_float_or_its_string() {
        let mut ops: Vec<Op> = Vec::new();
        ops.extend(append(1, 100, 1, OpType::Ok));
        ops.extend(append(1, 200, 10, OpType::Ok));
        ops.push(op(900, Process::Client(9), OpType::Ok, "read", serde_json::json!([10, 1.0, "1"])));
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid);
        assert_eq!(r.lost.iter().map(|l| l.element.clone()).collect::<Vec<_>>(), [serde_json::json!(1)]);
        assert_eq!(r.unexpected, vec![serde_json::json!("1"), serde_json::json!(1.0)]);
    }

    #[test]
    fn an_absent_key_loses_everything_reads_of_other_keys_do_not_count_and_failed_appends_are_unexpected() {
        let mut ops: Vec<Op> = Vec::new();
        ops.extend(append(1, 100, 1, OpType::Ok));
        ops.extend(append(2, 200, 2, OpType::Fail));
        let absent = op(900, Process::Client(9), OpType::Ok, "read", serde_json::Value::Null);
        let r = check(&[ops.clone(), vec![absent]].concat());
        assert_eq!(r.valid, Verdict::Invalid, "a final read of null holds nothing");
        assert_eq!(r.lost.len(), 1);
        let mut elsewhere = op(950, Process::Client(9), OpType::Ok, "read", serde_json::json!([1]));
        elsewhere.key = Some("other".into());
        let r = check(&[ops.clone(), vec![elsewhere]].concat());
        assert_eq!(r.valid, Verdict::Unknown, "a read of another key is not the set's final read");
        assert!(r.reason.unwrap().contains("no final read"));
        let r = check(
            &[ops, vec![op(990, Process::Client(9), OpType::Ok, "read", serde_json::json!([1, 2]))]].concat(),
        );
        assert_eq!(
            (r.valid, r.unexpected.clone()),
            (Verdict::Invalid, vec![serde_json::json!(2)]),
            "it did not happen"
        );
    }

    #[test]
    fn everything_acknowledged_and_read_back_is_valid_and_no_read_is_unknown() {
        let mut ops: Vec<Op> = append(1, 100, 1, OpType::Ok).into();
        assert_eq!(check(&ops).valid, Verdict::Unknown);
        ops.push(op(900, Process::Client(9), OpType::Ok, "read", serde_json::json!([1])));
        assert_eq!(check(&ops).valid, Verdict::Valid);
    }
}
