//! A history's operations as the search reads them, grouped by key: every name (process, key,
//! node) and every distinct value stored once, each operation a few 32-bit numbers (44 bytes).

use std::collections::HashMap;
use std::fmt::Write;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::fx::Fx;

use super::model::{Call, Ret, Val};
use super::parse::ParseError;

/// One operation, spelled out: what [`History::from_operations`] takes and
/// [`History::operations`] gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Position of its invocation among the history's events.
    pub invoke: usize,
    /// Position of its completion; `None` when pending.
    pub complete: Option<usize>,
    /// The process that ran it.
    pub process: String,
    /// The key (one partition per key).
    pub key: Option<String>,
    /// What it asked.
    pub call: Call,
    /// What it returned.
    pub ret: Ret,
    /// The node it ran against, when the history says.
    pub node: Option<String>,
    /// The history lines (1-based) of its invocation and of its completion.
    pub lines: (usize, Option<usize>),
}

/// The client operations of one history, ready for [`check`](super::check).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    names: Vec<Box<str>>,
    values: Vec<Val>,
    keys: Vec<Key>,
}

/// Marks an absent name, completion or line.
pub(crate) const NONE: u32 = u32::MAX;

/// One key's operations, in the order of their invocations.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    /// The key's name; [`NONE`] for operations without a key.
    pub name: u32,
    /// Its operations.
    pub ops: Vec<Op>,
}

/// One operation: positions, lines, names and values by number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Op {
    /// Position of its invocation among the history's events.
    pub invoke: u32,
    /// Position of its completion, or [`NONE`] when pending.
    pub complete: u32,
    /// The lines of its invocation and of its completion ([`NONE`] when it has none).
    pub lines: [u32; 2],
    /// Its process's name.
    pub process: u32,
    /// Its node's name, or [`NONE`].
    pub node: u32,
    /// What it asked.
    pub call: CallId,
    /// What it returned.
    pub ret: RetId,
}

/// [`Call`] with its values by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CallId {
    Read,
    Write(u32),
    Cas(u32, u32),
    Append(u32),
}

/// [`Ret`] with its value by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RetId {
    Value(u32),
    Done,
    Swapped(bool),
    Unknown,
}

impl History {
    /// The history of `ops`, which must be in a legal shape: every completion after its
    /// invocation, positions and lines below 2^32 - 1.
    pub fn from_operations(ops: impl IntoIterator<Item = Operation>) -> Result<History, ParseError> {
        let mut b = Builder::default();
        for o in ops {
            let line = o.lines.0;
            let number = |n: usize| {
                u32::try_from(n).ok().filter(|&n| n != NONE).ok_or_else(|| ParseError {
                    line,
                    problem: format!("position or line {n} is beyond what a history may hold"),
                })
            };
            if o.complete.is_some_and(|c| c <= o.invoke) {
                return Err(ParseError {
                    line,
                    problem: "an operation completes before it is invoked".into(),
                });
            }
            let key = o.key.as_deref().map_or(NONE, |k| b.name(k));
            let op = Op {
                invoke: number(o.invoke)?,
                complete: o.complete.map_or(Ok(NONE), number)?,
                lines: [number(o.lines.0)?, o.lines.1.map_or(Ok(NONE), number)?],
                process: b.name(&o.process),
                node: o.node.as_deref().map_or(NONE, |n| b.name(n)),
                call: b.call(o.call),
                ret: b.ret(o.ret),
            };
            let slot = b.key(key);
            b.push(slot, op);
        }
        Ok(b.finish())
    }

