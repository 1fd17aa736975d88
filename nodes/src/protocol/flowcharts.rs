//! One test per path of the seeds' flowcharts, on the cores with explicit time:
//! 004 Fig. 5 (detection), Fig. 8 (election), Fig. 9 (mastership updating);
//! 003 Fig. 8 (self-monitoring), Fig. 10 (recovery), Fig. 12 (name server).

use std::time::Duration;

use super::ReplicaId;
use super::bugs::{Bug, Bugs};
use super::kv::{Epoch, Kv, Op, Snapshot, Value};
use super::message::{Message, NsReply, NsRequest, OpOutput, PeerMsg, Refusal, Registration, ReplyError};
use super::nameserver::{KeepRule, NameServer, NsDest, NsParams};
use super::params::{AckMode, Params, RecoveryMode};
use super::replica::{Action, Dest, Replica, Role};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn drain(r: &mut Replica) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn sends(actions: &[Action]) -> Vec<(Dest, Message)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn peer_msgs(actions: &[Action]) -> Vec<(ReplicaId, PeerMsg)> {
    sends(actions)
        .into_iter()
        .filter_map(|(to, msg)| match (to, msg) {
            (Dest::Replica(to), Message::Peer { msg, .. }) => Some((to, msg)),
            _ => None,
        })
        .collect()
}

fn registration(id: ReplicaId) -> Registration {
    Registration { id, age_ms: 0, lease_remaining_ms: 100 }
}

/// The nonce of the first look-up among `actions`.
fn lookup_nonce(actions: &[Action]) -> u64 {
    sends(actions)
        .into_iter()
        .find_map(|(_, msg)| match msg {
            Message::ToNs(NsRequest::Lookup { nonce, .. }) => Some(nonce),
            _ => None,
        })
        .expect("a look-up was sent")
}

fn state_request_nonce(actions: &[Action]) -> u64 {
    peer_msgs(actions)
        .into_iter()
        .find_map(|(_, msg)| match msg {
            PeerMsg::StateRequest { nonce, .. } => Some(nonce),
            _ => None,
        })
        .expect("a state request was sent")
}

/// Replica `id` at time 10 ms: started, found `master` registered and downloaded its state.
fn backup_of(id: ReplicaId, master: ReplicaId, params: Params) -> Replica {
    let mut r = Replica::new(id, params, Bugs::default());
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(5), NsReply::LookupReply { nonce, registrations: vec![registration(master)] });
    let nonce = state_request_nonce(&drain(&mut r));
    r.handle_peer(ms(10), master, PeerMsg::StateReply { nonce, snapshot: Snapshot::default() });
    drain(&mut r);
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(master)));
    r
}

/// Replica `id` that became master at start-up (no registration found).
fn master(id: ReplicaId, params: Params) -> Replica {
    master_with_bugs(id, params, Bugs::default())
}

fn master_with_bugs(id: ReplicaId, params: Params, bugs: Bugs) -> Replica {
    let mut r = Replica::new(id, params.clone(), bugs);
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(1), NsReply::LookupReply { nonce, registrations: vec![] });
    let at = ms(1) + params.election_delay(id);
    r.handle_timeout(at);
    drain(&mut r);
    assert_eq!(r.role(), Role::Master);
    r
}

// ---- 004 Fig. 5: detection -------------------------------------------------------------

#[test]
fn s004_fig5_act520_530_backup_inquires_its_master_each_detect_interval() {
    let p = Params::default();
    let mut r = backup_of(3, 0, p.clone());
    r.handle_timeout(ms(10) + p.detect_interval);
    let msgs = peer_msgs(&drain(&mut r));
    assert!(matches!(msgs[..], [(0, PeerMsg::Inquiry { .. })]), "{msgs:?}");
}

#[test]
fn s004_fig5_act540_reply_in_time_means_the_master_is_functional() {
    let p = Params::default();
    let mut r = backup_of(3, 0, p.clone());
    let t = ms(10) + p.detect_interval;
    r.handle_timeout(t);
    let PeerMsg::Inquiry { nonce } = peer_msgs(&drain(&mut r))[0].1 else { panic!() };
    r.handle_peer(t + ms(2), 0, PeerMsg::InquiryReply { nonce, epoch: Epoch::default(), applied: 0 });
    r.handle_timeout(t + p.inquiry_timeout + ms(1));
    assert_eq!(r.role(), Role::Backup);
}

#[test]
fn s004_fig5_act550_no_reply_within_the_timeout_enters_the_election() {
    let p = Params::default();
    let mut r = backup_of(3, 0, p.clone());
    let t = ms(10) + p.detect_interval;
    r.handle_timeout(t);
    drain(&mut r);
    r.handle_timeout(t + p.inquiry_timeout);
    assert_eq!(r.role(), Role::WaitElection);
    assert!(
        drain(&mut r)
            .iter()
            .any(|a| matches!(a, Action::RoleChanged(c) if c.cause.to_string() == "inquiry-timeout"))
    );
}

