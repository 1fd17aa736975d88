//! The replica: detection (E1), election (E2), mastership updating (E3), self-monitoring
//! (M1-M3), start-up (S) and replication, as a state machine without I/O.
//!
//! Inputs come in with the current time (`handle_*`, `handle_timeout`); effects leave as
//! [`Action`]s through [`Replica::poll_action`]; [`Replica::poll_timeout`] says when the core next
//! needs `handle_timeout`. Choices the seeds leave open:
//! * A server keeps following its failed master while it waits in the election, so that its
//!   detector (which compares `master` with the name server's) does not mistake the election for
//!   an inconsistency.
//! * Whenever a backup starts following another master it downloads that master's state, so
//!   request numbers never mix between masters.
//! * A detector run whose look-up goes unanswered changes nothing; a master that finds no
//!   registration registers again; a non-master that finds its own stale registration ignores it.
//! * Only a serving master answers `Inquiry` (a backup that inquires anyone else times out and
//!   enters the election: two backups that follow each other would otherwise wait forever);
//!   any server answers `StateRequest`, whatever its role.
//! * The inquiry reply carries the master's epoch and requests applied: a backup that two replies
//!   in a row find behind, without progress in between, missed an `Apply` (a partition, a lost
//!   frame) and downloads the master's state, instead of staying silently behind until the next
//!   request reveals the gap.
//! * `ack = all` waits for the backups that inquired within [`Params::reach_window`].
//!
//! # The safe setting, `ack = every-member`
//! The seeds' group loses acknowledged writes and serves stale reads under partitions at any
//! other setting (PROTOCOL.md). This one is safe by construction, at the cost of availability:
//! * **Gather.** A server that becomes master (by any path) first asks every other member for
//!   its state and serves nothing until all have answered. It adopts the most recent state of
//!   all (by [`Snapshot::recency`]: epoch, then requests applied) and opens a new [`Epoch`]
//!   above every epoch it saw.
//! * **Update.** Applied only while every other member inquired within
//!   [`Params::reach_window`] (else refused, [`Refusal::Unreachable`]); forwarded under the
//!   master's epoch; answered once every member acknowledged it (`ApplyAck` of the same epoch),
//!   or as unacknowledged (outcome unknown) after `ack_timeout`.
//! * **Read** (and a compare-and-set that finds another value, which reveals the state):
//!   answered only when every member acknowledged everything the master applied (else
//!   [`Refusal::Uncommitted`]), so no uncommitted write is ever visible.
//! * A backup applies only its own master's requests of its own epoch; a request of another
//!   epoch, a gap, or an `InquiryReply` naming another epoch makes it download its master's
//!   state, and after every download it acknowledges what it then holds. A master answers no
//!   download until it has gathered (a member wiped by a crash, become master, would otherwise
//!   hand its empty state to backups that hold acknowledged writes).
//! * A failed synchronisation in recovery (M3 act 1050) does not terminate the server, which
//!   would throw away its copy of every acknowledged write: it keeps its state and becomes a
//!   backup of the registered master, whose inquiry decides what comes next.
//!
//! Why no acknowledged write is lost and no read is stale. A write is acknowledged only when
//! every member, a deposed master included, holds it under the master's epoch; states change
//! afterwards only by applying more, or by downloading another member's state, so every member
//! keeps it (until a crash wipes that member, which then holds nothing and orders below every
//! other state; a master hands its state to no download before it has gathered). A new master gathers every member's state before it serves, so it adopts one
//! that holds every acknowledged write. Two servers that both believe they are master cannot
//! both make progress: an update needs the acknowledgement of every member, and a master
//! acknowledges nothing; so a master that answers a read holds exactly the committed state.
//! Safety rests on acknowledgements, not on timers: clocks and time-outs decide only when a
//! request is refused. Only losing every member's state at once (all crashed) loses data.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::bugs::{Bug, Bugs};
use super::kv::{Epoch, Op, Snapshot};
use super::message::{
    KindCounts, Message, MessageKind, NsReply, NsRequest, OpOutput, PeerMsg, Refusal, Registration,
    ReplyError,
};
use super::params::{AckMode, Params, RecoveryMode};
use super::{ClientId, ReplicaId, Time};

/// A replica's role [004 ¶0052].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Serves clients and replicates to the backups.
    Master,
    /// Follows a master.
    Backup,
    /// In the election, waiting for its election delay to elapse.
    WaitElection,
}

