//! The crate's error type.

use std::path::PathBuf;

use crate::protocol::ReplicaId;

/// Everything that can go wrong in `nodes` outside the protocol itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead { path: PathBuf, source: std::io::Error },
    /// The config file is not valid YAML of the expected shape.
    #[error("{path}: {detail}")]
    ConfigSyntax { path: PathBuf, detail: String },
    /// A field of the config file has a bad value.
    #[error("{path}: field `{field}`: {problem}")]
    ConfigField { path: PathBuf, field: String, problem: String },
    /// `--id` names no member of the group.
    #[error("unknown member index {id}: {path} lists members 0..{members}")]
    UnknownMember { path: PathBuf, id: ReplicaId, members: u32 },
    /// A frame arrived that does not decode as a message.
    #[error("frame is not a message: {0}")]
    Frame(String),
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Net { context: String, source: std::io::Error },
    /// A status query failed or its answer was malformed.
    #[error("status query to {addr}: {problem}")]
    Status { addr: String, problem: String },
    /// A child process could not be started or controlled.
    #[error("{context}: {source}")]
    Process { context: String, source: std::io::Error },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn net(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Net { context: context.into(), source }
    }
}