#[test]
fn s004_fig5_act560_a_mastership_claim_while_the_master_is_functional_goes_to_updating() {
    let mut r = backup_of(3, 0, Params::default());
    r.handle_peer(ms(20), 2, PeerMsg::DeclareMaster { idx: 2 });
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(2)));
}

// ---- 004 Fig. 8: election --------------------------------------------------------------

#[test]
fn s004_fig8_act810_820_election_waits_d_i() {
    let p = Params::default();
    let mut r = backup_of(2, 0, p.clone());
    let t = ms(10) + p.detect_interval;
    r.handle_timeout(t);
    r.handle_timeout(t + p.inquiry_timeout);
    drain(&mut r);
    let entered = t + p.inquiry_timeout;
    r.handle_timeout(entered + p.election_delay(2) - ms(1));
    assert_eq!(r.role(), Role::WaitElection, "still waiting one ms before D_2");
    r.handle_timeout(entered + p.election_delay(2));
    assert_eq!(r.role(), Role::Master, "declares at D_2");
}

#[test]
fn s004_fig8_act830_850_860_delay_elapses_declares_master_to_all_and_registers() {
    let p = Params::default();
    let mut r = Replica::new(2, p.clone(), Bugs::default());
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(1), NsReply::LookupReply { nonce, registrations: vec![] });
    r.handle_timeout(ms(1) + p.election_delay(2));
    let actions = drain(&mut r);
    assert_eq!(r.role(), Role::Master);
    let declared: Vec<_> = peer_msgs(&actions)
        .into_iter()
        .filter(|(_, m)| *m == PeerMsg::DeclareMaster { idx: 2 })
        .map(|(to, _)| to)
        .collect();
    assert_eq!(declared, vec![0, 1, 3, 4]);
    assert!(
        sends(&actions).iter().any(|(to, m)| *to == Dest::NameServer
            && matches!(m, Message::ToNs(NsRequest::Register { id: 2, .. })))
    );
}

#[test]
fn s004_fig8_act840_870_message_before_the_delay_goes_to_updating() {
    let p = Params::default();
    let mut r = Replica::new(3, p.clone(), Bugs::default());
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(1), NsReply::LookupReply { nonce, registrations: vec![] });
    r.handle_peer(ms(50), 1, PeerMsg::DeclareMaster { idx: 1 });
    r.handle_timeout(ms(1) + p.election_delay(3));
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(1)));
    assert!(!peer_msgs(&drain(&mut r)).iter().any(|(_, m)| matches!(m, PeerMsg::DeclareMaster { .. })));
}

// ---- 004 Fig. 9: mastership updating ---------------------------------------------------

#[test]
fn s004_fig9_act915_925_waiting_server_accepts_and_cancels_its_timer() {
    let p = Params::default();
    let mut r = Replica::new(4, p.clone(), Bugs::default());
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(1), NsReply::LookupReply { nonce, registrations: vec![] });
    assert_eq!(r.role(), Role::WaitElection);
    r.handle_peer(ms(2), 3, PeerMsg::DeclareMaster { idx: 3 });
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(3)));
}

#[test]
fn s004_fig9_act930_950_960_master_with_lower_index_keeps_mastership_and_revokes() {
    let mut r = master(1, Params::default());
    r.handle_peer(ms(500), 3, PeerMsg::DeclareMaster { idx: 3 });
    let actions = drain(&mut r);
    assert_eq!(r.role(), Role::Master);
    let revokes: Vec<_> = peer_msgs(&actions)
        .into_iter()
        .filter(|(_, m)| *m == PeerMsg::RevokeMaster { reject: 3, idx: 1 })
        .collect();
    assert_eq!(revokes.len(), 4);
}

#[test]
fn s004_fig9_act930_935_940_master_with_higher_index_yields() {
    let mut r = master(3, Params::default());
    r.handle_peer(ms(500), 1, PeerMsg::DeclareMaster { idx: 1 });
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(1)));
}

#[test]
fn s004_fig9_act970_935_revoke_from_a_lower_index_is_accepted() {
    let mut r = master(3, Params::default());
    r.handle_peer(ms(500), 1, PeerMsg::RevokeMaster { reject: 3, idx: 1 });
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(1)));
}

#[test]
fn s004_fig9_act970_930_960_revoke_naming_a_higher_index_is_contested() {
    let mut r = backup_of(0, 2, Params::default());
    r.handle_peer(ms(500), 1, PeerMsg::RevokeMaster { reject: 2, idx: 1 });
    let actions = drain(&mut r);
    assert_eq!((r.role(), r.master()), (Role::Master, Some(0)));
    assert!(peer_msgs(&actions).iter().any(|(_, m)| *m == PeerMsg::RevokeMaster { reject: 1, idx: 0 }));
}

