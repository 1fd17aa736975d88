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

use std::collections::HashMap;

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

/// What one element of a key went through, in one byte.
#[derive(Clone, Copy, Default)]
struct Seen(u8);

impl Seen {
    /// Invoked as an append to the key.
    const ATTEMPTED: u8 = 1;
    /// An append of it failed.
    const FAILED: u8 = 2;
    /// An append of it has an unknown outcome.
    const UNKNOWN: u8 = 4;
    /// In the key's final read once; twice or more with [`Seen::READ_AGAIN`].
    const READ: u8 = 8;
    const READ_AGAIN: u8 = 16;

    fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    fn read(&mut self) {
        self.0 |= if self.has(Seen::READ) { Seen::READ_AGAIN } else { Seen::READ };
    }
}

/// An element of a key by number: an integer in `0..dense` by its value, any other element
/// by `dense` plus its number in the key's table.
type Number = u64;

/// What one key's appends and reads amount to. Integers from 0 to a bound in proportion to the
/// key's appends (what a workload appends, as a rule) are recorded by their value, in order
/// in memory; any other element in one table, numbered by its first appearance, so that an
/// append's completion finds its element's record by the number its invocation got.
struct KeyLog {
    /// Integers below this are recorded in `dense`.
    dense_limit: u64,
    dense: Vec<Seen>,
    numbers: FxMap<Element, u32>,
    sparse: Vec<Seen>,
}

impl KeyLog {
    fn new(dense_limit: u64) -> Self {
        KeyLog { dense_limit, dense: Vec::new(), numbers: FxMap::default(), sparse: Vec::new() }
    }

    /// The number of the element `e`, recorded if new.
    fn number(&mut self, e: Element) -> Number {
        if let Element::Int(i) = e {
            if let Some(i) = u64::try_from(i).ok().filter(|&i| i < self.dense_limit) {
                if self.dense.len() as u64 <= i {
                    let grown = (i + 1).max(2 * self.dense.len() as u64).min(self.dense_limit);
                    self.dense.resize(grown as usize, Seen::default());
                }
                return i;
            }
        }
        let next = self.sparse.len() as u32;
        let n = *self.numbers.entry(e).or_insert(next);
        if n == next {
            self.sparse.push(Seen::default());
        }
        self.dense_limit + u64::from(n)
    }

    fn get(&self, n: Number) -> Seen {
        match n.checked_sub(self.dense_limit) {
            None => self.dense[n as usize],
            Some(i) => self.sparse[i as usize],
        }
    }

    fn seen(&mut self, n: Number) -> &mut Seen {
        match n.checked_sub(self.dense_limit) {
            None => &mut self.dense[n as usize],
            Some(i) => &mut self.sparse[i as usize],
        }
    }
}

/// Checks the appends and the final read of every key appended to.
pub fn check(ops: &[Op]) -> SetResult {
    let mut appends = Appends::default();
    ops.iter().for_each(|op| appends.push(op));
    let faults = ops.iter().filter(|o| o.process.is_nemesis() && o.kind == OpType::Invoke);
    let mut tally = Tally::new(appends, faults);
    ops.iter().for_each(|op| tally.push(op));
    tally.finish()
}

/// The keys appended to and the appends invoked on each, counted in a first reading of the
/// history: which keys are the set workload's, and what [`Tally`] sizes each key's records by.
#[derive(Clone, Default)]
pub struct Appends {
    counts: FxMap<String, u64>,
}

impl Appends {
    /// Takes the next operation into account.
    pub fn push(&mut self, op: &Op) {
        if !(op.process.is_client() && op.f == "append") {
            return;
        }
        let invoked = u64::from(op.kind == OpType::Invoke);
        let key = op.key.as_deref().unwrap_or_default();
        match self.counts.get_mut(key) {
            Some(n) => *n += invoked,
            None => {
                self.counts.insert(key.to_string(), invoked);
            }
        }
    }

    /// True when no client appended: the history is not the set workload's.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// True when `key` was appended to.
    pub fn contains(&self, key: Option<&str>) -> bool {
        self.counts.contains_key(key.unwrap_or_default())
    }
}

