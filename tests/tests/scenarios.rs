//! Scenario tests of the whole run flow against the simulated seeds' group (`splitbrain test
//! --sim`): each deliberate bug is caught, each partition shape is applied as drawn and healed,
//! the final phase heals everything and observes the stability window, Ctrl-C mid-run heals and
//! keeps what was recorded, a correct group's stored run is valid, and one seed gives one
//! history, byte for byte. Seconds, no root.

use std::collections::BTreeSet;

use checkers::history::{Op, OpType, Process};
use checkers::mastership::Round;
use checkers::results::{self, Checked};
use checkers::verdict::Verdict;
use faults::fault::Fault;
use faults::partition::{Grudge, Shape};
use harness::plan::generator::FINAL_VALUE;
use harness::plan::{Plan, ReplicaSettings, TestSpec};
use nodes::protocol::bugs::Bug;
use nodes::protocol::params::AckMode;
use rayon::prelude::*;

/// The README's main plan (5 replicas, 30 s, partitions and kills every 5 s, the safe setting)
/// with `bugs`, under `seed`.
fn main_plan(seed: u64, bugs: Vec<Bug>) -> Plan {
    let spec = TestSpec {
        seed: Some(seed),
        time_limit: Some(30),
        nemesis: Some(vec!["partition".into(), "kill".into()]),
        nemesis_interval: Some(5),
        bugs: Some(bugs),
        replica: ReplicaSettings { ack: Some(AckMode::EveryMember), ..Default::default() },
        ..TestSpec::default()
    };
    Plan::from_spec(spec, 0, None).expect("a valid plan")
}

fn spec(seed: u64, time_limit: u64, interval: u64, nemesis: &[&str]) -> TestSpec {
    TestSpec {
        seed: Some(seed),
        time_limit: Some(time_limit),
        nemesis_interval: Some(interval),
        nemesis: Some(nemesis.iter().map(|n| n.to_string()).collect()),
        recovery_time: Some(10),
        stability_window: Some(3),
        replica: ReplicaSettings { ack: Some(AckMode::EveryMember), ..Default::default() },
        ..TestSpec::default()
    }
}

fn faults(history: &[Op]) -> Vec<(u64, Fault)> {
    history
        .iter()
        .filter(|o| o.process.is_nemesis() && o.kind == OpType::Invoke)
        .map(|o| (o.index, serde_json::from_value(o.value.clone()).expect("a recorded fault")))
        .collect()
}

fn event<'h>(history: &'h [Op], f: &str) -> Option<&'h Op> {
    history.iter().find(|o| o.process.is_harness() && o.f == f)
}

#[test]
fn every_deliberate_bug_is_caught_by_the_main_plan_and_the_correct_group_is_not() {
    let seeds = 1..=10u64;
    let caught = |bugs: Vec<Bug>| -> Vec<u64> {
        seeds
            .clone()
            .into_par_iter()
            .filter(|&seed| {
                let (_, results) = tests::simulate(&main_plan(seed, bugs.clone()));
                results.valid == Verdict::Invalid
            })
            .collect()
    };
    let false_alarms = caught(Vec::new());
    assert!(false_alarms.is_empty(), "the correct group was called invalid on seeds {false_alarms:?}");
    for bug in Bug::ALL {
        let found = caught(vec![bug]);
        assert!(found.len() >= 7, "{bug}: caught on seeds {found:?} only, of 10");
    }
}

/// Who drops whose packets, as unordered pairs of hosts cut in at least one direction.
#[test]
fn a_master_that_never_forwards_is_caught_even_when_every_backup_caught_up_after_the_last_heal() {
    // Under these seeds of the main plan every backup rejoins, and catches up from the master,
    // after the last fault: before the final phase wrote every key once, they came out valid.
    for seed in [7, 8, 25, 32, 33] {
        let (_, results) = tests::simulate(&main_plan(seed, vec![Bug::NoForward]));
        let convergence = results.checkers.convergence.expect("convergence checked");
        assert_eq!(convergence.verdict(), Verdict::Invalid, "seed {seed}: {convergence:?}");
    }
}

fn cut_pairs(grudge: &Grudge) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for (to, froms) in &grudge.0 {
        for from in froms {
            pairs.insert((from.min(to).clone(), from.max(to).clone()));
        }
    }
    pairs
}

fn symmetric(grudge: &Grudge) -> bool {
    grudge
        .0
        .iter()
        .all(|(to, froms)| froms.iter().all(|from| grudge.0.get(from).is_some_and(|f| f.contains(to))))
}

