//! The set workload's checker: elements appended to a key, then read back at the end.
//!
//! * lost: acknowledged (`ok`) but missing from the final read;
//! * unexpected: in the final read but never appended;
//! * recovered: outcome unknown (`info`) but present;
//! * duplicated: present more than once.
//!
//! Invalid when anything is lost, unexpected or duplicated; unknown without a final read.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

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
    /// Elements in the final read.
    pub read: usize,
    /// Acknowledged but missing.
    pub lost: Vec<Lost>,
    /// Present but never appended.
    pub unexpected: Vec<serde_json::Value>,
    /// Outcome unknown but present.
    pub recovered: Vec<serde_json::Value>,
    /// Present more than once.
    pub duplicated: Vec<serde_json::Value>,
}

const NEARBY_NS: u64 = 5_000_000_000;

/// Checks the appends and the last successful read of every key.
pub fn check(ops: &[Op]) -> SetResult {
    let mut invoked: BTreeMap<(u64, String), (u64, serde_json::Value)> = BTreeMap::new();
    let mut acked: Vec<(serde_json::Value, u64, u64, Option<String>)> = Vec::new();
    let mut attempted: BTreeSet<String> = BTreeSet::new();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut final_read: Option<Vec<serde_json::Value>> = None;
    for op in ops {
        let Process::Client(p) = op.process else { continue };
        let key = op.key.clone().unwrap_or_default();
        match (op.f.as_str(), op.kind) {
            ("append", OpType::Invoke) => {
                attempted.insert(op.value.to_string());
                invoked.insert((p, key), (op.time, op.value.clone()));
            }
            ("append", OpType::Ok) => {
                if let Some((start, v)) = invoked.remove(&(p, key)) {
                    acked.push((v, start, op.time, op.node.clone()));
                }
            }
            ("append", OpType::Info) => {
                if let Some((_, v)) = invoked.remove(&(p, key)) {
                    unknown.insert(v.to_string());
                }
            }
            ("read", OpType::Ok) => {
                if let serde_json::Value::Array(items) = &op.value {
                    final_read = Some(items.clone());
                }
            }
            _ => {}
        }
    }
    let faults: Vec<(u64, String)> = ops
        .iter()
        .filter(|o| o.process == Process::nemesis() && o.kind == OpType::Invoke)
        .map(|o| (o.time, o.f.clone()))
        .collect();
    let Some(read) = final_read else {
        return SetResult {
            valid: Verdict::Unknown,
            acknowledged: acked.len(),
            read: 0,
            lost: Vec::new(),
            unexpected: Vec::new(),
            recovered: Vec::new(),
            duplicated: Vec::new(),
        };
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in &read {
        *counts.entry(v.to_string()).or_default() += 1;
    }
    let lost: Vec<Lost> = acked
        .iter()
        .filter(|(v, ..)| !counts.contains_key(&v.to_string()))
        .map(|(v, start, end, node)| Lost {
            element: v.clone(),
            written_ms: (start / 1_000_000, end / 1_000_000),
            node: node.clone(),
            faults_nearby: faults
                .iter()
                .filter(|(t, _)| *t + NEARBY_NS >= *start && *t <= end + NEARBY_NS)
                .map(|(t, f)| FaultEvent { at_ms: t / 1_000_000, f: f.clone() })
                .collect(),
        })
        .collect();
    let parse = |s: &String| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    let unexpected: Vec<_> = counts.keys().filter(|k| !attempted.contains(*k)).map(parse).collect();
    let recovered: Vec<_> = counts.keys().filter(|k| unknown.contains(*k)).map(parse).collect();
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).map(|(k, _)| parse(k)).collect();
    let valid = if lost.is_empty() && unexpected.is_empty() && duplicated.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    SetResult { valid, acknowledged: acked.len(), read: read.len(), lost, unexpected, recovered, duplicated }
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
    fn everything_acknowledged_and_read_back_is_valid_and_no_read_is_unknown() {
        let mut ops: Vec<Op> = append(1, 100, 1, OpType::Ok).into();
        assert_eq!(check(&ops).valid, Verdict::Unknown);
        ops.push(op(900, Process::Client(9), OpType::Ok, "read", serde_json::json!([1])));
        assert_eq!(check(&ops).valid, Verdict::Valid);
    }
}
