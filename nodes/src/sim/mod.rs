//! A deterministic event loop that drives a name server and a group of replica cores over a
//! simulated network: per-link delay with seeded jitter, cut and heal (both ways or one way),
//! crash and restart, pause and resume, and per-replica clock rates. One seed gives one run,
//! event for event.
//!
//! Links are FIFO, as TCP connections are; a message is dropped when its link is cut at the
//! moment it would arrive, or when its receiver is down. A link may be degraded as a packet
//! fault degrades a TCP connection ([`Degradation`]): added delay, lost packets as
//! retransmission time-outs that may break the connection, which then reconnects as the
//! runtime's would (see [`link`]), a rate as transmission time. Clients are never cut off. A paused
//! replica (SIGSTOP) runs no timer and takes no message: what arrives for it waits, in order,
//! until it resumes. A replica's clock runs at its own rate (libfaketime's speed-up or slow-down):
//! the replica sees its own time, its timers fire by it, and the rest of the world sees real time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::protocol::bugs::Bugs;
use crate::protocol::kv::Op;
use crate::protocol::message::{KindCounts, Message, MessageKind, OpOutput, ReplyError};
use crate::protocol::nameserver::{NameServer, NsDest, NsParams};
use crate::protocol::params::Params;
use crate::protocol::replica::{Action, Dest, Replica, Role, RoleChange, single_master};
use crate::protocol::{ReplicaId, Time};
use link::{Carry, Due, Links, Sent, Way};

pub mod link;
pub use link::{Degradation, RTO_MIN};

/// A participant of the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeId {
    /// Replica with this index.
    Replica(ReplicaId),
    /// The name server.
    NameServer,
    /// A client request, which is its own connection.
    Client(u64),
}

/// What a simulation is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The group's parameters, shared by every replica.
    pub params: Params,
    /// The name server's parameters.
    pub ns: NsParams,
    /// Deliberate bugs, for the replicas and the name server alike.
    pub bugs: Bugs,
    /// Seed of the jitter.
    pub seed: u64,
    /// One-way delay of every link without an override.
    pub latency: Duration,
    /// Up to this much is added to each message's delay, uniformly at random.
    pub jitter: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            params: Params::default(),
            ns: NsParams::default(),
            bugs: Bugs::default(),
            seed: 0,
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
        }
    }
}

/// Bytes of TCP, IP and Ethernet headers around a message's bytes.
const HEADERS: usize = 66;

/// Something that happened, in order: what tests and the harness's simulation backend read.
#[derive(Clone, Debug, PartialEq)]
pub enum SimEvent {
    /// A replica changed role or master.
    RoleChanged {
        /// When.
        time: Time,
        /// The replica.
        id: ReplicaId,
        /// The change.
        change: RoleChange,
    },
    /// A replica terminated itself (M3 act 1050).
    Terminated {
        /// When.
        time: Time,
        /// The replica.
        id: ReplicaId,
        /// Why.
        reason: String,
    },
    /// A client request completed.
    Responded {
        /// When the answer arrived.
        time: Time,
        /// The request's number.
        request: u64,
        /// Its outcome.
        result: Result<OpOutput, ReplyError>,
    },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: Time,
    order: u64,
    from: NodeId,
    to: NodeId,
    /// The connection and its life that carry it (none for a client's).
    conn: Option<(usize, u64)>,
    msg: Msg,
}

/// `Message` has no total order; scheduling orders by `(at, order)` only.
#[derive(Debug)]
struct Msg(Message);