#[test]
fn bug_never_yield_master_ignores_declare_revoke_and_the_detector() {
    let mut r = master_with_bugs(3, Params::default(), Bugs::new([Bug::NeverYield]));
    r.handle_peer(ms(500), 1, PeerMsg::DeclareMaster { idx: 1 });
    r.handle_peer(ms(501), 1, PeerMsg::RevokeMaster { reject: 3, idx: 1 });
    let actions = detect(&mut r, ms(502), 1);
    assert!(peer_msgs(&actions).is_empty(), "no recovery download: {actions:?}");
    assert_eq!((r.role(), r.master()), (Role::Master, Some(3)));
}

// ---- 003 Fig. 8: self-monitoring -------------------------------------------------------

#[test]
fn s003_fig8_acts805_835_time_out_runs_the_detector_after_monitor_count_ticks() {
    let p = Params::default();
    let mut r = backup_of(2, 0, p.clone());
    let mut t = ms(0);
    let mut lookups = 0;
    while t <= p.monitor_tick * p.monitor_count {
        t += p.monitor_tick;
        r.handle_timeout(t);
        lookups += sends(&drain(&mut r))
            .iter()
            .filter(|(_, m)| matches!(m, Message::ToNs(NsRequest::Lookup { .. })))
            .count();
    }
    assert_eq!(lookups, 1, "one detector run per {} ticks", p.monitor_count);
}

#[test]
fn s003_m1_a_stall_counts_as_one_tick_and_the_detector_runs_the_rest_of_the_count_later() {
    let p = Params::default();
    let mut r = backup_of(2, 0, p.clone());
    drain(&mut r);
    let is_lookup = |actions: &[Action]| {
        sends(actions).iter().any(|(_, m)| matches!(m, Message::ToNs(NsRequest::Lookup { .. })))
    };
    let due = r.poll_timeout().expect("a backup's timers run");
    let left = p.monitor_period() - due;
    let resumed = ms(5000);
    r.handle_timeout(resumed);
    assert!(!is_lookup(&drain(&mut r)), "the stall's late call is one tick, not a detector run");
    let mut t = resumed;
    while !is_lookup(&drain(&mut r)) {
        t = r.poll_timeout().expect("the detector is due");
        r.handle_timeout(t);
    }
    assert_eq!(t, resumed + left - p.monitor_tick, "the ticks before the stall and the late one count");
}

#[test]
fn s003_fig8_external_event_notify_runs_the_detector_at_once() {
    let mut r = backup_of(2, 0, Params::default());
    r.handle_ns(ms(20), NsReply::Notify { group: "g".into() });
    lookup_nonce(&drain(&mut r));
}

fn detect(r: &mut Replica, at: Duration, registered: ReplicaId) -> Vec<Action> {
    r.handle_ns(at, NsReply::Notify { group: "g".into() });
    let nonce = lookup_nonce(&drain(r));
    r.handle_ns(at + ms(1), NsReply::LookupReply { nonce, registrations: vec![registration(registered)] });
    drain(r)
}

#[test]
fn s003_fig8_act850_855_backup_following_the_registered_master_is_consistent() {
    let mut r = backup_of(2, 0, Params::default());
    let actions = detect(&mut r, ms(20), 0);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(0)));
}

#[test]
fn s003_fig8_act860_865_master_that_is_registered_is_consistent() {
    let mut r = master(1, Params::default());
    let actions = detect(&mut r, ms(500), 1);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(r.role(), Role::Master);
}

#[test]
fn s003_fig8_act845_850_backup_following_another_server_goes_to_recovery() {
    let mut r = backup_of(2, 0, Params::default());
    let actions = detect(&mut r, ms(20), 1);
    assert_eq!(r.master(), Some(1), "act 1010 aligns the master");
    state_request_nonce(&actions);
}

#[test]
fn s003_fig8_act860_master_that_is_not_registered_goes_to_recovery() {
    let mut r = master(3, Params::default());
    let actions = detect(&mut r, ms(500), 1);
    assert!(peer_msgs(&actions).iter().any(|(to, m)| *to == 1 && matches!(m, PeerMsg::StateRequest { .. })));
}

#[test]
fn bug_no_self_monitoring_never_runs_the_detector() {
    let p = Params::default();
    let mut r = Replica::new(2, p.clone(), Bugs::new([Bug::NoSelfMonitoring]));
    r.start(ms(0));
    drain(&mut r);
    r.handle_ns(ms(1), NsReply::Notify { group: "g".into() });
    assert!(sends(&drain(&mut r)).is_empty());
}

// ---- 003 Fig. 10: recovery -------------------------------------------------------------

