//! The Wing-Gong-Lowe search over one key's operations, on fingerprints.
//!
//! The search never builds a model state: a state is its fingerprint, every value an operation
//! reads or writes is compared by its fingerprint, and an append updates a string's fingerprint
//! without the string. Fingerprints of different values differ unless they collide (about 2^-120
//! per pair), so two outcomes are checked exactly before they are reported: a linearization found
//! is replayed on the real values, step by step, before the key is called linearizable; the
//! state of a counterexample is the replay of the operations linearized before it. A collision
//! that would have turned a violation into "linearizable" is caught by that replay and reported
//! as unknown.

use std::time::Instant;

use super::fingerprint::{self, Append, Fingerprint, Memo};
use super::history::{CallId, History, Key, NONE, RetId};
use super::model::{Model, Val};
use super::{Counterexample, OpView};

/// How a search ended.
pub(super) enum Outcome {
    /// Linearizable; a linearization was replayed on the real values.
    Linearizable,
    /// Not linearizable: where the search got stuck.
    Violation(Counterexample),
    /// The budget was spent, or a fingerprint collision was caught.
    GaveUp(String),
    /// This round's allowance of configurations ran out before a verdict.
    Unfinished,
}

/// A state as the search knows it: its fingerprint, and whether it is a string (only an append
/// needs to know).
#[derive(Clone, Copy)]
struct State {
    key: Fingerprint,
    text: bool,
}

/// What linearizing an operation does to a state, with the values it compares by number.
#[derive(Clone, Copy)]
enum Step {
    /// Legal in that value only, which it keeps (a read).
    Check(u32),
    /// Legal in any state but that value, which it keeps (a compare-and-set that failed).
    Refuse(u32),
    /// Legal in any state, which it keeps (a read without a value).
    Keep,
    /// Legal in any state, which becomes that value (a write).
    Set(u32),
    /// Legal in the first value only, where the state becomes the second (a compare-and-set
    /// that succeeded).
    Swap(u32, u32),
    /// Legal in any state: the first value becomes the second, any other stays (a
    /// compare-and-set of unknown outcome).
    Maybe(u32, u32),
    /// Legal in a string state, which grows by the append numbered so (an append).
    Append(u32),
    /// Never legal (an append of something that is not a string).
    Never,
}

const SEARCH_NONE: u32 = u32::MAX;

/// The memo's capacity at the start, in configurations, if the allowance is larger: it grows
/// as the search needs.
const INITIAL_MEMO: u64 = 1 << 16;

/// One linearized operation on the search's stack: its call entry and what it replaced.
struct Frame {
    entry: u32,
    linearized: Fingerprint,
    state: State,
}

/// The deepest point the search reached: the operations linearized there, in order, and the
/// frontier it could not get past.
#[derive(Default)]
struct Deepest {
    ops: Vec<u32>,
    frontier: Option<(Vec<u32>, u32)>,
    /// The stack was never shallower than this since `ops` was last taken: `ops` up to here
    /// is still the stack's.
    unchanged: usize,
}

/// One key's search, prepared for a round and dropped after it: its operations' steps, and its list of call
/// and return entries in history order (entry 0 is the head), out of which each run lifts an
/// operation's two entries to linearize it, and puts them back to backtrack.
pub(super) struct Search<'a> {
    history: &'a History,
    /// The values the key's operations compare or set, as states: the steps number them.
    values: Vec<State>,
    key: &'a Key,
    model: Model,
    /// The operations searched (indices into the key's), without unknown reads.
    ops: Vec<u32>,
    steps: Vec<Step>,
    appends: Vec<Append>,
    list: List,
    op_of: Vec<u32>,
    is_call: Vec<bool>,
    partner: Vec<u32>,
    /// For an operation that never completed: the one invoked last before it with the same
    /// call and return that never completed either. Two such twins are interchangeable once
    /// both are invoked, so the search linearizes them in invocation order only.
    twin: Vec<u32>,
}

