//! Whole-group flows on the deterministic simulator: 5 replicas and a name server.

use std::time::Duration;

use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::{MessageKind, OpOutput};
use nodes::protocol::nameserver::{KeepRule, NsParams};
use nodes::protocol::params::{AckMode, ElectionScheme, Params};
use nodes::protocol::replica::Role;
use nodes::runtime::tcp::USER_TIMEOUT;
use nodes::sim::{Degradation, NodeId, Sim, SimConfig, SimEvent};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn config(bugs: &[Bug]) -> SimConfig {
    SimConfig { bugs: Bugs::new(bugs.iter().copied()), ..SimConfig::default() }
}

/// A simulation that has run until `S_0` leads a converged group.
fn settled(config: SimConfig) -> Sim {
    let mut sim = Sim::new(config);
    let at = sim.run_until_true(ms(3000), |s| s.converged_master() == Some(0));
    assert!(at.is_some(), "cold start converges on S_0; masters: {:?}", sim.masters());
    sim.run_for(ms(200));
    sim
}

fn write(key: &str, v: i64) -> Op {
    Op::Write { key: key.into(), value: Value::Int(v) }
}

/// Sends `op` to `to` and runs until it is answered.
fn call(sim: &mut Sim, to: ReplicaId, op: Op) -> Result<OpOutput, nodes::protocol::message::ReplyError> {
    let request = sim.request(to, op);
    sim.run_until_true(ms(1000), |s| s.response(request).is_some());
    sim.response(request).cloned().expect("answered")
}

/// Asserts that `m` stays the converged master for `window`.
fn assert_stable(sim: &mut Sim, m: ReplicaId, window: Duration) {
    let broke = sim.run_until_true(window, |s| s.converged_master() != Some(m));
    assert!(broke.is_none(), "mastership of S_{m} changed at {broke:?}; masters {:?}", sim.masters());
}

fn peers() -> Vec<NodeId> {
    (1..5).map(NodeId::Replica).collect()
}

// ---- integral and equal election timers --------------------------------------------------

#[test]
fn integral_timers_master_crash_gives_one_declare_no_revoke_and_s1_within_the_bound() {
    let mut sim = settled(config(&[]));
    let p = Params::default();
    sim.reset_counters();
    let crashed_at = sim.now();
    sim.crash(0);
    let bound = p.detect_interval + p.inquiry_timeout + p.election_delay(1) + SimConfig::default().latency;
    let at = sim.run_until_true(ms(3000), |s| s.converged_master() == Some(1)).expect("S_1 takes over");
    assert!(at - crashed_at <= bound, "converged after {:?}, bound {bound:?}", at - crashed_at);
    assert_eq!(sim.sent(MessageKind::DeclareMaster), 4, "exactly one broadcast to the 4 other members");
    assert_eq!(sim.sent(MessageKind::RevokeMaster), 0);
    assert_stable(&mut sim, 1, ms(1000));
}

/// Messages (DeclareMaster + RevokeMaster) until one master remains after the master's crash.
fn election_messages(election: ElectionScheme) -> u64 {
    let mut sim =
        settled(SimConfig { params: Params { election, ..Params::default() }, ..SimConfig::default() });
    sim.reset_counters();
    sim.crash(0);
    let m = sim.run_until_true(ms(5000), |s| s.converged_master().is_some()).map(|_| sim.converged_master());
    assert!(m.is_some(), "the group converges; masters: {:?}", sim.masters());
    sim.sent(MessageKind::DeclareMaster) + sim.sent(MessageKind::RevokeMaster)
}

#[test]
fn equal_timers_with_simultaneous_expiry_still_converge_and_cost_more_messages() {
    let equal = election_messages(ElectionScheme::Equal { t: ms(150) });
    let integral = election_messages(Params::default().election);
    println!("election messages after a master crash: equal {equal}, integral {integral}");
    assert_eq!(integral, 4);
    assert!(equal > integral, "equal timers expire together and contest: {equal} messages");
}

// ---- master crash, seeded ------------------------------------------------------------------

