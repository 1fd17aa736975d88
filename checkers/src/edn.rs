//! A reader for the subset of EDN that Jepsen histories use: maps, vectors, lists, sets,
//! keywords, strings, integers, floats, `nil`, booleans and symbols; commas are whitespace, `;`
//! starts a comment, `#_` discards the next form, a tagged literal (`#inst "…"`) reads as its value.

use std::fmt;

/// One EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A larger integer, as its canonical decimal digits (`-` first when negative).
    BigInt(String),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A keyword, without its colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `[…]` or `(…)`.
    Seq(Vec<Edn>),
    /// `{…}`, in order.
    Map(Vec<(Edn, Edn)>),
    /// `#{…}`.
    Set(Vec<Edn>),
}

impl Edn {
    /// The value of keyword `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(k, Edn::Keyword(n) if n == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edn::Nil => write!(f, "nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::BigInt(digits) => write!(f, "{digits}N"),
            Edn::Float(x) => write!(f, "{x}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => write!(f, "{s}"),
            Edn::Seq(items) | Edn::Set(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i > 0 { " " } else { "" })?;
                }
                write!(f, "]")
            }
            Edn::Map(entries) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    write!(f, "{}{k} {v}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A syntax error, with the line it is on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct EdnError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Reads EDN forms one after another.
pub struct Reader<'a> {
    source: &'a str,
    text: &'a [u8],
    pos: usize,
    line: usize,
    depth: usize,
}

/// How deep forms may nest: deeper input is refused rather than read by recursion.
pub const MAX_DEPTH: usize = 1000;

/// The canonical decimal digits of an integer token too large for 64 bits (`None` if not one).
pub fn big_integer(token: &str) -> Option<String> {
    let (sign, digits) = match token.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", token.strip_prefix('+').unwrap_or(token)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    Some(if digits.is_empty() { "0".to_string() } else { format!("{sign}{digits}") })
}

impl<'a> Reader<'a> {
    /// A reader over `text`.
    pub fn new(text: &'a str) -> Self {
        Reader { source: text, text: text.as_bytes(), pos: 0, line: 1, depth: 0 }
    }

    /// The line the reader is on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The next form, or `None` at the end.
    pub fn next_form(&mut self) -> Result<Option<Edn>, EdnError> {
        self.skip();
        if self.pos >= self.text.len() {
            return Ok(None);
        }
        self.form().map(Some)
    }

    fn error<T>(&self, problem: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError { line: self.line, problem: problem.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => {
                    self.bump();
                }
                b';' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn form(&mut self) -> Result<Edn, EdnError> {
        self.depth += 1;
        let form = if self.depth > MAX_DEPTH {
            self.error(format!("forms nested deeper than {MAX_DEPTH}"))
        } else {
            self.form_within()
        };
        self.depth -= 1;
        form
    }

    fn form_within(&mut self) -> Result<Edn, EdnError> {
        self.skip();
        let Some(c) = self.peek() else { return self.error("unexpected end of input") };
        match c {
            b'(' => self.seq(b')').map(Edn::Seq),
            b'[' => self.seq(b']').map(Edn::Seq),
            b'{' => self.map(),
            b'#' => {
                self.bump();
                match self.peek() {
                    Some(b'{') => self.seq(b'}').map(Edn::Set),
                    Some(b'_') => {
                        self.bump();
                        self.form()?;
                        self.form()
                    }
                    _ => {
                        self.atom()?;
                        self.form()
                    }
                }
            }
            b'"' => self.string(),
            b')' | b']' | b'}' => self.error(format!("unexpected `{}`", c as char)),
            _ => self.atom(),
        }
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        let opened = self.line;
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip();
            match self.peek() {
                None => {
                    return Err(EdnError {
                        line: opened,
                        problem: format!("`{}` is never closed", close as char),
                    });
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.form()?),
            }
        }
    }

    fn map(&mut self) -> Result<Edn, EdnError> {
        let opened = self.line;
        self.bump();
        let mut entries = Vec::new();
        loop {
            self.skip();
            match self.peek() {
                None => {
                    return Err(EdnError { line: opened, problem: "`}` is never closed".into() });
                }
                Some(b'}') => {
                    self.bump();
                    return Ok(Edn::Map(entries));
                }
                Some(_) => {
                    let key = self.form()?;
                    self.skip();
                    if self.peek() == Some(b'}') {
                        return self.error("a map needs an even number of forms");
                    }
                    entries.push((key, self.form()?));
                }
            }
        }
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        self.bump();
        let start = self.pos;
        let plain = self.text[start..].iter().position(|&c| matches!(c, b'"' | b'\\' | b'\n'));
        if let Some(len) = plain
            && self.text[start + len] == b'"'
        {
            self.pos = start + len + 1;
            return Ok(Edn::Str(self.source[start..start + len].to_string()));
        }
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return self.error("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(c) => out.push(c),
                    None => return self.error("unterminated string"),
                },
                Some(c) => out.push(c),
            }
        }
        String::from_utf8(out).map(Edn::Str).or_else(|_| self.error("a string is not UTF-8"))
    }

    fn atom(&mut self) -> Result<Edn, EdnError> {
        let start = self.pos;
        let len = self.text[start..]
            .iter()
            .position(|&c| {
                matches!(
                    c,
                    b' ' | b'\t'
                        | b'\r'
                        | b'\n'
                        | b','
                        | b'('
                        | b')'
                        | b'['
                        | b']'
                        | b'{'
                        | b'}'
                        | b'"'
                        | b';'
                )
            })
            .unwrap_or(self.text.len() - start);
        self.pos = start + len;
        // Tokens end at ASCII delimiters, so the slice is on character boundaries.
        let token = &self.source[start..self.pos];
        if token.is_empty() {
            return self.error("expected a form");
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            t if t.starts_with(':') => Edn::Keyword(t[1..].to_string()),
            t => match t.trim_end_matches('N').parse::<i64>() {
                Ok(i) => Edn::Int(i),
                Err(_) if big_integer(t.trim_end_matches('N')).is_some() => {
                    Edn::BigInt(big_integer(t.trim_end_matches('N')).expect("checked"))
                }
                Err(_) => match t.trim_end_matches('M').parse::<f64>() {
                    Ok(x) if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') => {
                        Edn::Float(x)
                    }
                    _ => Edn::Symbol(t.to_string()),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jepsen_op_maps_with_comments_commas_and_tags() {
        let text = "[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n ; a comment\n {:process :nemesis :type :info :value nil :time #inst \"2015\" :x #_ 3 \"s\\\"q\"}]";
        let form = Reader::new(text).next_form().unwrap().unwrap();
        let Edn::Seq(ops) = form else { panic!() };
        assert_eq!(ops[0].get("value"), Some(&Edn::Seq(vec![Edn::Int(1), Edn::Int(2)])));
        assert_eq!(ops[1].get("process"), Some(&Edn::Keyword("nemesis".into())));
        assert_eq!(ops[1].get("time"), Some(&Edn::Str("2015".into())));
        assert_eq!(ops[1].get("x"), Some(&Edn::Str("s\"q".into())));
    }

    #[test]
    fn errors_name_the_line() {
        let err = Reader::new("[1 2\n 3").next_form().unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.problem.contains("never closed"));
        let err = Reader::new("{:a 1\n :b}").next_form().unwrap_err();
        assert!(err.problem.contains("even number"), "{err}");
    }
}
