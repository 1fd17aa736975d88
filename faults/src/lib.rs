//! What can go wrong, independent of how it is done.
//!
//! * [`partition`]: grudges (who drops whose packets) and the shapes that produce them.
//! * [`select`]: node selectors (one, minority, majority, all, master).
//! * [`packet`]: packet faults (loss, delay, duplication, reordering, rate) and their links.
//! * [`fault`]: fault operations and their inverses.
//! * [`commands`]: the shell commands that apply them on a node — iptables chains of our own,
//!   an HTB qdisc, our packet delayer, signals by pidfile, libfaketime clock rates — as values;
//!   the harness runs them.
//!
//! Nothing here does I/O; randomness comes in as an argument.

pub mod commands;
pub mod fault;
pub mod packet;
pub mod partition;
pub mod select;

/// A node's name, as in the nodes file (`n1`, `n2`, …, `ns`).
pub type Host = String;