impl<'a> Search<'a> {
    /// The search over `key`'s operations of `history`.
    pub(crate) fn new(history: &'a History, key: &'a Key, model: Model) -> Self {
        // A read whose result is unknown accepts every state and changes none: whatever the
        // other operations' order, it fits into it, so it is left out of the search.
        let ops: Vec<u32> = (0..key.ops.len() as u32)
            .filter(|&i| {
                let o = &key.ops[i as usize];
                !(o.call == CallId::Read && o.ret == RetId::Unknown)
            })
            .collect();
        let op = |i: u32| &key.ops[ops[i as usize] as usize];
        let mut appends = Vec::new();
        // The key's values numbered anew, so that only its own are fingerprinted.
        let mut local = std::collections::HashMap::new();
        let mut values = Vec::new();
        let mut value = |v: u32| -> u32 {
            *local.entry(v).or_insert_with(|| {
                let val = history.value(v);
                values.push(State { key: fingerprint::state(val), text: matches!(val, Val::Str(_)) });
                values.len() as u32 - 1
            })
        };
        let steps = (0..ops.len() as u32)
            .map(|i| {
                let o = op(i);
                let (call, ret) = (o.call, o.ret);
                let call = match call {
                    CallId::Write(v) => CallId::Write(value(v)),
                    CallId::Cas(a, b) => CallId::Cas(value(a), value(b)),
                    other => other,
                };
                let ret = match ret {
                    RetId::Value(v) => RetId::Value(value(v)),
                    other => other,
                };
                match (call, ret) {
                    (CallId::Read, RetId::Value(v)) => Step::Check(v),
                    (CallId::Read, _) => Step::Keep,
                    (CallId::Write(v), _) => Step::Set(v),
                    (CallId::Cas(a, b), RetId::Swapped(true)) => Step::Swap(a, b),
                    (CallId::Cas(a, _), RetId::Swapped(false)) => Step::Refuse(a),
                    (CallId::Cas(a, b), _) => Step::Maybe(a, b),
                    (CallId::Append(v), _) => match history.value(v) {
                        Val::Str(x) => {
                            appends.push(Append::of(x));
                            Step::Append(appends.len() as u32 - 1)
                        }
                        _ => Step::Never,
                    },
                }
            })
            .collect();
        let mut last_pending = std::collections::HashMap::new();
        let mut twin = vec![SEARCH_NONE; ops.len()];
        // The operations are in invocation order.
        for i in (0..ops.len() as u32).filter(|&i| op(i).complete == NONE) {
            if let Some(t) = last_pending.insert((op(i).call, op(i).ret), i) {
                twin[i as usize] = t;
            }
        }
        let mut entries: Vec<(u32, u32, bool)> = Vec::with_capacity(ops.len() * 2);
        for i in 0..ops.len() as u32 {
            entries.push((op(i).invoke, i, true));
            entries.push((op(i).complete, i, false));
        }
        entries.sort_unstable_by_key(|&(time, op, call)| (time, !call, op));
        let n = entries.len() + 1;
        let mut s = Search {
            history,
            values,
            key,
            model,
            ops,
            steps,
            appends,
            list: List { next: vec![SEARCH_NONE; n], prev: vec![SEARCH_NONE; n] },
            op_of: vec![0; n],
            is_call: vec![false; n],
            partner: vec![0; n],
            twin,
        };
        let mut call_entry = vec![0; s.ops.len()];
        for (position, &(_, op, call)) in entries.iter().enumerate() {
            let e = position + 1;
            s.op_of[e] = op;
            s.is_call[e] = call;
            s.list.prev[e] = e as u32 - 1;
            s.list.next[e - 1] = e as u32;
            if call {
                call_entry[op as usize] = e as u32;
            } else {
                s.partner[e] = call_entry[op as usize];
                s.partner[call_entry[op as usize] as usize] = e as u32;
            }
        }
        s
    }

