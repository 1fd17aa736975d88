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

use std::collections::HashMap;

use super::model::{Call, Model, Ret, Val};
use crate::edn::{Edn, Reader};
use crate::history::{Op as HistoryOp, OpType, Process};

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

/// One operation, ready for the search.
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

/// A history that could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// One event in a common shape.
struct Event {
    line: usize,
    process: String,
    kind: OpType,
    f: String,
    key: Option<String>,
    value: Edn,
    node: Option<String>,
}

/// Reads `text` in `format` and pairs its events into operations for `model`.
pub fn operations(text: &str, format: Format, model: Model) -> Result<Vec<Operation>, ParseError> {
    let events = match format {
        Format::JepsenLog => jepsen_log(text)?,
        Format::Edn => edn(text)?,
        Format::Jsonl => jsonl(text)?,
    };
    pair(events, format, model)
}

/// A log line's process, type, function and value: the first three separated by tabs or spaces
/// (Jepsen wrote tabs; some copies have spaces), the value the rest of the line.
fn log_fields(rest: &str) -> Option<[&str; 4]> {
    let mut fields = [""; 4];
    let mut rest = rest.trim_start();
    for field in fields.iter_mut().take(3) {
        let end = rest.find([' ', '\t'])?;
        *field = &rest[..end];
        rest = rest[end..].trim_start();
    }
    fields[3] = rest.trim_end();
    (!fields[3].is_empty()).then_some(fields)
}

fn jepsen_log(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let Some(rest) = line.split_once(" - ").map(|(_, r)| r) else { continue };
        let Some(fields) = log_fields(rest) else { continue };
        let process = fields[0].trim().to_string();
        if process.starts_with(':') {
            continue;
        }
        let kind = op_type(fields[1].trim())
            .ok_or_else(|| ParseError { line: line_no, problem: format!("unknown type {:?}", fields[1]) })?;
        let value = Reader::new(fields[3])
            .next_form()
            .map_err(|e| ParseError { line: line_no, problem: e.problem })?
            .unwrap_or(Edn::Nil);
        events.push(Event {
            line: line_no,
            process,
            kind,
            f: fields[2].trim().trim_start_matches(':').to_string(),
            key: None,
            value,
            node: None,
        });
    }
    Ok(events)
}