#[test]
fn master_crash_with_jitter_converges_for_every_seed_and_runs_are_reproducible() {
    for seed in 0..20 {
        let cfg = SimConfig { seed, jitter: ms(3), ..SimConfig::default() };
        let run = |cfg: SimConfig| {
            let mut sim = settled(cfg);
            sim.crash(0);
            let at = sim.run_until_true(ms(3000), |s| s.converged_master().is_some_and(|m| m != 0));
            assert!(at.is_some(), "seed {seed}: masters {:?}", sim.masters());
            sim.events().to_vec()
        };
        assert_eq!(run(cfg.clone()), run(cfg), "seed {seed} gives one run");
    }
}

// ---- partition isolating the master, writes on both sides, heal ----------------------------

/// Isolates `S_0` from everything (the name server stays with the majority), writes on both
/// sides, heals, and restarts whatever terminated itself. Returns the simulation afterwards.
fn isolate_master_write_both_sides_and_heal(cfg: SimConfig) -> Sim {
    let mut sim = settled(cfg);
    assert_eq!(call(&mut sim, 0, write("before", 1)), Ok(OpOutput::Done));
    sim.run_for(ms(50));
    let mut majority = peers();
    majority.push(NodeId::NameServer);
    sim.partition(&[&[NodeId::Replica(0)], &majority]);
    let new = sim.run_until_true(ms(3000), |s| s.masters().contains(&1));
    assert!(new.is_some(), "the majority elects S_1; masters {:?}", sim.masters());
    assert_eq!(call(&mut sim, 0, write("minority", 2)), Ok(OpOutput::Done));
    assert_eq!(call(&mut sim, 1, write("majority", 3)), Ok(OpOutput::Done));
    sim.run_for(ms(500));
    sim.heal();
    sim.run_for(ms(1000));
    for id in 0..5 {
        sim.restart(id);
    }
    sim
}

fn assert_one_master_with_equal_state(sim: &mut Sim) -> ReplicaId {
    let at = sim.run_until_true(ms(3000), |s| s.converged_master().is_some());
    assert!(at.is_some(), "one master after heal; masters {:?}", sim.masters());
    let m = sim.converged_master().unwrap();
    assert_stable(sim, m, ms(1000));
    let kept = sim.replica(m).unwrap().snapshot().clone();
    for id in 0..5 {
        assert_eq!(sim.replica(id).unwrap().snapshot(), &kept, "S_{id} has S_{m}'s state");
    }
    m
}

#[test]
fn partition_isolating_the_master_heals_to_one_master_lowest_id_rule() {
    let mut sim = isolate_master_write_both_sides_and_heal(config(&[]));
    let m = assert_one_master_with_equal_state(&mut sim);
    assert_eq!(m, 0, "the name server keeps the lowest id");
    let kv = &sim.replica(m).unwrap().snapshot().kv;
    assert_eq!(kv.get("minority"), Some(&Value::Int(2)));
    assert_eq!(kv.get("majority"), None, "the demoted master's acknowledged write is lost, as designed");
}

#[test]
fn partition_isolating_the_master_heals_to_one_master_incumbent_rule() {
    let cfg = SimConfig { ns: NsParams { keep: KeepRule::Incumbent, ..NsParams::default() }, ..config(&[]) };
    let mut sim = isolate_master_write_both_sides_and_heal(cfg);
    let m = assert_one_master_with_equal_state(&mut sim);
    assert_eq!(m, 1, "the name server keeps the registration that held its lease");
    assert_eq!(sim.replica(m).unwrap().snapshot().kv.get("majority"), Some(&Value::Int(3)));
}

// ---- every bug breaks its property ---------------------------------------------------------

#[test]
fn bug_no_self_monitoring_leaves_a_split_brain_after_heal() {
    let mut sim = isolate_master_write_both_sides_and_heal(config(&[Bug::NoSelfMonitoring]));
    sim.run_for(ms(3000));
    assert_eq!(sim.masters(), vec![0, 1], "two masters persist");
    assert_eq!(sim.converged_master(), None);
}

/// Whether the name server ever held two registrations of the group while `S_1` elected
/// itself against an isolated master that the name server still reaches.
fn name_server_ever_held_two_registrations(bugs: &[Bug]) -> bool {
    let mut sim = settled(config(bugs));
    sim.partition(&[&[NodeId::Replica(0)], &peers()]);
    sim.run_until_true(ms(2000), |s| s.nameserver().registrations("g", s.now()).len() > 1).is_some()
}