#[test]
fn each_partition_shape_is_applied_as_drawn_healed_and_survived_by_the_correct_group() {
    for shape in Shape::ALL {
        let mut spec = spec(3, 24, 4, &["partition"]);
        spec.partition_shapes = Some(vec![shape]);
        let plan = Plan::from_spec(spec, 0, None).unwrap();
        let history = harness::run::simulate(&plan).unwrap();
        let results = results::check(&history, &results::all());
        assert_eq!(results.valid, Verdict::Valid, "{shape:?}: {:?}", tests::not_valid(&results));
        let faults = faults(&history);
        let partitions: Vec<_> = faults
            .iter()
            .filter_map(|(at, f)| match f {
                Fault::Partition { grudge } => Some((*at, grudge)),
                _ => None,
            })
            .collect();
        assert_eq!(partitions.len(), 3, "{shape:?}: one partition every other interval of 24 s");
        for (i, (at, grudge)) in partitions.iter().enumerate() {
            let pairs = cut_pairs(grudge);
            assert!(!pairs.is_empty(), "{shape:?}: an empty grudge");
            let healed = faults.iter().any(|(h, f)| h > at && matches!(f, Fault::Heal));
            assert!(healed, "{shape:?}: partition {i} is healed");
            let ns_cut = pairs.iter().filter(|(a, b)| a == "ns" || b == "ns").count();
            match shape {
                Shape::OneWay => assert!(!symmetric(grudge), "one-way cuts one direction: {grudge:?}"),
                _ => assert!(symmetric(grudge), "{shape:?} cuts both ways: {grudge:?}"),
            }
            match shape {
                Shape::IsolateNameServer => assert_eq!((ns_cut, pairs.len()), (5, 5), "{grudge:?}"),
                Shape::One => assert_eq!((ns_cut, pairs.len()), (1, 5), "one replica cut off: {grudge:?}"),
                Shape::IsolateMaster => {
                    let master = history
                        .iter()
                        .rev()
                        .filter(|o| o.process.is_observer() && o.index < *at)
                        .filter_map(|o| serde_json::from_value::<Round>(o.value.clone()).ok())
                        .find_map(|r| r.single_master(false).ok())
                        .expect("a master before the fault");
                    assert!(pairs.iter().all(|(a, b)| *a == master || *b == master), "{master}: {grudge:?}");
                    assert_eq!(pairs.len(), 5, "the master cut from everyone: {grudge:?}");
                }
                Shape::MajoritiesRing | Shape::Bridge => assert_eq!(ns_cut, 0, "{grudge:?}"),
                // Two replicas against three and the name server.
                Shape::Halves | Shape::RandomHalves => assert_eq!(pairs.len(), 2 * 4, "{grudge:?}"),
                Shape::OneWay => {}
            }
        }
        let m = results.checkers.mastership.as_ref().unwrap();
        if shape == Shape::IsolateMaster {
            // The cut-off master still says Master while the others elect one of their own.
            assert!(!m.split_brain_windows.is_empty(), "the majority elects a master of its own");
        }
    }
}

#[test]
fn the_final_phase_heals_everything_recovers_and_observes_the_stability_window() {
    let plan = Plan::from_spec(spec(2, 10, 3, &["partition", "kill", "pause", "clock"]), 0, None).unwrap();
    let history = harness::run::simulate(&plan).unwrap();
    let final_phase = event(&history, "final-phase").expect("a final phase");
    let undone: Vec<&str> = history
        .iter()
        .filter(|o| {
            o.process.is_nemesis() && o.kind == OpType::Invoke && o.time >= plan.time_limit.as_nanos() as u64
        })
        .map(|o| o.f.as_str())
        .collect();
    assert_eq!(undone, ["heal", "resume", "start", "reset-clock"], "every fault kind undone, in order");
    let recovered = event(&history, "recovered").expect("recovery recorded");
    assert!(recovered.index > final_phase.index);
    assert!(recovered.value["master"].is_string(), "one master after the heal: {}", recovered.value);
    let (start, end) =
        (event(&history, "stability-start").unwrap(), event(&history, "stability-end").unwrap());
    assert!(end.time - start.time >= plan.stability_window.as_nanos() as u64);
    let rounds = history
        .iter()
        .filter(|o| o.process.is_observer() && o.time > start.time && o.time < end.time)
        .count();
    assert!(rounds >= 25, "observed every 100 ms of the 3 s window: {rounds} rounds");
    let final_ops = |from: u64, to: u64| -> Vec<&Op> {
        history
            .iter()
            .filter(|o| {
                o.index > from
                    && o.index < to
                    && o.process == Process::Client(u64::MAX / 2)
                    && o.kind == OpType::Ok
            })
            .collect()
    };
    let before_window: Vec<(&str, &str)> = final_ops(recovered.index, start.index)
        .iter()
        .map(|o| (o.f.as_str(), o.key.as_deref().unwrap()))
        .collect();
    let keys = ["r0", "r1", "r2", "r3", "r4"];
    let expected: Vec<(&str, &str)> =
        keys.iter().map(|k| ("read", *k)).chain(keys.iter().map(|k| ("write", *k))).collect();
    assert_eq!(before_window, expected, "every key read, then written, before the window");
    let reads = final_ops(end.index, u64::MAX);
    let read_keys: Vec<&str> = reads.iter().map(|o| o.key.as_deref().unwrap()).collect();
    assert_eq!(read_keys, keys, "every key read back after the window");
    for read in reads {
        assert_eq!(read.value, serde_json::json!(FINAL_VALUE), "the final write read back: {read:?}");
    }
    let results = results::check(&history, &results::all());
    assert_eq!(results.valid, Verdict::Valid, "{:?}", tests::not_valid(&results));
}

