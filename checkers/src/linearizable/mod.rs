//! Linearizability: per-key (P-compositional) Wing-Gong-Lowe search, memoising every
//! (set of linearized operations, model state) pair it has tried, for the `register`,
//! `cas-register` and `kv` models. Operations whose outcome is unknown (crashed, `info`, never
//! completed) may take effect at any point after their invocation. A time and memory budget turns
//! a search that would not finish into `unknown` instead of exhausting memory. On a violation it
//! names where the search got stuck: the operation whose completion could not be reached, the
//! operations that could have gone next, and the last consistent state.

pub mod fingerprint;
pub mod model;
pub mod parse;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

pub use model::{Call, Model, Next, Ret, Val};
pub use parse::{Format, Operation, ParseError, history_operations, operations};

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
    /// States memoised in all.
    pub states: u64,
    /// Why the verdict is unknown.
    pub reason: Option<String>,
    /// When invalid: where the search got stuck.
    pub counterexample: Option<Counterexample>,
}

/// Configurations a key's search may try in the first round, at least (four per operation of
/// the key, if more).
const FIRST_ROUND_STATES: u64 = 1 << 12;

/// How much each round's allowance grows over the last one.
const ROUND_GROWTH: u64 = 16;

/// Checks `ops` against `model`, key by key, within `budget`.
///
/// The keys are searched in rounds, all cores at once: each round gives every key not yet
/// decided an allowance of configurations to try, sixteen times the last round's, so a key that
/// fails quickly convicts the history even when another key's search would take long (re-running
/// the undecided keys costs at most a fifteenth more). The verdict and the reported key depend
/// only on the history, not on the scheduling: the first failing key in key order of the first
/// round in which any key fails.
pub fn check(ops: &[Operation], model: Model, budget: Budget) -> LinearizableResult {
    let deadline = Instant::now() + budget.time;
    let mut by_key: BTreeMap<Option<&str>, Vec<&Operation>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_deref()).or_default().push(op);
    }
    let mut result = LinearizableResult {
        valid: Verdict::Valid,
        keys: by_key.len(),
        ops: ops.len(),
        states: 0,
        reason: None,
        counterexample: None,
    };
    if ops.is_empty() {
        result.valid = Verdict::Unknown;
        result.reason = Some("the history has no client operation to check".into());
        return result;
    }
    let keys: Vec<(Option<&str>, Vec<&Operation>)> = by_key.into_iter().collect();
    // The searches running at once share the memory budget.
    let bytes = budget.bytes / rayon::current_num_threads().clamp(1, keys.len());
    let mut undecided: Vec<usize> = (0..keys.len()).collect();
    // A key without conflicts is decided in about as many configurations as it has operations:
    // its first allowance covers that, so only keys with real choices go another round.
    let mut growth = 1u64;
    while !undecided.is_empty() {
        let outcomes: Vec<(usize, Outcome, u64)> = undecided
            .par_iter()
            .map(|&i| {
                let first = FIRST_ROUND_STATES.max(4 * keys[i].1.len() as u64);
                let allowance = first.saturating_mul(growth);
                let (outcome, states) = Search::new(&keys[i].1, model).run(deadline, bytes, allowance);
                (i, outcome, states)
            })
            .collect();
        undecided.clear();
        for (i, outcome, states) in outcomes {
            let key = keys[i].0;
            match outcome {
                Outcome::Unfinished => undecided.push(i),
                Outcome::Linearizable => result.states += states,
                Outcome::Violation(mut c) => {
                    result.states += states;
                    if result.counterexample.is_none() {
                        c.key = key.map(str::to_string);
                        result.valid = Verdict::Invalid;
                        result.reason = None;
                        result.counterexample = Some(c);
                    }
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

/// The heap bytes a value holds beyond its own size.
fn heap_bytes(v: &Val) -> usize {
    match v {
        Val::BigInt(t) | Val::Str(t) | Val::Keyword(t) | Val::Other(t) => t.capacity(),
        Val::List(items) => items.iter().map(|i| std::mem::size_of::<Val>() + heap_bytes(i)).sum(),
        Val::Nil | Val::Int(_) | Val::Float(_) | Val::Bool(_) => 0,
    }
}

/// One linearized operation on the search's stack: its call entry, the state before it (when it
/// changed the state), and the fingerprints before it.
struct Frame {
    entry: usize,
    previous: Option<Val>,
    linearized: fingerprint::Fingerprint,
    state_key: fingerprint::Fingerprint,
}

/// How an operation's step changes the state's fingerprint.
#[derive(Clone, Copy)]
enum Effect {
    /// The state becomes a value of this fingerprint.
    Becomes(fingerprint::Fingerprint),
    /// A string is appended to the state.
    Appends(fingerprint::Append),
    /// The state stays (reads).
    Keeps,
}

enum Outcome {
    Linearizable,
    Violation(Counterexample),
    GaveUp(String),
    /// This round's allowance of configurations ran out before a verdict.
    Unfinished,
}

const NONE: usize = usize::MAX;

/// The WGL search over one key's operations: a doubly linked list of call and return entries in
/// history order; linearizing an operation lifts its two entries out, backtracking puts them back.
struct Search<'a> {
    ops: Vec<&'a Operation>,
    model: Model,
    next: Vec<usize>,
    prev: Vec<usize>,
    op_of: Vec<usize>,
    is_call: Vec<bool>,
    partner: Vec<usize>,
    /// For an operation that never completed: the one invoked last before it with the same
    /// call that never completed either. Two such twins are interchangeable once both are
    /// invoked, so the search linearizes them in invocation order only.
    twin: Vec<Option<usize>>,
}

impl<'a> Search<'a> {
    fn new(ops: &[&'a Operation], model: Model) -> Self {
        // A read whose result is unknown accepts every state and changes none: whatever the
        // other operations' order, it fits into it, so it is left out of the search.
        let ops: Vec<&'a Operation> =
            ops.iter().copied().filter(|o| !(o.call == Call::Read && o.ret == Ret::Unknown)).collect();
        let mut last_pending: std::collections::HashMap<&Call, usize> = std::collections::HashMap::new();
        let mut by_invoke: Vec<usize> = (0..ops.len()).collect();
        by_invoke.sort_by_key(|&i| ops[i].invoke);
        let mut twin = vec![None; ops.len()];
        for i in by_invoke.into_iter().filter(|&i| ops[i].complete.is_none()) {
            twin[i] = last_pending.insert(&ops[i].call, i);
        }
        let mut entries: Vec<(usize, usize, bool)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            entries.push((op.invoke, i, true));
            entries.push((op.complete.unwrap_or(NONE), i, false));
        }
        entries.sort_by_key(|&(time, op, call)| (time, !call, op));
        let n = entries.len() + 1;
        let mut s = Search {
            ops: ops.clone(),
            model,
            next: vec![NONE; n],
            prev: vec![NONE; n],
            op_of: vec![0; n],
            is_call: vec![false; n],
            partner: vec![0; n],
            twin,
        };
        let mut call_entry = vec![0; ops.len()];
        for (position, &(_, op, call)) in entries.iter().enumerate() {
            let e = position + 1;
            s.op_of[e] = op;
            s.is_call[e] = call;
            s.prev[e] = e - 1;
            s.next[e - 1] = e;
            if call {
                call_entry[op] = e;
            } else {
                s.partner[e] = call_entry[op];
                s.partner[call_entry[op]] = e;
            }
        }
        s
    }

    fn remove(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NONE {
            self.prev[n] = p;
        }
    }

    fn restore(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NONE {
            self.prev[n] = e;
        }
    }

    fn lift(&mut self, call: usize) {
        self.remove(call);
        self.remove(self.partner[call]);
    }

    fn unlift(&mut self, call: usize) {
        self.restore(self.partner[call]);
        self.restore(call);
    }

    fn view(&self, op: usize) -> OpView {
        let o = self.ops[op];
        let show = |v: &Val| v.to_string();
        let call = match &o.call {
            Call::Read => "read".to_string(),
            Call::Write(v) => format!("write {}", show(v)),
            Call::Cas(a, b) => format!("cas {} {}", show(a), show(b)),
            Call::Append(v) => format!("append {}", show(v)),
        };
        let ret = match &o.ret {
            Ret::Value(v) => format!(" -> {}", show(v)),
            Ret::Swapped(b) => format!(" -> {b}"),
            Ret::Done => " -> ok".to_string(),
            Ret::Unknown => " -> ?".to_string(),
        };
        OpView {
            invoked_at: o.invoke,
            completed_at: o.complete,
            process: o.process.clone(),
            node: o.node.clone(),
            op: format!("{call}{ret}"),
            lines: o.lines,
        }
    }

    /// The frontier: the operations of the candidate calls before the first return entry, and
    /// that return's operation (cheap to take: no text is made until it is reported).
    fn frontier(&self) -> (Vec<usize>, usize) {
        let mut candidates = Vec::new();
        let mut e = self.next[0];
        while e != NONE && self.is_call[e] {
            candidates.push(self.op_of[e]);
            e = self.next[e];
        }
        let blocking =
            if e == NONE { candidates.pop().expect("a frontier has an operation") } else { self.op_of[e] };
        candidates.retain(|&c| c != blocking);
        (candidates, blocking)
    }

    /// The counterexample of a frontier taken with `linearized` operations in `state`.
    fn counterexample(
        &self,
        (candidates, blocking): (Vec<usize>, usize),
        state: &Val,
        linearized: usize,
    ) -> Counterexample {
        Counterexample {
            key: None,
            linearized,
            state: state.to_string(),
            blocking: self.view(blocking),
            candidates: candidates.into_iter().map(|c| self.view(c)).collect(),
        }
    }

    /// Searches for a linearization until one is found, none can be, the budget is spent or
    /// `allowance` configurations were tried; returns the outcome and the configurations tried.
    fn run(mut self, deadline: Instant, max_bytes: usize, allowance: u64) -> (Outcome, u64) {
        let keys = fingerprint::operation_keys(self.ops.len());
        // The memo's slots are counted by its capacity, twice: a resize holds old and new.
        let slot = std::mem::size_of::<fingerprint::Fingerprint>() + 1;
        let frame = std::mem::size_of::<Frame>();
        // The fingerprint of the state each operation leaves, or how it changes the current one.
        let effects: Vec<Effect> = self
            .ops
            .iter()
            .map(|o| match &o.call {
                Call::Write(v) | Call::Cas(_, v) => Effect::Becomes(fingerprint::state(v)),
                Call::Append(Val::Str(x)) => Effect::Appends(fingerprint::Append::of(x)),
                Call::Append(_) | Call::Read => Effect::Keeps,
            })
            .collect();
        let mut stack_heap = 0usize;
        let mut linearized: fingerprint::Fingerprint = 0;
        let mut state = self.model.initial();
        let mut state_key = fingerprint::state(&state);
        let mut stack: Vec<Frame> = Vec::new();
        let mut memo =
            fingerprint::Memo::with_capacity_and_hasher(allowance.min(1 << 16) as usize, Default::default());
        let mut best: Option<((Vec<usize>, usize), Val)> = None;
        let mut best_depth = 0;
        let mut steps: u64 = 0;
        let mut entry = self.next[0];
        let tried = |memo: &fingerprint::Memo| memo.len() as u64;
        let mut lifted = vec![false; self.ops.len()];
        while self.next[0] != NONE {
            steps += 1;
            if steps % 4096 == 0 {
                if Instant::now() > deadline {
                    return (
                        Outcome::GaveUp(format!("time budget spent after {} states", memo.len())),
                        tried(&memo),
                    );
                }
                if 2 * slot * memo.capacity() + stack_heap + frame * stack.capacity() > max_bytes {
                    return (
                        Outcome::GaveUp(format!(
                            "memory budget of {} MiB spent after {} states",
                            max_bytes >> 20,
                            memo.len()
                        )),
                        tried(&memo),
                    );
                }
            }
            if entry == NONE {
                break;
            }
            if self.is_call[entry] {
                let op = self.op_of[entry];
                let o = self.ops[op];
                let twin_first = self.twin[op].is_some_and(|t| !lifted[t]);
                // An append to a string is always legal: its fingerprint is known before the
                // longer string is built, which happens only for a configuration not yet tried.
                let step = match (twin_first, &state, effects[op]) {
                    (true, _, _) => None,
                    (false, Val::Str(_), Effect::Appends(append)) => Some((append.apply(state_key), None)),
                    (false, _, effect) => self.model.transition(&state, &o.call, &o.ret).map(|next| {
                        let key = match (&next, effect) {
                            (Next::Same, _) => state_key,
                            (Next::To(_), Effect::Becomes(key)) => key,
                            (Next::To(v), _) => fingerprint::state(v),
                        };
                        (key, Some(next))
                    }),
                };
                if let Some((next_key, next)) = step {
                    let with = linearized ^ keys[op];
                    if memo.insert(with ^ next_key) {
                        let next = next.or_else(|| self.model.transition(&state, &o.call, &o.ret));
                        let next = next.expect("an append to a string is legal");
                        if memo.len() as u64 > allowance {
                            return (Outcome::Unfinished, tried(&memo));
                        }
                        let previous = match next {
                            Next::Same => None,
                            Next::To(v) => {
                                stack_heap += heap_bytes(&state);
                                Some(std::mem::replace(&mut state, v))
                            }
                        };
                        stack.push(Frame { entry, previous, linearized, state_key });
                        linearized = with;
                        state_key = next_key;
                        lifted[op] = true;
                        self.lift(entry);
                        entry = self.next[0];
                        continue;
                    }
                }
                entry = self.next[entry];
            } else {
                if best.is_none() || stack.len() > best_depth {
                    best_depth = stack.len();
                    best = Some((self.frontier(), state.clone()));
                }
                let Some(Frame { entry: call, previous, linearized: before, state_key: key }) = stack.pop()
                else {
                    let counterexample = match best {
                        Some((frontier, at)) => self.counterexample(frontier, &at, best_depth),
                        None => self.counterexample(self.frontier(), &state, 0),
                    };
                    return (Outcome::Violation(counterexample), tried(&memo));
                };
                if let Some(previous) = previous {
                    stack_heap -= heap_bytes(&previous);
                    state = previous;
                }
                linearized = before;
                state_key = key;
                lifted[self.op_of[call]] = false;
                self.unlift(call);
                entry = self.next[call];
            }
        }
        (Outcome::Linearizable, tried(&memo))
    }
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
            lines: (0, None),
        }
    }

    #[test]
    fn a_read_after_a_completed_write_must_see_it() {
        let ops = [
            op(0, Some(1), Call::Write(Val::Int(1)), Ret::Done),
            op(2, Some(3), Call::Read, Ret::Value(Val::Int(0))),
        ];
        let r = check(&ops, Model::CasRegister, Budget::default());
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
        assert_eq!(check(&ops, Model::CasRegister, Budget::default()).valid, Verdict::Valid);
    }

    #[test]
    fn a_crashed_write_may_take_effect_later_and_keys_are_independent() {
        let mut ops = vec![
            op(0, None, Call::Write(Val::Int(5)), Ret::Unknown),
            op(1, Some(2), Call::Read, Ret::Value(Val::Int(0))),
            op(3, Some(4), Call::Read, Ret::Value(Val::Int(5))),
        ];
        assert_eq!(check(&ops, Model::CasRegister, Budget::default()).valid, Verdict::Valid);
        let mut other = op(5, Some(6), Call::Read, Ret::Value(Val::Int(0)));
        other.key = Some("b".into());
        ops.push(other);
        let r = check(&ops, Model::CasRegister, Budget::default());
        assert_eq!((r.valid, r.keys), (Verdict::Valid, 2));
    }

    #[test]
    fn an_exhausted_budget_gives_unknown() {
        let mut ops: Vec<Operation> =
            (0..12).map(|i| op(i, Some(100 + i), Call::Write(Val::Int(i as i64)), Ret::Done)).collect();
        ops.push(op(200, Some(201), Call::Read, Ret::Value(Val::Int(99))));
        let r = check(&ops, Model::CasRegister, Budget { time: Duration::from_secs(10), bytes: 2_000 });
        assert_eq!(r.valid, Verdict::Unknown);
        assert!(r.reason.unwrap().contains("memory budget"));
    }
}