fn snapshot_with(key: &str, value: i64, applied: u64) -> Snapshot {
    let mut kv = Kv::default();
    kv.apply(&Op::Write { key: key.into(), value: Value::Int(value) }).unwrap();
    Snapshot { applied, kv, ..Snapshot::default() }
}

#[test]
fn s003_fig10_act1010_1020_1030_recovery_aligns_downloads_and_synchronises() {
    let mut r = master(3, Params::default());
    let actions = detect(&mut r, ms(500), 1);
    let nonce = state_request_nonce(&actions);
    let snapshot = snapshot_with("x", 7, 42);
    r.handle_peer(ms(505), 1, PeerMsg::StateReply { nonce, snapshot: snapshot.clone() });
    assert_eq!(r.snapshot(), &snapshot);
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(1)));
}

#[test]
fn s003_fig10_act1040_1050_failed_synchronisation_terminates_the_server() {
    let p = Params::default();
    let mut r = master(3, p.clone());
    detect(&mut r, ms(500), 1);
    r.handle_timeout(ms(501) + p.inquiry_timeout);
    let actions = drain(&mut r);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Terminate { reason } if reason.contains("synchronization")))
    );
    assert!(r.is_terminated());
}

#[test]
fn s003_fig10_act1060_1080_priority_variant_highest_priority_becomes_master() {
    let p = Params { recovery: RecoveryMode::Priority, ..Params::default() };
    let mut r = backup_of(0, 2, p);
    let actions = detect(&mut r, ms(20), 3);
    let nonce = state_request_nonce(&actions);
    r.handle_peer(ms(25), 3, PeerMsg::StateReply { nonce, snapshot: Snapshot::default() });
    let actions = drain(&mut r);
    assert_eq!((r.role(), r.master()), (Role::Master, Some(0)));
    assert!(
        sends(&actions).iter().any(|(_, m)| matches!(m, Message::ToNs(NsRequest::Register { id: 0, .. })))
    );
}

#[test]
fn s003_fig10_act1060_1070_priority_variant_lower_priority_becomes_backup() {
    let p = Params { recovery: RecoveryMode::Priority, ..Params::default() };
    let mut r = master(3, p);
    let nonce = state_request_nonce(&detect(&mut r, ms(500), 1));
    r.handle_peer(ms(505), 1, PeerMsg::StateReply { nonce, snapshot: Snapshot::default() });
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(1)));
}

// ---- start-up (S) ----------------------------------------------------------------------

#[test]
fn startup_with_an_unresponsive_registered_master_enters_the_election() {
    let p = Params::default();
    let mut r = Replica::new(1, p.clone(), Bugs::default());
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(1), NsReply::LookupReply { nonce, registrations: vec![registration(0)] });
    drain(&mut r);
    r.handle_timeout(ms(1) + p.inquiry_timeout);
    assert_eq!(r.role(), Role::WaitElection);
}

// ---- 003 Fig. 12: name server ----------------------------------------------------------

fn ns(keep: KeepRule, bugs: Bugs) -> NameServer {
    NameServer::new(NsParams { lease_ttl: ms(150), keep }, bugs, ms(0))
}

fn register(ns: &mut NameServer, at: u64, id: ReplicaId) {
    ns.handle(ms(at), 0, NsRequest::Register { group: "g".into(), id });
}

fn notified(ns: &mut NameServer) -> Vec<ReplicaId> {
    std::iter::from_fn(|| ns.poll_send())
        .filter_map(|s| match (s.to, s.msg) {
            (NsDest::Replica { id, .. }, Message::FromNs(NsReply::Notify { .. })) => Some(id),
            _ => None,
        })
        .collect()
}

#[test]
fn s003_fig12_act1210_1220_1230_duplicates_keep_the_lowest_id_and_trigger_the_group() {
    let mut ns = ns(KeepRule::LowestId, Bugs::default());
    register(&mut ns, 0, 2);
    register(&mut ns, 10, 0);
    let ids: Vec<_> = ns.registrations("g", ms(11)).iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![0]);
    assert_eq!(notified(&mut ns), vec![0, 2]);
}

#[test]
fn s003_fig12_act1220_incumbent_rule_keeps_the_oldest_registration() {
    let mut ns = ns(KeepRule::Incumbent, Bugs::default());
    register(&mut ns, 0, 2);
    register(&mut ns, 10, 0);
    assert_eq!(ns.registrations("g", ms(11))[0].id, 2);
}

#[test]
fn name_server_leases_expire_without_renewal_and_show_in_lookups() {
    let mut ns = ns(KeepRule::LowestId, Bugs::default());
    register(&mut ns, 0, 1);
    register(&mut ns, 100, 1);
    ns.handle(ms(200), 9, NsRequest::Lookup { group: "g".into(), id: None, nonce: 5 });
    let reply = ns.poll_send().unwrap();
    assert_eq!(reply.to, NsDest::Client(9));
    let Message::FromNs(NsReply::LookupReply { registrations, .. }) = reply.msg else { panic!() };
    assert_eq!(registrations, vec![Registration { id: 1, age_ms: 200, lease_remaining_ms: 50 }]);
    assert!(ns.registrations("g", ms(250)).is_empty());
}

