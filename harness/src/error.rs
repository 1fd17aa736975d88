//! The harness crate's error type.

use std::path::PathBuf;

/// Everything the controller can fail at. Every remote error names the host and the command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The group could not be started or controlled through `nodes`.
    #[error(transparent)]
    Nodes(#[from] nodes::error::Error),
    /// The group never agreed on a first master.
    #[error("the group elected no single master within {0:?} of starting")]
    NoFirstMaster(std::time::Duration),
    /// Could not connect or authenticate to a host.
    #[error("ssh {host}: {problem}")]
    Connect { host: String, problem: String },
    /// The host's key is not the one in known_hosts, or is unknown under strict checking.
    #[error("ssh {host}: host key refused: {problem}")]
    HostKey { host: String, problem: String },
    /// The SSH transport failed while running a command.
    #[error("ssh {host}: `{command}`: {problem}")]
    Transport { host: String, command: String, problem: String },
    /// A command did not finish in time.
    #[error("ssh {host}: `{command}` timed out after {timeout:?}")]
    Timeout { host: String, command: String, timeout: std::time::Duration },
    /// A command exited unsuccessfully.
    #[error("ssh {host}: `{command}` {status}; stderr: {stderr}")]
    Command { host: String, command: String, status: String, stderr: String },
    /// A system tool the local cluster needs is missing.
    #[error("missing system tools: {tools}; install the Debian packages: apt-get install {packages}")]
    MissingTools { tools: String, packages: String },
    /// A local command failed while building or removing the local cluster.
    #[error("local cluster: `{command}` failed: {problem}")]
    Local { command: String, problem: String },
    /// A local file could not be read or written.
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    /// The operation was interrupted (SIGINT) and undone.
    #[error("interrupted")]
    Interrupted,
    /// The simulator cannot run this plan as it is.
    #[error("the simulator cannot run this plan: {0}")]
    Simulation(String),
    /// An uploaded file's checksum differs on the host.
    #[error("ssh {host}: {path}: checksum after upload is {found}, expected {expected}")]
    Checksum { host: String, path: String, expected: String, found: String },
}

impl Error {
    /// A file error for `path`.
    pub fn file(path: impl Into<PathBuf>, problem: impl ToString) -> Self {
        Error::File { path: path.into(), problem: problem.to_string() }
    }
}
