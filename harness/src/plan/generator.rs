//! Seeded generation of client operations and of the nemesis schedule. The schedule is a pure
//! function of the plan (seed included); fault targets are drawn from a seeded generator when
//! the fault is applied, since some depend on the master at that moment.

use std::time::Duration;

use faults::Host;
use faults::fault::Fault;
use faults::packet::{Behaviour, Links, PacketTarget};
use faults::partition::{Shape, grudge};
use faults::select::{Selector, select};
use nodes::protocol::kv::{Op, Value};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::plan::{NemesisKind, Plan, Policy, Workload};

/// Keys of the register workload.
pub const REGISTER_KEYS: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];
/// The key of the set workload.
pub const SET_KEY: &str = "set";
/// The value the final phase writes to every key (and appends to the set): one no client ever
/// writes (they write 0 to 4, and append elements from 1 up), so it changes every key's data.
pub const FINAL_VALUE: i64 = -1;

/// Client operations for one client process.
pub struct ClientGen {
    workload: Workload,
    process: u64,
    rng: ChaCha8Rng,
    appended: u64,
}

impl ClientGen {
    /// The generator of client process `process`, seeded from the test's seed.
    pub fn new(workload: Workload, seed: u64, process: u64) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(seed ^ process.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        ClientGen { workload, process, rng, appended: 0 }
    }

    /// The next operation: its name for the history, and the request.
    pub fn next_op(&mut self) -> (&'static str, Op) {
        match self.workload {
            Workload::Register => {
                let key = REGISTER_KEYS[self.rng.random_range(0..REGISTER_KEYS.len())].to_string();
                let v = |rng: &mut ChaCha8Rng| Value::Int(rng.random_range(0..5));
                match self.rng.random_range(0..100) {
                    0..50 => ("read", Op::Read { key }),
                    50..85 => ("write", Op::Write { key, value: v(&mut self.rng) }),
                    _ => ("cas", Op::Cas { key, old: v(&mut self.rng), new: v(&mut self.rng) }),
                }
            }
            Workload::Set => {
                self.appended += 1;
                let element = self.process as i64 * 1_000_000 + self.appended as i64;
                ("append", Op::Append { key: SET_KEY.into(), value: Value::Int(element) })
            }
        }
    }
}

/// One step of the nemesis schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start a fault of this kind.
    Start(NemesisKind),
    /// Undo the fault that is running.
    Stop,
}

/// The nemesis schedule: after each interval, start a fault (a kind drawn from the plan's),
/// then after the next one undo it, until the time limit.
pub fn schedule(plan: &Plan) -> Vec<(Duration, Step)> {
    if plan.nemesis.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut steps = Vec::new();
    let mut at = plan.nemesis_interval;
    let mut running = false;
    while at < plan.time_limit {
        steps.push((
            at,
            if running {
                Step::Stop
            } else {
                Step::Start(plan.nemesis[rng.random_range(0..plan.nemesis.len())])
            },
        ));
        running = !running;
        at += plan.nemesis_interval;
    }
    steps
}

/// How often a fault goes for the current master rather than a uniform draw of the plan's
/// shapes and targets.
pub const MASTER_BIAS: f64 = 0.5;

/// Draws the concrete fault of `kind`: shape or targets, and clock rate.
pub fn resolve(
    kind: NemesisKind,
    plan: &Plan,
    rng: &mut ChaCha8Rng,
    replicas: &[Host],
    nameserver: &Host,
    master: Option<&Host>,
) -> Fault {
    // Mastership-aware: half the time, when the plan allows it and the master is known, the
    // fault goes for the master (cut it off, kill, pause or skew it), since that is what breaks
    // election, self-monitoring and replication; the other half draws uniformly, so every shape
    // and target of the plan is still exercised.
    let aware = plan.policy == Policy::MastershipAware;
    let at_master = |rng: &mut ChaCha8Rng| aware && master.is_some() && rng.random_bool(MASTER_BIAS);
    let targets = |rng: &mut ChaCha8Rng| {
        let selector = if plan.targets.contains(&Selector::Master) && at_master(rng) {
            Selector::Master
        } else {
            plan.targets[rng.random_range(0..plan.targets.len())]
        };
        let picked = select(selector, replicas, master, rng);
        if picked.is_empty() { select(Selector::One, replicas, None, rng) } else { picked }
    };
    let partition = |rng: &mut ChaCha8Rng| {
        let shape = if plan.partition_shapes.contains(&Shape::IsolateMaster) && at_master(rng) {
            Shape::IsolateMaster
        } else {
            plan.partition_shapes[rng.random_range(0..plan.partition_shapes.len())]
        };
        grudge(shape, replicas, nameserver, master, rng)
            .or_else(|_| grudge(Shape::Halves, replicas, nameserver, None, rng))
            .unwrap_or_default()
    };
    match kind {
        NemesisKind::Partition => Fault::Partition { grudge: partition(rng) },
        NemesisKind::Kill => Fault::Kill { hosts: targets(rng) },
        NemesisKind::Pause => Fault::Pause { hosts: targets(rng) },
        NemesisKind::Clock => {
            let rate = [0.25, 0.5, 2.0, 4.0][rng.random_range(0..4)];
            Fault::ClockRate { hosts: targets(rng), rate }
        }
        NemesisKind::Packet => {
            let hosts: Vec<Host> =
                replicas.iter().chain(Some(nameserver).filter(|ns| !ns.is_empty())).cloned().collect();
            let links = match plan.packet.targets[rng.random_range(0..plan.packet.targets.len())] {
                PacketTarget::One => {
                    let host = match master {
                        Some(m) if at_master(rng) => m.clone(),
                        _ => hosts[rng.random_range(0..hosts.len())].clone(),
                    };
                    Links::around(&host, &hosts)
                }
                PacketTarget::All => Links::all(&hosts),
                PacketTarget::Links => Links::of_grudge(&partition(rng)),
            };
            let behaviour = plan.packet.behaviour.clone().unwrap_or_else(|| Behaviour::draw(rng));
            Fault::Packet { links, behaviour, seed: rng.random() }
        }
    }
}

