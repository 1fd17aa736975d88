//! The simulator's links between servers, as the runtime's TCP connections carry them
//! (`runtime::net`, with the timing of [`crate::runtime::tcp`]). Each replica opens one
//! connection to each peer, which carries what it sends to that peer, and one to the name server,
//! which carries its requests and the name server's answers. A connection delivers in order.
//!
//! Over a degraded link (a packet fault, [`Degradation`]) a lost segment is sent again after a
//! retransmission time-out (TCP's least plus the round trip, doubling) until it is acknowledged,
//! an acknowledgement crossing the other direction and its degradation. A segment not
//! acknowledged within [`USER_TIMEOUT`] breaks the connection then: whatever it still carried is
//! lost and the side that opened it connects afresh, a handshake over the same links; a lost SYN
//! or SYN-ACK outlasts [`CONNECT_TIMEOUT`], and then what waited for the connection is dropped
//! and the next attempt follows a backoff. The end of a packet fault changes none of this: a
//! connection stalled by it recovers as TCP and the runtime would, within [`USER_TIMEOUT`] and
//! a handshake. Links that no fault degrades draw nothing from the random stream.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::NodeId;
use crate::protocol::message::Message;
use crate::protocol::{ReplicaId, Time};
use crate::runtime::tcp::{CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, QUEUE, USER_TIMEOUT};

/// How a packet fault degrades a link between servers, as the TCP connection over it sees it:
/// a lost packet is sent again after a retransmission time-out and may break the connection (see
/// the module's documentation); a duplicate is discarded and a reordering undone by TCP, so
/// neither shows in the messages.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Degradation {
    /// Added one-way delay, the median.
    pub delay: Duration,
    /// The added delay is drawn uniformly within this of the median.
    pub jitter: Duration,
    /// The chance that a packet is lost.
    pub loss: f64,
    /// The link's rate in bytes per second (`None`: unlimited).
    pub rate: Option<u64>,
}

/// TCP's least retransmission time-out (Linux's `TCP_RTO_MIN`).
pub const RTO_MIN: Duration = Duration::from_millis(200);

/// One direction of a link as it carries packets at the moment.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Way {
    /// The link's own one-way delay.
    pub latency: Duration,
    /// The packet fault on it, if any.
    pub degradation: Option<Degradation>,
    /// True while a partition cuts it.
    pub cut: bool,
}

impl Way {
    fn loss(&self) -> f64 {
        self.degradation.map_or(0.0, |d| d.loss.clamp(0.0, 1.0))
    }

    /// The one-way delay of a packet without jitter.
    fn median(&self) -> Duration {
        self.latency + self.degradation.map_or(Duration::ZERO, |d| d.delay)
    }

    /// Whether a packet sent over it is lost (drawn only when the fault loses packets).
    fn loses(&self, rng: &mut ChaCha8Rng) -> bool {
        let p = self.loss();
        p > 0.0 && rng.random_bool(p)
    }
}

/// A connection and the direction of a message over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Route {
    conn: usize,
    /// False from the side that opened it, true for the answers coming back.
    back: bool,
}

/// What became of a message handed to a connection.
#[derive(Debug)]
pub(super) enum Sent {
    /// It arrives at `at` over connection `conn` in its `epoch`, unless that connection breaks
    /// first.
    At {
        /// When it arrives.
        at: Time,
        /// The connection.
        conn: usize,
        /// Which of the connection's lives.
        epoch: u64,
        /// The message.
        msg: Message,
    },
    /// It waits until the link is connected again, or is lost.
    NotNow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Up,
    Connecting,
    Sleeping,
}

/// Something a connection does at a time; each names the life of the connection it was meant
/// for, and one for an earlier life (before a restart) is void.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A segment was not acknowledged in time: the connection breaks, unless a later
    /// acknowledgement covered it meanwhile (the connection's own record says).
    Break,
    /// The link tries to connect.
    Connect,
    /// The handshake completed.
    Established,
    /// The attempt timed out or was refused.
    Failed,
}

/// An event due at a time, in the order filed: `(at, order, conn, epoch, event)`.
type Timed = (Time, u64, usize, u64, Event);