/// Where a replica sends a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    /// Another replica of the group.
    Replica(ReplicaId),
    /// The name server.
    NameServer,
    /// The client connection a request came from.
    Client(ClientId),
}

/// Why a role or master changed: the value of `cause=` in the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The master did not answer an inquiry in time (E1).
    InquiryTimeout,
    /// The election delay elapsed with no contest (E2).
    ElectionTimer,
    /// A `DeclareMaster` was accepted or contested (E3).
    DeclareMaster,
    /// A `RevokeMaster` was accepted or contested (E3).
    RevokeMaster,
    /// The detector found this server inconsistent with the name server (M2/M3).
    Recovery,
    /// Start-up found a registered master and downloaded its state (S).
    StartupFollow,
    /// Start-up found no usable master (S).
    StartupNoMaster,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Cause::InquiryTimeout => "inquiry-timeout",
            Cause::ElectionTimer => "election-timer",
            Cause::DeclareMaster => "declare-master",
            Cause::RevokeMaster => "revoke-master",
            Cause::Recovery => "recovery",
            Cause::StartupFollow => "startup-follow",
            Cause::StartupNoMaster => "startup-no-master",
        };
        f.write_str(name)
    }
}

/// A change of role or of followed master, to be logged as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleChange {
    /// The role before.
    pub from: Role,
    /// The role after.
    pub to: Role,
    /// The master followed before.
    pub old_master: Option<ReplicaId>,
    /// The master followed after.
    pub master: Option<ReplicaId>,
    /// Why.
    pub cause: Cause,
}

impl fmt::Display for RoleChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |m: Option<ReplicaId>| m.map_or_else(|| "-".to_string(), |m| m.to_string());
        write!(
            f,
            "role {:?}->{:?} cause={} master={} old_master={}",
            self.from,
            self.to,
            self.cause,
            show(self.master),
            show(self.old_master)
        )
    }
}

/// An effect the runtime must carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send `msg` to `to`. Delivery is best effort.
    Send {
        /// The receiver.
        to: Dest,
        /// The message.
        msg: Message,
    },
    /// The role or the followed master changed: log it.
    RoleChanged(RoleChange),
    /// M3 act 1050: the server must terminate itself; `reason` goes to the log.
    Terminate {
        /// Why, for the log.
        reason: String,
    },
}