#[test]
fn ctrl_c_mid_run_stops_the_workload_heals_and_keeps_the_history() {
    let plan = Plan::from_spec(spec(4, 60, 3, &["partition", "kill"]), 0, None).unwrap();
    let at = std::time::Duration::from_secs(10);
    let history = harness::run::simulate_interrupted(&plan, at).unwrap();
    let last_client = history
        .iter()
        .filter(|o| {
            o.process.is_client() && o.process != Process::Client(u64::MAX / 2) && o.kind == OpType::Invoke
        })
        .map(|o| o.time)
        .max()
        .unwrap();
    assert!(last_client < 11_000_000_000, "no workload after the interrupt: last at {last_client} ns");
    assert!(event(&history, "final-phase").is_some(), "the final phase ran");
    assert!(event(&history, "recovered").is_none(), "an interrupted run does not wait for recovery");
    let healed = faults(&history).iter().any(|(_, f)| matches!(f, Fault::Heal));
    assert!(healed, "the network healed");
    let results = results::check(&history, &results::all());
    assert!(results.checkers.mastership.is_some(), "what was recorded is analysed");
}

#[test]
fn a_stored_simulated_run_of_the_correct_group_is_valid_and_reported() {
    let store = tempfile::tempdir().unwrap();
    let mut spec = spec(6, 20, 4, &["partition", "kill", "pause"]);
    spec.store = Some(store.path().to_path_buf());
    let plan = Plan::from_spec(spec, 0, None).unwrap();
    let outcome = harness::run::simulated(&plan).unwrap();
    assert_eq!(outcome.results.valid, Verdict::Valid, "{:?}", tests::not_valid(&outcome.results));
    for file in ["test.yaml", "harness.log", "history.jsonl", "results.json", "junit.xml", "report.html"] {
        assert!(outcome.dir.join(file).is_file(), "{file} is stored");
    }
    let again = harness::report::reanalyze(&outcome.dir, &results::all()).unwrap();
    assert_eq!(again.valid, outcome.results.valid, "analyze gives the stored run's verdict again");
}

#[test]
fn one_seed_gives_one_history_byte_for_byte() {
    let store = tempfile::tempdir().unwrap();
    let history = |seed: u64, name: &str| {
        let mut spec = spec(seed, 15, 2, &["partition", "kill", "pause", "clock"]);
        spec.store = Some(store.path().to_path_buf());
        spec.name = Some(name.into());
        let plan = Plan::from_spec(spec, 0, None).unwrap();
        let outcome = harness::run::simulated(&plan).unwrap();
        std::fs::read(outcome.dir.join("history.jsonl")).unwrap()
    };
    let first = history(8, "a");
    assert!(first.len() > 10_000, "a history was written");
    assert!(first == history(8, "b"), "the same seed gives the same bytes");
    assert!(first != history(9, "c"), "another seed gives another history");
}

#[test]
fn the_simulator_refuses_a_plan_on_hosts_it_did_not_make() {
    let spec = TestSpec { nodes_file: Some("nodes.yaml".into()), ..TestSpec::default() };
    let plan = Plan::from_spec(spec, 0, None).unwrap();
    let refused = harness::run::simulate(&plan).unwrap_err();
    assert!(matches!(refused, harness::error::Error::Simulation(_)), "{refused}");
    assert!(refused.to_string().contains("give --nodes"), "{refused}");
}

