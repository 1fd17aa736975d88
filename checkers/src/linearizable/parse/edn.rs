//! EDN histories: one vector or list of op maps, or op maps one after another. An op map's
//! fields are read straight into an event: keywords and plain strings are borrowed from the
//! text, and only the value is read as a whole form.

use std::borrow::Cow;

use super::{Event, Pairing, ParseError, Who, keyword_type};
use crate::edn::{Edn, EdnError, Reader};

/// Reads every op map of `text` into `pairing`.
pub(super) fn events(text: &str, pairing: &mut Pairing) -> Result<(), ParseError> {
    let mut r = Reader::new(text);
    loop {
        r.skip_prefixes().map_err(edn_error)?;
        let Some(first) = r.peek_form() else { return Ok(()) };
        let line = r.line();
        if matches!(first, b'[' | b'(') {
            let close = if first == b'[' { b']' } else { b')' };
            r.enter(first).map_err(edn_error)?;
            while !r.skip_prefixes().and_then(|()| r.leave(close, line)).map_err(edn_error)? {
                op_map(text, &mut r, pairing, "an op map")?;
            }
        } else {
            op_map(text, &mut r, pairing, "op maps")?;
        }
    }
}

fn edn_error(e: EdnError) -> ParseError {
    ParseError { line: e.line, problem: e.problem }
}

/// A field's value: borrowed when it is a keyword or a string written plainly, read whole
/// otherwise.
enum Field<'a> {
    Keyword(&'a str),
    Str(&'a str),
    Form(Edn),
}

impl<'a> Field<'a> {
    /// The text of a keyword, a symbol or a string; any other form printed.
    fn text(self) -> Cow<'a, str> {
        match self {
            Field::Keyword(k) | Field::Str(k) => Cow::Borrowed(k),
            Field::Form(Edn::Keyword(k) | Edn::Symbol(k) | Edn::Str(k)) => Cow::Owned(k),
            Field::Form(other) => Cow::Owned(other.to_string()),
        }
    }

    /// The value as a form, for messages.
    fn shown(&self) -> String {
        match self {
            Field::Keyword(k) => format!(":{k}"),
            Field::Str(s) => format!("{s:?}"),
            Field::Form(e) => e.to_string(),
        }
    }
}

fn field<'a>(r: &mut Reader<'a>) -> Result<Field<'a>, EdnError> {
    if let Some(k) = r.keyword() {
        return Ok(Field::Keyword(k));
    }
    if let Some(s) = r.plain_string() {
        return Ok(Field::Str(s));
    }
    if let Some(atom) = r.atom_form() {
        return Ok(Field::Form(atom));
    }
    let line = r.line();
    r.next_form()?.map(Field::Form).ok_or(EdnError { line, problem: "unexpected end of input".into() })
}

/// The fields of an op map that make an event, each the first of its name.
#[derive(Default)]
struct Fields<'a> {
    process: Option<Field<'a>>,
    kind: Option<Field<'a>>,
    f: Option<Field<'a>>,
    key: Option<Field<'a>>,
    value: Option<Field<'a>>,
}

/// Reads the op map at the reader into `pairing`; anything else is an error saying that
/// `expected` was.
fn op_map(text: &str, r: &mut Reader, pairing: &mut Pairing, expected: &str) -> Result<(), ParseError> {
    r.skip_prefixes().map_err(edn_error)?;
    let line = r.line();
    let start = r.offset();
    if !r.enter(b'{').map_err(edn_error)? {
        let form = r.next_form().map_err(edn_error)?.unwrap_or(Edn::Nil);
        return Err(ParseError { line, problem: format!("expected {expected}, found {form}") });
    }
    let mut fields = Fields::default();
    while !r.skip_prefixes().and_then(|()| r.leave(b'}', line)).map_err(edn_error)? {
        let name = match r.keyword() {
            Some(name) => Cow::Borrowed(name),
            None => match r.next_form().map_err(edn_error)? {
                Some(Edn::Keyword(name)) => Cow::Owned(name),
                _ => Cow::Borrowed(""),
            },
        };
        if r.peek_form() == Some(b'}') {
            return Err(ParseError { line: r.line(), problem: "a map needs an even number of forms".into() });
        }
        let slot = match &*name {
            "process" => &mut fields.process,
            "type" => &mut fields.kind,
            "f" => &mut fields.f,
            "key" => &mut fields.key,
            "value" => &mut fields.value,
            _ => {
                field(r).map_err(edn_error)?;
                continue;
            }
        };
        let value = field(r).map_err(edn_error)?;
        slot.get_or_insert(value);
    }
    let shown = || text[start..r.offset()].trim_start().to_string();
    let error = |problem: String| ParseError { line, problem };
    let process = match fields.process {
        Some(Field::Form(Edn::Int(p))) => Some(p),
        Some(Field::Keyword(_)) | Some(Field::Form(Edn::Keyword(_))) => None,
        other => {
            let other = other.map_or("nil".to_string(), |f| f.shown());
            return Err(error(format!("process {other} is neither an integer nor a keyword")));
        }
    };
    let kind = match &fields.kind {
        Some(Field::Keyword(k)) => keyword_type(k),
        Some(Field::Form(Edn::Keyword(k))) => keyword_type(k),
        _ => None,
    }
    .ok_or_else(|| error(format!("op without a known :type: {}", shown())))?;
    let Some(process) = process else {
        pairing.skip();
        return Ok(());
    };
    let f = fields.f.map_or(Cow::Borrowed("nil"), Field::text);
    let key = match fields.key {
        None | Some(Field::Form(Edn::Nil)) => None,
        Some(k) => Some(k.text()),
    };
    let value = match fields.value {
        None => Edn::Nil,
        Some(Field::Keyword(k)) => Edn::Keyword(k.to_string()),
        Some(Field::Str(s)) => Edn::Str(s.to_string()),
        Some(Field::Form(e)) => e,
    };
    pairing.event(Event { line, process: Who::Number(process.into()), kind, f, key, value, node: None })
}
