//! Histories other tools wrote, turned into operations under each source's semantics.
//!
//! * `jepsen-log` (Jepsen 0.0.x text logs, porcupine's etcd data): `:fail` means the operation
//!   did not happen, as everywhere in Jepsen: a failed write or read is dropped; a failed CAS is
//!   one that found another value (returned false), as porcupine reads these logs; `:info` leaves
//!   the operation pending (unknown outcome). Lines that are not op lines (other log output) are
//!   skipped.
//! * `edn` (knossos data, porcupine's kv data): `:fail` operations did not happen and are
//!   dropped; `:info` and never-completed operations are pending; nemesis events (keyword
//!   processes) are ignored; for the `cas-register` model a read of `nil` is a wildcard. A
//!   process must be an integer or a keyword.
//! * `jsonl` (this project's histories): as `edn`, with `null` reads meaning absent (never a
//!   wildcard, whatever the model); a process is
//!   a client number or `nemesis`, `observer`, `harness`.
//!
//! Values are compared exactly (see [`Val`]): integers beyond 64 bits keep their digits, and a
//! JSON number that only a float could hold is refused rather than rounded. In every format, a
//! completion without an invocation, or whose `f` or key differs from its invocation's, is refused
//! with its line.
//!
//! A pending operation may take effect at any point after its invocation; since its outcome is
//! unknown it is always legal, so it constrains nothing but the state it leaves.

mod edn;
mod jsonl;
mod log;

use std::borrow::Cow;
use std::io::BufRead;

use super::history::{Builder, CallId, History, NONE, Op, RetId};
use super::model::{Call, Model, Val};
use crate::edn::Edn;
use crate::history::{Op as HistoryOp, OpType};

/// A history format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Jepsen 0.0.x text log lines.
    JepsenLog,
    /// One EDN vector or list of op maps, or one map per line.
    Edn,
    /// This project's JSONL history.
    Jsonl,
}

impl Format {
    /// Parses `jepsen-log`, `edn` or `jsonl`.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "jepsen-log" => Some(Format::JepsenLog),
            "edn" => Some(Format::Edn),
            "jsonl" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// A history that could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// 1-based line (0 when the history could not be read at all).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Reads `text` in `format` and pairs its events into operations for `model`.
pub fn operations(text: &str, format: Format, model: Model) -> Result<History, ParseError> {
    let mut pairing = Pairing::new(format, model);
    match format {
        Format::JepsenLog => {
            text.lines().enumerate().try_for_each(|(n, l)| log::line(n + 1, l, &mut pairing))?
        }
        Format::Edn => edn::events(text, &mut pairing)?,
        Format::Jsonl => {
            text.lines().enumerate().try_for_each(|(n, l)| jsonl::line(n + 1, l, &mut pairing))?
        }
    }
    Ok(pairing.finish())
}

/// As [`operations`], reading from `input` line by line: the line formats (`jepsen-log`,
/// `jsonl`) never hold more than a line of the text; `edn` reads all of it first.
pub fn read_operations(mut input: impl BufRead, format: Format, model: Model) -> Result<History, ParseError> {
    let unreadable = |e: std::io::Error| ParseError { line: 0, problem: format!("cannot be read: {e}") };
    let per_line = match format {
        Format::JepsenLog => log::line,
        Format::Jsonl => jsonl::line,
        Format::Edn => {
            let mut text = String::new();
            input.read_to_string(&mut text).map_err(unreadable)?;
            return operations(&text, format, model);
        }
    };
    let mut pairing = Pairing::new(format, model);
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if input.read_line(&mut line).map_err(unreadable)? == 0 {
            return Ok(pairing.finish());
        }
        number += 1;
        per_line(number, line.trim_end_matches(['\n', '\r']), &mut pairing)?;
    }
}