#[test]
fn bug_no_ns_dedup_lets_two_registrations_stand() {
    assert!(!name_server_ever_held_two_registrations(&[]), "a correct name server dedups at once");
    assert!(name_server_ever_held_two_registrations(&[Bug::NoNsDedup]));
}

/// Masters standing 20 ms after equal election timers expired together on S_1..S_4 (restarted
/// with `bugs` after the group settled), with the name server cut off so that mastership
/// updating (E3) alone must leave one.
fn masters_after_concurrent_declarations(bugs: &[Bug]) -> usize {
    let params = Params { election: ElectionScheme::Equal { t: ms(150) }, ..Params::default() };
    let mut sim = settled(SimConfig { params, ..config(&[]) });
    sim.set_bugs(Bugs::new(bugs.iter().copied()));
    for id in 1..5 {
        sim.crash(id);
        sim.restart(id);
    }
    sim.run_until_true(ms(1000), |s| s.converged_master() == Some(0)).expect("the restarted follow S_0");
    let mut replicas = peers();
    replicas.push(NodeId::Replica(0));
    sim.partition(&[&[NodeId::NameServer], &replicas]);
    sim.crash(0);
    sim.run_until_true(ms(2000), |s| s.masters().len() > 1).expect("equal timers expire together");
    sim.run_for(ms(20));
    sim.masters().len()
}

#[test]
fn bug_never_yield_keeps_concurrent_masters() {
    assert_eq!(masters_after_concurrent_declarations(&[]), 1);
    assert_eq!(masters_after_concurrent_declarations(&[Bug::NeverYield]), 4);
}

/// Writes `x = 1` on S_0, crashes it, and reads `x` from the new master.
fn read_after_failover(bugs: &[Bug]) -> Option<Value> {
    let mut sim = settled(config(bugs));
    assert_eq!(call(&mut sim, 0, write("x", 1)), Ok(OpOutput::Done));
    sim.run_for(ms(50));
    sim.crash(0);
    sim.run_until_true(ms(3000), |s| s.converged_master() == Some(1)).expect("S_1 takes over");
    match call(&mut sim, 1, Op::Read { key: "x".into() }) {
        Ok(OpOutput::Value(v)) => v,
        other => panic!("read failed: {other:?}"),
    }
}

#[test]
fn bug_no_forward_loses_acknowledged_writes_on_failover() {
    assert_eq!(read_after_failover(&[]), Some(Value::Int(1)));
    assert_eq!(read_after_failover(&[Bug::NoForward]), None);
}