/// What a replica reports to the status query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    /// The server's index.
    pub id: ReplicaId,
    /// The group's name.
    pub group: String,
    /// The current role.
    pub role: Role,
    /// The server it follows (itself when master).
    pub master: Option<ReplicaId>,
    /// The sequence number of the last request applied.
    pub applied: u64,
    /// The epoch of the state (`ack = every-member`; the default otherwise).
    #[serde(default)]
    pub epoch: Epoch,
    /// A digest of the replicated map ([`crate::protocol::kv::Kv::digest`]): two replicas with
    /// the same digest hold the same data.
    #[serde(default)]
    pub digest: u64,
    /// Number of keys in the map.
    pub keys: usize,
    /// The name server's registrations seen at the last detector run.
    pub ns_seen: Option<Vec<Registration>>,
    /// Messages sent, per type.
    pub sent: BTreeMap<String, u64>,
    /// Messages received, per type.
    pub received: BTreeMap<String, u64>,
    /// Milliseconds since the core started.
    pub uptime_ms: u64,
    /// Deliberate bugs switched on.
    pub bugs: Vec<Bug>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    nonce: u64,
    deadline: Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LookupPurpose {
    Startup,
    Detector,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DownloadPurpose {
    Startup,
    Recovery,
    Follow,
    Gap,
}

#[derive(Clone, Debug)]
struct Download {
    pending: Pending,
    from: ReplicaId,
    purpose: DownloadPurpose,
}

/// A new master's collection of every other member's state (`ack = every-member`).
#[derive(Clone, Debug)]
struct Gather {
    /// The latest round of requests; a round that times out is asked again.
    pending: Pending,
    /// The first round's nonce: replies to any round count.
    since: u64,
    replies: BTreeMap<ReplicaId, Snapshot>,
}

#[derive(Clone, Debug)]
struct UnackedUpdate {
    seq: u64,
    client: ClientId,
    request: u64,
    waiting: BTreeSet<ReplicaId>,
    deadline: Time,
}

/// One server of the group.
#[derive(Clone, Debug)]
pub struct Replica {
    id: ReplicaId,
    params: Params,
    bugs: Bugs,
    role: Role,
    master: Option<ReplicaId>,
    state: Snapshot,
    started: Time,
    terminated: bool,
    next_nonce: u64,
    detect_at: Option<Time>,
    inquiry: Option<Pending>,
    election_at: Option<Time>,
    monitor_at: Option<Time>,
    lookup: Option<(Pending, LookupPurpose)>,
    download: Option<Download>,
    renew_at: Option<Time>,
    unacked: VecDeque<UnackedUpdate>,
    last_inquiry: Vec<Option<Time>>,
    gather: Option<Gather>,
    acked: Vec<u64>,
    lagging: Option<u64>,
    ns_seen: Option<Vec<Registration>>,
    sent: KindCounts,
    received: KindCounts,
    out: VecDeque<Action>,
}

impl Replica {
    /// A fresh server `id` of a group with `params`; call [`Replica::start`] next.
    pub fn new(id: ReplicaId, params: Params, bugs: Bugs) -> Self {
        let members = params.members as usize;
        Replica {
            id,
            params,
            bugs,
            role: Role::Backup,
            master: None,
            state: Snapshot::default(),
            started: Duration::ZERO,
            terminated: false,
            next_nonce: 0,
            detect_at: None,
            inquiry: None,
            election_at: None,
            monitor_at: None,
            lookup: None,
            download: None,
            renew_at: None,
            unacked: VecDeque::new(),
            last_inquiry: vec![None; members],
            gather: None,
            acked: vec![0; members],
            lagging: None,
            ns_seen: None,
            sent: KindCounts::default(),
            received: KindCounts::default(),
            out: VecDeque::new(),
        }
    }

    /// S: start as a backup with no master and ask the name server for the registered master.
    pub fn start(&mut self, now: Time) {
        self.started = now;
        if !self.bugs.has(Bug::NoSelfMonitoring) {
            self.monitor_at = Some(now + self.params.monitor_period());
        }
        self.send_lookup(now, LookupPurpose::Startup);
    }

    /// This server's index.
    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The server this one follows (itself when master).
    pub fn master(&self) -> Option<ReplicaId> {
        self.master
    }

    /// The application state.
    pub fn snapshot(&self) -> &Snapshot {
        &self.state
    }

    /// Messages of type `kind` this server sent.
    pub fn sent(&self, kind: MessageKind) -> u64 {
        self.sent.get(kind)
    }

    /// True once the server has terminated itself; it then ignores every input.
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// The next effect to carry out, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// When [`Replica::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.terminated {
            return None;
        }
        [
            self.detect_at,
            self.inquiry.map(|p| p.deadline),
            self.election_at,
            self.monitor_at,
            self.lookup.map(|(p, _)| p.deadline),
            self.download.as_ref().map(|d| d.pending.deadline),
            self.renew_at,
            self.unacked.front().map(|u| u.deadline),
            self.gather.as_ref().map(|g| g.pending.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        if self.terminated {
            return;
        }
        self.discount_stall(now);
        if self.inquiry.is_some_and(|p| p.deadline <= now) {
            self.inquiry = None;
            self.enter_election(now, Cause::InquiryTimeout);
        }
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detect_at = Some(now + self.params.detect_interval);
            self.send_inquiry(now);
        }
        if self.election_at.is_some_and(|t| t <= now) {
            self.election_at = None;
            self.assume_mastership(now, Cause::ElectionTimer);
            self.broadcast(PeerMsg::DeclareMaster { idx: self.id });
        }
        if self.monitor_at.is_some_and(|t| t <= now) {
            self.run_detector(now);
        }
        if let Some((_, purpose)) = self.lookup.filter(|(p, _)| p.deadline <= now) {
            self.lookup = None;
            if purpose == LookupPurpose::Startup {
                self.enter_election(now, Cause::StartupNoMaster);
            }
        }
        if let Some(download) = self.download.take_if(|d| d.pending.deadline <= now) {
            self.download_failed(now, download);
        }
        if self.renew_at.is_some_and(|t| t <= now) {
            self.renew_at = Some(now + self.params.lease_renew);
            self.register();
        }
        while self.unacked.front().is_some_and(|u| u.deadline <= now) {
            let update = self.unacked.pop_front().expect("checked above");
            self.answer_unacknowledged(update);
        }
        if self.gather.as_ref().is_some_and(|g| g.pending.deadline <= now) {
            self.ask_for_states(now);
        }
    }

    /// Dispatches a message that arrived on connection `conn` (used only to answer requests).
    pub fn handle_message(&mut self, now: Time, conn: ClientId, msg: Message) {
        match msg {
            Message::Peer { from, msg } => self.handle_peer(now, from, msg),
            Message::FromNs(reply) => self.handle_ns(now, reply),
            Message::Request { id, op } => self.handle_request(now, conn, id, op),
            Message::ToNs(_) | Message::Response { .. } => {}
        }
    }

    /// A message from replica `from`.
    pub fn handle_peer(&mut self, now: Time, from: ReplicaId, msg: PeerMsg) {
        if self.terminated || from == self.id || from >= self.params.members {
            return;
        }
        self.received.bump(msg.kind());
        match msg {
            PeerMsg::Inquiry { nonce } => {
                self.last_inquiry[from as usize] = Some(now);
                if self.is_serving() {
                    // `no-forward` keeps its backups ignorant of every request, hints included.
                    let applied = if self.bugs.has(Bug::NoForward) { 0 } else { self.state.applied };
                    let epoch = self.state.epoch;
                    self.send_peer(from, PeerMsg::InquiryReply { nonce, epoch, applied });
                }
            }
            PeerMsg::InquiryReply { nonce, epoch, applied } => {
                if self.master == Some(from) && self.inquiry.is_some_and(|p| p.nonce == nonce) {
                    self.inquiry = None;
                    // Behind with no progress since the previous reply: an `Apply` was lost, not
                    // merely still on its way.
                    let behind = applied > self.state.applied;
                    let stuck = behind && self.lagging == Some(self.state.applied);
                    self.lagging = behind.then_some(self.state.applied);
                    if (epoch != self.state.epoch || stuck) && self.download.is_none() {
                        self.start_download(now, from, DownloadPurpose::Gap);
                    }
                }
            }
            PeerMsg::DeclareMaster { idx } => self.on_declare_master(now, idx),
            PeerMsg::RevokeMaster { idx, .. } => self.on_revoke_master(now, idx),
            PeerMsg::Apply { epoch, seq, op } => self.on_apply(now, from, epoch, seq, op),
            PeerMsg::ApplyAck { epoch, seq } => self.on_apply_ack(from, epoch, seq),
            // A master still gathering has no state to hand out yet (it may be a wiped member
            // about to adopt the others'): it answers only other gathers until it has gathered.
            PeerMsg::StateRequest { gather: false, .. } if self.gather.is_some() => {}
            PeerMsg::StateRequest { nonce, .. } => {
                let snapshot = self.state.clone();
                self.send_peer(from, PeerMsg::StateReply { nonce, snapshot });
            }
            PeerMsg::StateReply { nonce, snapshot } => self.on_state_reply(now, from, nonce, snapshot),
        }
    }

    /// A message from the name server.
    pub fn handle_ns(&mut self, now: Time, reply: NsReply) {
        if self.terminated {
            return;
        }
        self.received.bump(reply.kind());
        match reply {
            NsReply::LookupReply { nonce, registrations } => {
                let Some((_, purpose)) = self.lookup.filter(|(p, _)| p.nonce == nonce) else {
                    return;
                };
                self.lookup = None;
                match purpose {
                    LookupPurpose::Startup => self.on_startup_lookup(now, &registrations),
                    LookupPurpose::Detector => self.on_detector_lookup(now, registrations),
                }
            }
            NsReply::Notify { group } => {
                if group == self.params.group {
                    self.run_detector(now);
                }
            }
        }
    }

    /// A client request `id` on connection `client`.
    pub fn handle_request(&mut self, now: Time, client: ClientId, id: u64, op: Op) {
        if self.terminated {
            return;
        }
        self.received.bump(MessageKind::Request);
        if !self.is_serving() {
            self.respond(client, id, Err(ReplyError::NotMaster { master: self.master }));
            return;
        }
        if self.params.ack == AckMode::EveryMember {
            self.handle_request_safely(now, client, id, op);
            return;
        }
        if !op.is_update() {
            let result = self.state.kv.apply(&op);
            self.respond(client, id, result);
            return;
        }
        if let Err(e) = self.state.kv.apply(&op) {
            self.respond(client, id, Err(e));
            return;
        }
        self.state.applied += 1;
        let seq = self.state.applied;
        self.forward(seq, op);
        let waiting = match self.params.ack {
            AckMode::Async => BTreeSet::new(),
            AckMode::All | AckMode::EveryMember => self.reachable_backups(now),
        };
        self.await_acks(now, client, id, seq, waiting);
    }

    /// Sends request `seq` to every backup; the `no-forward` bug sends nothing and takes it as
    /// acknowledged by every backup.
    fn forward(&mut self, seq: u64, op: Op) {
        if self.bugs.has(Bug::NoForward) {
            self.acked.iter_mut().for_each(|a| *a = seq);
        } else {
            self.broadcast(PeerMsg::Apply { epoch: self.state.epoch, seq, op });
        }
    }

    /// A request under `ack = every-member` to a master (see the module docs).
    fn handle_request_safely(&mut self, now: Time, client: ClientId, id: u64, op: Op) {
        let refuse = |why| Err(ReplyError::Refused { why });
        if let Some(gather) = &self.gather {
            let missing = self.others().filter(|m| !gather.replies.contains_key(m)).collect();
            self.respond(client, id, refuse(Refusal::Gathering { missing }));
            return;
        }
        let uncommitted: Vec<_> =
            self.others().filter(|&m| self.acked[m as usize] < self.state.applied).collect();
        let read_refusal = (!uncommitted.is_empty()).then_some(Refusal::Uncommitted { missing: uncommitted });
        if !op.is_update() {
            let result = match read_refusal {
                Some(why) => refuse(why),
                None => self.state.kv.apply(&op),
            };
            self.respond(client, id, result);
            return;
        }
        let reachable = self.reachable_backups(now);
        let unreachable: Vec<_> = self.others().filter(|m| !reachable.contains(m)).collect();
        if !unreachable.is_empty() {
            self.respond(client, id, refuse(Refusal::Unreachable { missing: unreachable }));
            return;
        }
        if let Err(e) = self.state.kv.apply(&op) {
            // A compare-and-set that found another value reveals the state, as a read does.
            self.respond(client, id, read_refusal.map_or(Err(e), refuse));
            return;
        }
        self.state.applied += 1;
        let seq = self.state.applied;
        self.forward(seq, op);
        self.await_acks(now, client, id, seq, reachable);
    }

    /// Answers update `seq` now when no backup must acknowledge it, else once `waiting` all have.
    fn await_acks(&mut self, now: Time, client: ClientId, id: u64, seq: u64, waiting: BTreeSet<ReplicaId>) {
        if waiting.is_empty() || self.bugs.has(Bug::NoForward) {
            self.respond(client, id, Ok(OpOutput::Done));
        } else {
            let deadline = now + self.params.ack_timeout;
            self.unacked.push_back(UnackedUpdate { seq, client, request: id, waiting, deadline });
        }
    }

    /// The answer to the status query.
    pub fn status(&self, now: Time) -> ReplicaStatus {
        ReplicaStatus {
            id: self.id,
            group: self.params.group.clone(),
            role: self.role,
            master: self.master,
            applied: self.state.applied,
            epoch: self.state.epoch,
            digest: self.state.kv.digest(),
            keys: self.state.kv.len(),
            ns_seen: self.ns_seen.clone(),
            sent: self.sent.by_name(),
            received: self.received.by_name(),
            uptime_ms: now.saturating_sub(self.started).as_millis() as u64,
            bugs: self.bugs.iter().collect(),
        }
    }

    fn is_serving(&self) -> bool {
        self.role == Role::Master && self.master == Some(self.id)
    }

    fn reachable_backups(&self, now: Time) -> BTreeSet<ReplicaId> {
        let window = self.params.reach_window();
        self.others()
            .filter(|&m| self.last_inquiry[m as usize].is_some_and(|t| now.saturating_sub(t) <= window))
            .collect()
    }

    /// Every member but this one.
    fn others(&self) -> impl Iterator<Item = ReplicaId> + use<> {
        let me = self.id;
        (0..self.params.members).filter(move |&m| m != me)
    }

    // ---- E1: detection -------------------------------------------------------------------

    fn send_inquiry(&mut self, now: Time) {
        let Some(master) = self.master.filter(|&m| m != self.id) else { return };
        if self.inquiry.is_some() {
            return;
        }
        let nonce = self.nonce();
        self.inquiry = Some(Pending { nonce, deadline: now + self.params.inquiry_timeout });
        self.send_peer(master, PeerMsg::Inquiry { nonce });
    }

    // ---- E2: election --------------------------------------------------------------------

    fn enter_election(&mut self, now: Time, cause: Cause) {
        self.detect_at = None;
        self.inquiry = None;
        self.election_at = Some(now + self.params.election_delay(self.id));
        self.set_role(Role::WaitElection, self.master, cause);
    }

    /// Become master and register; the caller broadcasts `DeclareMaster` or `RevokeMaster`.
    fn assume_mastership(&mut self, now: Time, cause: Cause) {
        self.election_at = None;
        self.detect_at = None;
        self.inquiry = None;
        // A download still under way would replace the master's state with an older one.
        self.download = None;
        self.set_role(Role::Master, Some(self.id), cause);
        self.renew_at = Some(now + self.params.lease_renew);
        self.register();
        if self.params.ack == AckMode::EveryMember && self.gather.is_none() {
            let since = self.next_nonce + 1;
            let pending = Pending { nonce: since, deadline: now };
            self.gather = Some(Gather { pending, since, replies: BTreeMap::new() });
            self.ask_for_states(now);
        }
    }

    // ---- gather (ack = every-member) -----------------------------------------------------

    /// Asks every member that has not answered yet for its state, again after each time-out.
    fn ask_for_states(&mut self, now: Time) {
        let nonce = self.nonce();
        let missing: Vec<_> = match self.gather.as_mut() {
            Some(gather) => {
                gather.pending = Pending { nonce, deadline: now + self.params.inquiry_timeout };
                self.params
                    .member_ids()
                    .filter(|&m| m != self.id && !gather.replies.contains_key(&m))
                    .collect()
            }
            None => return,
        };
        if missing.is_empty() {
            self.finish_gather();
        }
        for m in missing {
            self.send_peer(m, PeerMsg::StateRequest { nonce, gather: true });
        }
    }

    /// Every member answered: serve from the most recent state, in a new epoch above all seen.
    fn finish_gather(&mut self) {
        let Some(gather) = self.gather.take() else { return };
        let counter =
            gather.replies.values().chain([&self.state]).map(|s| s.epoch.counter).max().unwrap_or(0);
        if let Some(best) = gather.replies.into_values().max_by_key(Snapshot::recency) {
            if best.recency() > self.state.recency() {
                self.state = best;
            }
        }
        self.state.epoch = Epoch { counter: counter + 1, master: self.id };
        self.acked.iter_mut().for_each(|a| *a = 0);
    }

    // ---- E3: mastership updating ---------------------------------------------------------

    fn on_declare_master(&mut self, now: Time, idx: ReplicaId) {
        if idx == self.id {
            return;
        }
        if self.role != Role::Master {
            self.follow(now, idx, Cause::DeclareMaster);
            return;
        }
        if self.bugs.has(Bug::NeverYield) {
            return;
        }
        self.run_detector(now);
        if self.id < idx {
            self.broadcast(PeerMsg::RevokeMaster { reject: idx, idx: self.id });
        } else {
            self.follow(now, idx, Cause::DeclareMaster);
        }
    }

    fn on_revoke_master(&mut self, now: Time, idx: ReplicaId) {
        if idx == self.id || (self.role == Role::Master && self.bugs.has(Bug::NeverYield)) {
            return;
        }
        if self.id < idx {
            if !self.is_serving() {
                self.assume_mastership(now, Cause::RevokeMaster);
            }
            self.broadcast(PeerMsg::RevokeMaster { reject: idx, idx: self.id });
        } else {
            self.follow(now, idx, Cause::RevokeMaster);
        }
    }

    /// Become a backup of `master`, downloading its state when it is a new master.
    fn follow(&mut self, now: Time, master: ReplicaId, cause: Cause) {
        let changed = self.master != Some(master);
        self.step_down();
        self.election_at = None;
        self.inquiry = None;
        self.detect_at = Some(now + self.params.detect_interval);
        self.set_role(Role::Backup, Some(master), cause);
        if changed {
            self.start_download(now, master, DownloadPurpose::Follow);
        }
    }

    /// Leave mastership duties: stop renewing and gathering, give up on unacknowledged updates.
    fn step_down(&mut self) {
        self.renew_at = None;
        self.gather = None;
        while let Some(update) = self.unacked.pop_front() {
            self.answer_unacknowledged(update);
        }
    }

    // ---- replication ---------------------------------------------------------------------

    fn on_apply(&mut self, now: Time, from: ReplicaId, epoch: Epoch, seq: u64, op: Op) {
        if self.master != Some(from) || self.role == Role::Master || self.download.is_some() {
            return;
        }
        let applied = self.state.applied;
        if epoch != self.state.epoch || seq > applied + 1 {
            self.start_download(now, from, DownloadPurpose::Gap);
            return;
        }
        if seq == applied + 1 {
            // The master already checked the op; a failed cas cannot reach a backup.
            let _ = self.state.kv.apply(&op);
            self.state.applied = seq;
        }
        self.acknowledge(from);
    }

    /// Tells master `to` what this backup holds.
    fn acknowledge(&mut self, to: ReplicaId) {
        let (epoch, seq) = (self.state.epoch, self.state.applied);
        self.send_peer(to, PeerMsg::ApplyAck { epoch, seq });
    }

    fn on_apply_ack(&mut self, from: ReplicaId, epoch: Epoch, seq: u64) {
        if epoch != self.state.epoch || !self.is_serving() {
            return;
        }
        let acked = &mut self.acked[from as usize];
        *acked = (*acked).max(seq);
        for update in self.unacked.iter_mut().filter(|u| u.seq <= seq) {
            update.waiting.remove(&from);
        }
        let (done, rest): (VecDeque<_>, VecDeque<_>) =
            std::mem::take(&mut self.unacked).into_iter().partition(|u| u.waiting.is_empty());
        self.unacked = rest;
        for update in done {
            self.respond(update.client, update.request, Ok(OpOutput::Done));
        }
    }

    fn answer_unacknowledged(&mut self, update: UnackedUpdate) {
        let missing = update.waiting.into_iter().collect();
        self.respond(update.client, update.request, Err(ReplyError::Unacknowledged { missing }));
    }

    // ---- state download (S, M3, follow, gap) ---------------------------------------------

    fn start_download(&mut self, now: Time, from: ReplicaId, purpose: DownloadPurpose) {
        if self.download.as_ref().is_some_and(|d| d.from == from && d.purpose == purpose) {
            return;
        }
        let nonce = self.nonce();
        let pending = Pending { nonce, deadline: now + self.params.inquiry_timeout };
        self.download = Some(Download { pending, from, purpose });
        self.send_peer(from, PeerMsg::StateRequest { nonce, gather: false });
    }

    fn on_state_reply(&mut self, now: Time, from: ReplicaId, nonce: u64, snapshot: Snapshot) {
        if let Some(gather) = self.gather.as_mut().filter(|g| nonce >= g.since) {
            gather.replies.insert(from, snapshot);
            if gather.replies.len() + 1 == self.params.members as usize {
                self.finish_gather();
            }
            return;
        }
        let Some(download) = self.download.take_if(|d| d.from == from && d.pending.nonce == nonce) else {
            return;
        };
        self.state = snapshot;
        match download.purpose {
            DownloadPurpose::Startup => self.follow(now, from, Cause::StartupFollow),
            DownloadPurpose::Recovery => {
                let highest = self.params.member_ids().min() == Some(self.id) && self.id < from;
                if self.params.recovery == RecoveryMode::Priority && highest {
                    self.assume_mastership(now, Cause::Recovery);
                    self.broadcast(PeerMsg::DeclareMaster { idx: self.id });
                } else {
                    self.follow(now, from, Cause::Recovery);
                }
            }
            DownloadPurpose::Follow | DownloadPurpose::Gap => {}
        }
        if self.role == Role::Backup && self.master == Some(from) {
            self.acknowledge(from);
        }
    }

    fn download_failed(&mut self, now: Time, download: Download) {
        match download.purpose {
            DownloadPurpose::Startup => self.enter_election(now, Cause::StartupNoMaster),
            DownloadPurpose::Recovery if self.params.ack == AckMode::EveryMember => {
                // Terminating would throw away this member's copy of every acknowledged write:
                // keep the state, follow the registered master, and let detection (E1) decide.
                self.set_role(Role::Backup, Some(download.from), Cause::Recovery);
                self.detect_at = Some(now + self.params.detect_interval);
            }
            DownloadPurpose::Recovery => {
                self.terminated = true;
                self.out.push_back(Action::Terminate {
                    reason: format!(
                        "recovery: synchronization with registered master {} failed: no state within {} ms",
                        download.from,
                        self.params.inquiry_timeout.as_millis()
                    ),
                });
            }
            DownloadPurpose::Follow | DownloadPurpose::Gap => {}
        }
    }

    // ---- S: start-up ---------------------------------------------------------------------

    fn on_startup_lookup(&mut self, now: Time, registrations: &[Registration]) {
        match registrations.first().map(|r| r.id) {
            Some(m) if m != self.id && m < self.params.members => {
                self.master = Some(m);
                self.start_download(now, m, DownloadPurpose::Startup);
            }
            _ => self.enter_election(now, Cause::StartupNoMaster),
        }
    }

    // ---- M1-M3: self-monitoring ----------------------------------------------------------

    /// M1: the counter is a periodic timer's, so it does not advance while the server is
    /// stalled (stopped, or its clock stepped): a call later than the earliest timer by more
    /// than one tick counts as a single tick, and the detector's time moves by the rest.
    fn discount_stall(&mut self, now: Time) {
        let (Some(due), Some(at)) = (self.poll_timeout(), self.monitor_at) else { return };
        let stall = now.saturating_sub(due);
        if stall > self.params.monitor_tick {
            self.monitor_at = Some(at + stall - self.params.monitor_tick);
        }
    }

    fn run_detector(&mut self, now: Time) {
        if self.bugs.has(Bug::NoSelfMonitoring) {
            return;
        }
        self.monitor_at = Some(now + self.params.monitor_period());
        if self.lookup.is_none() {
            self.send_lookup(now, LookupPurpose::Detector);
        }
    }

    fn on_detector_lookup(&mut self, now: Time, registrations: Vec<Registration>) {
        let registered = registrations.first().map(|r| r.id);
        self.ns_seen = Some(registrations);
        match registered {
            None if self.is_serving() => self.register(),
            None => {}
            Some(m) if m == self.id => {}
            Some(m) if self.role != Role::Master && self.master == Some(m) => {}
            Some(_) if self.role == Role::Master && self.bugs.has(Bug::NeverYield) => {}
            Some(m) if m < self.params.members => self.recover(now, m),
            Some(_) => {}
        }
    }

    fn recover(&mut self, now: Time, registered: ReplicaId) {
        self.step_down();
        self.election_at = None;
        self.detect_at = None;
        self.inquiry = None;
        self.set_role(self.role, Some(registered), Cause::Recovery);
        self.start_download(now, registered, DownloadPurpose::Recovery);
    }

    // ---- sending -------------------------------------------------------------------------

    fn send_lookup(&mut self, now: Time, purpose: LookupPurpose) {
        let nonce = self.nonce();
        self.lookup = Some((Pending { nonce, deadline: now + self.params.inquiry_timeout }, purpose));
        let group = self.params.group.clone();
        self.send(Dest::NameServer, Message::ToNs(NsRequest::Lookup { group, id: Some(self.id), nonce }));
    }

    fn register(&mut self) {
        let group = self.params.group.clone();
        self.send(Dest::NameServer, Message::ToNs(NsRequest::Register { group, id: self.id }));
    }

    fn broadcast(&mut self, msg: PeerMsg) {
        let me = self.id;
        for to in (0..self.params.members).filter(|&m| m != me) {
            self.send_peer(to, msg.clone());
        }
    }

    fn send_peer(&mut self, to: ReplicaId, msg: PeerMsg) {
        self.send(Dest::Replica(to), Message::Peer { from: self.id, msg });
    }

    fn respond(&mut self, client: ClientId, id: u64, result: Result<OpOutput, ReplyError>) {
        self.send(Dest::Client(client), Message::Response { id, result });
    }

    fn send(&mut self, to: Dest, msg: Message) {
        self.sent.bump(msg.kind());
        self.out.push_back(Action::Send { to, msg });
    }

    fn set_role(&mut self, role: Role, master: Option<ReplicaId>, cause: Cause) {
        if role == self.role && master == self.master {
            return;
        }
        let change = RoleChange { from: self.role, to: role, old_master: self.master, master, cause };
        self.role = role;
        self.master = master;
        self.out.push_back(Action::RoleChanged(change));
    }

    fn nonce(&mut self) -> u64 {
        self.next_nonce += 1;
        self.next_nonce
    }
}

/// The "exactly one master" property on one snapshot of the group: `Some(m)` when `m` is the only
/// server that says Master, every other listed server is a Backup following `m`, and the name
/// server registers exactly `m`. `servers` lists the running servers as (id, role, master).
pub fn single_master(
    servers: impl IntoIterator<Item = (ReplicaId, Role, Option<ReplicaId>)>,
    registered: &[ReplicaId],
) -> Option<ReplicaId> {
    let servers: Vec<_> = servers.into_iter().collect();
    let mut masters = servers.iter().filter(|(_, role, _)| *role == Role::Master);
    let &(m, _, _) = masters.next()?;
    let others_follow =
        servers.iter().all(|&(id, role, master)| master == Some(m) && (id == m || role == Role::Backup));
    (masters.next().is_none() && others_follow && registered == [m]).then_some(m)
}