    /// The state after operation `op` in `state`, or `None` when that is illegal.
    fn step(&self, op: u32, state: State) -> Option<State> {
        let value = |v: u32| self.values[v as usize];
        let fingerprint = |v: u32| value(v).key;
        match self.steps[op as usize] {
            Step::Check(v) => (fingerprint(v) == state.key).then_some(state),
            Step::Refuse(v) => (fingerprint(v) != state.key).then_some(state),
            Step::Keep => Some(state),
            Step::Set(v) => Some(value(v)),
            Step::Swap(a, b) => (fingerprint(a) == state.key).then(|| value(b)),
            Step::Maybe(a, b) => Some(if fingerprint(a) == state.key { value(b) } else { state }),
            Step::Append(a) => {
                state.text.then(|| State { key: self.appends[a as usize].apply(state.key), text: true })
            }
            Step::Never => None,
        }
    }

    /// Replays operations `ops` (search indices) in order on the real values, from the
    /// model's initial state: the state they leave, or `None` when one of them is illegal
    /// there (a fingerprint collision misled the search).
    fn replay(&self, ops: impl IntoIterator<Item = u32>) -> Option<Val> {
        let mut state = self.model.initial();
        for i in ops {
            let o = &self.key.ops[self.ops[i as usize] as usize];
            let legal = self.model.apply(&mut state, &self.history.call(o.call), &self.history.ret(o.ret));
            if !legal {
                return None;
            }
        }
        Some(state)
    }

    fn view(&self, op: u32) -> OpView {
        let h = self.history;
        let o = &self.key.ops[self.ops[op as usize] as usize];
        let show = |v: u32| h.value(v).to_string();
        let call = match o.call {
            CallId::Read => "read".to_string(),
            CallId::Write(v) => format!("write {}", show(v)),
            CallId::Cas(a, b) => format!("cas {} {}", show(a), show(b)),
            CallId::Append(v) => format!("append {}", show(v)),
        };
        let ret = match o.ret {
            RetId::Value(v) => format!(" -> {}", show(v)),
            RetId::Swapped(b) => format!(" -> {b}"),
            RetId::Done => " -> ok".to_string(),
            RetId::Unknown => " -> ?".to_string(),
        };
        let position = |n: u32| (n != NONE).then_some(n as usize);
        OpView {
            invoked_at: o.invoke as usize,
            completed_at: position(o.complete),
            process: h.name(o.process).unwrap_or_default().to_string(),
            node: h.name(o.node).map(str::to_string),
            op: format!("{call}{ret}"),
            lines: (o.lines[0] as usize, position(o.lines[1])),
        }
    }

    /// The frontier: the operations of the candidate calls before the first return entry, and
    /// that return's operation (cheap to take: no text is made until it is reported).
    fn frontier(&self, list: &List) -> (Vec<u32>, u32) {
        let mut candidates = Vec::new();
        let mut e = list.next[0];
        while e != SEARCH_NONE && self.is_call[e as usize] {
            candidates.push(self.op_of[e as usize]);
            e = list.next[e as usize];
        }
        let blocking = if e == SEARCH_NONE {
            candidates.pop().expect("a frontier has an operation")
        } else {
            self.op_of[e as usize]
        };
        candidates.retain(|&c| c != blocking);
        (candidates, blocking)
    }

    /// The counterexample of the deepest point, or why there is none.
    fn counterexample(&self, deepest: Deepest) -> Outcome {
        let (candidates, blocking) = deepest.frontier.expect("a search that failed got stuck somewhere");
        match self.replay(deepest.ops.iter().copied()) {
            Some(state) => Outcome::Violation(Counterexample {
                key: None,
                linearized: deepest.ops.len(),
                state: state.to_string(),
                blocking: self.view(blocking),
                candidates: candidates.into_iter().map(|c| self.view(c)).collect(),
            }),
            None => Outcome::GaveUp(COLLISION.into()),
        }
    }

