//! The crate's error type.

use std::path::PathBuf;

use crate::protocol::ReplicaId;

/// Everything that can go wrong in `nodes` outside the protocol itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        /// The config file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The config file is not valid YAML of the expected shape.
    #[error("{path}: {detail}")]
    ConfigSyntax {
        /// The config file.
        path: PathBuf,
        /// What the YAML parser said, with the line.
        detail: String,
    },
    /// A field of the config file has a bad value.
    #[error("{path}: field `{field}`: {problem}")]
    ConfigField {
        /// The config file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong with its value.
        problem: String,
    },
    /// `--id` names no member of the group.
    #[error("unknown member index {id}: {path} lists members 0..{members}")]
    UnknownMember {
        /// The config file.
        path: PathBuf,
        /// The index given.
        id: ReplicaId,
        /// How many members the file lists.
        members: u32,
    },
    /// A frame arrived that does not decode as a message.
    #[error("frame is not a message: {0}")]
    Frame(String),
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Net {
        /// What was being done.
        context: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// A status query failed or its answer was malformed.
    #[error("status query to {addr}: {problem}")]
    Status {
        /// The admin address asked.
        addr: String,
        /// What went wrong.
        problem: String,
    },
    /// A child process could not be started or controlled.
    #[error("{context}: {source}")]
    Process {
        /// What was being done.
        context: String,
        /// The error starting or signalling it.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn net(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Net { context: context.into(), source }
    }
}
