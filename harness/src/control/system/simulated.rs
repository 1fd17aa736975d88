//! The seeds' group in the deterministic simulator ([`nodes::sim`]): the same replica and name
//! server cores as on hosts, over a simulated network (1 ms links with up to 1 ms of seeded
//! jitter). A run drives it through the same seam as a real group, on a tokio runtime whose
//! clock is paused (see [`runtime`]): the simulation is brought up to tokio's virtual time
//! before every look at it and every input, so one seed gives one run, event for event. While
//! a client waits for an answer, one driver ([`SimulatedGroup::driving`]) wakes at each of the
//! simulation's events and hands each answer to the client that waits for it.
//!
//! What differs from hosts: a client keeps the master it last used for [`MASTER_TTL`], as the
//! real one does, and looks the master up at the name server when it has none or its answer is
//! older (a replica drawn at random when none is registered), but takes a redirect as a definite
//! failure of that operation (the real client follows it within the same operation); a replica's
//! self-termination is its only log line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use checkers::mastership::{NodeView, Round};
use faults::Host;
use faults::packet::{Behaviour, Links};
use faults::partition::Grudge;
use nodes::client::{Completed, MASTER_TTL, RequestError};
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::Op;
use nodes::protocol::message::{OpOutput, ReplyError};
use nodes::runtime::config::GroupConfig;
use nodes::sim::{Degradation, NodeId, Sim, SimConfig, SimEvent};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::control::system::seeds_group::ELECTION_MESSAGES;
use crate::control::system::{SelfTermination, System, SystemClient};
use crate::error::Error;

/// The name server's host in a simulated group, as in a local cluster.
pub const NAMESERVER: &str = "ns";

/// A tokio runtime for simulated runs: one thread, its clock paused, so that time jumps to the
/// next timer whenever every task waits.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| Error::Simulation(format!("cannot start the simulation's runtime: {e}")))
}

/// The seeds' group, simulated.
pub struct SimulatedGroup {
    world: Rc<RefCell<World>>,
    /// Wakes the driver: a client began to wait, or an input may have moved the next event.
    wake: Rc<Notify>,
    replicas: Vec<Host>,
    nameserver: Host,
}

/// The simulation and what the harness has read from it.
struct World {
    config: SimConfig,
    group: String,
    /// The simulation, from the moment the group starts; and tokio's time at its time zero.
    sim: Option<(Sim, Instant)>,
    /// Events read so far.
    seen: usize,
    /// The clients waiting for an answer, by request.
    waiting: BTreeMap<u64, oneshot::Sender<Result<OpOutput, ReplyError>>>,
    /// When the driver wakes next (the next event when it went to sleep).
    driver_wakes: Option<Duration>,
    terminations: Vec<SelfTermination>,
    /// Draws the replica a client without a known master asks.
    rng: ChaCha8Rng,
}

impl SimulatedGroup {
    /// The group of `config` (its members, timers and election scheme), with deliberate `bugs`,
    /// every random choice drawn from `seed`.
    pub fn new(config: &GroupConfig, bugs: nodes::protocol::bugs::Bugs, seed: u64) -> Self {
        let n = config.params.members;
        let world = World {
            config: SimConfig {
                params: config.params.clone(),
                ns: config.ns.clone(),
                bugs,
                seed,
                latency: Duration::from_millis(1),
                jitter: Duration::from_millis(1),
            },
            group: config.params.group.clone(),
            sim: None,
            seen: 0,
            waiting: BTreeMap::new(),
            driver_wakes: None,
            terminations: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed.rotate_left(29)),
        };
        SimulatedGroup {
            world: Rc::new(RefCell::new(world)),
            wake: Rc::new(Notify::new()),
            replicas: (1..=n).map(|i| format!("n{i}")).collect(),
            nameserver: NAMESERVER.into(),
        }
    }

    /// Brings the simulation up to tokio's time, then runs `f` on it (`None` before the start);
    /// wakes the driver if a client waits and the next event is now earlier than its wake-up.
    fn with<T>(&self, f: impl FnOnce(&mut Sim, &mut World) -> T) -> Option<T> {
        let mut world = self.world.borrow_mut();
        world.advance(&self.replicas);
        let (mut sim, start) = world.sim.take()?;
        let out = f(&mut sim, &mut world);
        let sooner = match (sim.next_at(), world.driver_wakes) {
            (Some(next), Some(wakes)) => next < wakes,
            (next, None) => next.is_some(),
            (None, Some(_)) => false,
        };
        world.sim = Some((sim, start));
        if sooner && !world.waiting.is_empty() {
            self.wake.notify_one();
        }
        Some(out)
    }

    /// Runs `test` while driving the simulation for the clients that wait on it: as long as one
    /// waits, the simulation is brought up to each of its events as tokio's time reaches it.
    pub async fn driving<F: Future>(&self, test: F) -> F::Output {
        let drive = async {
            loop {
                let next = {
                    let mut world = self.world.borrow_mut();
                    world.advance(&self.replicas);
                    let next =
                        world.sim.as_ref().filter(|_| !world.waiting.is_empty()).and_then(|(sim, start)| {
                            let at = sim.next_at()?;
                            Some((at, *start + at))
                        });
                    world.driver_wakes = next.map(|(at, _)| at);
                    next
                };
                match next {
                    Some((_, wake)) => {
                        let wake = wake.max(Instant::now() + Duration::from_nanos(1));
                        tokio::select! {
                            () = tokio::time::sleep_until(wake) => {}
                            () = self.wake.notified() => {}
                        }
                    }
                    None => self.wake.notified().await,
                }
            }
        };
        tokio::select! {
            biased;
            out = test => out,
            () = drive => unreachable!("the driver runs as long as the test"),
        }
    }

    fn ids(&self, hosts: &[Host]) -> Vec<ReplicaId> {
        hosts
            .iter()
            .filter_map(|h| self.replicas.iter().position(|r| r == h))
            .map(|i| i as ReplicaId)
            .collect()
    }

    fn node(&self, host: &str) -> Option<NodeId> {
        if host == self.nameserver {
            return Some(NodeId::NameServer);
        }
        self.replicas.iter().position(|h| h == host).map(|i| NodeId::Replica(i as ReplicaId))
    }

    fn each(&self, hosts: &[Host], act: impl Fn(&mut Sim, ReplicaId)) -> Result<(), Error> {
        let ids = self.ids(hosts);
        self.with(|sim, _| ids.into_iter().for_each(|id| act(sim, id)));
        Ok(())
    }
}