fn edn(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut reader = Reader::new(text);
    let mut maps = Vec::new();
    loop {
        let line = reader.line();
        match reader.next_form().map_err(|e| ParseError { line: e.line, problem: e.problem })? {
            None => break,
            Some(Edn::Seq(items)) => maps.extend(items.into_iter().map(|m| (line, m))),
            Some(m @ Edn::Map(_)) => maps.push((line, m)),
            Some(other) => {
                return Err(ParseError { line, problem: format!("expected op maps, found {other}") });
            }
        }
    }
    let mut events = Vec::with_capacity(maps.len());
    for (line, m) in maps {
        let shown = || m.to_string();
        let Edn::Map(entries) = &m else {
            return Err(ParseError { line, problem: format!("expected an op map, found {}", shown()) });
        };
        let value_at = entries.iter().position(|(name, _)| matches!(name, Edn::Keyword(n) if n == "value"));
        let field = |k: &str| entries.iter().find(|(name, _)| matches!(name, Edn::Keyword(n) if n == k));
        let field = |k: &str| field(k).map_or(&Edn::Nil, |(_, v)| v);
        let process = match field("process") {
            Edn::Int(p) => p.to_string(),
            Edn::Keyword(k) => format!(":{k}"),
            other => {
                return Err(ParseError {
                    line,
                    problem: format!("process {other} is neither an integer nor a keyword"),
                });
            }
        };
        let kind = match field("type") {
            Edn::Keyword(k) => keyword_type(k),
            _ => None,
        }
        .ok_or_else(|| ParseError { line, problem: format!("op without a known :type: {}", shown()) })?;
        let f = match field("f") {
            Edn::Keyword(k) | Edn::Symbol(k) | Edn::Str(k) => k.clone(),
            other => other.to_string(),
        };
        let key = match field("key") {
            Edn::Nil => None,
            Edn::Str(s) | Edn::Keyword(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let value = match (m, value_at) {
            (Edn::Map(mut entries), Some(i)) => entries.swap_remove(i).1,
            _ => Edn::Nil,
        };
        events.push(Event { line, process, kind, f, key, value, node: None });
    }
    Ok(events)
}

fn jsonl(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let op: HistoryOp =
            serde_json::from_str(line).map_err(|e| ParseError { line: n + 1, problem: e.to_string() })?;
        events.extend(history_event(n + 1, &op)?);
    }
    Ok(events)
}

/// The client operations of this project's history (already read), paired for `model` under the
/// `jsonl` semantics; errors name the line (`index + 1`).
pub fn history_operations(ops: &[HistoryOp], model: Model) -> Result<Vec<Operation>, ParseError> {
    let mut events = Vec::new();
    for op in ops {
        events.extend(history_event(op.index as usize + 1, op)?);
    }
    pair(events, Format::Jsonl, model)
}

fn history_event(line: usize, op: &HistoryOp) -> Result<Option<Event>, ParseError> {
    let p = match &op.process {
        Process::Client(p) => *p,
        Process::Named(name) if ["nemesis", "observer", "harness"].contains(&name.as_str()) => {
            return Ok(None);
        }
        Process::Named(name) => {
            return Err(ParseError {
                line,
                problem: format!(
                    "process {name:?} is neither a client number nor nemesis, observer or harness"
                ),
            });
        }
    };
    let value = json_edn(&op.value).map_err(|problem| ParseError { line, problem })?;
    Ok(Some(Event {
        line,
        process: p.to_string(),
        kind: op.kind,
        f: op.f.clone(),
        key: op.key.clone(),
        value,
        node: op.node.clone(),
    }))
}

/// A JSON value as EDN, exactly: a number that is neither a 64-bit integer nor a float that
/// stands for itself (an integer too large for `u64` arrives as a rounded float) is refused.
fn json_edn(v: &serde_json::Value) -> Result<Edn, String> {
    Ok(match v {
        serde_json::Value::Null => Edn::Nil,
        serde_json::Value::Bool(b) => Edn::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Edn::Int(i),
            (None, Some(u), _) => Edn::BigInt(u.to_string()),
            (None, None, Some(x)) if x.fract() == 0.0 && x.abs() >= 9.2e18 => {
                return Err(format!("the number {n} is too large to compare exactly"));
            }
            (None, None, Some(x)) => Edn::Float(x),
            _ => return Err(format!("the number {n} cannot be read")),
        },
        serde_json::Value::String(s) => Edn::Str(s.clone()),
        serde_json::Value::Array(items) => Edn::Seq(items.iter().map(json_edn).collect::<Result<_, _>>()?),
        serde_json::Value::Object(entries) => Edn::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((Edn::Str(k.clone()), json_edn(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
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

fn op_type(text: &str) -> Option<OpType> {
    match text {
        ":invoke" => Some(OpType::Invoke),
        ":ok" => Some(OpType::Ok),
        ":fail" => Some(OpType::Fail),
        ":info" => Some(OpType::Info),
        _ => None,
    }
}

/// [`val`], taking the value instead of copying its strings.
fn owned_val(e: Edn) -> Val {
    match e {
        Edn::BigInt(digits) => Val::BigInt(digits),
        Edn::Str(s) => Val::Str(s),
        Edn::Keyword(k) => Val::Keyword(k),
        Edn::Seq(items) => Val::List(items.into_iter().map(owned_val).collect()),
        other => val(&other),
    }
}

fn val(e: &Edn) -> Val {
    match e {
        Edn::Nil => Val::Nil,
        Edn::Int(i) => Val::Int(*i),
        Edn::BigInt(digits) => Val::BigInt(digits.clone()),
        Edn::Float(x) => Val::float(*x),
        Edn::Bool(b) => Val::Bool(*b),
        Edn::Str(s) => Val::Str(s.clone()),
        Edn::Keyword(k) => Val::Keyword(k.clone()),
        Edn::Seq(items) => Val::List(items.iter().map(val).collect()),
        other => Val::Other(other.to_string()),
    }
}

fn pair(events: Vec<Event>, format: Format, model: Model) -> Result<Vec<Operation>, ParseError> {
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut ops: Vec<Option<Operation>> = Vec::new();
    for (position, e) in events.into_iter().enumerate() {
        if e.process.starts_with(':') {
            continue;
        }
        if e.kind == OpType::Invoke {
            let call = match (e.f.as_str(), e.value) {
                ("read" | "get", _) => Call::Read,
                ("write" | "put", v) => Call::Write(owned_val(v)),
                ("append", Edn::Str(v)) if model == Model::Kv => Call::Append(Val::Str(v)),
                ("append", v) => {
                    return Err(ParseError {
                        line: e.line,
                        problem: format!("append of {v}: only the kv model appends, and only strings"),
                    });
                }
                ("cas", Edn::Seq(pair)) if pair.len() == 2 => {
                    let [old, new]: [Edn; 2] = pair.try_into().expect("two items");
                    Call::Cas(owned_val(old), owned_val(new))
                }
                (f, v) => {
                    return Err(ParseError {
                        line: e.line,
                        problem: format!("unsupported operation :{f} {v}"),
                    });
                }
            };
            if open.insert(e.process.clone(), ops.len()).is_some() {
                return Err(ParseError {
                    line: e.line,
                    problem: format!("process {} invoked twice without completing", e.process),
                });
            }
            ops.push(Some(Operation {
                invoke: position,
                complete: None,
                process: e.process,
                key: e.key,
                call,
                ret: Ret::Unknown,
                node: e.node,
                lines: (e.line, None),
            }));
            continue;
        }
        let Some(slot) = open.remove(&e.process) else {
            return Err(ParseError {
                line: e.line,
                problem: format!("process {} completes :{} without an invocation", e.process, e.f),
            });
        };
        let op = ops[slot].as_mut().expect("open operations exist");
        if !same_function(&op.call, &e.f) || (e.key.is_some() && op.key.is_some() && e.key != op.key) {
            return Err(ParseError {
                line: e.line,
                problem: format!(
                    "process {} completes :{} on key {:?}, but its invocation (line {}) was {} on key {:?}",
                    e.process,
                    e.f,
                    e.key,
                    op.lines.0,
                    function_name(&op.call),
                    op.key
                ),
            });
        }
        op.node = op.node.take().or(e.node);
        match (e.kind, format) {
            (OpType::Ok, _) => {
                op.complete = Some(position);
                op.lines.1 = Some(e.line);
                op.ret = match &op.call {
                    Call::Read
                        if model == Model::CasRegister && format != Format::Jsonl && e.value == Edn::Nil =>
                    {
                        Ret::Unknown
                    }
                    Call::Read => Ret::Value(if model == Model::Kv && e.value == Edn::Nil {
                        Val::Str(String::new())
                    } else {
                        owned_val(e.value)
                    }),
                    Call::Cas(..) => Ret::Swapped(true),
                    Call::Write(_) | Call::Append(_) => Ret::Done,
                };
            }
            (OpType::Fail, Format::JepsenLog) if matches!(op.call, Call::Cas(..)) => {
                op.complete = Some(position);
                op.lines.1 = Some(e.line);
                op.ret = Ret::Swapped(false);
            }
            (OpType::Fail, _) => ops[slot] = None,
            _ => {}
        }
    }
    Ok(ops.into_iter().flatten().collect())
}

/// True when a completion's `f` names the same operation as the invocation's call.
fn same_function(call: &Call, f: &str) -> bool {
    match call {
        Call::Read => matches!(f, "read" | "get"),
        Call::Write(_) => matches!(f, "write" | "put"),
        Call::Cas(..) => f == "cas",
        Call::Append(_) => f == "append",
    }
}

fn function_name(call: &Call) -> &'static str {
    match call {
        Call::Read => ":read",
        Call::Write(_) => ":write",
        Call::Cas(..) => ":cas",
        Call::Append(_) => ":append",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jepsen_log_semantics_follow_porcupine() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n\
                   INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
                   INFO  jepsen.util - 2\t:invoke\t:write\t3\nINFO  jepsen.util - 2\t:info\t:write\t:timed-out\n";
        let ops = operations(log, Format::JepsenLog, Model::Register).unwrap();
        assert_eq!(ops.len(), 2, "the failed read did not happen");
        assert_eq!(ops[0].ret, Ret::Swapped(false));
        assert_eq!((ops[1].complete, &ops[1].ret), (None, &Ret::Unknown));
        let spaced = log.replace('\t', " ");
        assert_eq!(operations(&spaced, Format::JepsenLog, Model::Register).unwrap(), ops, "spaces as tabs");
    }

    #[test]
    fn edn_semantics_follow_knossos() {
        let text = "[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :fail :f :write :value 1}\n\
                    {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}\n\
                    {:process :nemesis :type :info :f :start :value nil}]";
        let ops = operations(text, Format::Edn, Model::CasRegister).unwrap();
        assert_eq!(ops.len(), 1, "the failed write did not happen");
        assert_eq!(ops[0].ret, Ret::Unknown, "a nil read is a wildcard");
        let err =
            operations("[{:process 0 :type :invoke :f :lock :value 1}]", Format::Edn, Model::CasRegister)
                .unwrap_err();
        assert!(err.problem.contains("unsupported operation :lock"), "{err}");
    }
}
