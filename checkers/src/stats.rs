//! Ok / fail / info counts of client operations, per function; invalid when nothing succeeded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{Op, OpType};
use crate::verdict::Verdict;

/// Completions of one function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// It happened.
    pub ok: u64,
    /// It certainly did not.
    pub fail: u64,
    /// Unknown.
    pub info: u64,
}

/// The checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsResult {
    /// Invalid when no client operation succeeded; unknown when there were none.
    pub valid: Verdict,
    /// All functions together.
    pub total: Counts,
    /// Per function (`read`, `write`, …).
    pub by_f: BTreeMap<String, Counts>,
}

/// Counts the completions of client operations.
pub fn check(ops: &[Op]) -> StatsResult {
    let mut counter = Counter::default();
    ops.iter().for_each(|op| counter.push(op));
    counter.finish()
}

/// The stats checker as a fold over a history read once, in order.
#[derive(Default)]
pub struct Counter {
    by_f: BTreeMap<String, Counts>,
    total: Counts,
}

impl Counter {
    /// Takes the next operation into account.
    pub fn push(&mut self, op: &Op) {
        if !op.process.is_client() {
            return;
        }
        let slot = match self.by_f.get_mut(&op.f) {
            Some(slot) => slot,
            None => self.by_f.entry(op.f.clone()).or_default(),
        };
        for counts in [slot, &mut self.total] {
            match op.kind {
                OpType::Ok => counts.ok += 1,
                OpType::Fail => counts.fail += 1,
                OpType::Info => counts.info += 1,
                OpType::Invoke => {}
            }
        }
    }

    /// The result over every operation pushed.
    pub fn finish(self) -> StatsResult {
        let Counter { by_f, total } = self;
        let valid = match (total.ok, total.fail + total.info) {
            (0, 0) => Verdict::Unknown,
            (0, _) => Verdict::Invalid,
            _ => Verdict::Valid,
        };
        StatsResult { valid, total, by_f }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;

    fn op(kind: OpType, f: &str) -> Op {
        Op::new(0, Process::Client(1), kind, f)
    }

    #[test]
    fn counts_completions_and_fails_when_nothing_succeeded() {
        let ops = [
            op(OpType::Invoke, "read"),
            op(OpType::Ok, "read"),
            op(OpType::Invoke, "write"),
            op(OpType::Info, "write"),
        ];
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Valid);
        assert_eq!(r.by_f["write"], Counts { ok: 0, fail: 0, info: 1 });
        assert_eq!(check(&[op(OpType::Fail, "read")]).valid, Verdict::Invalid);
        assert_eq!(check(&[]).valid, Verdict::Unknown);
    }
}
