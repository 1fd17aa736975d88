//! The harness crate's error type, whose variants keep their causes (print them with
//! [`chain`] or `{:#}` through anyhow).

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
    #[error("ssh {host}")]
    Connect {
        /// The host.
        host: String,
        /// What failed.
        #[source]
        cause: Cause,
    },
    /// The host's key is not the one in known_hosts, or is unknown under strict checking.
    #[error("ssh {host}: host key refused")]
    HostKey {
        /// The host.
        host: String,
        /// Why the key was refused.
        #[source]
        cause: Cause,
    },
    /// The SSH transport failed while running a command.
    #[error("ssh {host}: `{command}`")]
    Transport {
        /// The host.
        host: String,
        /// The command.
        command: String,
        /// What failed.
        #[source]
        cause: Cause,
    },
    /// A command did not finish in time.
    #[error("ssh {host}: `{command}` timed out after {timeout:?}")]
    Timeout {
        /// The host.
        host: String,
        /// The command.
        command: String,
        /// How long it was given.
        timeout: std::time::Duration,
    },
    /// A command exited unsuccessfully.
    #[error("ssh {host}: `{command}` {status}; stderr: {stderr}")]
    Command {
        /// The host.
        host: String,
        /// The command.
        command: String,
        /// How it exited.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// A system tool the local cluster needs is missing.
    #[error("missing system tools: {tools}; install the Debian packages: apt-get install {packages}")]
    MissingTools {
        /// The missing tools.
        tools: String,
        /// The Debian packages that ship them.
        packages: String,
    },
    /// A local command failed while building or removing the local cluster.
    #[error("local cluster: `{command}` failed")]
    Local {
        /// The command.
        command: String,
        /// What failed.
        #[source]
        cause: Cause,
    },
    /// A local file could not be read or written.
    #[error("{path}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        cause: Cause,
    },
    /// The operation was interrupted (SIGINT) and undone.
    #[error("interrupted")]
    Interrupted,
    /// The system under test cannot do what the plan asks of it.
    #[error("{system} does not support {what}")]
    Unsupported {
        /// The system under test.
        system: &'static str,
        /// What it cannot do.
        what: &'static str,
    },
    /// The simulator cannot run this plan as it is.
    #[error("the simulator cannot run this plan: {0}")]
    Simulation(String),
    /// `serve` stopped answering.
    #[error("serve on {}", address.map_or("its listener".to_string(), |a| a.to_string()))]
    Serve {
        /// Where it listened.
        address: Option<std::net::SocketAddr>,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A plot of `report.html` could not be drawn.
    #[error("report.html: the {plot} plot")]
    Plot {
        /// The plot.
        plot: &'static str,
        /// What plotters failed at.
        #[source]
        source: plotters::drawing::DrawingAreaErrorKind<std::io::Error>,
    },
    /// An uploaded file's checksum differs on the host.
    #[error("ssh {host}: {path}: checksum after upload is {found}, expected {expected}")]
    Checksum {
        /// The host.
        host: String,
        /// The uploaded file.
        path: String,
        /// The checksum of what was sent.
        expected: String,
        /// The checksum on the host.
        found: String,
    },
}

impl Error {
    /// A file error for `path`.
    pub fn file(path: impl Into<PathBuf>, cause: impl Into<Cause>) -> Self {
        Error::File { path: path.into(), cause: cause.into() }
    }
}

/// What caused an error, with its own causes.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One link of a cause chain: `what` failed because of its source.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct Because {
    what: String,
    #[source]
    cause: Cause,
}

/// `what` failed because of `cause`, as a cause of its own.
pub fn because(what: impl Into<String>, cause: impl Into<Cause>) -> Cause {
    Box::new(Because { what: what.into(), cause: cause.into() })
}

/// `e` followed by each of its causes, joined by ": ", as one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        next = cause.source();
    }
    line
}
