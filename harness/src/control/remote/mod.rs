//! Running commands on nodes: the [`Remote`] trait, and its SSH implementation in [`ssh`].

pub mod ssh;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::error::Error;

/// Default time-out of one remote command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A command for a node's shell.
#[derive(Clone, Debug)]
pub struct Cmd {
    /// The command line, already quoted for the shell.
    pub line: String,
    /// Bytes fed to its standard input (then closed).
    pub stdin: Option<Bytes>,
    /// How long it may run.
    pub timeout: Duration,
}

impl Cmd {
    /// `program` with `args`, each quoted for the shell.
    pub fn new<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut line = shell_escape::escape(program.into()).into_owned();
        for arg in args {
            line.push(' ');
            line.push_str(&shell_escape::escape(arg.as_ref().to_string().into()));
        }
        Cmd::shell(line)
    }

    /// A shell script, run as it is (the caller quotes what needs quoting).
    pub fn shell(script: impl Into<String>) -> Self {
        Cmd { line: script.into(), stdin: None, timeout: DEFAULT_TIMEOUT }
    }

    /// Feeds `data` to the command's standard input.
    pub fn stdin(mut self, data: impl Into<Bytes>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Sets the time-out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this code.
    Code(u32),
    /// It was killed by this signal.
    Signal(String),
    /// The channel closed without saying.
    Unknown,
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exited with {c}"),
            ExitKind::Signal(s) => write!(f, "was killed by SIG{s}"),
            ExitKind::Unknown => write!(f, "ended without an exit status"),
        }
    }
}

/// What a command printed and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub exit: ExitKind,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// True when it exited with 0.
    pub fn success(&self) -> bool {
        self.exit == ExitKind::Code(0)
    }

    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A node the controller can run commands on.
pub trait Remote: Send + Sync {
    /// The node's name, used in every error.
    fn host(&self) -> &str;

    /// Runs `cmd`; an error means the transport failed or the time-out passed, not that the
    /// command exited non-zero.
    fn exec(&self, cmd: &Cmd) -> impl Future<Output = Result<Output, Error>> + Send;

    /// Runs `cmd` and fails, with host, command and stderr, unless it exits with 0.
    fn run(&self, cmd: &Cmd) -> impl Future<Output = Result<Output, Error>> + Send {
        async move {
            let out = self.exec(cmd).await?;
            if out.success() {
                Ok(out)
            } else {
                Err(Error::Command {
                    host: self.host().to_string(),
                    command: cmd.line.clone(),
                    status: out.exit.to_string(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                })
            }
        }
    }

    /// Runs a short `script` on the fast path, failing unless it exits with 0; its stderr comes
    /// back merged into stdout. By default an ordinary [`Remote::run`]; an implementation may
    /// keep a shell open to save the cost of starting one per command.
    fn run_quick(&self, script: String) -> impl Future<Output = Result<Output, Error>> + Send {
        async move { self.run(&Cmd::shell(script)).await }
    }

    /// Writes `data` to `path` on the node with permissions `mode`, atomically (write, then
    /// rename), creating the directory.
    fn upload(&self, data: Bytes, path: &str, mode: u32) -> impl Future<Output = Result<(), Error>> + Send {
        async move {
            let quoted = shell_escape::escape(path.into()).into_owned();
            let script = format!(
                "mkdir -p \"$(dirname {quoted})\" && cat > {quoted}.part && chmod {mode:o} {quoted}.part && mv -f {quoted}.part {quoted}"
            );
            self.run(&Cmd::shell(script).stdin(data).timeout(Duration::from_secs(120))).await.map(drop)
        }
    }

    /// Reads the file at `path` on the node.
    fn download(&self, path: &str) -> impl Future<Output = Result<Vec<u8>, Error>> + Send {
        async move { self.run(&Cmd::new("cat", [path]).timeout(Duration::from_secs(120))).await.map(|o| o.stdout) }
    }
}
