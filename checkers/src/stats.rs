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
    let mut by_f: BTreeMap<String, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for op in ops.iter().filter(|o| o.process.is_client()) {
        let slot = by_f.entry(op.f.clone()).or_default();
        for counts in [slot, &mut total] {
            match op.kind {
                OpType::Ok => counts.ok += 1,
                OpType::Fail => counts.fail += 1,
                OpType::Info => counts.info += 1,
                OpType::Invoke => {}
            }
        }
    }
    let valid = match (total.ok, total.fail + total.info) {
        (0, 0) => Verdict::Unknown,
        (0, _) => Verdict::Invalid,
        _ => Verdict::Valid,
    };
    StatsResult { valid, total, by_f }
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
