//! The seeds' claim about election cost (004 [0044], [0068]): with integral election timers a
//! group elects a new master with O(N) messages, where equal timers expire together and contest.
//! Measured in the simulator for a master crash and for a partition heal.

use std::time::Duration;

use nodes::protocol::ReplicaId;
use nodes::protocol::message::MessageKind;
use nodes::protocol::params::{ElectionScheme, Params, uniform_delays};
use nodes::sim::{NodeId, Sim, SimConfig};

/// The election timers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timers {
    /// `D_i = T1 + i × 20 ms` (the seeds' integral timers, the default).
    Integral,
    /// `D_i = T` for every server.
    Equal,
}

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The converged master is SIGKILLed.
    MasterCrash,
    /// The master was cut off, the others elected one of their own, and the network heals.
    PartitionHeal,
}

/// One election: its messages (DeclareMaster and RevokeMaster, every copy) and the time until
/// exactly one master persisted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Election {
    /// Election messages sent.
    pub messages: u64,
    /// Time to one master.
    pub time: Duration,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A group of `n` replicas with `timers`, 1 ms links with up to 1 ms of jitter drawn from `seed`.
fn sim(n: u32, timers: Timers, seed: u64) -> Sim {
    let election = match timers {
        Timers::Integral => ElectionScheme::Integral { t1: ms(150), delays: uniform_delays(n, ms(20)) },
        Timers::Equal => ElectionScheme::Equal { t: ms(150) },
    };
    let params = Params { members: n, election, ..Params::default() };
    Sim::new(SimConfig { params, seed, jitter: ms(1), ..SimConfig::default() })
}

/// Measures one election of `scenario` in a group of `n`; `None` when the group did not get to
/// one master (within 30 s of simulated time).
pub fn measure(n: u32, timers: Timers, scenario: Scenario, seed: u64) -> Option<Election> {
    let limit = ms(30_000);
    let mut sim = sim(n, timers, seed);
    sim.run_until_true(limit, |s| s.converged_master().is_some())?;
    sim.run_for(ms(500));
    let master = sim.converged_master()?;
    match scenario {
        Scenario::MasterCrash => {
            sim.reset_counters();
            sim.crash(master);
        }
        Scenario::PartitionHeal => {
            let others: Vec<NodeId> = (0..n as ReplicaId)
                .filter(|&r| r != master)
                .map(NodeId::Replica)
                .chain([NodeId::NameServer])
                .collect();
            sim.partition(&[&[NodeId::Replica(master)], &others]);
            sim.run_until_true(limit, |s| s.masters().iter().any(|&m| m != master))?;
            sim.run_for(ms(500));
            sim.reset_counters();
            sim.heal();
        }
    }
    let started = sim.now();
    let at = sim.run_until_true(limit, |s| s.converged_master().is_some())?;
    Some(Election {
        messages: sim.sent(MessageKind::DeclareMaster) + sim.sent(MessageKind::RevokeMaster),
        time: at - started,
    })
}

/// Averages over `seeds`: (mean messages, mean time, elections that did not converge).
pub fn average(
    n: u32,
    timers: Timers,
    scenario: Scenario,
    seeds: std::ops::Range<u64>,
) -> (f64, Duration, usize) {
    let runs: Vec<Option<Election>> = seeds.map(|seed| measure(n, timers, scenario, seed)).collect();
    let done: Vec<Election> = runs.iter().flatten().copied().collect();
    let count = done.len().max(1) as u32;
    let messages = done.iter().map(|e| e.messages).sum::<u64>() as f64 / f64::from(count);
    let time = done.iter().map(|e| e.time).sum::<Duration>() / count;
    (messages, time, runs.len() - done.len())
}
