//! What a run writes down as it goes: the history (every client operation, fault, observer
//! round and harness event, timed from the run's start) and the harness's own log.
//!
//! A history on file is flushed in chunks while the test runs and before every fault, so a
//! crash leaves a readable prefix.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use checkers::history::{HistoryWriter, Op, OpType, Process};
use tokio::time::Instant;

use crate::error::Error;

/// The history being written, shared by every task of the run.
pub struct Recorder {
    sink: Mutex<Sink>,
    start: Instant,
}

enum Sink {
    File(HistoryWriter, PathBuf),
    Memory(Vec<Op>),
}

impl Recorder {
    /// A history written to `path`, timed from now.
    pub fn to_file(path: &Path) -> Result<Self, Error> {
        let writer = HistoryWriter::create(path).map_err(|e| Error::file(path, e))?;
        Ok(Recorder { sink: Mutex::new(Sink::File(writer, path.into())), start: Instant::now() })
    }

    /// A history kept in memory, timed from now.
    pub fn in_memory() -> Self {
        Recorder { sink: Mutex::new(Sink::Memory(Vec::new())), start: Instant::now() }
    }

    /// When the history's time zero was.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// An operation stamped with the time since the start (not yet written).
    pub fn record(&self, process: Process, kind: OpType, f: &str, value: serde_json::Value) -> Op {
        Op::new(self.start.elapsed().as_nanos() as u64, process, kind, f).with_value(value)
    }

    /// Appends `op`, numbering it.
    pub fn write(&self, mut op: Op) -> Result<(), Error> {
        match &mut *self.sink.lock().expect("not poisoned") {
            Sink::File(writer, path) => writer.append(op).map(drop).map_err(|e| Error::file(&*path, e)),
            Sink::Memory(ops) => {
                op.index = ops.len() as u64;
                ops.push(op);
                Ok(())
            }
        }
    }

    /// Appends a harness event `f` with `value`, stamped now.
    pub fn harness(&self, f: &str, value: serde_json::Value) -> Result<(), Error> {
        self.write(self.record(Process::harness(), OpType::Info, f, value))
    }

    /// Writes what is buffered to the file.
    pub fn flush(&self) -> Result<(), Error> {
        match &mut *self.sink.lock().expect("not poisoned") {
            Sink::File(writer, path) => writer.flush().map_err(|e| Error::file(&*path, e)),
            Sink::Memory(_) => Ok(()),
        }
    }

    /// The history kept in memory (empty for one written to a file).
    pub fn into_ops(self) -> Vec<Op> {
        match self.sink.into_inner().expect("not poisoned") {
            Sink::File(..) => Vec::new(),
            Sink::Memory(ops) => ops,
        }
    }
}

/// A line-per-event log of the harness itself (`harness.log`), echoed to stderr.
pub struct RunLog {
    file: Option<Mutex<std::fs::File>>,
    start: Instant,
}

impl RunLog {
    /// A log written to `path` and echoed to stderr.
    pub fn to_file(path: &Path) -> Result<Self, Error> {
        let file = std::fs::File::create(path).map_err(|e| Error::file(path, e))?;
        Ok(RunLog { file: Some(Mutex::new(file)), start: Instant::now() })
    }

    /// A log that says nothing (runs by the thousand).
    pub fn quiet() -> Self {
        RunLog { file: None, start: Instant::now() }
    }

    /// Writes `line`, stamped with the time since the log began.
    pub fn say(&self, line: &str) {
        let Some(file) = &self.file else { return };
        let stamped = format!("[{:>8.3}s] {line}", self.start.elapsed().as_secs_f64());
        eprintln!("{stamped}");
        use std::io::Write;
        let _ = writeln!(file.lock().expect("not poisoned"), "{stamped}");
    }
}