#[derive(Debug)]
struct Conn {
    state: State,
    epoch: u64,
    /// When each direction last delivered, so that later messages come after.
    free_at: [Time; 2],
    /// The connection breaks at this time: a segment on it never arrived, and everything sent
    /// after it waits behind it.
    lost_head: Option<Time>,
    /// The connection breaks at this time unless a later acknowledgement reaches the sender
    /// first: a segment arrived but no acknowledgement of it did.
    unacked: Option<Time>,
    /// What the opening side sent while not connected, in order.
    waiting: Vec<(NodeId, NodeId, Message)>,
    backoff: Duration,
}

impl Conn {
    fn new() -> Self {
        Conn {
            state: State::Up,
            epoch: 0,
            free_at: [Duration::ZERO; 2],
            lost_head: None,
            unacked: None,
            waiting: Vec::new(),
            backoff: MIN_BACKOFF,
        }
    }
}

/// What a connection needs of the world to carry a message.
pub(super) struct Carry {
    /// The direction the message goes.
    pub data: Way,
    /// The direction its acknowledgement comes back.
    pub ack: Way,
    /// The random part of the link's own delay (drawn by the caller).
    pub jitter: Duration,
    /// The message's bytes on the wire, headers included.
    pub bytes: usize,
}

/// Every connection between servers.
#[derive(Debug)]
pub(super) struct Links {
    members: u32,
    conns: Vec<Conn>,
    /// When each broken connection's life ended.
    broken: BTreeMap<(usize, u64), Time>,
    events: BinaryHeap<Reverse<Timed>>,
    order: u64,
}

/// What a connection's event asks of the world.
#[derive(Debug)]
pub(super) enum Due {
    /// Nothing more.
    Nothing,
    /// Draw a handshake over these ends of connection `conn`: the opening side and the other.
    Handshake {
        /// The connection.
        conn: usize,
        /// Its opening side.
        client: NodeId,
        /// Its other side.
        server: NodeId,
    },
    /// Send these again, in order: they waited for the connection that is now up.
    Resend(Vec<(NodeId, NodeId, Message)>),
}

impl Links {
    /// The connections of a group of `members` replicas and a name server.
    pub(super) fn new(members: u32) -> Self {
        let count = (members as usize + 1) * (members as usize + 1);
        Links {
            members,
            conns: (0..count).map(|_| Conn::new()).collect(),
            broken: BTreeMap::new(),
            events: BinaryHeap::new(),
            order: 0,
        }
    }

    fn index(&self, node: NodeId) -> Option<usize> {
        match node {
            NodeId::Replica(id) => Some(id as usize),
            NodeId::NameServer => Some(self.members as usize),
            NodeId::Client(_) => None,
        }
    }

    /// The connection that carries a message from `from` to `to`, if both are servers.
    pub(super) fn route(&self, from: NodeId, to: NodeId) -> Option<Route> {
        let servers = self.members as usize + 1;
        let (f, t) = (self.index(from)?, self.index(to)?);
        Some(match from {
            NodeId::NameServer => Route { conn: t * servers + f, back: true },
            _ => Route { conn: f * servers + t, back: false },
        })
    }

    /// The two ends of connection `conn`: the side that opens it, then the other.
    fn ends(&self, conn: usize) -> (NodeId, NodeId) {
        let servers = self.members as usize + 1;
        let node = |i: usize| {
            if i == self.members as usize { NodeId::NameServer } else { NodeId::Replica(i as ReplicaId) }
        };
        (node(conn / servers), node(conn % servers))
    }

    /// When the next connection event is due.
    pub(super) fn next_at(&self) -> Option<Time> {
        self.events.peek().map(|Reverse((at, ..))| *at)
    }

    fn push(&mut self, at: Time, conn: usize, event: Event) {
        self.order += 1;
        let epoch = self.conns[conn].epoch;
        self.events.push(Reverse((at, self.order, conn, epoch, event)));
    }

    /// True when the message that arrives at `at` over `conn` in `epoch` finds the connection
    /// still alive.
    pub(super) fn alive(&self, conn: usize, epoch: u64, at: Time) -> bool {
        self.broken.get(&(conn, epoch)).is_none_or(|&end| at < end)
    }

