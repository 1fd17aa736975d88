//! Linearizability: per-key (P-compositional) Wing-Gong-Lowe search, memoising every
//! (set of linearized operations, model state) pair it has tried, for the `register`,
//! `cas-register` and `kv` models. Operations whose outcome is unknown (crashed, `info`, never
//! completed) may take effect at any point after their invocation. A time and memory budget turns
//! a search that would not finish into `unknown` instead of exhausting memory. On a violation it
//! names where the search got stuck: the operation whose completion could not be reached, the
//! operations that could have gone next, and the last consistent state. A key is called
//! linearizable only once a linearization of it has been replayed on its real values.

pub mod fingerprint;
pub mod history;
pub mod model;
pub mod parse;
mod search;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

pub use history::{History, Operation};
pub use model::{Call, Model, Ret, Val};
pub use parse::{Collector, Format, ParseError, history_operations, operations, read_operations};
use search::{Outcome, Search};

use crate::verdict::Verdict;

/// Limits of one check.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Give up (unknown) after this long.
    pub time: Duration,
    /// Give up (unknown) once the memo of tried (linearized set, state) pairs and the search's
    /// stack hold this many bytes: the search's memory, which grows with the states tried.
    pub bytes: usize,
}

/// The default memory budget of one check: 512 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 512 << 20;

impl Default for Budget {
    fn default() -> Self {
        Budget { time: Duration::from_secs(60), bytes: DEFAULT_BUDGET_BYTES }
    }
}

/// An operation as a counterexample shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpView {
    /// Position of its invocation in the history's events.
    pub invoked_at: usize,
    /// Position of its completion, if it completed.
    pub completed_at: Option<usize>,
    /// The process.
    pub process: String,
    /// The node, when the history says.
    pub node: Option<String>,
    /// What it asked and returned, e.g. `read -> 3`, `cas 1 2 -> false`.
    pub op: String,
    /// The history lines (1-based) of its invocation and completion.
    pub lines: (usize, Option<usize>),
}

impl OpView {
    /// The history line (1-based) that shows what it returned: its completion's, else its
    /// invocation's.
    pub fn line(&self) -> usize {
        self.lines.1.unwrap_or(self.lines.0)
    }
}

/// Where the search got stuck.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The key whose history is not linearizable.
    pub key: Option<String>,
    /// Operations of that key linearized, at the deepest point reached.
    pub linearized: usize,
    /// The model's state there: the last consistent state.
    pub state: String,
    /// The operation whose completion was reached with no legal way to linearize it.
    pub blocking: OpView,
    /// The operations that were candidates to go next; none was legal.
    pub candidates: Vec<OpView>,
}

/// The checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearizableResult {
    /// The verdict.
    pub valid: Verdict,
    /// Keys checked.
    pub keys: usize,
    /// Operations checked.
    pub ops: usize,
    /// Configurations memoised by the searches that decided the verdict: every key's for a valid
    /// or unknown history, for an invalid one those of the keys up to the failing one (the keys
    /// after it are not searched to the end).
    pub states: u64,
    /// Why the verdict is unknown.
    pub reason: Option<String>,
    /// When invalid: where the search got stuck.
    pub counterexample: Option<Counterexample>,
}

/// Configurations a key's search may try in the first round, at least (four per operation of
/// the key, if more).
const FIRST_ROUND_STATES: u64 = 1 << 12;

/// A round whose keys may try this many configurations in all runs on the calling thread:
/// starting the other cores would cost more than it saves.
const SEQUENTIAL_ROUND_STATES: u64 = 1 << 18;

/// How much each round's allowance grows over the last one.
const ROUND_GROWTH: u64 = 16;

