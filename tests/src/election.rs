//! The seeds' claim about election cost (004 [0044], [0068]): with integral election timers a
//! group elects a new master with O(N) messages, where equal timers expire together and contest.
//! Measured in the simulator for a master crash and for a partition heal.

use std::time::Duration;

use nodes::protocol::ReplicaId;
use nodes::protocol::message::MessageKind;
use nodes::protocol::params::{ElectionScheme, Params, uniform_delays};
use nodes::sim::{NodeId, Sim, SimConfig};

/// Election messages after which a contest counts as not converging: equal timers' contests
/// grow about e^(0.6·N) (N = 20: a third of a million), and their messages in flight are memory.
pub const MESSAGE_CAP: u64 = 1_000_000;

/// Simulated time after which a group counts as not converging.
pub const TIME_LIMIT: Duration = Duration::from_secs(30);

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

/// One election: its messages and the time until exactly one master persisted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Election {
    /// Election messages sent: DeclareMaster and RevokeMaster, every copy.
    pub messages: u64,
    /// Self-monitoring messages sent: name-server lookups and notifications, and state transfers.
    pub monitoring: u64,
    /// Time to one master.
    pub time: Duration,
}

/// Why a measurement has no election to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stuck {
    /// The group never reached the state the scenario starts from (its own earlier election
    /// did not converge).
    Setup,
    /// The measured election did not converge within [`TIME_LIMIT`] or [`MESSAGE_CAP`].
    Election,
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

fn election_messages(sim: &Sim) -> u64 {
    sim.sent(MessageKind::DeclareMaster) + sim.sent(MessageKind::RevokeMaster)
}

fn monitoring_messages(sim: &Sim) -> u64 {
    [
        MessageKind::Lookup,
        MessageKind::LookupReply,
        MessageKind::Notify,
        MessageKind::StateRequest,
        MessageKind::StateReply,
    ]
    .into_iter()
    .map(|kind| sim.sent(kind))
    .sum()
}

/// Runs until `done`, or `None` past [`TIME_LIMIT`] or [`MESSAGE_CAP`] election messages
/// (counted since the counters were last reset).
fn run_until(sim: &mut Sim, done: impl Fn(&Sim) -> bool) -> Option<Duration> {
    let started = sim.now();
    let mut capped = false;
    sim.run_until_true(TIME_LIMIT, |s| {
        capped = election_messages(s) > MESSAGE_CAP;
        capped || done(s)
    })
    .filter(|_| !capped)
    .map(|at| at - started)
}

/// Brings a group of `n` up one server first: `S_0` alone becomes master, then the others start
/// and follow it (as a restarted server does), so the scenario starts from one master under
/// either timers (a cold start of a large group with equal timers is itself a contest).
fn converged(n: u32, timers: Timers, seed: u64) -> Option<(Sim, ReplicaId)> {
    let mut sim = sim(n, timers, seed);
    (1..n as ReplicaId).for_each(|r| sim.crash(r));
    run_until(&mut sim, |s| s.converged_master() == Some(0))?;
    (1..n as ReplicaId).for_each(|r| sim.restart(r));
    sim.reset_counters();
    settled(&mut sim, |_| true)?;
    let master = sim.converged_master()?;
    Some((sim, master))
}

/// Measures one election of `scenario` in a group of `n`.
pub fn measure(n: u32, timers: Timers, scenario: Scenario, seed: u64) -> Result<Election, Stuck> {
    let (mut sim, master) = converged(n, timers, seed).ok_or(Stuck::Setup)?;
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
            sim.reset_counters();
            settled(&mut sim, |r| r != master).ok_or(Stuck::Setup)?;
            sim.reset_counters();
            sim.heal();
        }
    }
    let time = settled(&mut sim, |_| true).ok_or(Stuck::Election)?;
    Ok(Election { messages: election_messages(&sim), monitoring: monitoring_messages(&sim), time })
}

/// How long a master must persist before the election counts as over (the messages still in
/// flight when one master first appears are counted, and may unseat it).
const SETTLE: Duration = Duration::from_millis(500);

/// Runs until one master, followed by every live replica that passes `among`, persisted for
/// [`SETTLE`]; the time from now until it first appeared. `None` past [`TIME_LIMIT`] or
/// [`MESSAGE_CAP`].
fn settled(sim: &mut Sim, among: impl Fn(ReplicaId) -> bool + Copy) -> Option<Duration> {
    let started = sim.now();
    loop {
        run_until(sim, |s| s.converged_master_among(among).is_some())?;
        let at = sim.now();
        let master = sim.converged_master_among(among);
        if sim.run_until_true(SETTLE, |s| election_messages(s) > MESSAGE_CAP).is_some() {
            return None;
        }
        if sim.converged_master_among(among) == master {
            return Some(at - started);
        }
        if sim.now() - started > TIME_LIMIT {
            return None;
        }
    }
}

/// What a cell of the table shows: the means over the elections that converged, and how many
/// runs did not get there.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Mean election messages per converged election.
    pub messages: f64,
    /// The most election messages of a converged election.
    pub max_messages: u64,
    /// Mean self-monitoring messages per converged election.
    pub monitoring: f64,
    /// Mean time to one master.
    pub time: Duration,
    /// Elections that converged.
    pub converged: usize,
    /// Runs whose measured election did not converge.
    pub stuck: usize,
    /// Runs that never reached the scenario's start.
    pub stuck_setup: usize,
}

/// Measures `scenario` for every seed of `seeds` and summarises.
pub fn average(n: u32, timers: Timers, scenario: Scenario, seeds: std::ops::Range<u64>) -> Summary {
    let runs: Vec<Result<Election, Stuck>> = seeds.map(|seed| measure(n, timers, scenario, seed)).collect();
    summarise(&runs)
}

/// Summarises measured runs of one cell.
pub fn summarise(runs: &[Result<Election, Stuck>]) -> Summary {
    let done: Vec<Election> = runs.iter().filter_map(|r| r.ok()).collect();
    let count = done.len().max(1);
    let mean = |f: fn(&Election) -> u64| done.iter().map(f).sum::<u64>() as f64 / count as f64;
    Summary {
        messages: mean(|e| e.messages),
        max_messages: done.iter().map(|e| e.messages).max().unwrap_or(0),
        monitoring: mean(|e| e.monitoring),
        time: done.iter().map(|e| e.time).sum::<Duration>() / count as u32,
        converged: done.len(),
        stuck: runs.iter().filter(|r| **r == Err(Stuck::Election)).count(),
        stuck_setup: runs.iter().filter(|r| **r == Err(Stuck::Setup)).count(),
    }
}