/// The client operations of this project's history (already read), paired for `model` under the
/// `jsonl` semantics; errors name the line (`index + 1`).
pub fn history_operations<'a>(
    ops: impl IntoIterator<Item = &'a HistoryOp>,
    model: Model,
) -> Result<History, ParseError> {
    let mut collector = Collector::new(model);
    ops.into_iter().for_each(|op| collector.push(op));
    collector.finish()
}

/// [`history_operations`] as a fold: this project's operations paired as they come, so that a
/// history read once from its file needs memory only for the search's compact form of it.
pub struct Collector {
    pairing: Pairing,
    error: Option<ParseError>,
}

impl Collector {
    /// A fold that pairs operations for `model`.
    pub fn new(model: Model) -> Collector {
        Collector { pairing: Pairing::new(Format::Jsonl, model), error: None }
    }

    /// Takes the next operation in; after the first that cannot be paired, the rest are ignored.
    pub fn push(&mut self, op: &HistoryOp) {
        if self.error.is_none() {
            self.error = jsonl::op(op.index as usize + 1, op, &mut self.pairing).err();
        }
    }

    /// The paired operations, or the first problem met.
    pub fn finish(self) -> Result<History, ParseError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.pairing.finish()),
        }
    }
}

/// Who an event is by.
enum Who<'a> {
    /// A client process by number.
    Number(i128),
    /// A client process by name.
    Name(&'a str),
}

/// One client event in a common shape.
struct Event<'a> {
    line: usize,
    process: Who<'a>,
    kind: OpType,
    f: Cow<'a, str>,
    key: Option<Cow<'a, str>>,
    value: Edn,
    node: Option<&'a str>,
}

/// Pairs events into operations as they come, each invocation with its process's completion.
struct Pairing {
    format: Format,
    model: Model,
    history: Builder,
    /// Per process (by name number), its open invocation: key slot and index there.
    open: Vec<Option<(usize, usize)>>,
    /// Events seen, clients' or not: the next event's position.
    position: usize,
}

impl Pairing {
    fn new(format: Format, model: Model) -> Self {
        Pairing { format, model, history: Builder::default(), open: Vec::new(), position: 0 }
    }

    /// An event that is not a client's, which takes a position in the history all the same.
    fn skip(&mut self) {
        self.position += 1;
    }