#[test]
fn bug_no_ns_dedup_keeps_every_registration_and_never_notifies() {
    let mut ns = ns(KeepRule::LowestId, Bugs::new([Bug::NoNsDedup]));
    register(&mut ns, 0, 2);
    register(&mut ns, 10, 0);
    assert_eq!(ns.registrations("g", ms(11)).len(), 2);
    assert!(notified(&mut ns).is_empty());
    assert_eq!(ns.registrations("g", ms(10_000)).len(), 2, "not even leases expire");
}

// ---- replication -----------------------------------------------------------------------

fn write(key: &str, v: i64) -> Op {
    Op::Write { key: key.into(), value: Value::Int(v) }
}

fn responses(actions: &[Action]) -> Vec<Result<OpOutput, ReplyError>> {
    sends(actions)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::Response { result, .. } => Some(result),
            _ => None,
        })
        .collect()
}

#[test]
fn a_backup_redirects_clients_to_its_master() {
    let mut r = backup_of(2, 0, Params::default());
    r.handle_request(ms(20), 7, 1, write("x", 1));
    assert_eq!(responses(&drain(&mut r)), vec![Err(ReplyError::NotMaster { master: Some(0) })]);
}

#[test]
fn async_master_answers_at_once_and_forwards_apply() {
    let mut r = master(0, Params::default());
    r.handle_request(ms(500), 7, 1, write("x", 1));
    let actions = drain(&mut r);
    assert_eq!(responses(&actions), vec![Ok(OpOutput::Done)]);
    let applies =
        peer_msgs(&actions).into_iter().filter(|(_, m)| matches!(m, PeerMsg::Apply { seq: 1, .. })).count();
    assert_eq!(applies, 4);
}

#[test]
fn bug_no_forward_master_sends_no_apply() {
    let mut r = master_with_bugs(0, Params::default(), Bugs::new([Bug::NoForward]));
    r.handle_request(ms(500), 7, 1, write("x", 1));
    assert!(!peer_msgs(&drain(&mut r)).iter().any(|(_, m)| matches!(m, PeerMsg::Apply { .. })));
}

#[test]
fn ack_all_waits_for_every_reachable_backup() {
    let p = Params { ack: AckMode::All, ..Params::default() };
    let mut r = master(0, p.clone());
    r.handle_peer(ms(490), 1, PeerMsg::Inquiry { nonce: 1 });
    r.handle_peer(ms(490), 2, PeerMsg::Inquiry { nonce: 1 });
    r.handle_request(ms(500), 7, 1, write("x", 1));
    r.handle_request(ms(501), 7, 2, write("y", 2));
    drain(&mut r);
    r.handle_peer(ms(502), 1, PeerMsg::ApplyAck { epoch: Epoch::default(), seq: 2 });
    assert!(responses(&drain(&mut r)).is_empty(), "backup 2 has not acknowledged yet");
    r.handle_peer(ms(503), 2, PeerMsg::ApplyAck { epoch: Epoch::default(), seq: 1 });
    assert_eq!(responses(&drain(&mut r)), vec![Ok(OpOutput::Done)]);
    r.handle_timeout(ms(501) + p.ack_timeout);
    assert_eq!(responses(&drain(&mut r)), vec![Err(ReplyError::Unacknowledged { missing: vec![2] })]);
}

#[test]
fn a_backup_applies_in_order_and_downloads_on_a_gap() {
    let mut r = backup_of(2, 0, Params::default());
    r.handle_peer(ms(20), 0, PeerMsg::Apply { epoch: Epoch::default(), seq: 1, op: write("x", 1) });
    assert!(peer_msgs(&drain(&mut r)).contains(&(0, PeerMsg::ApplyAck { epoch: Epoch::default(), seq: 1 })));
    r.handle_peer(ms(21), 0, PeerMsg::Apply { epoch: Epoch::default(), seq: 3, op: write("x", 3) });
    let nonce = state_request_nonce(&drain(&mut r));
    let snapshot = snapshot_with("x", 3, 3);
    r.handle_peer(ms(22), 0, PeerMsg::StateReply { nonce, snapshot: snapshot.clone() });
    assert_eq!(r.snapshot(), &snapshot);
}

// ---- the safe setting, ack = every-member (PROTOCOL.md, "the safe setting") ---------------

fn safe() -> Params {
    Params { ack: AckMode::EveryMember, ..Params::default() }
}

/// The (member, nonce) of every state request among `actions`.
fn state_requests(actions: &[Action]) -> Vec<(ReplicaId, u64)> {
    peer_msgs(actions)
        .into_iter()
        .filter_map(|(to, msg)| match msg {
            PeerMsg::StateRequest { nonce, .. } => Some((to, nonce)),
            _ => None,
        })
        .collect()
}

