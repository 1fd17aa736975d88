//! Every message the group exchanges: between replicas, with the name server, and with clients.

use serde::{Deserialize, Serialize};

use super::ReplicaId;
use super::kv::{Epoch, Op, Snapshot, Value};

/// One frame on the wire: every connection carries a stream of these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Replica to replica; `from` is the sender's index.
    Peer {
        /// The sender.
        from: ReplicaId,
        /// What it says.
        msg: PeerMsg,
    },
    /// Replica or client to the name server.
    ToNs(NsRequest),
    /// Name server to a replica or client.
    FromNs(NsReply),
    /// Client to replica: run `op`; `id` is echoed in the response.
    Request {
        /// The client's number for the request.
        id: u64,
        /// The operation.
        op: Op,
    },
    /// Replica to client: the outcome of request `id`.
    Response {
        /// The request's number.
        id: u64,
        /// Its outcome.
        result: Result<OpOutput, ReplyError>,
    },
}

/// Messages between replicas of one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerMsg {
    /// E1: a backup asks its master whether it is functional.
    Inquiry {
        /// Matches the reply to the inquiry.
        nonce: u64,
    },
    /// E1: the answer to an `Inquiry`, with the master's epoch and requests applied (a backup
    /// whose state is of another epoch, or behind, downloads the master's state).
    InquiryReply {
        /// The inquiry's nonce.
        nonce: u64,
        /// The master's epoch.
        epoch: Epoch,
        /// Requests the master has applied in it.
        applied: u64,
    },
    /// E2/E3: server `idx` declares itself master.
    DeclareMaster {
        /// The server that declares itself master.
        idx: ReplicaId,
    },
    /// E3: replace the mastership of `reject` with that of `idx`.
    RevokeMaster {
        /// The master whose mastership ends.
        reject: ReplicaId,
        /// The master that replaces it.
        idx: ReplicaId,
    },
    /// Replication: the master's request number `seq` of `epoch` is `op`.
    Apply {
        /// The master's epoch.
        epoch: Epoch,
        /// The request's number in it.
        seq: u64,
        /// The request.
        op: Op,
    },
    /// Replication: the backup holds everything of `epoch` up to `seq`.
    ApplyAck {
        /// The epoch acknowledged.
        epoch: Epoch,
        /// The last request held.
        seq: u64,
    },
    /// M3 / start-up / gap: send me your state (`gather`: for a new master's gather, which a
    /// master still gathering answers too; it answers no download until it has gathered).
    StateRequest {
        /// Matches the reply to the request.
        nonce: u64,
        /// True for a new master's gather.
        gather: bool,
    },
    /// The answer to a `StateRequest`.
    StateReply {
        /// The request's nonce.
        nonce: u64,
        /// The sender's state.
        snapshot: Snapshot,
    },
}

/// Requests to the name server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NsRequest {
    /// M4: replica `id` registers (or renews its lease) as master of `group`.
    Register {
        /// The group.
        group: String,
        /// The registering replica.
        id: ReplicaId,
    },
    /// M4: who is the registered master of `group`? `id` is the asking replica, `None` for a client.
    Lookup {
        /// The group.
        group: String,
        /// The asking replica (`None`: a client).
        id: Option<ReplicaId>,
        /// Matches the reply to the look-up.
        nonce: u64,
    },
}

/// Messages from the name server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NsReply {
    /// The registrations the name server holds for the group, oldest first (normally at most one).
    LookupReply {
        /// The look-up's nonce.
        nonce: u64,
        /// The group's registrations, oldest first.
        registrations: Vec<Registration>,
    },
    /// M1(a): the name server found multiple registrations; run self-monitoring now.
    Notify {
        /// The group whose replicas must run self-monitoring.
        group: String,
    },
}

/// A master registration as the name server shows it, lease included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The registered master.
    pub id: ReplicaId,
    /// Milliseconds since this server first registered (without a lapse of its lease).
    pub age_ms: u64,
    /// Milliseconds left before the lease expires unless renewed.
    pub lease_remaining_ms: u64,
}

/// A successful outcome of a client request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpOutput {
    /// A read: the value, or nothing when the key was never written.
    Value(Option<Value>),
    /// A write, a successful cas or an append.
    Done,
}

/// Why a replica did not complete a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ReplyError {
    /// This replica is not the master; `master` is the one it follows, if any. Nothing happened.
    #[error("not the master (master: {master:?})")]
    NotMaster {
        /// The master this replica follows, if any.
        master: Option<ReplicaId>,
    },
    /// The compare-and-set found another value. Nothing happened.
    #[error("cas failed: current value is {current:?}")]
    CasMismatch {
        /// The value the key holds.
        current: Option<Value>,
    },
    /// `ack = all`: the master applied the request but not every reachable backup confirmed it
    /// within `ack_timeout`; it may survive or be lost.
    #[error("applied on the master but not acknowledged by backups {missing:?}")]
    Unacknowledged {
        /// The backups that did not confirm in time.
        missing: Vec<ReplicaId>,
    },
    /// `ack = every-member`: the master refused the request. Nothing happened.
    #[error("refused: {why}")]
    Refused {
        /// The reason.
        why: Refusal,
    },
}