impl PartialEq for Msg {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Msg {}
impl PartialOrd for Msg {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Msg {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// The simulated world.
pub struct Sim {
    config: SimConfig,
    now: Time,
    rng: ChaCha8Rng,
    replicas: Vec<Option<Replica>>,
    ns: NameServer,
    queue: BinaryHeap<Reverse<Scheduled>>,
    order: u64,
    /// The connections between servers (replicas and the name server); a client's request is
    /// a connection of its own and one message each way, so it needs none.
    links: Links,
    link_latency: BTreeMap<(NodeId, NodeId), Duration>,
    degraded: BTreeMap<(NodeId, NodeId), Degradation>,
    cuts: BTreeSet<(NodeId, NodeId)>,
    next_request: u64,
    events: Vec<SimEvent>,
    sent: KindCounts,
    processed: u64,
    paused: BTreeMap<ReplicaId, Vec<(NodeId, Message)>>,
    clocks: Vec<Clock>,
    /// Each replica's next timer in real time: `None` while it is down, paused or waits for
    /// nothing. Kept up to date after every input, so that finding the next one is cheap.
    timers: Vec<Option<Time>>,
}

/// A replica's clock: `local(t) = local_at_base + (t - base) × rate`, never going back.
#[derive(Clone, Copy, Debug)]
struct Clock {
    base: Time,
    local_at_base: Time,
    rate: f64,
    last: Time,
}

impl Clock {
    fn real() -> Self {
        Clock { base: Duration::ZERO, local_at_base: Duration::ZERO, rate: 1.0, last: Duration::ZERO }
    }

    /// The replica's time at real time `now`.
    fn local(&mut self, now: Time) -> Time {
        let elapsed = now.saturating_sub(self.base);
        let elapsed = if self.rate == 1.0 { elapsed } else { elapsed.mul_f64(self.rate) };
        self.last = self.last.max(self.local_at_base + elapsed);
        self.last
    }

    /// The real time at which the replica's time reaches `local` (rounded: the caller allows
    /// for a nanosecond short).
    fn real_time_of(&self, local: Time) -> Time {
        let ahead = local.saturating_sub(self.local_at_base);
        self.base + if self.rate == 1.0 { ahead } else { ahead.div_f64(self.rate) }
    }

    /// Runs the clock at `rate` from real time `now` on.
    fn set_rate(&mut self, now: Time, rate: f64) {
        let local = self.local(now);
        *self = Clock { base: now, local_at_base: local, rate, last: local };
    }
}

impl Sim {
    /// A world at time zero where the name server and every replica have just started.
    pub fn new(config: SimConfig) -> Self {
        let ns = NameServer::new(config.ns.clone(), config.bugs.clone(), Duration::ZERO);
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            now: Duration::ZERO,
            replicas: Vec::new(),
            ns,
            queue: BinaryHeap::new(),
            order: 0,
            links: Links::new(config.params.members),
            link_latency: BTreeMap::new(),
            degraded: BTreeMap::new(),
            cuts: BTreeSet::new(),
            next_request: 0,
            events: Vec::new(),
            sent: KindCounts::default(),
            processed: 0,
            paused: BTreeMap::new(),
            clocks: vec![Clock::real(); config.params.members as usize],
            timers: vec![None; config.params.members as usize],
            config,
        };
        sim.replicas = (0..sim.config.params.members).map(|_| None).collect();
        for id in 0..sim.config.params.members {
            sim.restart(id);
        }
        sim
    }

    /// The current simulated time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Replica `id`, or `None` while it is down.
    pub fn replica(&self, id: ReplicaId) -> Option<&Replica> {
        self.replicas[id as usize].as_ref()
    }

    /// The name server.
    pub fn nameserver(&self) -> &NameServer {
        &self.ns
    }

    /// Everything that happened so far.
    pub fn events(&self) -> &[SimEvent] {
        &self.events
    }

    /// Messages sent so far, per type (every copy of a broadcast counts).
    pub fn sent(&self, kind: MessageKind) -> u64 {
        self.sent.get(kind)
    }

    /// Sets every message counter back to zero.
    pub fn reset_counters(&mut self) {
        self.sent = KindCounts::default();
    }

    /// Inputs (timer runs and deliveries) processed so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Overrides the one-way delay of the link from `a` to `b` and from `b` to `a`.
    pub fn set_latency(&mut self, a: NodeId, b: NodeId, delay: Duration) {
        self.link_latency.insert((a, b), delay);
        self.link_latency.insert((b, a), delay);
    }

    /// Degrades the link from `from` to `to` (in place of any earlier degradation of it).
    pub fn degrade(&mut self, from: NodeId, to: NodeId, degradation: Degradation) {
        self.degraded.insert((from, to), degradation);
    }