/// Replica 0 of the safe setting just after the election made it master (at 151 ms), with the
/// state requests of its gather.
fn gathering_master() -> (Replica, Vec<(ReplicaId, u64)>) {
    let mut r = Replica::new(0, safe(), Bugs::default());
    r.start(ms(0));
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(1), NsReply::LookupReply { nonce, registrations: vec![] });
    r.handle_timeout(ms(1) + safe().election_delay(0));
    let asked = state_requests(&drain(&mut r));
    (r, asked)
}

/// Master 0 of the safe setting that gathered an empty state from every member (at 200 ms).
fn ready_master() -> Replica {
    let (mut r, asked) = gathering_master();
    assert_eq!(asked.iter().map(|(m, _)| *m).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    for (m, nonce) in asked {
        r.handle_peer(ms(200), m, PeerMsg::StateReply { nonce, snapshot: Snapshot::default() });
    }
    drain(&mut r);
    r
}

/// Every other member of a five-server group inquires master `r` at `at`.
fn all_inquire(r: &mut Replica, at: Duration) {
    for m in 1..5 {
        r.handle_peer(at, m, PeerMsg::Inquiry { nonce: 1 });
    }
    drain(r);
}

#[test]
fn safe_a_new_master_serves_nothing_until_every_member_sent_its_state() {
    let (mut r, asked) = gathering_master();
    assert_eq!(asked.len(), 4, "every other member is asked for its state");
    r.handle_request(ms(160), 7, 1, Op::Read { key: "x".into() });
    let refused = Err(ReplyError::Refused { why: Refusal::Gathering { missing: vec![1, 2, 3, 4] } });
    assert_eq!(responses(&drain(&mut r)), vec![refused]);
    // Member 2 holds the most recent state: a later epoch, though fewer requests than member 3.
    let mut newest = snapshot_with("x", 7, 5);
    newest.epoch = Epoch { counter: 3, master: 1 };
    let mut longer = snapshot_with("x", 9, 50);
    longer.epoch = Epoch { counter: 2, master: 4 };
    for (m, nonce) in &asked[..3] {
        let snapshot = match m {
            2 => newest.clone(),
            3 => longer.clone(),
            _ => Snapshot::default(),
        };
        r.handle_peer(ms(170), *m, PeerMsg::StateReply { nonce: *nonce, snapshot });
    }
    r.handle_request(ms(171), 7, 2, Op::Read { key: "x".into() });
    let refused = Err(ReplyError::Refused { why: Refusal::Gathering { missing: vec![4] } });
    assert_eq!(responses(&drain(&mut r)), vec![refused], "one member is still missing");
    // The time-out asks only the member that has not answered, and a late reply still counts.
    r.handle_timeout(ms(1) + safe().election_delay(0) + safe().inquiry_timeout);
    let again = state_requests(&drain(&mut r));
    assert_eq!(again.iter().map(|(m, _)| *m).collect::<Vec<_>>(), vec![4]);
    r.handle_peer(ms(260), 4, PeerMsg::StateReply { nonce: asked[3].1, snapshot: Snapshot::default() });
    assert_eq!(r.snapshot().kv, newest.kv, "the most recent state is adopted");
    assert_eq!(r.snapshot().applied, 5);
    assert_eq!(r.snapshot().epoch, Epoch { counter: 4, master: 0 }, "a new epoch above every one seen");
}

#[test]
fn safe_an_update_is_refused_with_no_effect_unless_every_member_is_reachable() {
    let mut r = ready_master();
    for m in [1, 2, 3] {
        r.handle_peer(ms(400), m, PeerMsg::Inquiry { nonce: 1 });
    }
    drain(&mut r);
    r.handle_request(ms(401), 7, 1, write("x", 1));
    let actions = drain(&mut r);
    let refused = Err(ReplyError::Refused { why: Refusal::Unreachable { missing: vec![4] } });
    assert_eq!(responses(&actions), vec![refused]);
    assert!(!peer_msgs(&actions).iter().any(|(_, m)| matches!(m, PeerMsg::Apply { .. })));
    assert_eq!((r.snapshot().applied, r.snapshot().kv.get("x")), (0, None), "nothing applied");
}

#[test]
fn safe_an_update_is_answered_only_after_every_member_acknowledged_it() {
    let mut r = ready_master();
    let epoch = r.snapshot().epoch;
    all_inquire(&mut r, ms(400));
    r.handle_request(ms(401), 7, 1, write("x", 1));
    let actions = drain(&mut r);
    assert!(responses(&actions).is_empty());
    let applies = peer_msgs(&actions)
        .into_iter()
        .filter(|(_, m)| *m == PeerMsg::Apply { epoch, seq: 1, op: write("x", 1) });
    assert_eq!(applies.count(), 4, "forwarded under the master's epoch");
    for m in [1, 2, 3] {
        r.handle_peer(ms(402), m, PeerMsg::ApplyAck { epoch, seq: 1 });
    }
    r.handle_peer(ms(402), 4, PeerMsg::ApplyAck { epoch: Epoch::default(), seq: 1 });
    assert!(responses(&drain(&mut r)).is_empty(), "an acknowledgement of another epoch does not count");
    r.handle_peer(ms(403), 4, PeerMsg::ApplyAck { epoch, seq: 1 });
    assert_eq!(responses(&drain(&mut r)), vec![Ok(OpOutput::Done)]);
}

#[test]
fn safe_an_update_not_acknowledged_by_every_member_in_time_is_indeterminate() {
    let mut r = ready_master();
    let epoch = r.snapshot().epoch;
    all_inquire(&mut r, ms(400));
    r.handle_request(ms(401), 7, 1, write("x", 1));
    for m in [1, 2, 4] {
        r.handle_peer(ms(402), m, PeerMsg::ApplyAck { epoch, seq: 1 });
    }
    drain(&mut r);
    r.handle_timeout(ms(401) + safe().ack_timeout);
    let result = responses(&drain(&mut r));
    assert_eq!(result, vec![Err(ReplyError::Unacknowledged { missing: vec![3] })]);
    assert!(!result[0].as_ref().unwrap_err().is_definite());
}

#[test]
fn safe_a_read_is_answered_only_once_every_member_holds_all_the_master_applied() {
    let mut r = ready_master();
    let epoch = r.snapshot().epoch;
    r.handle_request(ms(300), 7, 1, Op::Read { key: "x".into() });
    assert_eq!(
        responses(&drain(&mut r)),
        vec![Ok(OpOutput::Value(None))],
        "nothing applied, nothing pending"
    );
    all_inquire(&mut r, ms(400));
    r.handle_request(ms(401), 7, 2, write("x", 1));
    for m in [1, 2, 3] {
        r.handle_peer(ms(402), m, PeerMsg::ApplyAck { epoch, seq: 1 });
    }
    drain(&mut r);
    r.handle_request(ms(403), 7, 3, Op::Read { key: "x".into() });
    let refused = Err(ReplyError::Refused { why: Refusal::Uncommitted { missing: vec![4] } });
    assert_eq!(responses(&drain(&mut r)), vec![refused.clone()], "the write is not committed yet");
    // A compare-and-set that finds another value reveals the state too.
    r.handle_request(ms(403), 7, 4, Op::Cas { key: "x".into(), old: Value::Int(5), new: Value::Int(6) });
    assert_eq!(responses(&drain(&mut r)), vec![refused]);
    r.handle_peer(ms(404), 4, PeerMsg::ApplyAck { epoch, seq: 1 });
    drain(&mut r);
    r.handle_request(ms(405), 7, 5, Op::Read { key: "x".into() });
    assert_eq!(responses(&drain(&mut r)), vec![Ok(OpOutput::Value(Some(Value::Int(1))))]);
}

#[test]
fn safe_a_backup_applies_only_its_masters_epoch_and_acknowledges_what_it_downloads() {
    let mut r = backup_of(2, 0, safe());
    let theirs = Epoch { counter: 1, master: 0 };
    r.handle_peer(ms(20), 0, PeerMsg::Apply { epoch: theirs, seq: 1, op: write("x", 1) });
    let actions = drain(&mut r);
    let nonce = state_request_nonce(&actions);
    assert!(!peer_msgs(&actions).iter().any(|(_, m)| matches!(m, PeerMsg::ApplyAck { .. })), "not applied");
    assert_eq!(r.snapshot().kv.get("x"), None);
    let mut snapshot = snapshot_with("x", 1, 1);
    snapshot.epoch = theirs;
    r.handle_peer(ms(22), 0, PeerMsg::StateReply { nonce, snapshot });
    assert!(peer_msgs(&drain(&mut r)).contains(&(0, PeerMsg::ApplyAck { epoch: theirs, seq: 1 })));
    // An inquiry reply that names another epoch makes the backup download again.
    r.handle_timeout(ms(10) + safe().detect_interval);
    let PeerMsg::Inquiry { nonce } = peer_msgs(&drain(&mut r))[0].1 else { panic!("an inquiry") };
    let newer = Epoch { counter: 2, master: 0 };
    r.handle_peer(ms(112), 0, PeerMsg::InquiryReply { nonce, epoch: newer, applied: 1 });
    assert_eq!(state_requests(&drain(&mut r)).len(), 1);
}

#[test]
fn safe_a_master_acknowledges_nothing_so_a_rival_master_cannot_commit() {
    let mut r = ready_master();
    r.handle_peer(
        ms(300),
        1,
        PeerMsg::Apply { epoch: Epoch { counter: 9, master: 1 }, seq: 1, op: write("x", 1) },
    );
    let actions = drain(&mut r);
    assert!(!peer_msgs(&actions).iter().any(|(_, m)| matches!(m, PeerMsg::ApplyAck { .. })));
    assert_eq!(r.snapshot().kv.get("x"), None);
}

#[test]
fn safe_a_failed_synchronisation_keeps_the_state_instead_of_terminating() {
    let mut r = backup_of(3, 1, safe());
    r.handle_peer(ms(20), 1, PeerMsg::Apply { epoch: Epoch::default(), seq: 1, op: write("x", 1) });
    drain(&mut r);
    // The detector finds server 0 registered: recovery downloads from it, which never answers.
    let t = ms(30);
    r.handle_ns(t, NsReply::Notify { group: safe().group });
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(t, NsReply::LookupReply { nonce, registrations: vec![registration(0)] });
    assert_eq!(state_requests(&drain(&mut r)).len(), 1);
    r.handle_timeout(t + safe().inquiry_timeout);
    let actions = drain(&mut r);
    assert!(!actions.iter().any(|a| matches!(a, Action::Terminate { .. })), "{actions:?}");
    assert!(!r.is_terminated());
    assert_eq!((r.role(), r.master()), (Role::Backup, Some(0)));
    assert_eq!(r.snapshot().kv.get("x"), Some(&Value::Int(1)), "the state is kept");
}

#[test]
fn a_backup_that_missed_an_apply_catches_up_once_two_inquiries_find_it_behind() {
    let p = Params::default();
    let mut r = backup_of(3, 0, p.clone());
    let t = ms(10) + p.detect_interval;
    r.handle_timeout(t);
    let PeerMsg::Inquiry { nonce } = peer_msgs(&drain(&mut r))[0].1 else { panic!("an inquiry") };
    r.handle_peer(t + ms(1), 0, PeerMsg::InquiryReply { nonce, epoch: Epoch::default(), applied: 0 });
    assert!(state_requests(&drain(&mut r)).is_empty(), "up to date: nothing to fetch");
    r.handle_timeout(t + p.detect_interval);
    let PeerMsg::Inquiry { nonce } = peer_msgs(&drain(&mut r))[0].1 else { panic!("an inquiry") };
    r.handle_peer(
        t + p.detect_interval + ms(1),
        0,
        PeerMsg::InquiryReply { nonce, epoch: Epoch::default(), applied: 4 },
    );
    assert!(state_requests(&drain(&mut r)).is_empty(), "behind once: the Apply may be on its way");
    let t = t + p.detect_interval * 2;
    r.handle_timeout(t);
    let PeerMsg::Inquiry { nonce } = peer_msgs(&drain(&mut r))[0].1 else { panic!("an inquiry") };
    r.handle_peer(t + ms(1), 0, PeerMsg::InquiryReply { nonce, epoch: Epoch::default(), applied: 4 });
    assert_eq!(state_requests(&drain(&mut r)).len(), 1, "behind twice without progress: download");
}

#[test]
fn safe_a_master_still_gathering_answers_gathers_but_no_download() {
    let (mut r, _) = gathering_master();
    r.handle_peer(ms(160), 1, PeerMsg::StateRequest { nonce: 5, gather: false });
    assert!(drain(&mut r).is_empty(), "a backup's download gets nothing from a master still gathering");
    r.handle_peer(ms(160), 1, PeerMsg::StateRequest { nonce: 6, gather: true });
    let replies = peer_msgs(&drain(&mut r));
    assert!(
        matches!(replies[..], [(1, PeerMsg::StateReply { nonce: 6, .. })]),
        "a rival's gather is answered: {replies:?}"
    );
}

#[test]
fn safe_a_recovering_master_acknowledges_nothing() {
    // Master 3 learns that 0 is registered and recovers towards it (role Master, master 0):
    // 0's Apply must not be acknowledged before the state is downloaded.
    let mut r = master(3, safe());
    r.handle_ns(ms(400), NsReply::Notify { group: safe().group });
    let nonce = lookup_nonce(&drain(&mut r));
    r.handle_ns(ms(401), NsReply::LookupReply { nonce, registrations: vec![registration(0)] });
    drain(&mut r);
    assert_eq!((r.role(), r.master()), (Role::Master, Some(0)));
    r.handle_peer(
        ms(402),
        0,
        PeerMsg::Apply { epoch: Epoch { counter: 9, master: 0 }, seq: 1, op: write("x", 1) },
    );
    let actions = drain(&mut r);
    assert!(!peer_msgs(&actions).iter().any(|(_, m)| matches!(m, PeerMsg::ApplyAck { .. })), "{actions:?}");
    assert_eq!(r.snapshot().kv.get("x"), None);
}