    /// The operations spelled out, in the order of their invocations.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops: Vec<Operation> =
            self.keys.iter().flat_map(|k| k.ops.iter().map(|o| self.spell(k, o))).collect();
        ops.sort_by_key(|o| o.invoke);
        ops
    }

    /// Operations in all.
    pub fn len(&self) -> usize {
        self.keys.iter().map(|k| k.ops.len()).sum()
    }

    /// True when the history has no operation.
    pub fn is_empty(&self) -> bool {
        self.keys.iter().all(|k| k.ops.is_empty())
    }

    /// The keys and their operations.
    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The name numbered `n`, or `None` for [`NONE`].
    pub(crate) fn name(&self, n: u32) -> Option<&str> {
        self.names.get(n as usize).map(|s| &**s)
    }

    /// The value numbered `n`.
    pub(crate) fn value(&self, n: u32) -> &Val {
        &self.values[n as usize]
    }

    /// `op`'s call with its values.
    pub(crate) fn call(&self, call: CallId) -> Call {
        let v = |n: u32| self.value(n).clone();
        match call {
            CallId::Read => Call::Read,
            CallId::Write(a) => Call::Write(v(a)),
            CallId::Cas(a, b) => Call::Cas(v(a), v(b)),
            CallId::Append(a) => Call::Append(v(a)),
        }
    }

    /// `op`'s return with its value.
    pub(crate) fn ret(&self, ret: RetId) -> Ret {
        match ret {
            RetId::Value(a) => Ret::Value(self.value(a).clone()),
            RetId::Done => Ret::Done,
            RetId::Swapped(b) => Ret::Swapped(b),
            RetId::Unknown => Ret::Unknown,
        }
    }

    fn spell(&self, key: &Key, o: &Op) -> Operation {
        let position = |n: u32| (n != NONE).then_some(n as usize);
        Operation {
            invoke: o.invoke as usize,
            complete: position(o.complete),
            process: self.name(o.process).unwrap_or_default().to_string(),
            key: self.name(key.name).map(str::to_string),
            call: self.call(o.call),
            ret: self.ret(o.ret),
            node: self.name(o.node).map(str::to_string),
            lines: (o.lines[0] as usize, position(o.lines[1])),
        }
    }
}

/// Builds a [`History`]: numbers names and values as they come, keeps each key's operations
/// apart; an operation may be dropped (one that failed) until [`finish`](Builder::finish).
#[derive(Default)]
pub(crate) struct Builder {
    names: Vec<Box<str>>,
    name_numbers: HashMap<Box<str>, u32, BuildHasherDefault<Fx>>,
    /// The names of the numbers below [`SMALL_NUMBERS`] written so far ([`NONE`]: not yet).
    small_numbers: Vec<u32>,
    values: Vec<Val>,
    /// Values by hash; a value whose hash another value holds is stored apart, unindexed, so
    /// that distinct values never share a number.
    value_numbers: HashMap<u64, u32, BuildHasherDefault<Fx>>,
    /// Each key's name and operations; a dropped operation's invocation line is [`NONE`].
    keys: Vec<(u32, Vec<Op>)>,
    /// The slot of each key by its name's number ([`NONE`]: not yet a key).
    key_slots: Vec<u32>,
    /// The slot of the operations without a key.
    no_key: Option<usize>,
    scratch: String,
}

impl Builder {
    /// The number of `name`.
    pub(crate) fn name(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.name_numbers.get(name) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(name.into());
        self.name_numbers.insert(name.into(), n);
        n
    }

    /// The number of the name that `number` is written as.
    pub(crate) fn number(&mut self, number: i128) -> u32 {
        let small = usize::try_from(number).ok().filter(|&n| n < SMALL_NUMBERS);
        if let Some(&n) = small.and_then(|i| self.small_numbers.get(i)).filter(|&&n| n != NONE) {
            return n;
        }
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        write!(text, "{number}").expect("writing to a String succeeds");
        let n = self.name(&text);
        self.scratch = text;
        if let Some(i) = small {
            if self.small_numbers.len() <= i {
                self.small_numbers.resize(i + 1, NONE);
            }
            self.small_numbers[i] = n;
        }
        n
    }

    /// The name numbered `n`, or `None` for [`NONE`].
    pub(crate) fn name_of(&self, n: u32) -> Option<&str> {
        self.names.get(n as usize).map(|s| &**s)
    }

    /// The number of `v`.
    pub(crate) fn value(&mut self, v: Val) -> u32 {
        let mut hasher = Fx::default();
        v.hash(&mut hasher);
        let n = self.values.len() as u32;
        match self.value_numbers.get(&hasher.finish()) {
            Some(&m) if self.values[m as usize] == v => return m,
            Some(_) => {}
            None => {
                self.value_numbers.insert(hasher.finish(), n);
            }
        }
        self.values.push(v);
        n
    }