/// The name a fault has in the history's `f`.
pub fn fault_name(fault: &Fault) -> &'static str {
    match fault {
        Fault::Partition { .. } => "partition",
        Fault::Heal => "heal",
        Fault::Kill { .. } => "kill",
        Fault::Start { .. } => "start",
        Fault::Pause { .. } => "pause",
        Fault::Resume { .. } => "resume",
        Fault::ClockRate { .. } => "clock",
        Fault::ResetClock { .. } => "reset-clock",
        Fault::Packet { .. } => "packet",
        Fault::HealPacket => "heal-packet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::TestSpec;

    fn plan(seed: u64) -> Plan {
        let spec = TestSpec {
            seed: Some(seed),
            time_limit: Some(100),
            nemesis: Some(vec!["partition".into(), "kill".into(), "pause".into()]),
            ..TestSpec::default()
        };
        Plan::from_spec(spec, 0, None).unwrap()
    }

    #[test]
    fn one_seed_gives_one_schedule_and_another_seed_another() {
        assert_eq!(schedule(&plan(3)), schedule(&plan(3)));
        assert_ne!(schedule(&plan(3)), schedule(&plan(4)));
        let steps = schedule(&plan(3));
        assert_eq!(steps.len(), 9, "every 10 s of 100 s");
        assert!(matches!(steps[0], (d, Step::Start(_)) if d == Duration::from_secs(10)));
        assert_eq!(steps[1].1, Step::Stop);
    }

    #[test]
    fn packet_faults_take_the_targets_links_and_a_drawn_or_fixed_behaviour() {
        let replicas: Vec<Host> = (1..=5).map(|i| format!("n{i}")).collect();
        let ns = "ns".to_string();
        let spec = |targets: &str, loss: Option<f64>| TestSpec {
            nemesis: Some(vec!["packet".into()]),
            packet: crate::plan::PacketSettings {
                targets: Some(vec![crate::plan::parse_kebab(targets).unwrap()]),
                loss_pct: loss,
                ..Default::default()
            },
            ..TestSpec::default()
        };
        let fault = |targets: &str, loss: Option<f64>, seed: u64| {
            let plan = Plan::from_spec(spec(targets, loss), seed, None).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            match resolve(NemesisKind::Packet, &plan, &mut rng, &replicas, &ns, Some(&replicas[2])) {
                Fault::Packet { links, behaviour, seed } => (links, behaviour, seed),
                other => panic!("not a packet fault: {other:?}"),
            }
        };
        assert_eq!(fault("all", None, 1).0.len(), 30, "6 hosts, every ordered pair");
        let (one, _, _) = fault("one", None, 2);
        assert_eq!(one.len(), 10, "one host's 5 peers, both ways");
        let (cut, _, _) = fault("links", None, 3);
        assert!(!cut.is_empty() && cut.len() < 30, "a partition's links: {cut:?}");
        let fixed = fault("all", Some(25.0), 4).1;
        assert_eq!(fixed, Behaviour { loss_pct: 25.0, ..Behaviour::default() });
        assert_eq!(fault("links", None, 5), fault("links", None, 5), "one seed, one fault");
        assert_ne!(fault("all", None, 5).2, fault("all", None, 6).2, "the delayer's seed is drawn");
    }

    #[test]
    fn one_seed_gives_one_sequence_of_client_operations() {
        let ops = |seed| {
            let mut g = ClientGen::new(Workload::Register, seed, 2);
            (0..50).map(|_| g.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(ops(9), ops(9));
        assert_ne!(ops(9), ops(10));
        let mut set = ClientGen::new(Workload::Set, 1, 7);
        let (_, first) = set.next_op();
        let (_, second) = set.next_op();
        assert_ne!(first, second, "set elements are unique");
    }
}
