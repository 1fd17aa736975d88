//! The history: one JSON object per line. Client operations follow Jepsen's model — an `invoke`
//! then exactly one completion: `ok` (it happened), `fail` (it certainly did not) or `info`
//! (unknown: it may happen at any later time). The nemesis, the observer and the harness write
//! their own events into the same stream.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who did an operation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client process, by number.
    Client(u64),
    /// `"nemesis"`, `"observer"` or `"harness"`.
    Named(String),
}

impl Process {
    /// True for the nemesis (compares without allocating).
    pub fn is_nemesis(&self) -> bool {
        matches!(self, Process::Named(n) if n == "nemesis")
    }

    /// True for the observer.
    pub fn is_observer(&self) -> bool {
        matches!(self, Process::Named(n) if n == "observer")
    }

    /// True for the harness.
    pub fn is_harness(&self) -> bool {
        matches!(self, Process::Named(n) if n == "harness")
    }

    /// The nemesis.
    pub fn nemesis() -> Self {
        Process::Named("nemesis".into())
    }

    /// The observer, which polls every node's status.
    pub fn observer() -> Self {
        Process::Named("observer".into())
    }

    /// The harness itself (phases of the run).
    pub fn harness() -> Self {
        Process::Named("harness".into())
    }

    /// True for a client process.
    pub fn is_client(&self) -> bool {
        matches!(self, Process::Client(_))
    }
}

/// An operation's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// Started.
    Invoke,
    /// Completed: it happened.
    Ok,
    /// Completed: it certainly did not happen.
    Fail,
    /// Completed with an unknown outcome, or an event that is not a client operation.
    Info,
}

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, from 0.
    pub index: u64,
    /// Nanoseconds since the test started (monotonic).
    pub time: u64,
    /// Who did it.
    pub process: Process,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The function: `read`, `write`, `cas`, `append`; `partition`, `kill`, …; `observe`; phases.
    pub f: String,
    /// The key, for client operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value (the argument at invoke, the result at completion; event details otherwise).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub value: serde_json::Value,
    /// Why it failed, or why its outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node it ran against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Op {
    /// An operation at `time` (ns) with no key, value, error or node; `index` is set on append.
    pub fn new(time: u64, process: Process, kind: OpType, f: &str) -> Op {
        Op {
            index: 0,
            time,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value: serde_json::Value::Null,
            error: None,
            node: None,
        }
    }

    /// The same operation with `value`.
    pub fn with_value(mut self, value: serde_json::Value) -> Op {
        self.value = value;
        self
    }
}

impl OpType {
    /// `ok`, `fail` or `info` for a completion (`invoke` for an invocation).
    pub fn name(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }
}

/// The nemesis operations that start a fault, as the history's `f` names them.
pub const FAULTS: [&str; 5] = ["partition", "kill", "pause", "clock", "packet"];

/// The fault that the nemesis operation `f` undoes (`heal` undoes `partition`, `start` a `kill`,
/// `resume` a `pause`, `reset-clock` a `clock`, `heal-packet` a `packet`); `None` for any other.
pub fn undoes(f: &str) -> Option<&'static str> {
    match f {
        "heal" => Some("partition"),
        "start" => Some("kill"),
        "resume" => Some("pause"),
        "reset-clock" => Some("clock"),
        "heal-packet" => Some("packet"),
        _ => None,
    }
}

/// Every client invocation with its process and its completion (`None` when it never
/// completed), in the order of the invocations.
pub fn client_pairs(ops: &[Op]) -> Vec<(u64, &Op, Option<&Op>)> {
    let mut pairs: Vec<(u64, &Op, Option<&Op>)> = Vec::new();
    let mut open: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for op in ops {
        let Process::Client(p) = op.process else { continue };
        if op.kind == OpType::Invoke {
            open.insert(p, pairs.len());
            pairs.push((p, op, None));
        } else if let Some(at) = open.remove(&p) {
            pairs[at].2 = Some(op);
        }
    }
    pairs
}