    /// Searches for a linearization until one is found, none can be, the budget is spent,
    /// `allowance` configurations were tried or `stop` says to (then unfinished); returns the
    /// outcome and the configurations tried.
    pub(crate) fn run(
        &self,
        deadline: Instant,
        max_bytes: usize,
        allowance: u64,
        stop: &dyn Fn() -> bool,
    ) -> (Outcome, u64) {
        let mut list = self.list.clone();
        let keys = fingerprint::operation_keys(self.ops.len());
        let slot = std::mem::size_of::<Fingerprint>() + 1;
        let frame = std::mem::size_of::<Frame>();
        let initial = self.model.initial();
        let mut state = State { key: fingerprint::state(&initial), text: matches!(initial, Val::Str(_)) };
        let mut linearized: Fingerprint = 0;
        let mut stack: Vec<Frame> = Vec::new();
        let mut memo =
            Memo::with_capacity_and_hasher(allowance.min(INITIAL_MEMO) as usize, Default::default());
        let mut deepest = Deepest::default();
        let mut steps: u64 = 0;
        let mut lifted = vec![false; self.ops.len()];
        // Every call entry is followed by its return entry, so a scan of the list for a call to
        // linearize meets a return entry before it can run off the list's end.
        let mut entry = list.next[0];
        while list.next[0] != SEARCH_NONE {
            steps += 1;
            if steps % 4096 == 0 {
                let tried = memo.len();
                if stop() {
                    return (Outcome::Unfinished, tried as u64);
                }
                if Instant::now() > deadline {
                    return (
                        Outcome::GaveUp(format!("time budget spent after {tried} states")),
                        tried as u64,
                    );
                }
                // The memo's slots count twice: a resize holds old and new.
                let bytes =
                    2 * slot * memo.capacity() + frame * stack.capacity() + 4 * deepest.ops.capacity();
                if bytes > max_bytes {
                    let why = format!("memory budget of {} MiB spent after {tried} states", max_bytes >> 20);
                    return (Outcome::GaveUp(why), tried as u64);
                }
            }
            let e = entry as usize;
            if self.is_call[e] {
                let op = self.op_of[e];
                let twin = self.twin[op as usize];
                let twin_first = twin != SEARCH_NONE && !lifted[twin as usize];
                if let Some(next) = self.step(op, state).filter(|_| !twin_first) {
                    let with = linearized ^ keys[op as usize];
                    if memo.insert(with ^ next.key) {
                        if memo.len() as u64 > allowance {
                            return (Outcome::Unfinished, memo.len() as u64);
                        }
                        stack.push(Frame { entry, linearized, state });
                        linearized = with;
                        state = next;
                        lifted[op as usize] = true;
                        list.lift(entry, self.partner[e]);
                        entry = list.next[0];
                        continue;
                    }
                }
                entry = list.next[e];
            } else {
                if deepest.frontier.is_none() || stack.len() > deepest.ops.len() {
                    deepest.ops.truncate(deepest.unchanged);
                    deepest
                        .ops
                        .extend(stack[deepest.unchanged..].iter().map(|f| self.op_of[f.entry as usize]));
                    deepest.unchanged = stack.len();
                    deepest.frontier = Some(self.frontier(&list));
                }
                let Some(Frame { entry: call, linearized: before, state: was }) = stack.pop() else {
                    return (self.counterexample(deepest), memo.len() as u64);
                };
                deepest.unchanged = deepest.unchanged.min(stack.len());
                linearized = before;
                state = was;
                lifted[self.op_of[call as usize] as usize] = false;
                list.unlift(call, self.partner[call as usize]);
                entry = list.next[call as usize];
            }
        }
        let order = stack.iter().map(|f| self.op_of[f.entry as usize]);
        let outcome = if self.replay(order).is_some() {
            Outcome::Linearizable
        } else {
            Outcome::GaveUp(COLLISION.into())
        };
        (outcome, memo.len() as u64)
    }
}

/// A doubly linked list of entries by index, `SEARCH_NONE` ending it.
#[derive(Clone)]
struct List {
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl List {
    fn remove(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != SEARCH_NONE {
            self.prev[n as usize] = p;
        }
    }

    fn restore(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != SEARCH_NONE {
            self.prev[n as usize] = e;
        }
    }

    /// Lifts out an operation's call entry and its return entry.
    fn lift(&mut self, call: u32, ret: u32) {
        self.remove(call);
        self.remove(ret);
    }

    /// Puts back what [`lift`](List::lift) took out.
    fn unlift(&mut self, call: u32, ret: u32) {
        self.restore(ret);
        self.restore(call);
    }
}

/// Why a search whose replay failed says unknown.
const COLLISION: &str = "a fingerprint collision misled the search (its result did not replay)";
