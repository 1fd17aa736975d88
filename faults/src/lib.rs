//! What can go wrong, independent of how it is done.
//!
//! * [`partition`]: grudges (who drops whose packets) and the shapes that produce them.
//! * [`select`]: node selectors (one, minority, majority, all, master).
//! * [`fault`]: fault operations and their inverses.
//! * [`commands`]: the shell commands that apply them on a node — an iptables chain of our own,
//!   signals by pidfile, libfaketime clock rates — as values; the harness runs them.
//!
//! Nothing here does I/O; randomness comes in as an argument.

pub mod commands;
pub mod fault;
pub mod partition;
pub mod select;

/// A node's name, as in the nodes file (`n1`, `n2`, …, `ns`).
pub type Host = String;
