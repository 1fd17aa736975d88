//! The part of a history that the report draws, read in one pass however long the history: every
//! operation that is not a client's (observer rounds, faults, phases: the run's shape), and the
//! client operations — all of them up to [`KEPT_PAIRS`] invocations, beyond that an evenly spaced
//! sample of whole operations (every k-th invocation with its completion, k a power of two), so
//! that a report of a history larger than memory is drawn in bounded memory and says what it shows.

use std::collections::{BTreeSet, HashMap};

use checkers::history::{HistoryError, Op, OpType, Process, Source};

/// Client invocations (with their completions) kept before the sample thins: a report of a run
/// of ordinary length shows every operation.
pub const KEPT_PAIRS: usize = 20_000;

/// What the report draws of a history.
#[derive(Clone, Debug, Default)]
pub struct Excerpt {
    /// The kept operations, in history order.
    pub ops: Vec<Op>,
    /// Client invocations in the whole history.
    pub invocations: u64,
    /// One invocation in this many is kept (1: all are).
    pub stride: u64,
}

impl Excerpt {
    /// The excerpt of `history`, which keeps also the operations whose indices are in `wanted`
    /// (those the checkers' results point at).
    pub fn of<H: Source + ?Sized>(history: &H, wanted: &BTreeSet<u64>) -> Result<Excerpt, HistoryError> {
        let mut sample = Sample { stride: 1, ..Sample::default() };
        history.each(&mut |op| sample.push(op, wanted))?;
        Ok(sample.finish())
    }

    /// The excerpt of a history already in memory: all of it.
    pub fn whole(ops: &[Op]) -> Excerpt {
        let invocations = ops.iter().filter(|o| o.process.is_client() && o.kind == OpType::Invoke).count();
        Excerpt { ops: ops.to_vec(), invocations: invocations as u64, stride: 1 }
    }
}

/// The excerpt as it is read: client operations by the ordinal of their invocation.
#[derive(Default)]
struct Sample {
    others: Vec<Op>,
    /// Kept client operations: their invocation's ordinal (`None` for one wanted for itself).
    clients: Vec<(Option<u64>, Op)>,
    /// Each client process's open invocation's ordinal.
    open: HashMap<u64, u64>,
    invocations: u64,
    stride: u64,
    kept_pairs: usize,
}

impl Sample {
    fn push(&mut self, op: &Op, wanted: &BTreeSet<u64>) {
        let Process::Client(p) = op.process else {
            self.others.push(op.clone());
            return;
        };
        let ordinal = if op.kind == OpType::Invoke {
            let ordinal = self.invocations;
            self.invocations += 1;
            self.open.insert(p, ordinal);
            Some(ordinal)
        } else {
            self.open.remove(&p)
        };
        match ordinal {
            _ if wanted.contains(&op.index) => self.clients.push((None, op.clone())),
            Some(n) if n % self.stride == 0 => {
                if op.kind == OpType::Invoke {
                    self.kept_pairs += 1;
                }
                self.clients.push((Some(n), op.clone()));
                if self.kept_pairs >= 2 * KEPT_PAIRS {
                    self.thin();
                }
            }
            // A completion without an invocation is kept while everything is.
            None if self.stride == 1 => self.clients.push((None, op.clone())),
            _ => {}
        }
    }

    /// Doubles the stride, dropping every other kept invocation and its completion.
    fn thin(&mut self) {
        self.stride *= 2;
        let stride = self.stride;
        self.clients.retain(|(n, _)| n.is_none_or(|n| n % stride == 0));
        self.kept_pairs =
            self.clients.iter().filter(|(n, op)| n.is_some() && op.kind == OpType::Invoke).count();
    }

    fn finish(self) -> Excerpt {
        let mut ops = self.others;
        ops.extend(self.clients.into_iter().map(|(_, op)| op));
        ops.sort_by_key(|o| o.index);
        ops.dedup_by_key(|o| o.index);
        Excerpt { ops, invocations: self.invocations, stride: self.stride }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(pairs: u64) -> Vec<Op> {
        let mut ops = vec![Op::new(0, Process::harness(), OpType::Info, "history-start")];
        for i in 0..pairs {
            let p = i % 5;
            ops.push(Op::new(i * 10, Process::Client(p), OpType::Invoke, "read"));
            ops.push(Op::new(i * 10 + 5, Process::Client(p), OpType::Ok, "read"));
        }
        ops.push(Op::new(pairs * 10, Process::nemesis(), OpType::Invoke, "partition"));
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        ops
    }

    #[test]
    fn a_short_history_is_kept_whole() {
        let ops = history(100);
        let e = Excerpt::of(ops.as_slice(), &BTreeSet::new()).unwrap();
        assert_eq!((e.ops, e.invocations, e.stride), (ops, 100, 1));
    }

    #[test]
    fn a_long_history_keeps_every_other_operation_evenly_whole_pairs_and_what_is_wanted() {
        let pairs = 5 * KEPT_PAIRS as u64;
        let ops = history(pairs);
        let wanted = BTreeSet::from([4]);
        let e = Excerpt::of(ops.as_slice(), &wanted).unwrap();
        assert_eq!(e.invocations, pairs);
        assert!(e.stride > 1 && e.stride.is_power_of_two(), "{}", e.stride);
        let invocations = e.ops.iter().filter(|o| o.process.is_client() && o.kind == OpType::Invoke).count();
        assert!((KEPT_PAIRS..2 * KEPT_PAIRS).contains(&invocations), "{invocations}");
        assert_eq!(invocations as u64, pairs.div_ceil(e.stride));
        let completions = e.ops.iter().filter(|o| o.process.is_client() && o.kind == OpType::Ok).count();
        assert_eq!(completions, invocations + 1, "each kept invocation's completion, and line 5 wanted");
        assert!(e.ops.iter().any(|o| o.index == 4));
        assert!(e.ops.iter().any(|o| o.f == "partition") && e.ops.iter().any(|o| o.f == "history-start"));
        assert!(e.ops.windows(2).all(|w| w[0].index < w[1].index));
    }
}