    /// Hands `msg` from `from` to `to` to its connection at `now`: sent at once while the
    /// connection is up, kept for later while the link reconnects (the answers of the other
    /// side are lost then).
    pub(super) fn send(
        &mut self,
        now: Time,
        route: Route,
        (from, to, msg): (NodeId, NodeId, Message),
        carry: Carry,
        rng: &mut ChaCha8Rng,
    ) -> Sent {
        let conn = &mut self.conns[route.conn];
        if conn.state != State::Up {
            if !route.back && conn.waiting.len() < QUEUE {
                conn.waiting.push((from, to, msg));
            }
            return Sent::NotNow;
        }
        match self.transmit(now, route, carry, rng) {
            Some((at, epoch)) => Sent::At { at, conn: route.conn, epoch, msg },
            None => Sent::NotNow,
        }
    }

    /// When the message arrives and in which life of the connection, or `None` when it is lost.
    fn transmit(
        &mut self,
        now: Time,
        route: Route,
        carry: Carry,
        rng: &mut ChaCha8Rng,
    ) -> Option<(Time, u64)> {
        let Carry { data, ack, jitter, bytes } = carry;
        let conn = &mut self.conns[route.conn];
        if conn.lost_head.is_some() {
            return None;
        }
        let dir = route.back as usize;
        let mut earliest = now + data.latency + jitter;
        if data.degradation.is_none() && ack.degradation.is_none() {
            let at = earliest.max(conn.free_at[dir]);
            conn.free_at[dir] = at;
            if conn.unacked.is_some_and(|end| at + ack.latency < end) {
                conn.unacked = None;
            }
            return Some((at, conn.epoch));
        }
        let mut sending = Duration::ZERO;
        if let Some(d) = data.degradation {
            let (median, spread) = (d.delay.as_nanos() as u64, d.jitter.as_nanos() as u64);
            earliest += Duration::from_nanos(rng.random_range(median - spread.min(median)..=median + spread));
            if let Some(rate) = d.rate.filter(|r| *r > 0) {
                sending = Duration::from_secs_f64(bytes as f64 / rate as f64);
            }
        }
        // Each transmission at `offset` after the first; the kernel gives up at the user time-out.
        let rtt = data.median() + ack.median();
        let mut rto = RTO_MIN + rtt;
        let (mut offset, mut arrived, mut acked) = (Duration::ZERO, None, None);
        while offset < USER_TIMEOUT {
            if !data.loses(rng) {
                arrived.get_or_insert(offset);
                if !ack.loses(rng) && offset + rtt < USER_TIMEOUT {
                    acked = Some(offset);
                    break;
                }
            }
            offset += rto;
            rto *= 2;
        }
        let end = now + USER_TIMEOUT;
        let Some(arrived) = arrived else {
            conn.lost_head = Some(end);
            self.push(end, route.conn, Event::Break);
            return None;
        };
        let at = (earliest + arrived + sending).max(conn.free_at[dir] + sending);
        conn.free_at[dir] = at;
        let epoch = conn.epoch;
        match acked {
            Some(acked) => {
                let ack_at = (now + acked + rtt).max(at + ack.median());
                if conn.unacked.is_some_and(|end| ack_at < end) {
                    conn.unacked = None;
                }
            }
            None => {
                if conn.unacked.is_none_or(|first| end < first) {
                    conn.unacked = Some(end);
                }
                self.push(end, route.conn, Event::Break);
            }
        }
        Some((at, epoch))
    }

    /// Runs the connection event due at `now`, if any.
    pub(super) fn step(&mut self, now: Time) -> Option<Due> {
        let Reverse((at, _, conn, epoch, event)) =
            *self.events.peek().filter(|Reverse((at, ..))| *at <= now)?;
        self.events.pop();
        let (client, server) = self.ends(conn);
        let c = &mut self.conns[conn];
        if c.epoch != epoch {
            return Some(Due::Nothing);
        }
        Some(match event {
            Event::Break => {
                if c.state != State::Up || (c.lost_head != Some(at) && c.unacked != Some(at)) {
                    return Some(Due::Nothing);
                }
                self.broken.insert((conn, epoch), at);
                c.lost_head = None;
                c.unacked = None;
                Due::Handshake { conn, client, server }
            }
            Event::Connect => Due::Handshake { conn, client, server },
            Event::Established => {
                c.state = State::Up;
                c.epoch += 1;
                c.free_at = [at; 2];
                c.backoff = MIN_BACKOFF;
                Due::Resend(std::mem::take(&mut c.waiting))
            }
            Event::Failed => {
                c.waiting.clear();
                c.state = State::Sleeping;
                let pause = c.backoff;
                c.backoff = (c.backoff * 2).min(MAX_BACKOFF);
                self.push(at + pause, conn, Event::Connect);
                Due::Nothing
            }
        })
    }

