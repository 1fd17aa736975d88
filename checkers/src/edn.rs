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

/// The bytes that end a token: whitespace, commas, brackets, quotes and comments.
const ENDS_TOKEN: [bool; 256] = {
    let mut ends = [false; 256];
    let delimiters = b" \t\r\n,()[]{}\";";
    let mut i = 0;
    while i < delimiters.len() {
        ends[delimiters[i] as usize] = true;
        i += 1;
    }
    ends
};

/// The bytes that separate forms: whitespace and commas.
const SPACE: [bool; 256] = {
    let mut space = [false; 256];
    space[b' ' as usize] = true;
    space[b'\t' as usize] = true;
    space[b'\r' as usize] = true;
    space[b'\n' as usize] = true;
    space[b',' as usize] = true;
    space
};

/// The position of the first `"`, `\` or newline in `bytes`, eight bytes at a time.
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of every byte of `w` equal to `b`, and perhaps of bytes after the first
    // such: the lowest is exact.
    let equal = |w: u64, b: u8| {
        let x = w ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut words = bytes.chunks_exact(8);
    for (i, word) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let found = equal(w, b'"') | equal(w, b'\\') | equal(w, b'\n');
        if found != 0 {
            return Some(8 * i + found.trailing_zeros() as usize / 8);
        }
    }
    let done = bytes.len() - words.remainder().len();
    words.remainder().iter().position(|&c| matches!(c, b'"' | b'\\' | b'\n')).map(|p| done + p)
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

    /// The byte offset the reader is at.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The first byte of the next form, after whitespace and comments (`None` at the end).
    #[inline]
    pub fn peek_form(&mut self) -> Option<u8> {
        self.skip();
        self.peek()
    }

    /// Reads past what may stand before the next form: discarded forms (`#_ x`) and tags
    /// (`#inst`), which a form read whole would skip too.
    #[inline]
    pub fn skip_prefixes(&mut self) -> Result<(), EdnError> {
        if self.peek_form() == Some(b'#') { self.skip_prefixes_found() } else { Ok(()) }
    }

    #[cold]
    fn skip_prefixes_found(&mut self) -> Result<(), EdnError> {
        while self.peek_form() == Some(b'#') && self.text.get(self.pos + 1) != Some(&b'{') {
            self.bump();
            if self.peek() == Some(b'_') {
                self.bump();
                self.form()?;
            } else if self.token().is_empty() {
                return self.error("expected a form");
            }
        }
        Ok(())
    }

    /// Enters the collection that the next form opens with `open` (`[`, `(` or `{`): false,
    /// reading nothing, when it does not. Read its items, then [`leave`](Reader::leave) it.
    pub fn enter(&mut self, open: u8) -> Result<bool, EdnError> {
        if self.peek_form() != Some(open) {
            return Ok(false);
        }
        if self.depth >= MAX_DEPTH {
            return self.error(format!("forms nested deeper than {MAX_DEPTH}"));
        }
        self.depth += 1;
        self.bump();
        Ok(true)
    }

    /// True, and the collection entered on line `opened` is left, when the next form is its
    /// `close`; false when another item comes first.
    #[inline]
    pub fn leave(&mut self, close: u8, opened: usize) -> Result<bool, EdnError> {
        match self.peek_form() {
            None => Err(EdnError { line: opened, problem: format!("`{}` is never closed", close as char) }),
            Some(c) if c == close => {
                self.bump();
                self.depth -= 1;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    /// The next form's name, without its colon, when it is a keyword written plainly
    /// (consumed); `None`, reading nothing, otherwise.
    #[inline]
    pub fn keyword(&mut self) -> Option<&'a str> {
        if self.peek_form() != Some(b':') {
            return None;
        }
        let token = self.token();
        Some(&token[1..])
    }

    /// The next form's text when it is a string without escapes (consumed); `None`, reading
    /// nothing, otherwise.
    #[inline]
    pub fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek_form() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let len = string_end(&self.text[start..])?;
        if self.text[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(&self.source[start..start + len])
    }

    fn error<T>(&self, problem: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError { line: self.line, problem: problem.into() })
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    #[inline]
    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    #[inline]
    fn skip(&mut self) {
        loop {
            match self.peek() {
                Some(c) if SPACE[usize::from(c)] => {
                    self.bump();
                }
                Some(b';') => {
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
        let plain = string_end(&self.text[start..]);
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

    /// The token at the reader (up to the next delimiter), consumed.
    #[inline]
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        let mut end = start;
        while end < self.text.len() && !ENDS_TOKEN[usize::from(self.text[end])] {
            end += 1;
        }
        self.pos = end;
        // Tokens end at ASCII delimiters, so the slice is on character boundaries.
        &self.source[start..end]
    }

    fn atom(&mut self) -> Result<Edn, EdnError> {
        let token = self.token();
        if token.is_empty() {
            return self.error("expected a form");
        }
        Ok(atom(token))
    }

    /// The next form when it is an atom (`nil`, a boolean, a number, a keyword or a symbol),
    /// read without the machinery of nesting; `None`, reading nothing, when it is not.
    #[inline]
    pub fn atom_form(&mut self) -> Option<Edn> {
        let first = self.peek_form()?;
        if ENDS_TOKEN[usize::from(first)] || first == b'#' {
            return None;
        }
        Some(atom(self.token()))
    }
}

/// The value of a non-empty atom's token.
fn atom(token: &str) -> Edn {
    match token {
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
                Ok(x) if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') => Edn::Float(x),
                _ => Edn::Symbol(t.to_string()),
            },
        },
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
    fn a_string_ends_at_its_first_quote_backslash_or_newline() {
        for text in ["", "abc", "abcdefgh", "abcdefghijklmnop"] {
            assert_eq!(string_end(text.as_bytes()), None);
            for (i, stop) in (0..text.len()).flat_map(|i| ["\"", "\\", "\n"].map(|s| (i, s))) {
                let with = format!("{}{stop}{}\"", &text[..i], &text[i..]);
                assert_eq!(string_end(with.as_bytes()), Some(i), "{with:?}");
            }
        }
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
