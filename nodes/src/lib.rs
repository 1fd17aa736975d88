//! The system under test: a fault-tolerant server group of replicas and a name server, after two
//! patent applications (see `PROTOCOL.md` in the design folder).
//!
//! * [`protocol`]: sans-IO state machines (replica, name server, replicated map).
//! * [`sim`]: a deterministic, seeded event loop that drives several cores over a simulated
//!   network.
//! * [`runtime`]: the tokio driver (TCP frames, timers, admin port, config file, logs).
//! * [`client`]: the client library the harness's workers use.
//! * [`local`]: a group of real replica and name-server processes on 127.0.0.1.

pub mod client;
pub mod error;
pub mod local;
pub mod protocol;
pub mod runtime;
pub mod sim;