    fn event(&mut self, e: Event) -> Result<(), ParseError> {
        let position = self.position;
        self.position += 1;
        let error = |problem: String| ParseError { line: e.line, problem };
        let number = |n: usize| {
            u32::try_from(n)
                .ok()
                .filter(|&n| n != NONE)
                .ok_or_else(|| error(format!("more than {} lines or events", NONE - 1)))
        };
        let process = match e.process {
            Who::Number(n) => self.history.number(n),
            Who::Name(name) => self.history.name(name),
        };
        if self.open.len() <= process as usize {
            self.open.resize(process as usize + 1, None);
        }
        let shown = |history: &Builder| history.name_of(process).unwrap_or_default().to_string();
        if e.kind == OpType::Invoke {
            let call = match (&*e.f, e.value) {
                ("read" | "get", _) => Call::Read,
                ("write" | "put", v) => Call::Write(owned_val(v)),
                ("append", Edn::Str(v)) if self.model == Model::Kv => Call::Append(Val::Str(v)),
                ("append", v) => {
                    return Err(error(format!("append of {v}: only the kv model appends, and only strings")));
                }
                ("cas", Edn::Seq(pair)) if pair.len() == 2 => {
                    let [old, new]: [Edn; 2] = pair.try_into().expect("two items");
                    Call::Cas(owned_val(old), owned_val(new))
                }
                (f, v) => return Err(error(format!("unsupported operation :{f} {v}"))),
            };
            if self.open[process as usize].is_some() {
                return Err(error(format!(
                    "process {} invoked twice without completing",
                    shown(&self.history)
                )));
            }
            let key = e.key.as_deref().map_or(NONE, |k| self.history.name(k));
            let op = Op {
                invoke: number(position)?,
                complete: NONE,
                lines: [number(e.line)?, NONE],
                process,
                node: e.node.map_or(NONE, |n| self.history.name(n)),
                call: self.history.call(call),
                ret: RetId::Unknown,
            };
            let slot = self.history.key(key);
            let index = self.history.push(slot, op);
            self.open[process as usize] = Some((slot, index));
            return Ok(());
        }
        let Some((slot, index)) = self.open[process as usize].take() else {
            return Err(error(format!(
                "process {} completes :{} without an invocation",
                shown(&self.history),
                e.f
            )));
        };
        let op = *self.history.op(slot, index);
        let key = self.history.name_of(self.history.key_name(slot));
        if !same_function(op.call, &e.f) || e.key.as_deref().is_some_and(|k| key.is_some_and(|o| o != k)) {
            return Err(error(format!(
                "process {} completes :{} on key {:?}, but its invocation (line {}) was {} on key {:?}",
                shown(&self.history),
                e.f,
                e.key.as_deref(),
                op.lines[0],
                function_name(op.call),
                key
            )));
        }
        let completed = |history: &mut Builder, ret: RetId| -> Result<(), ParseError> {
            let slot_op = history.op(slot, index);
            slot_op.complete = number(position)?;
            slot_op.lines[1] = number(e.line)?;
            slot_op.ret = ret;
            Ok(())
        };
        if let (Some(node), NONE) = (e.node, op.node) {
            let node = self.history.name(node);
            self.history.op(slot, index).node = node;
        }
        match (e.kind, self.format) {
            (OpType::Ok, _) => {
                let ret = match op.call {
                    CallId::Read
                        if self.model == Model::CasRegister
                            && self.format != Format::Jsonl
                            && e.value == Edn::Nil =>
                    {
                        RetId::Unknown
                    }
                    CallId::Read => {
                        let v = if self.model == Model::Kv && e.value == Edn::Nil {
                            Val::Str(String::new())
                        } else {
                            owned_val(e.value)
                        };
                        RetId::Value(self.history.value(v))
                    }
                    CallId::Cas(..) => RetId::Swapped(true),
                    CallId::Write(_) | CallId::Append(_) => RetId::Done,
                };
                completed(&mut self.history, ret)?;
            }
            (OpType::Fail, Format::JepsenLog) if matches!(op.call, CallId::Cas(..)) => {
                completed(&mut self.history, RetId::Swapped(false))?;
            }
            (OpType::Fail, _) => self.history.drop_op(slot, index),
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> History {
        self.history.finish()
    }
}

/// The type a keyword without its colon names (`invoke`, `ok`, `fail`, `info`).
fn keyword_type(name: &str) -> Option<OpType> {
    match name {
        "invoke" => Some(OpType::Invoke),
        "ok" => Some(OpType::Ok),
        "fail" => Some(OpType::Fail),
        "info" => Some(OpType::Info),
        _ => None,
    }
}

/// An EDN value as a model's value, taking its strings instead of copying them.
fn owned_val(e: Edn) -> Val {
    match e {
        Edn::Nil => Val::Nil,
        Edn::Int(i) => Val::Int(i),
        Edn::Float(x) => Val::float(x),
        Edn::Bool(b) => Val::Bool(b),
        Edn::BigInt(digits) => Val::BigInt(digits),
        Edn::Str(s) => Val::Str(s),
        Edn::Keyword(k) => Val::Keyword(k),
        Edn::Seq(items) => Val::List(items.into_iter().map(owned_val).collect()),
        other @ (Edn::Symbol(_) | Edn::Map(_) | Edn::Set(_)) => Val::Other(other.to_string()),
    }
}

/// True when a completion's `f` names the same operation as the invocation's call.
fn same_function(call: CallId, f: &str) -> bool {
    match call {
        CallId::Read => matches!(f, "read" | "get"),
        CallId::Write(_) => matches!(f, "write" | "put"),
        CallId::Cas(..) => f == "cas",
        CallId::Append(_) => f == "append",
    }
}

fn function_name(call: CallId) -> &'static str {
    match call {
        CallId::Read => ":read",
        CallId::Write(_) => ":write",
        CallId::Cas(..) => ":cas",
        CallId::Append(_) => ":append",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizable::Ret;

    #[test]
    fn jepsen_log_semantics_follow_porcupine() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n\
                   INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
                   INFO  jepsen.util - 2\t:invoke\t:write\t3\nINFO  jepsen.util - 2\t:info\t:write\t:timed-out\n";
        let ops = operations(log, Format::JepsenLog, Model::Register).unwrap().operations();
        assert_eq!(ops.len(), 2, "the failed read did not happen");
        assert_eq!(ops[0].ret, Ret::Swapped(false));
        assert_eq!((ops[1].complete, &ops[1].ret), (None, &Ret::Unknown));
        let spaced = log.replace('\t', " ");
        let again = operations(&spaced, Format::JepsenLog, Model::Register).unwrap().operations();
        assert_eq!(again, ops, "spaces as tabs");
        let streamed = read_operations(log.as_bytes(), Format::JepsenLog, Model::Register).unwrap();
        assert_eq!(streamed.operations(), ops, "read line by line");
    }

    #[test]
    fn edn_semantics_follow_knossos() {
        let text = "[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :fail :f :write :value 1}\n\
                    {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}\n\
                    {:process :nemesis :type :info :f :start :value nil}]";
        let ops = operations(text, Format::Edn, Model::CasRegister).unwrap().operations();
        assert_eq!(ops.len(), 1, "the failed write did not happen");
        assert_eq!(ops[0].ret, Ret::Unknown, "a nil read is a wildcard");
        assert_eq!((ops[0].invoke, ops[0].complete, ops[0].lines), (2, Some(3), (2, Some(2))));
        let err =
            operations("[{:process 0 :type :invoke :f :lock :value 1}]", Format::Edn, Model::CasRegister)
                .unwrap_err();
        assert!(err.problem.contains("unsupported operation :lock"), "{err}");
    }

    #[test]
    fn edn_maps_one_per_line_are_read_in_any_spelling_with_their_own_lines() {
        let text = "{:process 3, :type :invoke, :f :append, :key \"k\", :value \"x 1 y\"}\n\
                    ; a comment\n\
                    {:value \"x 1 y\" :time 7 :f append :type :ok :process 3 :key :k #_ :ignored}\n\
                    {:process 4, :type :invoke, :f :get, :key 5, :value nil}\n\
                    {:process 4, :type :ok, :f :get, :key \"5\", :value \"esc\\\"aped\"}\n";
        let ops = operations(text, Format::Edn, Model::Kv).unwrap().operations();
        assert_eq!(ops.len(), 2);
        assert_eq!(
            (ops[0].key.as_deref(), &ops[0].call),
            (Some("k"), &Call::Append(Val::Str("x 1 y".into())))
        );
        assert_eq!((ops[0].lines, ops[0].ret.clone()), ((1, Some(3)), Ret::Done));
        assert_eq!(
            (ops[1].key.as_deref(), &ops[1].ret),
            (Some("5"), &Ret::Value(Val::Str("esc\"aped".into())))
        );
        assert_eq!(ops[1].lines, (4, Some(5)));
        let err = operations("{:process 1 :type :begin :f :get}", Format::Edn, Model::Kv).unwrap_err();
        assert!(err.problem.contains("op without a known :type: {:process 1 :type :begin :f :get}"), "{err}");
        let err = operations("[{:process :nemesis :type :info} 7]", Format::Edn, Model::Kv).unwrap_err();
        assert!(err.problem.contains("expected an op map, found 7"), "{err}");
    }
}