    /// Ends every link's degradation.
    pub fn restore_links(&mut self) {
        self.degraded.clear();
    }

    /// Cuts the link between `a` and `b` in both directions.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cuts.insert((a, b));
        self.cuts.insert((b, a));
    }

    /// Cuts only the direction from `from` to `to`.
    pub fn cut_one_way(&mut self, from: NodeId, to: NodeId) {
        self.cuts.insert((from, to));
    }

    /// Cuts every link between nodes of different blocks.
    pub fn partition(&mut self, blocks: &[&[NodeId]]) {
        for (i, a) in blocks.iter().enumerate() {
            for b in &blocks[i + 1..] {
                for &x in *a {
                    for &y in *b {
                        self.cut(x, y);
                    }
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    /// Kills replica `id`: its state is gone and messages to it are lost.
    pub fn crash(&mut self, id: ReplicaId) {
        self.replicas[id as usize] = None;
        self.paused.remove(&id);
        self.refresh_timer(id);
    }

    /// Pauses replica `id` (SIGSTOP): no timer runs and messages for it wait until it resumes.
    pub fn pause(&mut self, id: ReplicaId) {
        if self.replicas[id as usize].is_some() {
            self.paused.entry(id).or_default();
        }
        self.refresh_timer(id);
    }

    /// Resumes replica `id` (SIGCONT): it takes the messages that waited, in order, and its
    /// overdue timers run next.
    pub fn resume(&mut self, id: ReplicaId) {
        for (from, msg) in self.paused.remove(&id).unwrap_or_default() {
            self.deliver_now(from, NodeId::Replica(id), msg);
        }
        self.refresh_timer(id);
    }

    /// True while replica `id` is paused.
    pub fn is_paused(&self, id: ReplicaId) -> bool {
        self.paused.contains_key(&id)
    }

    /// Runs replica `id`'s clock at `rate` times real time from now on (1.0: real speed again;
    /// the replica's time never goes back).
    pub fn set_clock_rate(&mut self, id: ReplicaId, rate: f64) {
        assert!(rate > 0.0 && rate.is_finite(), "a clock rate is positive");
        let now = self.now;
        self.clocks[id as usize].set_rate(now, rate);
        self.refresh_timer(id);
    }

    /// Sets the deliberate bugs of replicas started from now on (the running ones keep theirs).
    pub fn set_bugs(&mut self, bugs: Bugs) {
        self.config.bugs = bugs;
    }

    /// Starts a fresh replica `id` (a no-op when it is up).
    pub fn restart(&mut self, id: ReplicaId) {
        if self.replicas[id as usize].is_some() {
            return;
        }
        self.links.restart(id, self.now);
        let mut replica = Replica::new(id, self.config.params.clone(), self.config.bugs.clone());
        replica.start(self.clocks[id as usize].local(self.now));
        self.replicas[id as usize] = Some(replica);
        self.drain_replica(id);
    }

    /// Sends `op` from a new client connection to replica `to`; returns the request's number.
    pub fn request(&mut self, to: ReplicaId, op: Op) -> u64 {
        self.next_request += 1;
        let request = self.next_request;
        self.schedule(NodeId::Client(request), NodeId::Replica(to), Message::Request { id: request, op });
        request
    }

    /// The result of request `request`, once it arrived.
    pub fn response(&self, request: u64) -> Option<&Result<OpOutput, ReplyError>> {
        self.events.iter().find_map(|e| match e {
            SimEvent::Responded { request: r, result, .. } if *r == request => Some(result),
            _ => None,
        })
    }

    /// The replicas that are up and say Master.
    pub fn masters(&self) -> Vec<ReplicaId> {
        self.live().filter(|r| r.role() == Role::Master).map(|r| r.id()).collect()
    }

    /// `Some(m)` when exactly one master persists: `m` is the only live server that says Master,
    /// every other live server is a Backup following `m`, and the name server registers only `m`.
    pub fn converged_master(&self) -> Option<ReplicaId> {
        self.converged_master_among(|_| true)
    }

    /// As [`Sim::converged_master`], over the live replicas whose id passes `among` only (one
    /// side of a partition, say).
    pub fn converged_master_among(&self, among: impl Fn(ReplicaId) -> bool) -> Option<ReplicaId> {
        let registered: Vec<_> =
            self.ns.registrations(&self.config.params.group, self.now).iter().map(|r| r.id).collect();
        single_master(
            self.live().filter(|r| among(r.id())).map(|r| (r.id(), r.role(), r.master())),
            &registered,
        )
    }

    /// Runs until `deadline`.
    pub fn run_until(&mut self, deadline: Time) {
        while let Some(at) = self.next_at().filter(|&t| t <= deadline) {
            self.step(at);
        }
        self.now = self.now.max(deadline);
    }

    /// Runs for `span` of simulated time.
    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now + span);
    }

    /// Runs until `done` holds (checked after every input) or `limit` elapsed; returns the time
    /// at which it first held.
    pub fn run_until_true(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> Option<Time> {
        let deadline = self.now + limit;
        if done(self) {
            return Some(self.now);
        }
        while let Some(at) = self.next_at().filter(|&t| t <= deadline) {
            self.step(at);
            if done(self) {
                return Some(self.now);
            }
        }
        self.now = deadline;
        None
    }

    fn live(&self) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().flatten()
    }

    /// When the next input (a delivery or a timer) is due, if any.
    pub fn next_at(&self) -> Option<Time> {
        let timer = self.timers.iter().flatten().min().map(|&t| t.max(self.now));
        let delivery = self.queue.peek().map(|Reverse(s)| s.at);
        timer.into_iter().chain(delivery).chain(self.links.next_at()).min()
    }

    /// Files replica `id`'s next timer after an input, a pause or a change of its clock.
    fn refresh_timer(&mut self, id: ReplicaId) {
        let timer = match &self.replicas[id as usize] {
            Some(replica) if !self.paused.contains_key(&id) => replica.poll_timeout(),
            _ => None,
        };
        self.timers[id as usize] = timer.map(|t| self.clocks[id as usize].real_time_of(t));
    }

    fn step(&mut self, at: Time) {
        self.now = at;
        if let Some(due) = self.links.step(at) {
            self.connection(due);
            return;
        }
        if self.queue.peek().is_some_and(|Reverse(s)| s.at == at) {
            let Reverse(s) = self.queue.pop().expect("peeked");
            self.processed += 1;
            if s.conn.is_none_or(|(conn, epoch)| self.links.alive(conn, epoch, at)) {
                self.deliver(s.from, s.to, s.msg.0);
            }
            return;
        }
        for id in 0..self.replicas.len() as ReplicaId {
            if self.timers[id as usize].is_none_or(|t| t > at) {
                continue;
            }
            let clock = &mut self.clocks[id as usize];
            let Some(replica) = self.replicas[id as usize].as_mut() else { continue };
            let Some(due) = replica.poll_timeout() else { continue };
            self.processed += 1;
            // The replica's time at `at` may round a nanosecond short of the timer it waits for.
            let local = clock.local(at).max(due);
            clock.last = local;
            replica.handle_timeout(local);
            self.drain_replica(id);
        }
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Message) {
        if self.cuts.contains(&(from, to)) {
            return;
        }
        if let NodeId::Replica(id) = to
            && let Some(waiting) = self.paused.get_mut(&id)
        {
            waiting.push((from, msg));
            return;
        }
        self.deliver_now(from, to, msg);
    }

    fn deliver_now(&mut self, from: NodeId, to: NodeId, msg: Message) {
        let now = self.now;
        match (to, msg) {
            (NodeId::Replica(id), msg) => {
                let local = self.clocks[id as usize].local(now);
                let Some(replica) = self.replicas[id as usize].as_mut() else { return };
                let conn = match from {
                    NodeId::Client(c) => c,
                    _ => 0,
                };
                replica.handle_message(local, conn, msg);
                self.drain_replica(id);
            }
            (NodeId::NameServer, Message::ToNs(request)) => {
                let conn = match from {
                    NodeId::Client(c) => c,
                    _ => 0,
                };
                self.ns.handle(now, conn, request);
                self.drain_ns();
            }
            (NodeId::Client(request), Message::Response { result, .. }) => {
                self.events.push(SimEvent::Responded { time: now, request, result });
            }
            _ => {}
        }
    }

    fn drain_replica(&mut self, id: ReplicaId) {
        let from = NodeId::Replica(id);
        while let Some(action) = self.replicas[id as usize].as_mut().and_then(|r| r.poll_action()) {
            match action {
                Action::Send { to, msg } => {
                    let to = match to {
                        Dest::Replica(r) => NodeId::Replica(r),
                        Dest::NameServer => NodeId::NameServer,
                        Dest::Client(c) => NodeId::Client(c),
                    };
                    self.schedule(from, to, msg);
                }
                Action::RoleChanged(change) => {
                    self.events.push(SimEvent::RoleChanged { time: self.now, id, change });
                }
                Action::Terminate { reason } => {
                    self.events.push(SimEvent::Terminated { time: self.now, id, reason });
                    self.replicas[id as usize] = None;
                }
            }
        }
        self.refresh_timer(id);
    }

    fn drain_ns(&mut self) {
        while let Some(send) = self.ns.poll_send() {
            let to = match send.to {
                NsDest::Replica { id, .. } => NodeId::Replica(id),
                NsDest::Client(c) => NodeId::Client(c),
            };
            self.schedule(NodeId::NameServer, to, send.msg);
        }
    }

    fn schedule(&mut self, from: NodeId, to: NodeId, msg: Message) {
        self.sent.bump(msg.kind());
        self.carry(from, to, msg);
    }

    /// Puts `msg` on its way: over its connection when both ends are servers.
    fn carry(&mut self, from: NodeId, to: NodeId, msg: Message) {
        let latency = self.way(from, to).latency;
        let jitter_ns = self.config.jitter.as_nanos() as u64;
        let jitter =
            Duration::from_nanos(if jitter_ns == 0 { 0 } else { self.rng.random_range(0..=jitter_ns) });
        let (at, conn, msg) = match self.links.route(from, to) {
            None => (self.now + latency + jitter, None, msg),
            Some(route) => {
                let rated = self.degraded.get(&(from, to)).is_some_and(|d| d.rate.is_some());
                let bytes =
                    if rated { postcard::to_allocvec(&msg).map_or(0, |b| b.len()) + HEADERS } else { 0 };
                let carry = Carry { data: self.way(from, to), ack: self.way(to, from), jitter, bytes };
                match self.links.send(self.now, route, (from, to, msg), carry, &mut self.rng) {
                    Sent::At { at, conn, epoch, msg } => (at, Some((conn, epoch)), msg),
                    Sent::NotNow => return,
                }
            }
        };
        self.order += 1;
        self.queue.push(Reverse(Scheduled { at, order: self.order, from, to, conn, msg: Msg(msg) }));
    }

    /// The direction from `from` to `to` as it carries packets now.
    fn way(&self, from: NodeId, to: NodeId) -> Way {
        Way {
            latency: self.link_latency.get(&(from, to)).copied().unwrap_or(self.config.latency),
            degradation: self.degraded.get(&(from, to)).copied(),
            cut: self.cuts.contains(&(from, to)),
        }
    }

    /// Does what a connection's event asks: a handshake drawn over the links as they are now,
    /// or the messages that waited for it sent.
    fn connection(&mut self, due: Due) {
        match due {
            Due::Nothing => {}
            Due::Handshake { conn, client, server } => {
                let listening = match server {
                    NodeId::Replica(id) => self.replicas[id as usize].is_some(),
                    _ => true,
                };
                let ways = (self.way(client, server), self.way(server, client));
                self.links.handshake(self.now, conn, ways, listening, &mut self.rng);
            }
            Due::Resend(waiting) => {
                for (from, to, msg) in waiting {
                    self.carry(from, to, msg);
                }
            }
        }
    }
}