/// An acknowledged append: when it was invoked and acknowledged, the acknowledging node (by
/// number in [`Tally::nodes`]) and the element's number.
type Acked = (u64, u64, u32, Number);

/// The set checker as a fold over a history read in order (after [`Appends`] counted it): a
/// byte or so per element, an entry per acknowledged append, and the keys' last reads.
pub struct Tally {
    appends: Appends,
    /// The nemesis's invocations: time and function.
    faults: Vec<(u64, String)>,
    /// Per process: its open append's invocation time and element.
    invoked: FxMap<u64, (u64, Element)>,
    slots: FxMap<String, usize>,
    keys: Vec<(String, KeyLog, Vec<Acked>)>,
    last: Option<usize>,
    /// Each key's last successful read: its history index and value.
    reads: HashMap<String, (u64, serde_json::Value)>,
    /// The acknowledging nodes, numbered by first appearance.
    nodes: Vec<Option<String>>,
}

impl Tally {
    /// A fold for the history whose appends `appends` counted and whose nemesis invoked `faults`.
    pub fn new<'a>(appends: Appends, faults: impl IntoIterator<Item = &'a Op>) -> Tally {
        Tally {
            appends,
            faults: faults.into_iter().map(|o| (o.time, o.f.clone())).collect(),
            invoked: FxMap::default(),
            slots: FxMap::default(),
            keys: Vec::new(),
            last: None,
            reads: HashMap::new(),
            nodes: Vec::new(),
        }
    }

    /// Takes the next operation into account.
    pub fn push(&mut self, op: &Op) {
        let Process::Client(p) = op.process else { return };
        let key = op.key.as_deref().unwrap_or_default();
        if op.f != "append" {
            if op.f == "read" && op.kind == OpType::Ok && self.appends.contains(Some(key)) {
                self.reads.insert(key.to_string(), (op.index, op.value.clone()));
            }
            return;
        }
        let invocation = match op.kind {
            OpType::Invoke => None,
            _ => match self.invoked.remove(&p) {
                Some(invocation) => Some(invocation),
                None => return,
            },
        };
        let slot = self.slot(key);
        let (_, log, acked) = &mut self.keys[slot];
        let Some((invoked_at, element)) = invocation else {
            let element = Element::of(&op.value);
            let n = log.number(element.clone());
            log.seen(n).0 |= Seen::ATTEMPTED;
            self.invoked.insert(p, (op.time, element));
            return;
        };
        // The element is its invocation's; a completion on another key (a malformed history)
        // records it in its own.
        let n = log.number(element);
        match op.kind {
            OpType::Ok => {
                let node = match self.nodes.iter().position(|n| *n == op.node) {
                    Some(i) => i,
                    None => {
                        self.nodes.push(op.node.clone());
                        self.nodes.len() - 1
                    }
                };
                acked.push((invoked_at, op.time, node as u32, n));
            }
            OpType::Fail => log.seen(n).0 |= Seen::FAILED,
            _ => log.seen(n).0 |= Seen::UNKNOWN,
        }
    }

    /// The slot of `key`'s records, made when new.
    fn slot(&mut self, key: &str) -> usize {
        if let Some(slot) = self.last.filter(|&s| self.keys[s].0 == key) {
            return slot;
        }
        let slot = match self.slots.get(key) {
            Some(&slot) => slot,
            None => {
                let limit = 4 * self.appends.counts.get(key).copied().unwrap_or(0) + 1024;
                self.keys.push((key.to_string(), KeyLog::new(limit), Vec::new()));
                self.slots.insert(key.to_string(), self.keys.len() - 1);
                self.keys.len() - 1
            }
        };
        self.last = Some(slot);
        slot
    }

    /// The result over every operation pushed.
    pub fn finish(self) -> SetResult {
        let Tally { faults, mut keys, mut reads, nodes, .. } = self;
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
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
        for (key, mut log, acked) in keys {
            result.acknowledged += acked.len();
            let read: Vec<serde_json::Value> = match reads.remove(&key) {
                None => {
                    unknown_reasons.push(format!("key {key:?} has no final read"));
                    continue;
                }
                Some((_, serde_json::Value::Null)) => Vec::new(),
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
            for v in &read {
                let n = log.number(Element::of(v));
                log.seen(n).read();
            }
            let lost: Vec<&Acked> = acked.iter().filter(|&&(.., n)| !log.get(n).has(Seen::READ)).collect();
            if !lost.is_empty() {
                let elements: FxMap<u32, &Element> = log.numbers.iter().map(|(e, &n)| (n, e)).collect();
                let element = |n: Number| match n.checked_sub(log.dense_limit) {
                    None => Element::Int(n as i64).value(),
                    Some(i) => elements[&(i as u32)].value(),
                };
                result.lost.extend(lost.into_iter().map(|&(start, end, node, n)| {
                    Lost {
                        element: element(n),
                        written_ms: (start / 1_000_000, end / 1_000_000),
                        node: nodes[node as usize].clone(),
                        faults_nearby: faults
                            .iter()
                            .filter(|(t, _)| *t + NEARBY_NS >= start && *t <= end + NEARBY_NS)
                            .map(|(t, f)| FaultEvent { at_ms: t / 1_000_000, f: f.clone() })
                            .collect(),
                    }
                }));
            }
            // Each list in the elements' order.
            let (mut unexpected, mut recovered, mut duplicated) = (Vec::new(), Vec::new(), Vec::new());
            let mut sort = |e: Element, seen: Seen| {
                if !seen.has(Seen::READ) {
                    return;
                }
                if !seen.has(Seen::ATTEMPTED) || seen.has(Seen::FAILED) {
                    unexpected.push(e.clone());
                }
                if seen.has(Seen::UNKNOWN) {
                    recovered.push(e.clone());
                }
                if seen.has(Seen::READ_AGAIN) {
                    duplicated.push(e);
                }
            };
            for (i, &seen) in log.dense.iter().enumerate() {
                if seen.has(Seen::READ) {
                    sort(Element::Int(i as i64), seen);
                }
            }
            for (e, &n) in &log.numbers {
                sort(e.clone(), log.sparse[n as usize]);
            }
            for (list, out) in [
                (&mut unexpected, &mut result.unexpected),
                (&mut recovered, &mut result.recovered),
                (&mut duplicated, &mut result.duplicated),
            ] {
                list.sort_unstable();
                out.extend(list.iter().map(Element::value));
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
    fn integers_recorded_by_value_and_in_the_table_are_one_order_and_one_element_each() {
        let big = 1_i64 << 40;
        let mut ops: Vec<Op> = Vec::new();
        for (i, v) in [5, big, -3, 2000].into_iter().enumerate() {
            ops.extend(append(1, 100 * i as u64, v, OpType::Ok));
        }
        ops.extend(append(2, 900, 7, OpType::Fail));
        let read = serde_json::json!([big, 5, 7, -3, 2000, big, 3000, -3, "5"]);
        ops.push(op(990, Process::Client(9), OpType::Ok, "read", read));
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(r.lost.is_empty());
        assert_eq!(r.unexpected, vec![serde_json::json!(7), serde_json::json!(3000), serde_json::json!("5")]);
        assert_eq!(r.duplicated, vec![serde_json::json!(-3), serde_json::json!(big)]);
        let mut elsewhere = append(3, 950, 8, OpType::Ok);
        elsewhere[1].key = Some("other".into());
        let r = check(&[ops, elsewhere.into()].concat());
        assert_eq!(r.lost.len(), 0, "acknowledged on a key without a read: unknown, not lost");
        assert_eq!(r.acknowledged, 5);
    }

    #[test]
    fn everything_acknowledged_and_read_back_is_valid_and_no_read_is_unknown() {
        let mut ops: Vec<Op> = append(1, 100, 1, OpType::Ok).into();
        assert_eq!(check(&ops).valid, Verdict::Unknown);
        ops.push(op(900, Process::Client(9), OpType::Ok, "read", serde_json::json!([1])));
        assert_eq!(check(&ops).valid, Verdict::Valid);
    }
}
