//! This project's JSONL histories: one [`crate::history::Op`] per line; the nemesis's, the
//! observer's and the harness's events are skipped.

use std::borrow::Cow;

use super::{Event, Pairing, ParseError, Who};
use crate::edn::Edn;
use crate::history::{Op, Process};

/// Reads line `number` of a history into `pairing` (a blank line is skipped).
pub(super) fn line(number: usize, line: &str, pairing: &mut Pairing) -> Result<(), ParseError> {
    if line.trim().is_empty() {
        return Ok(());
    }
    let op: Op =
        serde_json::from_str(line).map_err(|e| ParseError { line: number, problem: e.to_string() })?;
    self::op(number, &op, pairing)
}

/// Reads `op`, on line `line`, into `pairing`.
pub(super) fn op(line: usize, op: &Op, pairing: &mut Pairing) -> Result<(), ParseError> {
    let p = match &op.process {
        Process::Client(p) => *p,
        Process::Named(name) if ["nemesis", "observer", "harness"].contains(&name.as_str()) => {
            return Ok(());
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
    pairing.event(Event {
        line,
        process: Who::Number(p.into()),
        kind: op.kind,
        f: Cow::Borrowed(&op.f),
        key: op.key.as_deref().map(Cow::Borrowed),
        value,
        node: op.node.as_deref(),
    })
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