/// Problems reading or writing a history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The history file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A complete line is not an operation.
    #[error("{path}:{line}: not a history operation: {problem}")]
    Parse {
        /// The history file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// Appends operations to a JSONL file, numbering them, and flushes in chunks so that a crash
/// loses at most the last chunk and never leaves a line that a reader would misread.
pub struct HistoryWriter {
    path: PathBuf,
    out: BufWriter<File>,
    next_index: u64,
    unflushed: usize,
}

/// Operations buffered before a flush.
const CHUNK: usize = 256;

impl HistoryWriter {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<Self, HistoryError> {
        let file = File::create(path).map_err(|source| HistoryError::Io { path: path.into(), source })?;
        Ok(HistoryWriter { path: path.into(), out: BufWriter::new(file), next_index: 0, unflushed: 0 })
    }

    /// Appends `op` with the next index (its own `index` is overwritten); returns that index.
    pub fn append(&mut self, mut op: Op) -> Result<u64, HistoryError> {
        op.index = self.next_index;
        self.next_index += 1;
        let line = serde_json::to_string(&op).expect("an op serializes");
        writeln!(self.out, "{line}")
            .map_err(|source| HistoryError::Io { path: self.path.clone(), source })?;
        self.unflushed += 1;
        if self.unflushed >= CHUNK {
            self.flush()?;
        }
        Ok(op.index)
    }

    /// Writes everything buffered to the file.
    pub fn flush(&mut self) -> Result<(), HistoryError> {
        self.unflushed = 0;
        self.out.flush().map_err(|source| HistoryError::Io { path: self.path.clone(), source })
    }

    /// Operations written so far.
    pub fn len(&self) -> u64 {
        self.next_index
    }

    /// True before the first operation.
    pub fn is_empty(&self) -> bool {
        self.next_index == 0
    }
}

/// The operations of a history file, one line at a time: memory for one line, however long the
/// history. A last line cut short by a crash ends the operations (see [`Reader::truncated`]);
/// any other bad line is an error naming its line number, after which the reader ends.
pub struct Reader {
    path: PathBuf,
    reader: BufReader<File>,
    line: String,
    number: usize,
    truncated: bool,
    done: bool,
}

impl Reader {
    /// Opens the history at `path`.
    pub fn open(path: &Path) -> Result<Reader, HistoryError> {
        let file = File::open(path).map_err(|source| HistoryError::Io { path: path.into(), source })?;
        Ok(Reader {
            path: path.into(),
            reader: BufReader::with_capacity(1 << 16, file),
            line: String::new(),
            number: 0,
            truncated: false,
            done: false,
        })
    }

    /// True once the reader has met a last line cut short, which it skipped.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl Iterator for Reader {
    type Item = Result<Op, HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.line.clear();
            let n = match self.reader.read_line(&mut self.line) {
                Ok(n) => n,
                Err(source) => {
                    self.done = true;
                    return Some(Err(HistoryError::Io { path: self.path.clone(), source }));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            self.number += 1;
            let complete = self.line.ends_with('\n');
            let text = self.line.trim();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<Op>(text) {
                Ok(op) => return Some(Ok(op)),
                Err(_) if !complete => {
                    self.truncated = true;
                    self.done = true;
                }
                Err(e) => {
                    self.done = true;
                    let problem = e.to_string();
                    return Some(Err(HistoryError::Parse {
                        path: self.path.clone(),
                        line: self.number,
                        problem,
                    }));
                }
            }
        }
        None
    }
}

/// A recorded history that a check may read from its start as often as it needs: in memory, or
/// streamed from its file so that a history larger than memory can be checked.
pub trait Source {
    /// Calls `each` with every operation, in order.
    fn each(&self, each: &mut dyn FnMut(&Op)) -> Result<(), HistoryError>;
}

impl Source for [Op] {
    fn each(&self, each: &mut dyn FnMut(&Op)) -> Result<(), HistoryError> {
        self.iter().for_each(each);
        Ok(())
    }
}

/// A history file as a [`Source`]: every reading streams it from disk again.
pub struct HistoryFile(pub PathBuf);

impl Source for HistoryFile {
    fn each(&self, each: &mut dyn FnMut(&Op)) -> Result<(), HistoryError> {
        for op in Reader::open(&self.0)? {
            each(&op?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(f: &str) -> Op {
        Op {
            index: 99,
            time: 5,
            process: Process::Client(3),
            kind: OpType::Invoke,
            f: f.into(),
            key: Some("k".into()),
            value: serde_json::json!(1),
            error: None,
            node: Some("n1".into()),
        }
    }

    #[test]
    fn ops_round_trip_with_jepsen_field_names() {
        let text = serde_json::to_string(&op("write")).unwrap();
        assert!(text.contains(r#""type":"invoke""#) && text.contains(r#""process":3"#), "{text}");
        let nemesis: Op =
            serde_json::from_str(r#"{"index":1,"time":2,"process":"nemesis","type":"info","f":"heal"}"#)
                .unwrap();
        assert_eq!(nemesis.process, Process::nemesis());
    }

    #[test]
    fn a_truncated_last_line_is_skipped_and_other_bad_lines_are_errors() {
        let dir = std::env::temp_dir().join(format!("history-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let mut w = HistoryWriter::create(&path).unwrap();
        for f in ["a", "b", "c"] {
            w.append(op(f)).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let mut text = std::fs::read_to_string(&path).unwrap();
        let ops: Vec<Op> = Reader::open(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(ops.iter().map(|o| o.index).collect::<Vec<_>>(), [0, 1, 2]);
        text.push_str(r#"{"index":3,"time":9,"proc"#);
        std::fs::write(&path, &text).unwrap();
        let mut reader = Reader::open(&path).unwrap();
        let ops: Vec<Op> = reader.by_ref().map(Result::unwrap).collect();
        assert!(reader.truncated() && ops.len() == 3);
        std::fs::write(&path, text.replace(r#"{"index":3,"time":9,"proc"#, "garbage\n")).unwrap();
        let err = Reader::open(&path).unwrap().find_map(Result::err).unwrap().to_string();
        assert!(err.contains("history.jsonl:4"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
