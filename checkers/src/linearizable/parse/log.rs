//! Jepsen 0.0.x text logs: `… - PROCESS TYPE F VALUE` lines; other lines are skipped.

use std::borrow::Cow;

use super::{Event, Pairing, ParseError, Who, keyword_type};
use crate::edn::{Edn, Reader};

/// Reads line `number` of a log into `pairing`.
pub(super) fn line(number: usize, line: &str, pairing: &mut Pairing) -> Result<(), ParseError> {
    let Some((_, rest)) = line.split_once(" - ") else { return Ok(()) };
    let Some([process, kind, f, value]) = fields(rest) else { return Ok(()) };
    let (process, kind, f) = (process.trim(), kind.trim(), f.trim());
    if process.starts_with(':') {
        return Ok(());
    }
    let kind = kind
        .strip_prefix(':')
        .and_then(keyword_type)
        .ok_or_else(|| ParseError { line: number, problem: format!("unknown type {kind:?}") })?;
    let value = Reader::new(value)
        .next_form()
        .map_err(|e| ParseError { line: number, problem: e.problem })?
        .unwrap_or(Edn::Nil);
    pairing.event(Event {
        line: number,
        process: Who::Name(process),
        kind,
        f: Cow::Borrowed(f.trim_start_matches(':')),
        key: None,
        value,
        node: None,
    })
}

/// A log line's process, type, function and value: the first three separated by tabs or spaces
/// (Jepsen wrote tabs; some copies have spaces), the value the rest of the line.
fn fields(rest: &str) -> Option<[&str; 4]> {
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