    /// `call` with its values numbered.
    pub(crate) fn call(&mut self, call: Call) -> CallId {
        match call {
            Call::Read => CallId::Read,
            Call::Write(a) => CallId::Write(self.value(a)),
            Call::Cas(a, b) => CallId::Cas(self.value(a), self.value(b)),
            Call::Append(a) => CallId::Append(self.value(a)),
        }
    }

    /// `ret` with its value numbered.
    pub(crate) fn ret(&mut self, ret: Ret) -> RetId {
        match ret {
            Ret::Value(a) => RetId::Value(self.value(a)),
            Ret::Done => RetId::Done,
            Ret::Swapped(b) => RetId::Swapped(b),
            Ret::Unknown => RetId::Unknown,
        }
    }

    /// The slot of the key named `name` ([`NONE`]: no key).
    pub(crate) fn key(&mut self, name: u32) -> usize {
        let new = self.keys.len();
        let slot = if name == NONE {
            *self.no_key.get_or_insert(new)
        } else {
            let at = name as usize;
            if self.key_slots.len() <= at {
                self.key_slots.resize(at + 1, NONE);
            }
            if self.key_slots[at] == NONE {
                self.key_slots[at] = new as u32;
            }
            self.key_slots[at] as usize
        };
        if slot == new {
            self.keys.push((name, Vec::new()));
        }
        slot
    }

    /// The name of the key in `slot`.
    pub(crate) fn key_name(&self, slot: usize) -> u32 {
        self.keys[slot].0
    }

    /// Adds `op` to the key in `slot`; returns its index there.
    pub(crate) fn push(&mut self, slot: usize, op: Op) -> usize {
        let ops = &mut self.keys[slot].1;
        ops.push(op);
        ops.len() - 1
    }

    /// The operation at `index` of the key in `slot`.
    pub(crate) fn op(&mut self, slot: usize, index: usize) -> &mut Op {
        &mut self.keys[slot].1[index]
    }

    /// Leaves the operation at `index` of the key in `slot` out of the history.
    pub(crate) fn drop_op(&mut self, slot: usize, index: usize) {
        self.keys[slot].1[index].lines[0] = NONE;
    }

    /// The history, without the operations dropped and the keys left without operations.
    pub(crate) fn finish(self) -> History {
        let keys = self
            .keys
            .into_iter()
            .map(|(name, mut ops)| {
                ops.retain(|o| o.lines[0] != NONE);
                Key { name, ops }
            })
            .filter(|k| !k.ops.is_empty())
            .collect();
        History { names: self.names, values: self.values, keys }
    }
}

/// Process numbers below this are looked up without being written out.
const SMALL_NUMBERS: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: usize, key: &str, call: Call, ret: Ret) -> Operation {
        Operation {
            invoke,
            complete: Some(invoke + 1),
            process: "7".into(),
            key: Some(key.into()),
            call,
            ret,
            node: Some("n1".into()),
            lines: (invoke + 1, Some(invoke + 2)),
        }
    }

    #[test]
    fn operations_come_back_as_they_went_in_with_names_and_values_stored_once() {
        let ops = vec![
            op(0, "a", Call::Write(Val::Str("x".into())), Ret::Done),
            op(2, "b", Call::Read, Ret::Value(Val::Str("x".into()))),
            op(4, "a", Call::Cas(Val::Int(1), Val::Str("x".into())), Ret::Swapped(false)),
        ];
        let history = History::from_operations(ops.clone()).unwrap();
        assert_eq!(history.operations(), ops);
        assert_eq!((history.len(), history.keys().len()), (3, 2));
        assert_eq!(history.values.len(), 2, "\"x\" once, 1 once");
        assert_eq!(history.names.len(), 4, "7, a, n1, b");
    }

    #[test]
    fn a_completion_before_its_invocation_is_refused() {
        let mut bad = op(5, "a", Call::Read, Ret::Value(Val::Nil));
        bad.complete = Some(5);
        assert!(History::from_operations([bad]).unwrap_err().problem.contains("before it is invoked"));
    }
}