#[test]
fn explore_keeps_each_failing_seed_with_its_report_and_nothing_for_the_correct_group() {
    let store = tempfile::tempdir().unwrap();
    let explored = |bugs: Vec<Bug>| {
        let mut plan = main_plan(0, bugs);
        plan.store = store.path().join(format!("{}", plan.bugs.len()));
        harness::explore::explore(&plan, 1..=6, 2, true, |_| {}).unwrap()
    };
    let buggy = explored(vec![Bug::NoNsDedup]);
    assert_eq!(buggy.runs, 6);
    assert_eq!(buggy.failures.len(), 6, "no-ns-dedup is caught on every seed");
    assert_eq!(buggy.verdict(), Verdict::Invalid);
    assert_eq!(buggy.by_checker().get(&results::Checker::Mastership), Some(&6), "{:?}", buggy.by_checker());
    for failure in &buggy.failures {
        for file in ["test.yaml", "history.jsonl", "results.json", "report.html"] {
            assert!(failure.dir.join(file).is_file(), "seed {}: {file} is kept", failure.seed);
        }
    }
    for failure in &buggy.failures {
        assert!(failure.schedule.starts() <= failure.found_with, "shrinking never adds faults");
        let plan = Plan::replay(&failure.dir, TestSpec::default()).unwrap();
        let (_, again) = tests::simulate(&plan);
        assert_eq!(again.valid, Verdict::Invalid, "seed {}: the kept schedule fails again", failure.seed);
    }
    let seeds: BTreeSet<u64> = buggy.failures.iter().map(|f| f.seed).collect();
    assert_eq!(seeds, (1..=6).collect(), "one failure per seed, each its own folder");
    let correct = explored(Vec::new());
    assert!(correct.failures.is_empty(), "{:?}", correct.failures);
    assert!(correct.simulated > std::time::Duration::from_secs(6 * 30), "every run covered its 30 s");
}

#[test]
fn a_runs_schedule_replayed_in_the_simulator_applies_the_same_faults_and_gives_the_same_verdict() {
    let store = tempfile::tempdir().unwrap();
    let mut spec = spec(11, 20, 3, &["partition", "kill", "pause"]);
    spec.store = Some(store.path().to_path_buf());
    let plan = Plan::from_spec(spec, 0, None).unwrap();
    let first = harness::run::simulated(&plan).unwrap();
    let schedule = harness::plan::schedule::Schedule::load(&first.dir.join("schedule.yaml")).unwrap();
    assert!(schedule.starts() >= 3, "the faults were written down: {}", schedule.summary());
    let replayed =
        Plan::replay(&first.dir, TestSpec { name: Some("again".into()), ..TestSpec::default() }).unwrap();
    let again = harness::run::simulated(&replayed).unwrap();
    let again_schedule = harness::plan::schedule::Schedule::load(&again.dir.join("schedule.yaml")).unwrap();
    assert_eq!(again_schedule, schedule, "the same faults at the same times");
    assert_eq!(again.results.valid, first.results.valid);
    let read = |d: &std::path::Path| std::fs::read(d.join("history.jsonl")).unwrap();
    assert!(read(&first.dir) == read(&again.dir), "the same seed and schedule give the same history");
    let report = std::fs::read_to_string(again.dir.join("report.html")).unwrap();
    assert!(report.contains(&format!("fault schedule: {}", schedule.summary())), "the report names it");
}

#[test]
fn a_fault_that_would_affect_nothing_is_skipped_rather_than_recorded() {
    // One replica: halves and bridges need two and three replicas, and the fallback (halves)
    // has none to cut; packet faults on "links" take a partition's links, so none either.
    let run = |nodes: u32| {
        let mut spec = spec(3, 12, 2, &["partition", "packet"]);
        spec.nodes = Some(nodes);
        spec.partition_shapes = Some(vec![Shape::Halves, Shape::Bridge]);
        spec.packet.targets = Some(vec![faults::packet::PacketTarget::Links]);
        let history = harness::run::simulate(&Plan::from_spec(spec, 0, None).expect("a valid plan")).unwrap();
        faults(&history).into_iter().map(|(_, f)| f).collect::<Vec<_>>()
    };
    let alone = run(1);
    assert!(alone.iter().all(|f| !f.affects_nothing()), "{alone:?}");
    assert!(
        !alone.iter().any(|f| matches!(f, Fault::Partition { .. } | Fault::Packet { .. })),
        "nothing to cut with one replica: {alone:?}"
    );
    let three = run(3);
    assert!(three.iter().any(|f| matches!(f, Fault::Packet { .. })), "the control: {three:?}");
    assert!(three.iter().any(|f| matches!(f, Fault::Partition { .. })), "the control: {three:?}");
}