impl World {
    /// Runs the simulation up to tokio's time and files what happened.
    fn advance(&mut self, replicas: &[Host]) {
        let Some((sim, start)) = self.sim.as_mut() else { return };
        sim.run_until(Instant::now() - *start);
        for event in &sim.events()[self.seen..] {
            match event {
                SimEvent::Responded { request, result, .. } => {
                    if let Some(client) = self.waiting.remove(request) {
                        // The client may have given up at this very instant.
                        let _ = client.send(result.clone());
                    }
                }
                SimEvent::Terminated { id, reason, .. } => self.terminations.push(SelfTermination {
                    replica: *id,
                    host: replicas[*id as usize].clone(),
                    line: format!("self-termination: {reason}"),
                }),
                SimEvent::RoleChanged { .. } => {}
            }
        }
        self.seen = sim.events().len();
    }
}

impl System for SimulatedGroup {
    type Client = SimulatedClient;

    fn replicas(&self) -> &[Host] {
        &self.replicas
    }

    fn nameserver(&self) -> Option<&Host> {
        Some(&self.nameserver)
    }

    fn unix_ms(&self) -> u64 {
        0
    }

    async fn setup(&self) -> Result<String, Error> {
        Ok("simulated: nothing to install".into())
    }

    async fn start_all(&self) -> Result<(), Error> {
        let mut world = self.world.borrow_mut();
        if world.sim.is_none() {
            world.sim = Some((Sim::new(world.config.clone()), Instant::now()));
        }
        Ok(())
    }