/// Checks `history` against `model`, key by key, within `budget`.
///
/// The keys are searched in rounds (on all cores once a round is large enough): each round gives every key not yet
/// decided an allowance of configurations to try, sixteen times the last round's, so a key that
/// fails quickly convicts the history even when another key's search would take long (re-running
/// the undecided keys costs at most a fifteenth more). The verdict and the reported key depend
/// only on the history, not on the scheduling: the first failing key in key order of the first
/// round in which any key fails. Within a round the keys are taken in key order, and once a key
/// fails, the keys after it are not searched further: they could not change the answer.
pub fn check(history: &History, model: Model, budget: Budget) -> LinearizableResult {
    let deadline = Instant::now() + budget.time;
    let mut keys: Vec<&history::Key> = history.keys().iter().collect();
    keys.sort_by_key(|k| history.name(k.name));
    let mut result = LinearizableResult {
        valid: Verdict::Valid,
        keys: keys.len(),
        ops: history.len(),
        states: 0,
        reason: None,
        counterexample: None,
    };
    if history.is_empty() {
        result.valid = Verdict::Unknown;
        result.reason = Some("the history has no client operation to check".into());
        return result;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut undecided: Vec<usize> = (0..keys.len()).collect();
    // A key without conflicts is decided in about as many configurations as it has operations:
    // its first allowance covers that, so only keys with real choices go another round.
    let mut growth = 1u64;
    while !undecided.is_empty() {
        let allowance =
            |i: usize| FIRST_ROUND_STATES.max(4 * keys[i].ops.len() as u64).saturating_mul(growth);
        let total: u64 = undecided.iter().map(|&i| allowance(i)).fold(0, u64::saturating_add);
        // A small round runs on this thread, with all the memory; a larger one on all cores,
        // the searches running at once sharing the memory budget.
        let workers = if total <= SEQUENTIAL_ROUND_STATES { 1 } else { cores.clamp(1, undecided.len()) };
        let bytes = budget.bytes / workers;
        let taken = AtomicUsize::new(0);
        // The place in `undecided` of the first key found failing this round.
        let failing = AtomicUsize::new(usize::MAX);
        // Each key's search is prepared anew for the round and dropped after it, so that only
        // the keys being searched hold memory.
        let work = |_| {
            let mut searched = Vec::new();
            loop {
                let j = taken.fetch_add(1, Ordering::Relaxed);
                if j >= undecided.len() || j > failing.load(Ordering::Relaxed) {
                    return searched;
                }
                let i = undecided[j];
                let search = Search::new(history, keys[i], model);
                let stop = || failing.load(Ordering::Relaxed) < j;
                let (outcome, states) = search.run(deadline, bytes, allowance(i), &stop);
                if matches!(outcome, Outcome::Violation(_)) {
                    failing.fetch_min(j, Ordering::Relaxed);
                }
                searched.push((j, outcome, states));
            }
        };
        let mut outcomes: Vec<(usize, Outcome, u64)> =
            if workers == 1 { work(0) } else { (0..workers).into_par_iter().flat_map_iter(work).collect() };
        outcomes.sort_unstable_by_key(|&(j, ..)| j);
        let failing = failing.into_inner();
        let round: Vec<usize> = std::mem::take(&mut undecided);
        for (j, outcome, states) in outcomes.into_iter().filter(|&(j, ..)| j <= failing) {
            let key = history.name(keys[round[j]].name);
            match outcome {
                Outcome::Unfinished => undecided.push(round[j]),
                Outcome::Linearizable => result.states += states,
                Outcome::Violation(mut c) => {
                    result.states += states;
                    c.key = key.map(str::to_string);
                    result.valid = Verdict::Invalid;
                    result.reason = None;
                    result.counterexample = Some(c);
                }
                Outcome::GaveUp(why) => {
                    result.states += states;
                    if result.valid == Verdict::Valid {
                        result.valid = Verdict::Unknown;
                        result.reason = Some(format!("key {}: {why}", key.unwrap_or("-")));
                    }
                }
            }
        }
        if result.valid == Verdict::Invalid {
            break;
        }
        growth = growth.saturating_mul(ROUND_GROWTH);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: usize, complete: Option<usize>, call: Call, ret: Ret) -> Operation {
        Operation {
            invoke,
            complete,
            process: invoke.to_string(),
            key: None,
            call,
            ret,
            node: None,
            lines: (invoke + 1, complete.map(|c| c + 1)),
        }
    }

    fn history(ops: impl IntoIterator<Item = Operation>) -> History {
        History::from_operations(ops).unwrap()
    }

    #[test]
    fn a_read_after_a_completed_write_must_see_it() {
        let ops = [
            op(0, Some(1), Call::Write(Val::Int(1)), Ret::Done),
            op(2, Some(3), Call::Read, Ret::Value(Val::Int(0))),
        ];
        let r = check(&history(ops.clone()), Model::CasRegister, Budget::default());
        assert_eq!(r.valid, Verdict::Invalid);
        let c = r.counterexample.unwrap();
        assert_eq!(c.blocking.op, "read -> 0");
        assert_eq!(c.state, "1", "the last consistent state");
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        let ops = [
            op(0, Some(3), Call::Write(Val::Int(1)), Ret::Done),
            op(1, Some(2), Call::Read, Ret::Value(Val::Int(1))),
        ];
        assert_eq!(check(&history(ops.clone()), Model::CasRegister, Budget::default()).valid, Verdict::Valid);
    }

    #[test]
    fn a_crashed_write_may_take_effect_later_and_keys_are_independent() {
        let mut ops = vec![
            op(0, None, Call::Write(Val::Int(5)), Ret::Unknown),
            op(1, Some(2), Call::Read, Ret::Value(Val::Int(0))),
            op(3, Some(4), Call::Read, Ret::Value(Val::Int(5))),
        ];
        assert_eq!(check(&history(ops.clone()), Model::CasRegister, Budget::default()).valid, Verdict::Valid);
        let mut other = op(5, Some(6), Call::Read, Ret::Value(Val::Int(0)));
        other.key = Some("b".into());
        ops.push(other);
        let r = check(&history(ops.clone()), Model::CasRegister, Budget::default());
        assert_eq!((r.valid, r.keys), (Verdict::Valid, 2));
    }

    #[test]
    fn an_exhausted_budget_gives_unknown() {
        let mut ops: Vec<Operation> =
            (0..12).map(|i| op(i, Some(100 + i), Call::Write(Val::Int(i as i64)), Ret::Done)).collect();
        ops.push(op(200, Some(201), Call::Read, Ret::Value(Val::Int(99))));
        let r = check(
            &history(ops.clone()),
            Model::CasRegister,
            Budget { time: Duration::from_secs(10), bytes: 2_000 },
        );
        assert_eq!(r.valid, Verdict::Unknown);
        assert!(r.reason.unwrap().contains("memory budget"));
    }

    #[test]
    fn appends_build_the_string_a_counterexample_shows() {
        let s = |x: &str| Val::Str(x.into());
        let ops = [
            op(0, Some(1), Call::Append(s("a")), Ret::Done),
            op(2, Some(5), Call::Append(s("b")), Ret::Done),
            op(3, Some(4), Call::Read, Ret::Value(s("ab"))),
            op(6, Some(7), Call::Read, Ret::Value(s("ba"))),
        ];
        let r = check(&history(ops.clone()), Model::Kv, Budget::default());
        assert_eq!(r.valid, Verdict::Invalid);
        let c = r.counterexample.unwrap();
        assert_eq!((c.state.as_str(), c.blocking.op.as_str(), c.linearized), ("\"ab\"", "read -> \"ba\"", 3));
        assert_eq!(c.blocking.lines, (7, Some(8)));
        let valid = check(&history(ops[..3].to_vec()), Model::Kv, Budget::default());
        assert_eq!(valid.valid, Verdict::Valid);
        let put_then_append = [
            op(0, Some(1), Call::Write(Val::Int(1)), Ret::Done),
            op(2, Some(3), Call::Append(s("a")), Ret::Done),
        ];
        let r = check(&history(put_then_append), Model::Kv, Budget::default());
        assert_eq!(r.valid, Verdict::Invalid, "an append needs a string");
    }
}