#[test]
fn self_terminations_are_recorded_as_events() {
    // S_0 isolated from the replicas but not from the name server: S_1's registration loses to
    // S_0's (lowest id), and S_1 cannot download S_0's state, so it terminates itself.
    let mut sim = settled(config(&[]));
    sim.partition(&[&[NodeId::Replica(0)], &peers()]);
    sim.run_for(ms(2000));
    let terminated: Vec<_> = sim
        .events()
        .iter()
        .filter_map(|e| match e {
            SimEvent::Terminated { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert!(terminated.contains(&1), "{:?}", sim.events());
    sim.heal();
    for id in 0..5 {
        sim.restart(id);
    }
    assert_one_master_with_equal_state(&mut sim);
}

#[test]
fn a_one_way_cut_from_the_master_makes_that_backup_enter_the_election() {
    let mut sim = settled(config(&[]));
    sim.cut_one_way(NodeId::Replica(0), NodeId::Replica(3));
    let entered = sim.run_until_true(ms(1000), |s| s.replica(3).is_some_and(|r| r.role() != Role::Backup));
    assert!(entered.is_some(), "S_3 never hears the master's replies, so its inquiry times out");
    assert_eq!(sim.replica(1).unwrap().role(), Role::Backup, "the others still hear S_0");
}

#[test]
fn a_slow_link_delays_the_failover_by_its_latency() {
    let failover = |slow: Option<Duration>| {
        let mut sim = settled(config(&[]));
        if let Some(delay) = slow {
            for other in 2..5 {
                sim.set_latency(NodeId::Replica(1), NodeId::Replica(other), delay);
            }
        }
        let at = sim.now();
        sim.crash(0);
        sim.run_until_true(ms(3000), |s| s.converged_master() == Some(1)).expect("S_1 takes over") - at
    };
    let fast = failover(None);
    let slow = failover(Some(ms(30)));
    assert!(slow > fast, "followers hear S_1's declaration later over the slow links: {fast:?} vs {slow:?}");
}

// ---- pauses and clock rates --------------------------------------------------------------

#[test]
fn a_paused_master_is_replaced_and_rejoins_as_a_backup_after_it_resumes() {
    let mut sim = settled(config(&[]));
    sim.pause(0);
    assert!(sim.is_paused(0));
    let at = sim.run_until_true(ms(3000), |s| s.masters().contains(&1));
    assert!(at.is_some(), "S_1 takes over from the paused S_0; masters {:?}", sim.masters());
    assert_eq!(sim.replica(0).map(|r| r.role()), Some(Role::Master), "a paused server changes nothing");
    sim.resume(0);
    let at = sim.run_until_true(ms(3000), |s| s.converged_master().is_some());
    assert!(at.is_some(), "one master after the resume; masters {:?}", sim.masters());
    let m = sim.converged_master().expect("converged");
    assert_stable(&mut sim, m, ms(2000));
}

#[test]
fn a_fast_clock_fires_the_replicas_timers_faster_and_a_reset_restores_the_pace() {
    let mut sim = settled(config(&[]));
    let registers = |sim: &mut Sim| {
        sim.reset_counters();
        sim.run_for(ms(1000));
        sim.sent(MessageKind::Register)
    };
    let normal = registers(&mut sim);
    sim.set_clock_rate(0, 4.0);
    let fast = registers(&mut sim);
    sim.set_clock_rate(0, 1.0);
    let back = registers(&mut sim);
    assert!((18..=22).contains(&normal), "a 50 ms lease renewal: {normal} a second");
    assert!(fast >= 3 * normal, "four times as fast: {fast} against {normal}");
    assert!(back.abs_diff(normal) <= 2, "real pace again: {back} against {normal}");
}

// ---- degraded links (packet faults) -------------------------------------------------------

#[test]
fn a_delay_beyond_the_inquiry_timeout_on_the_masters_links_starts_an_election_and_restoring_them_settles() {
    let mut sim = settled(config(&[]));
    sim.reset_counters();
    sim.run_for(ms(3000));
    assert_eq!(sim.sent(MessageKind::DeclareMaster), 0, "the control: healthy links, no election");
    let slow = nodes::sim::Degradation { delay: ms(2000), jitter: ms(100), ..Default::default() };
    for peer in peers() {
        sim.degrade(NodeId::Replica(0), peer, slow);
    }
    sim.run_for(ms(3000));
    assert!(sim.sent(MessageKind::DeclareMaster) > 0, "replies 2 s late look like a dead master");
    sim.restore_links();
    let at = sim.run_until_true(ms(10_000), |s| s.converged_master().is_some());
    assert!(at.is_some(), "one master once the links are restored; masters {:?}", sim.masters());
}

#[test]
fn links_stalled_by_packet_loss_carry_messages_again_soon_after_the_loss_ends() {
    let mut sim = settled(SimConfig {
        params: Params { ack: AckMode::EveryMember, ..Params::default() },
        ..config(&[])
    });
    let servers: Vec<NodeId> = (0..5).map(NodeId::Replica).chain([NodeId::NameServer]).collect();
    let lossy = Degradation { loss: 0.5, ..Degradation::default() };
    for &a in &servers {
        for &b in servers.iter().filter(|&&b| b != a) {
            sim.degrade(a, b, lossy);
        }
    }
    sim.run_for(ms(10_000));
    sim.restore_links();
    // A connection stalled by the loss breaks at most a user time-out after its stalled segment
    // was sent, and its handshake over healed links takes a round trip.
    sim.run_for(USER_TIMEOUT + ms(10));
    let settled_at = sim.run_until_true(ms(2000), |s| s.converged_master().is_some());
    assert!(settled_at.is_some(), "one master soon after the loss ended; masters {:?}", sim.masters());
    let m = sim.converged_master().expect("converged");
    for v in 0..5 {
        let written = call(&mut sim, m, write("k", v));
        assert_eq!(written, Ok(OpOutput::Done), "every member acknowledges write {v}: every link carries");
    }
}