/// Why a master of the safe setting (`ack = every-member`) refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// It has not yet gathered the state of every member since it became master.
    #[error("still gathering the members' states (missing {missing:?})")]
    Gathering {
        /// The members whose state has not arrived.
        missing: Vec<ReplicaId>,
    },
    /// An update needs every member reachable; these did not inquire within the window.
    #[error("members {missing:?} are not reachable")]
    Unreachable {
        /// The members that did not inquire within the window.
        missing: Vec<ReplicaId>,
    },
    /// A read (or a failed compare-and-set) needs every member to hold all the master applied;
    /// these have not acknowledged it.
    #[error("members {missing:?} have not acknowledged everything applied")]
    Uncommitted {
        /// The members that have not acknowledged everything applied.
        missing: Vec<ReplicaId>,
    },
}

impl ReplyError {
    /// True when the request certainly had no effect.
    pub fn is_definite(&self) -> bool {
        !matches!(self, ReplyError::Unacknowledged { .. })
    }
}

impl Message {
    /// The message's type, for per-type counters.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Peer { msg, .. } => msg.kind(),
            Message::ToNs(NsRequest::Register { .. }) => MessageKind::Register,
            Message::ToNs(NsRequest::Lookup { .. }) => MessageKind::Lookup,
            Message::FromNs(reply) => reply.kind(),
            Message::Request { .. } => MessageKind::Request,
            Message::Response { .. } => MessageKind::Response,
        }
    }
}

impl NsReply {
    /// The reply's type, for per-type counters.
    pub fn kind(&self) -> MessageKind {
        match self {
            NsReply::LookupReply { .. } => MessageKind::LookupReply,
            NsReply::Notify { .. } => MessageKind::Notify,
        }
    }
}

impl PeerMsg {
    /// The message's type, for per-type counters.
    pub fn kind(&self) -> MessageKind {
        match self {
            PeerMsg::Inquiry { .. } => MessageKind::Inquiry,
            PeerMsg::InquiryReply { .. } => MessageKind::InquiryReply,
            PeerMsg::DeclareMaster { .. } => MessageKind::DeclareMaster,
            PeerMsg::RevokeMaster { .. } => MessageKind::RevokeMaster,
            PeerMsg::Apply { .. } => MessageKind::Apply,
            PeerMsg::ApplyAck { .. } => MessageKind::ApplyAck,
            PeerMsg::StateRequest { .. } => MessageKind::StateRequest,
            PeerMsg::StateReply { .. } => MessageKind::StateReply,
        }
    }
}

/// The type of a [`Message`], without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// [`PeerMsg::Inquiry`].
    Inquiry,
    /// [`PeerMsg::InquiryReply`].
    InquiryReply,
    /// [`PeerMsg::DeclareMaster`].
    DeclareMaster,
    /// [`PeerMsg::RevokeMaster`].
    RevokeMaster,
    /// [`PeerMsg::Apply`].
    Apply,
    /// [`PeerMsg::ApplyAck`].
    ApplyAck,
    /// [`PeerMsg::StateRequest`].
    StateRequest,
    /// [`PeerMsg::StateReply`].
    StateReply,
    /// [`NsRequest::Register`].
    Register,
    /// [`NsRequest::Lookup`].
    Lookup,
    /// [`NsReply::LookupReply`].
    LookupReply,
    /// [`NsReply::Notify`].
    Notify,
    /// [`Message::Request`].
    Request,
    /// [`Message::Response`].
    Response,
}

impl MessageKind {
    /// Every type, in declaration order.
    pub const ALL: [MessageKind; 14] = [
        MessageKind::Inquiry,
        MessageKind::InquiryReply,
        MessageKind::DeclareMaster,
        MessageKind::RevokeMaster,
        MessageKind::Apply,
        MessageKind::ApplyAck,
        MessageKind::StateRequest,
        MessageKind::StateReply,
        MessageKind::Register,
        MessageKind::Lookup,
        MessageKind::LookupReply,
        MessageKind::Notify,
        MessageKind::Request,
        MessageKind::Response,
    ];

    /// The type's name, as status reports and logs spell it.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Inquiry => "Inquiry",
            MessageKind::InquiryReply => "InquiryReply",
            MessageKind::DeclareMaster => "DeclareMaster",
            MessageKind::RevokeMaster => "RevokeMaster",
            MessageKind::Apply => "Apply",
            MessageKind::ApplyAck => "ApplyAck",
            MessageKind::StateRequest => "StateRequest",
            MessageKind::StateReply => "StateReply",
            MessageKind::Register => "Register",
            MessageKind::Lookup => "Lookup",
            MessageKind::LookupReply => "LookupReply",
            MessageKind::Notify => "Notify",
            MessageKind::Request => "Request",
            MessageKind::Response => "Response",
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A count of messages per [`MessageKind`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindCounts([u64; MessageKind::ALL.len()]);

impl KindCounts {
    /// Counts one message of type `kind`.
    pub fn bump(&mut self, kind: MessageKind) {
        self.0[kind as usize] += 1;
    }

    /// Messages of type `kind` counted.
    pub fn get(&self, kind: MessageKind) -> u64 {
        self.0[kind as usize]
    }

    /// The types counted at least once, with their counts, by name.
    pub fn by_name(&self) -> std::collections::BTreeMap<String, u64> {
        MessageKind::ALL
            .iter()
            .filter(|&&k| self.get(k) > 0)
            .map(|&k| (k.name().to_string(), self.get(k)))
            .collect()
    }
}
