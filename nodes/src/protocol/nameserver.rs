//! The name server (M4): per group, the registered master with a lease, duplicate removal and
//! group notification, as a state machine without I/O.
//!
//! Registrations are leases: a registration not renewed within `lease_ttl` expires. When a
//! group holds more than one live registration, the name server keeps one by [`KeepRule`],
//! removes the others and notifies every server it has heard from in that group (act 1210-1230).
//! Look-ups answer every live registration, oldest first. With the `no-ns-dedup` bug the name
//! server keeps every registration it ever got: no duplicate removal, no expiry, no notification.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::bugs::{Bug, Bugs};
use super::message::{Message, NsReply, NsRequest, Registration};
use super::{ClientId, ReplicaId, Time};

/// Which registration survives a conflict (act 1220).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepRule {
    /// The server with the lowest index (the highest priority).
    #[default]
    LowestId,
    /// The registration that has held its lease the longest.
    Incumbent,
}

/// Name-server tunables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NsParams {
    /// A registration expires this long after its last renewal.
    pub lease_ttl: Duration,
    /// Which registration a conflict keeps.
    pub keep: KeepRule,
}

impl Default for NsParams {
    fn default() -> Self {
        NsParams { lease_ttl: Duration::from_millis(150), keep: KeepRule::LowestId }
    }
}

/// Who the name server answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NsDest {
    /// A replica of a group, reached through its latest connection.
    Replica {
        /// Its group.
        group: String,
        /// Its index.
        id: ReplicaId,
    },
    /// The connection a client's look-up came from.
    Client(ClientId),
}

/// A message for the runtime to send.
#[derive(Clone, Debug, PartialEq)]
pub struct NsSend {
    /// The recipient.
    pub to: NsDest,
    /// The message.
    pub msg: Message,
}

#[derive(Clone, Debug)]
struct Lease {
    id: ReplicaId,
    since: Time,
    expires: Time,
}

#[derive(Clone, Debug, Default)]
struct GroupEntry {
    leases: Vec<Lease>,
    members: BTreeSet<ReplicaId>,
}

/// What the name server reports to the status query, per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NsGroupStatus {
    /// Live registrations, oldest first.
    pub registrations: Vec<Registration>,
    /// Servers heard from.
    pub members: Vec<ReplicaId>,
}

/// What the name server reports to the status query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NsStatus {
    /// Per group name.
    pub groups: BTreeMap<String, NsGroupStatus>,
    /// Duplicate registrations removed so far.
    pub conflicts_resolved: u64,
    /// Notifications sent so far.
    pub notifications: u64,
    /// Milliseconds since the core started.
    pub uptime_ms: u64,
    /// Deliberate bugs switched on.
    pub bugs: Vec<Bug>,
}

/// The name server.
#[derive(Clone, Debug)]
pub struct NameServer {
    params: NsParams,
    bugs: Bugs,
    started: Time,
    groups: BTreeMap<String, GroupEntry>,
    conflicts_resolved: u64,
    notifications: u64,
    out: VecDeque<NsSend>,
}

impl NameServer {
    /// A name server that started at `now`.
    pub fn new(params: NsParams, bugs: Bugs, now: Time) -> Self {
        NameServer {
            params,
            bugs,
            started: now,
            groups: BTreeMap::new(),
            conflicts_resolved: 0,
            notifications: 0,
            out: VecDeque::new(),
        }
    }

    /// The next message to send, if any.
    pub fn poll_send(&mut self) -> Option<NsSend> {
        self.out.pop_front()
    }

    /// A request from connection `conn`.
    pub fn handle(&mut self, now: Time, conn: ClientId, request: NsRequest) {
        match request {
            NsRequest::Register { group, id } => self.register(now, group, id),
            NsRequest::Lookup { group, id, nonce } => {
                let entry = self.groups.entry(group.clone()).or_default();
                expire(entry, now, &self.bugs);
                let registrations = entry.leases.iter().map(|l| view(l, now)).collect();
                let to = match id {
                    Some(id) => {
                        entry.members.insert(id);
                        NsDest::Replica { group, id }
                    }
                    None => NsDest::Client(conn),
                };
                self.out.push_back(NsSend {
                    to,
                    msg: Message::FromNs(NsReply::LookupReply { nonce, registrations }),
                });
            }
        }
    }

    /// The live registrations of `group`, oldest first.
    pub fn registrations(&self, group: &str, now: Time) -> Vec<Registration> {
        self.groups
            .get(group)
            .map(|g| {
                let live = |l: &&Lease| l.expires > now || self.bugs.has(Bug::NoNsDedup);
                g.leases.iter().filter(live).map(|l| view(l, now)).collect()
            })
            .unwrap_or_default()
    }

    /// The answer to the status query.
    pub fn status(&self, now: Time) -> NsStatus {
        let groups = self
            .groups
            .iter()
            .map(|(name, g)| {
                let status = NsGroupStatus {
                    registrations: self.registrations(name, now),
                    members: g.members.iter().copied().collect(),
                };
                (name.clone(), status)
            })
            .collect();
        NsStatus {
            groups,
            conflicts_resolved: self.conflicts_resolved,
            notifications: self.notifications,
            uptime_ms: now.saturating_sub(self.started).as_millis() as u64,
            bugs: self.bugs.iter().collect(),
        }
    }

    fn register(&mut self, now: Time, group: String, id: ReplicaId) {
        let ttl = self.params.lease_ttl;
        let entry = self.groups.entry(group.clone()).or_default();
        entry.members.insert(id);
        expire(entry, now, &self.bugs);
        match entry.leases.iter_mut().find(|l| l.id == id) {
            Some(lease) => lease.expires = now + ttl,
            None => entry.leases.push(Lease { id, since: now, expires: now + ttl }),
        }
        if entry.leases.len() < 2 || self.bugs.has(Bug::NoNsDedup) {
            return;
        }
        let kept = match self.params.keep {
            KeepRule::LowestId => entry.leases.iter().map(|l| l.id).min(),
            KeepRule::Incumbent => entry.leases.iter().min_by_key(|l| (l.since, l.id)).map(|l| l.id),
        };
        let before = entry.leases.len();
        entry.leases.retain(|l| Some(l.id) == kept);
        self.conflicts_resolved += (before - entry.leases.len()) as u64;
        let members: Vec<ReplicaId> = entry.members.iter().copied().collect();
        for member in members {
            self.notifications += 1;
            let to = NsDest::Replica { group: group.clone(), id: member };
            self.out.push_back(NsSend { to, msg: Message::FromNs(NsReply::Notify { group: group.clone() }) });
        }
    }
}

fn expire(entry: &mut GroupEntry, now: Time, bugs: &Bugs) {
    if !bugs.has(Bug::NoNsDedup) {
        entry.leases.retain(|l| l.expires > now);
    }
}

fn view(lease: &Lease, now: Time) -> Registration {
    Registration {
        id: lease.id,
        age_ms: now.saturating_sub(lease.since).as_millis() as u64,
        lease_remaining_ms: lease.expires.saturating_sub(now).as_millis() as u64,
    }
}
