//! The seam between a run and the system under test: how a run installs, starts, stops, kills,
//! pauses and resumes it, cuts its network and skews its clocks, observes each node's role, and
//! makes clients. The seeds' group on hosts over SSH ([`seeds_group`]) and in the deterministic
//! simulator ([`simulated`]) implement it; another system (Redis Sentinel, etcd) is a third
//! implementation with its own processes, observation and client.
//!
//! Hosts are named as the fault model names them ([`Host`]); replicas are numbered in the order
//! of [`System::replicas`]. Time is tokio's: a simulated system runs on a runtime whose clock is
//! paused and advances only when every task waits, so the same run flow runs in virtual time.

pub mod daemons;
pub mod etcd;
pub mod redis_sentinel;
pub mod seeds_group;
pub mod simulated;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use checkers::mastership::Round;
use faults::Host;
use faults::packet::{Behaviour, Links};
use faults::partition::Grudge;
use nodes::client::{Completed, RequestError};
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::Op;
use tokio::time::Instant;

use crate::error::Error;

/// How often the waits below ask the system whether one master persists.
const POLL: Duration = Duration::from_millis(20);

/// A replica that terminated itself, as its log says.
#[derive(Clone, Debug, PartialEq)]
pub struct SelfTermination {
    /// Its number.
    pub replica: ReplicaId,
    /// Its host.
    pub host: Host,
    /// The log line that says so.
    pub line: String,
}

/// A system under test, as one run drives it.
pub trait System {
    /// A client of the system; one per client process.
    type Client: SystemClient;

    /// The hosts of the replicas, in replica order.
    fn replicas(&self) -> &[Host];

    /// The host of the name server (or whatever else coordinates the replicas), when there is one
    /// that partitions can isolate.
    fn nameserver(&self) -> Option<&Host>;

    /// The wall clock in ms since the Unix epoch, as node logs stamp it (0 in a simulation).
    fn unix_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    /// Removes what an earlier run left (processes, firewall rules, clock faults, logs) and
    /// installs the system; says in one line what it did.
    fn setup(&self) -> impl Future<Output = Result<String, Error>>;

    /// Starts every process and returns once each one answers.
    fn start_all(&self) -> impl Future<Output = Result<(), Error>>;

    /// Starts the replicas of `hosts` again (a no-op for one that runs).
    fn start(&self, hosts: &[Host]) -> impl Future<Output = Result<(), Error>>;

    /// SIGKILLs the replicas of `hosts`.
    fn kill(&self, hosts: &[Host]) -> impl Future<Output = Result<(), Error>>;

    /// SIGSTOPs the replicas of `hosts`.
    fn pause(&self, hosts: &[Host]) -> impl Future<Output = Result<(), Error>>;

    /// SIGCONTs the replicas of `hosts`.
    fn resume(&self, hosts: &[Host]) -> impl Future<Output = Result<(), Error>>;

    /// Runs the clocks of the replicas of `hosts` at `rate` times real time (1.0: real time).
    fn clock_rate(&self, hosts: &[Host], rate: f64) -> impl Future<Output = Result<(), Error>>;

    /// Drops packets as `grudge` says, on top of what is cut already.
    fn partition(&self, grudge: &Grudge) -> impl Future<Output = Result<(), Error>>;

    /// Restores every link.
    fn heal(&self) -> impl Future<Output = Result<(), Error>>;

    /// Degrades the packets of `links` as `behaviour` says (the delayers' draws seeded by
    /// `seed`), in place of any packet fault in force.
    fn packet(
        &self,
        links: &Links,
        behaviour: &Behaviour,
        seed: u64,
    ) -> impl Future<Output = Result<(), Error>>;

    /// Restores every link's packets.
    fn heal_packets(&self) -> impl Future<Output = Result<(), Error>>;

    /// One observer round: what each node says of its role and master, and who is registered;
    /// a node that does not answer `within` counts as down.
    fn observe(&self, within: Duration) -> impl Future<Output = Round>;

    /// `Some(m)` when exactly one master persists among the replicas `among` right now.
    fn single_master(&self, among: &[ReplicaId]) -> impl Future<Output = Option<ReplicaId>>;

    /// A new client, whose operations give up after `timeout`.
    fn client(&self, timeout: Duration) -> Self::Client;

    /// Copies every process's log into `dir/<host>/` (when there is a `dir`) and returns the
    /// self-terminations they record.
    fn collect(&self, dir: Option<&Path>) -> impl Future<Output = Result<Vec<SelfTermination>, Error>>;

    /// Stops every process and removes what the run left on the nodes.
    fn teardown(&self) -> impl Future<Output = Result<(), Error>>;

    /// How long after every fault is undone two masters may still be seen before the system
    /// counts as having failed to restore one (the seeds' self-monitoring: ten detector periods).
    fn heal_bound(&self) -> Duration {
        Duration::from_millis(checkers::mastership::SELF_HEAL_BOUND_MS)
    }

    /// Who names the master in an observer round's `registrations`, in words.
    fn registrar(&self) -> &'static str {
        "the name server"
    }

    /// Every replica's number.
    fn all(&self) -> Vec<ReplicaId> {
        (0..self.replicas().len() as ReplicaId).collect()
    }

    /// Polls until exactly one master persists among `among`, or `limit` passed.
    fn wait_for_single_master(
        &self,
        among: &[ReplicaId],
        limit: Duration,
    ) -> impl Future<Output = Option<ReplicaId>> {
        async move {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if let Some(m) = self.single_master(among).await {
                    return Some(m);
                }
                tokio::time::sleep(POLL).await;
            }
            None
        }
    }

    /// `Some(m)` once `m` has been the single master among `among` without a break for
    /// `settle`, within `limit` (a momentary agreement right after a heal, before every node has
    /// caught up, is not a recovery).
    fn wait_for_settled_master(
        &self,
        among: &[ReplicaId],
        limit: Duration,
        settle: Duration,
    ) -> impl Future<Output = Option<ReplicaId>> {
        async move {
            let deadline = Instant::now() + limit;
            let mut held: Option<(ReplicaId, Instant)> = None;
            while Instant::now() < deadline {
                held = match (self.single_master(among).await, held) {
                    (Some(m), Some((h, since))) if m == h => {
                        if since.elapsed() >= settle {
                            return Some(m);
                        }
                        Some((h, since))
                    }
                    (Some(m), _) => Some((m, Instant::now())),
                    (None, _) => None,
                };
                tokio::time::sleep(POLL).await;
            }
            None
        }
    }
}

/// A client of a system under test: runs one operation at a time.
pub trait SystemClient {
    /// Runs `op`; an error says whether it certainly had no effect.
    fn execute(&mut self, op: Op) -> impl Future<Output = Result<Completed, RequestError>>;
}