    async fn start(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, Sim::restart)
    }

    async fn kill(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, Sim::crash)
    }

    async fn pause(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, Sim::pause)
    }

    async fn resume(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, Sim::resume)
    }

    async fn clock_rate(&self, hosts: &[Host], rate: f64) -> Result<(), Error> {
        self.each(hosts, |sim, id| sim.set_clock_rate(id, rate))
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), Error> {
        let cuts: Vec<(NodeId, NodeId)> = grudge
            .0
            .iter()
            .flat_map(|(to, froms)| froms.iter().map(move |from| (from, to)))
            .filter_map(|(from, to)| Some((self.node(from)?, self.node(to)?)))
            .collect();
        self.with(|sim, _| cuts.into_iter().for_each(|(from, to)| sim.cut_one_way(from, to)));
        Ok(())
    }

    async fn heal(&self) -> Result<(), Error> {
        self.with(|sim, _| sim.heal());
        Ok(())
    }

    /// The simulator's links are TCP connections: a packet fault degrades each of its links as
    /// TCP would carry it ([`Degradation`]): the delay as added delay, loss as retransmission
    /// time-outs, the rate as transmission time; duplication and reordering, which TCP undoes,
    /// change nothing. The delayer's seed is not used: the simulation's own seed draws.
    async fn packet(&self, links: &Links, behaviour: &Behaviour, _seed: u64) -> Result<(), Error> {
        let degradation = Degradation {
            delay: Duration::from_millis(behaviour.delay_ms.into()),
            jitter: Duration::from_millis(behaviour.jitter_ms.into()),
            loss: behaviour.loss_pct / 100.0,
            rate: behaviour.rate_kbit.map(|k| k * 1000 / 8),
        };
        let pairs: Vec<(NodeId, NodeId)> = links
            .0
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
            .filter_map(|(from, to)| Some((self.node(from)?, self.node(to)?)))
            .collect();
        self.with(|sim, _| {
            sim.restore_links();
            pairs.into_iter().for_each(|(from, to)| sim.degrade(from, to, degradation));
        });
        Ok(())
    }

    async fn heal_packets(&self) -> Result<(), Error> {
        self.with(|sim, _| sim.restore_links());
        Ok(())
    }

    async fn observe(&self, _within: Duration) -> Round {
        let names = &self.replicas;
        self.with(|sim, world| {
            let now = sim.now();
            let nodes = names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let id = i as ReplicaId;
                    let view = sim.replica(id).filter(|_| !sim.is_paused(id)).map(|r| NodeView {
                        id,
                        role: format!("{:?}", r.role()),
                        master: r.master(),
                        applied: r.snapshot().applied,
                        election_messages: ELECTION_MESSAGES.iter().map(|&k| r.sent(k)).sum(),
                        started_unix_ms: 0,
                        digest: Some(r.snapshot().kv.digest()),
                    });
                    (name.clone(), view)
                })
                .collect();
            let registrations =
                sim.nameserver().registrations(&world.group, now).iter().map(|r| r.id).collect();
            Round { nodes, registrations: Some(registrations) }
        })
        .unwrap_or_else(|| Round {
            nodes: names.iter().map(|n| (n.clone(), None)).collect(),
            registrations: None,
        })
    }

    async fn single_master(&self, among: &[ReplicaId]) -> Option<ReplicaId> {
        self.with(|sim, _| sim.converged_master().filter(|m| among.contains(m))).flatten()
    }

    fn client(&self, timeout: Duration) -> SimulatedClient {
        SimulatedClient { group: self.clone_handle(), timeout, master: None }
    }

    async fn collect(&self, _dir: Option<&Path>) -> Result<Vec<SelfTermination>, Error> {
        self.with(|_, _| ());
        Ok(std::mem::take(&mut self.world.borrow_mut().terminations))
    }

    async fn teardown(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl SimulatedGroup {
    fn clone_handle(&self) -> SimulatedGroup {
        SimulatedGroup {
            world: self.world.clone(),
            wake: self.wake.clone(),
            replicas: self.replicas.clone(),
            nameserver: self.nameserver.clone(),
        }
    }
}

/// A client of a simulated group.
pub struct SimulatedClient {
    group: SimulatedGroup,
    timeout: Duration,
    /// The master this client believes in, and since when, as the real client caches it.
    master: Option<(ReplicaId, Instant)>,
}

impl SimulatedClient {
    /// Sends `op` to the master this client knows, the registered one, or a replica drawn at
    /// random; returns the request's number, where it went, and where its answer will come.
    fn send(&mut self, op: Op) -> Option<(u64, ReplicaId, Answer)> {
        let now = Instant::now();
        let fresh = self.master.filter(|&(_, since)| now < since + MASTER_TTL);
        let n = self.group.replicas.len() as ReplicaId;
        let (request, target, answer) = self.group.with(|sim, world| {
            let registered = || sim.nameserver().registrations(&world.group, sim.now()).first().map(|r| r.id);
            let target =
                fresh.map(|(m, _)| m).or_else(registered).unwrap_or_else(|| world.rng.random_range(0..n));
            let request = sim.request(target, op);
            let (tx, rx) = oneshot::channel();
            world.waiting.insert(request, tx);
            (request, target, rx)
        })?;
        // A master looked up again is trusted for another MASTER_TTL, as the real client does.
        self.master = Some(fresh.unwrap_or((target, now)));
        Some((request, target, answer))
    }

    /// The answer to `request` if it came by now, the simulation brought up to now first; the
    /// request is no longer waited for.
    fn give_up(&self, request: u64, mut answer: Answer) -> Option<Result<OpOutput, ReplyError>> {
        self.group.with(|_, world| world.waiting.remove(&request));
        answer.try_recv().ok()
    }
}

/// Where the answer to a simulated request arrives.
type Answer = oneshot::Receiver<Result<OpOutput, ReplyError>>;

impl SystemClient for SimulatedClient {
    async fn execute(&mut self, op: Op) -> Result<Completed, RequestError> {
        let deadline = Instant::now() + self.timeout;
        let Some((request, target, mut answer)) = self.send(op) else {
            return Err(RequestError::Failed { node: None, reason: "the group has not started".into() });
        };
        let answer = match tokio::time::timeout_at(deadline, &mut answer).await {
            Ok(answer) => answer.ok(),
            Err(_) => self.give_up(request, answer),
        };
        match answer {
            Some(Ok(output)) => Ok(Completed { node: target, output }),
            Some(Err(e)) => {
                if let ReplyError::NotMaster { master } = &e {
                    self.master = master.filter(|&m| m != target).map(|m| (m, Instant::now()));
                }
                let (node, reason) = (Some(target), e.to_string());
                Err(if e.is_definite() {
                    RequestError::Failed { node, reason }
                } else {
                    RequestError::Unknown { node, reason }
                })
            }
            None => {
                let reason = format!("no answer within {} ms", self.timeout.as_millis());
                Err(RequestError::Unknown { node: Some(target), reason })
            }
        }
    }
}