    /// Starts an attempt to connect `conn` at `now`, over the way from the opening side
    /// (`out`) and the way back; `listening` is false when the other side is down (refused).
    pub(super) fn handshake(
        &mut self,
        now: Time,
        conn: usize,
        (out, back): (Way, Way),
        listening: bool,
        rng: &mut ChaCha8Rng,
    ) {
        self.conns[conn].state = State::Connecting;
        let rtt = out.median() + back.median();
        let syn = !out.cut && !out.loses(rng);
        let syn_ack = syn && listening && !back.cut && !back.loses(rng);
        let event = match (syn, listening, syn_ack) {
            (true, true, true) if rtt < CONNECT_TIMEOUT => (now + rtt, Event::Established),
            (true, false, _) if !back.cut => (now + rtt.min(CONNECT_TIMEOUT), Event::Failed),
            _ => (now + CONNECT_TIMEOUT, Event::Failed),
        };
        self.push(event.0, conn, event.1);
    }

    /// A restarted replica's links: connected afresh (as at start), whatever its old process's
    /// connections were doing.
    pub(super) fn restart(&mut self, id: ReplicaId, now: Time) {
        let servers = self.members as usize + 1;
        for conn in &mut self.conns[id as usize * servers..(id as usize + 1) * servers] {
            if conn.state != State::Up || conn.lost_head.is_some() || conn.unacked.is_some() {
                conn.epoch += 1;
                *conn = Conn { epoch: conn.epoch, free_at: [now; 2], ..Conn::new() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::protocol::message::{NsReply, PeerMsg};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A way with 1 ms of latency that loses every packet (`lossy`) or none.
    fn way(lossy: bool) -> Way {
        let degradation = lossy.then_some(Degradation { loss: 1.0, ..Degradation::default() });
        Way { latency: ms(1), degradation, cut: false }
    }

    fn carry(data: bool, ack: bool) -> Carry {
        Carry { data: way(data), ack: way(ack), jitter: Duration::ZERO, bytes: 0 }
    }

    fn declare() -> (NodeId, NodeId, Message) {
        let msg = Message::Peer { from: 0, msg: PeerMsg::DeclareMaster { idx: 0 } };
        (NodeId::Replica(0), NodeId::Replica(1), msg)
    }

    /// Runs the events due up to `until`, drawing each handshake over ways that lose everything
    /// (`lossy`) or nothing; returns when each event came and what it asked.
    fn run(links: &mut Links, until: Time, lossy: bool, rng: &mut ChaCha8Rng) -> Vec<(Time, String)> {
        let mut seen = Vec::new();
        while let Some(at) = links.next_at().filter(|at| *at <= until) {
            match links.step(at).expect("an event is due") {
                Due::Nothing => seen.push((at, "nothing".into())),
                Due::Handshake { conn, .. } => {
                    links.handshake(at, conn, (way(lossy), way(lossy)), true, rng);
                    seen.push((at, "handshake".into()));
                }
                Due::Resend(waiting) => seen.push((at, format!("resend {}", waiting.len()))),
            }
        }
        seen
    }

    fn arrival(sent: &Sent) -> Option<(Time, u64)> {
        match sent {
            Sent::At { at, epoch, .. } => Some((*at, *epoch)),
            Sent::NotNow => None,
        }
    }

    #[test]
    fn a_segment_never_acknowledged_breaks_the_connection_at_the_user_timeout_and_it_reconnects() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut links = Links::new(2);
        let route = links.route(NodeId::Replica(0), NodeId::Replica(1)).unwrap();
        let before = links.send(ms(0), route, declare(), carry(false, false), &mut rng);
        assert_eq!(arrival(&before), Some((ms(1), 0)), "the control: a healthy link delivers");
        let head = links.send(ms(10), route, declare(), carry(true, false), &mut rng);
        assert_eq!(arrival(&head), None, "every transmission lost");
        let behind = links.send(ms(20), route, declare(), carry(false, false), &mut rng);
        assert_eq!(arrival(&behind), None, "behind the lost segment on the same connection");
        assert_eq!(links.next_at(), Some(ms(10) + USER_TIMEOUT), "the break comes at the user time-out");
        let events = run(&mut links, ms(1010), false, &mut rng);
        assert_eq!(events, [(ms(1010), "handshake".into())]);
        assert!(links.alive(route.conn, 0, ms(1009)) && !links.alive(route.conn, 0, ms(1010)));
        let waiting = links.send(ms(1011), route, declare(), carry(false, false), &mut rng);
        assert_eq!(arrival(&waiting), None, "waits for the handshake");
        assert_eq!(run(&mut links, ms(2000), false, &mut rng), [(ms(1012), "resend 1".into())]);
        let after = links.send(ms(1012), route, declare(), carry(false, false), &mut rng);
        assert_eq!(arrival(&after), Some((ms(1013), 1)), "the fresh connection delivers at once");
    }

    #[test]
    fn a_failed_handshake_drops_what_waited_and_the_next_attempt_follows_a_backoff() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut links = Links::new(2);
        let route = links.route(NodeId::Replica(0), NodeId::Replica(1)).unwrap();
        links.send(ms(0), route, declare(), carry(true, true), &mut rng);
        assert_eq!(run(&mut links, ms(1000), true, &mut rng), [(ms(1000), "handshake".into())]);
        links.send(ms(1100), route, declare(), carry(true, true), &mut rng);
        let failed = ms(1000) + CONNECT_TIMEOUT;
        let events = run(&mut links, failed + MIN_BACKOFF, true, &mut rng);
        assert_eq!(events, [(failed, "nothing".into()), (failed + MIN_BACKOFF, "handshake".into())]);
        links.send(failed + ms(6), route, declare(), carry(false, false), &mut rng);
        let failed_again = failed + MIN_BACKOFF + CONNECT_TIMEOUT;
        assert_eq!(run(&mut links, failed_again, true, &mut rng), [(failed_again, "nothing".into())]);
        let retry = failed_again + MIN_BACKOFF * 2;
        let up = run(&mut links, retry + ms(10), false, &mut rng);
        assert_eq!(
            up,
            [(retry, "handshake".into()), (retry + ms(2), "resend 0".into())],
            "the backoff doubled, and the message of the failed attempt was dropped"
        );
    }

    #[test]
    fn an_arrival_whose_acknowledgements_are_lost_is_covered_by_a_later_acknowledgement() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut links = Links::new(2);
        let route = links.route(NodeId::Replica(0), NodeId::Replica(1)).unwrap();
        let unacked = links.send(ms(0), route, declare(), carry(false, true), &mut rng);
        assert_eq!(arrival(&unacked), Some((ms(1), 0)), "it arrives; its acknowledgements do not");
        links.send(ms(300), route, declare(), carry(false, false), &mut rng);
        assert_eq!(run(&mut links, ms(5000), false, &mut rng), [(USER_TIMEOUT, "nothing".into())]);
        assert!(links.alive(route.conn, 0, ms(5000)), "covered: the connection lives on");

        let mut links = Links::new(2);
        links.send(ms(0), route, declare(), carry(false, true), &mut rng);
        let events = run(&mut links, ms(5000), false, &mut rng);
        assert_eq!(events[0], (USER_TIMEOUT, "handshake".into()), "the control: nothing covers it");
        assert!(!links.alive(route.conn, 0, USER_TIMEOUT));
    }

    #[test]
    fn the_name_servers_answers_go_back_over_the_replicas_connection_and_are_lost_while_it_reconnects() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut links = Links::new(2);
        let out = links.route(NodeId::Replica(1), NodeId::NameServer).unwrap();
        let back = links.route(NodeId::NameServer, NodeId::Replica(1)).unwrap();
        assert_eq!((out.conn, out.back, back.back), (back.conn, false, true));
        let answer = || {
            let msg = Message::FromNs(NsReply::Notify { group: "g".into() });
            (NodeId::NameServer, NodeId::Replica(1), msg)
        };
        links.send(ms(0), back, answer(), carry(true, false), &mut rng);
        run(&mut links, USER_TIMEOUT, false, &mut rng);
        let lost = links.send(USER_TIMEOUT, back, answer(), carry(false, false), &mut rng);
        assert_eq!(arrival(&lost), None, "no connection to answer on");
        run(&mut links, ms(2000), false, &mut rng);
        let sent = links.send(ms(2000), back, answer(), carry(false, false), &mut rng);
        assert_eq!(arrival(&sent), Some((ms(2001), 1)));
    }
}
