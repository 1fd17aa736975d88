//! The protocol core: replica, name server and replicated map as state machines that do no I/O,
//! read no clock and draw no random numbers. Time comes in as an argument, effects go out as
//! values, so the same code runs in the simulator ([`crate::sim`]) and under tokio
//! ([`crate::runtime`]).

pub mod bugs;
pub mod kv;
pub mod message;
pub mod nameserver;
pub mod params;
pub mod replica;

#[cfg(test)]
mod flowcharts;

/// A server's index in its group: its static rank, lower is higher priority.
pub type ReplicaId = u32;

/// A connection handle chosen by the runtime, used to answer requests.
pub type ClientId = u64;

/// Time since an arbitrary epoch chosen by the driver.
pub type Time = std::time::Duration;
