//! A test plan run in the deterministic simulator ([`nodes::sim`]) instead of on hosts: the same
//! replica cores, client operations, seeded nemesis schedule and final phase, recorded as the
//! same history, so the same checkers judge it. One plan (seed included) gives one history, event
//! for event, in a fraction of real time.
//!
//! What differs from a real run: the network is the simulator's (1 ms links with up to 1 ms of
//! seeded jitter); a client keeps the master it last used for [`MASTER_TTL`], as the real one
//! does, and looks the master up at the name server when it has none or its answer is older (a
//! replica drawn at random when none is registered), but takes a redirect as a definite failure of that operation (the real client
//! follows it within the same operation); status queries reach every replica that is up and not
//! paused.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use checkers::history::{HistoryWriter, Op as HistoryOp, OpType, Process};
use checkers::mastership::{NodeView, Round};
use faults::Host;
use faults::fault::Fault;
use nodes::client::MASTER_TTL;
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::Op;
use nodes::protocol::message::{OpOutput, ReplyError};
use nodes::protocol::{ReplicaId, Time};
use nodes::sim::{NodeId, Sim, SimConfig, SimEvent};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::control::group::group_file;
use crate::error::Error;
use crate::plan::generator::{self, ClientGen, REGISTER_KEYS, SET_KEY, Step};
use crate::plan::{NemesisKind, NodesSource, Plan, RECOVERY_SETTLE, Workload};
use crate::run::{RunOutcome, describe, value_json};
use crate::{report, store};

/// The name-server host's name in a simulated run, as in a local cluster.
const NAMESERVER: &str = "ns";

/// What a simulated run recorded.
#[derive(Debug)]
pub struct SimRun {
    /// The history, in the order a real run would have written it.
    pub history: Vec<HistoryOp>,
    /// Simulated time from the first event to the last.
    pub simulated: Duration,
}

/// Runs `plan` in the simulator. The plan's node count is that of a local cluster (a nodes file
/// is refused: the simulator makes its own hosts).
pub fn run(plan: &Plan) -> Result<SimRun, Error> {
    let NodesSource::Local(n) = plan.nodes else {
        return Err(Error::Simulation("it makes its own hosts: give --nodes, not --nodes-file".into()));
    };
    let ips: Vec<IpAddr> = (0..n).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8))).collect();
    let mut file = group_file(IpAddr::V4(Ipv4Addr::LOCALHOST), &ips);
    plan.replica.apply(&mut file);
    let config = file.validate(Path::new("simulated group.yaml"))?;
    let sim = Sim::new(SimConfig {
        params: config.params.clone(),
        ns: config.ns.clone(),
        bugs: Bugs::new(plan.bugs.iter().copied()),
        seed: plan.seed,
        latency: Duration::from_millis(1),
        jitter: Duration::from_millis(1),
    });
    let mut world = World::new(plan, sim, n, config.params.group);
    let start = serde_json::json!({
        "unix_ms": 0,
        "members": world.hosts,
        "observe_interval_ms": plan.observe_interval.as_millis() as u64,
    });
    world.harness("history-start", start);
    world.cold_start();
    world.workload();
    world.final_phase();
    let simulated = world.sim.now();
    Ok(SimRun { history: world.history, simulated })
}

/// Runs `plan` in the simulator and stores the run as a real run is stored (`test.yaml`,
/// `history.jsonl`, `results.json`, `junit.xml`, `report.html` in a new folder of the store,
/// linked as `latest`).
pub fn run_stored(plan: &Plan) -> Result<RunOutcome, Error> {
    let dir = store::create_run_dir(&plan.store, &plan.name)?;
    store::link_latest(&plan.store, &dir)?;
    let test_yaml = dir.join("test.yaml");
    std::fs::write(&test_yaml, serde_yaml::to_string(plan).expect("a plan serializes"))
        .map_err(|e| Error::file(&test_yaml, e))?;
    let simulated = run(plan)?;
    let path = dir.join("history.jsonl");
    let mut writer = HistoryWriter::create(&path).map_err(|e| Error::file(&path, e))?;
    for op in simulated.history {
        writer.append(op).map_err(|e| Error::file(&path, e))?;
    }
    writer.flush().map_err(|e| Error::file(&path, e))?;
    let results = report::reanalyze(&dir, &plan.checkers)?;
    Ok(RunOutcome { dir, results })
}

/// Something the driver does at a moment of simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    /// Take an observer round.
    Observe,
    /// Nemesis step `i` of the schedule.
    Nemesis(usize),
    /// Client slot `i` issues its next operation.
    Issue(usize),
    /// Request `r` has waited its time-out.
    Expire(u64),
}

/// A client operation waiting for its answer.
struct Outstanding {
    slot: usize,
    target: ReplicaId,
    process: u64,
    f: &'static str,
    op: Op,
}

/// One client slot: its current process number and operation generator.
struct Slot {
    process: u64,
    ops: ClientGen,
    busy: bool,
    /// The master this client believes in, and since when, as the real client caches it.
    master: Option<(ReplicaId, Time)>,
}

struct World<'p> {
    plan: &'p Plan,
    group: String,
    sim: Sim,
    hosts: Vec<Host>,
    history: Vec<HistoryOp>,
    agenda: BinaryHeap<Reverse<(Duration, Task)>>,
    outstanding: HashMap<u64, Outstanding>,
    slots: Vec<Slot>,
    seen_events: usize,
    rng: ChaCha8Rng,
    schedule: Vec<(Duration, Step)>,
    active: Option<Fault>,
    observing: bool,
}

impl<'p> World<'p> {
    fn new(plan: &'p Plan, sim: Sim, n: u32, group: String) -> Self {
        World {
            plan,
            group,
            sim,
            hosts: (1..=n).map(|i| format!("n{i}")).collect(),
            history: Vec::new(),
            agenda: BinaryHeap::new(),
            outstanding: HashMap::new(),
            slots: Vec::new(),
            seen_events: 0,
            rng: ChaCha8Rng::seed_from_u64(plan.seed.rotate_left(17)),
            schedule: generator::schedule(plan),
            active: None,
            observing: false,
        }
    }

    fn record(
        &mut self,
        process: Process,
        kind: OpType,
        f: &str,
        value: serde_json::Value,
    ) -> &mut HistoryOp {
        let mut op = HistoryOp::new(self.sim.now().as_nanos() as u64, process, kind, f).with_value(value);
        op.index = self.history.len() as u64;
        self.history.push(op);
        self.history.last_mut().expect("just pushed")
    }

    fn harness(&mut self, f: &str, value: serde_json::Value) {
        self.record(Process::harness(), OpType::Info, f, value);
    }

    /// Runs until one master persists (at most the recovery time), as a real run waits at start.
    fn cold_start(&mut self) {
        let limit = self.plan.recovery_time;
        self.sim.run_until_true(limit, |s| s.converged_master().is_some());
    }

    /// Clients, observer and nemesis for the plan's time limit.
    fn workload(&mut self) {
        let start = self.sim.now();
        let period = Duration::from_secs_f64(1.0 / self.plan.rate);
        for slot in 0..self.plan.concurrency {
            let process = slot as u64;
            let ops = ClientGen::new(self.plan.workload, self.plan.seed, process);
            self.slots.push(Slot { process, ops, busy: false, master: None });
            let stagger = period.mul_f64(slot as f64 / self.plan.concurrency as f64);
            self.agenda.push(Reverse((start + stagger, Task::Issue(slot))));
        }
        for (i, (at, _)) in self.schedule.iter().enumerate() {
            self.agenda.push(Reverse((start + *at, Task::Nemesis(i))));
        }
        self.observing = true;
        self.agenda.push(Reverse((start, Task::Observe)));
        self.run_agenda(start + self.plan.time_limit, true);
    }

    /// Heals everything, waits for one master, observes the stability window, reads back.
    fn final_phase(&mut self) {
        let replicas = self.hosts.clone();
        let mut undo = vec![
            Fault::Heal,
            Fault::Resume { hosts: replicas.clone() },
            Fault::Start { hosts: replicas.clone() },
        ];
        if self.plan.nemesis.contains(&NemesisKind::Clock) {
            undo.push(Fault::ResetClock { hosts: replicas.clone() });
        }
        for fault in &undo {
            self.apply_recorded(fault);
        }
        self.harness("final-phase", serde_json::Value::Null);
        let started = self.sim.now();
        let master = self.settle(started + self.plan.recovery_time).map(|m| replicas[m as usize].clone());
        let after = (self.sim.now() - started).as_millis() as u64;
        self.harness("recovered", serde_json::json!({"master": master, "after_ms": after}));
        self.harness("stability-start", serde_json::Value::Null);
        let end = self.sim.now() + self.plan.stability_window;
        self.run_agenda(end, false);
        self.harness("stability-end", serde_json::Value::Null);
        self.observing = false;
        self.final_reads();
    }

    /// Runs until one master has held for [`RECOVERY_SETTLE`] without a break, by `deadline`.
    fn settle(&mut self, deadline: Duration) -> Option<ReplicaId> {
        let mut settled = None;
        while self.sim.now() < deadline && settled.is_none() {
            let left = deadline - self.sim.now();
            if self.sim.run_until_true(left, |s| s.converged_master().is_some()).is_none() {
                break;
            }
            let m = self.sim.converged_master();
            let held = RECOVERY_SETTLE.min(deadline - self.sim.now());
            let broke = self.sim.run_until_true(held, |s| s.converged_master() != m);
            if broke.is_none() && held == RECOVERY_SETTLE {
                settled = m;
            }
        }
        self.collect_responses();
        settled
    }

    /// One read of every key by a process of its own, one after the other.
    fn final_reads(&mut self) {
        let keys: Vec<&str> = match self.plan.workload {
            Workload::Register => REGISTER_KEYS.to_vec(),
            Workload::Set => vec![SET_KEY],
        };
        let process = u64::MAX / 2;
        for key in keys {
            let request = self.invoke(usize::MAX, process, "read", Op::Read { key: key.into() });
            let deadline = self.plan.op_timeout;
            self.sim.run_until_true(deadline, |s| s.response(request).is_some());
            self.collect_responses();
            if self.outstanding.contains_key(&request) {
                self.expire(request);
            }
        }
    }

    /// Runs the agenda's tasks up to `end`; clients issue operations only when `clients`.
    fn run_agenda(&mut self, end: Duration, clients: bool) {
        while let Some(&Reverse((at, task))) = self.agenda.peek() {
            if at > end {
                break;
            }
            self.agenda.pop();
            self.sim.run_until(at);
            self.collect_responses();
            match task {
                Task::Observe => {
                    self.observe();
                    let next = at + self.plan.observe_interval;
                    self.agenda.push(Reverse((next, Task::Observe)));
                }
                Task::Nemesis(i) => {
                    if clients {
                        self.nemesis_step(i);
                    }
                }
                Task::Issue(slot) => {
                    if clients {
                        self.issue(slot, at);
                    }
                }
                Task::Expire(request) => {
                    if self.outstanding.contains_key(&request) {
                        self.expire(request);
                    }
                }
            }
        }
        self.sim.run_until(end);
        self.collect_responses();
    }

    fn issue(&mut self, slot: usize, at: Duration) {
        let period = Duration::from_secs_f64(1.0 / self.plan.rate);
        self.agenda.push(Reverse((at + period, Task::Issue(slot))));
        if self.slots[slot].busy {
            return;
        }
        let (f, op) = self.slots[slot].ops.next_op();
        let process = self.slots[slot].process;
        self.invoke(slot, process, f, op);
    }

    /// Records the invocation and sends `op` to the registered master (or a random replica).
    fn invoke(&mut self, slot: usize, process: u64, f: &'static str, op: Op) -> u64 {
        let (key, argument) = describe(&op);
        self.record(Process::Client(process), OpType::Invoke, f, argument).key = Some(key);
        let now = self.sim.now();
        let fresh =
            self.slots.get(slot).and_then(|s| s.master).filter(|&(_, since)| now < since + MASTER_TTL);
        let registered =
            || self.sim.nameserver().registrations(&self.group, self.sim.now()).first().map(|r| r.id);
        let target = fresh
            .map(|(m, _)| m)
            .or_else(registered)
            .unwrap_or_else(|| self.rng.random_range(0..self.hosts.len() as ReplicaId));
        let request = self.sim.request(target, op.clone());
        if let Some(s) = self.slots.get_mut(slot) {
            s.busy = true;
            // A master looked up again is trusted for another MASTER_TTL, as the real client does.
            s.master = Some(fresh.unwrap_or((target, now)));
        }
        self.outstanding.insert(request, Outstanding { slot, target, process, f, op });
        self.agenda.push(Reverse((self.sim.now() + self.plan.op_timeout, Task::Expire(request))));
        request
    }

    /// Records the completions that arrived since the last call, in order.
    fn collect_responses(&mut self) {
        let fresh: Vec<_> = self.sim.events()[self.seen_events..]
            .iter()
            .filter(|e| !matches!(e, SimEvent::RoleChanged { .. }))
            .cloned()
            .collect();
        self.seen_events = self.sim.events().len();
        for event in fresh {
            let (request, result) = match event {
                SimEvent::Responded { request, result, .. } => (request, result),
                SimEvent::Terminated { id, reason, .. } => {
                    let host = self.hosts[id as usize].clone();
                    let line = format!("self-termination: {reason}");
                    let value = serde_json::json!({"replica": id, "log": line});
                    self.record(Process::harness(), OpType::Info, "self-terminated", value).node = Some(host);
                    continue;
                }
                SimEvent::RoleChanged { .. } => continue,
            };
            let Some(call) = self.outstanding.remove(&request) else { continue };
            let now = self.sim.now();
            if let (Err(ReplyError::NotMaster { master }), Some(s)) = (&result, self.slots.get_mut(call.slot))
            {
                s.master = master.filter(|&m| m != call.target).map(|m| (m, now));
            }
            let (key, argument) = describe(&call.op);
            let (kind, value, error) = match result {
                Ok(OpOutput::Value(v)) => {
                    (OpType::Ok, v.as_ref().map_or(serde_json::Value::Null, value_json), None)
                }
                Ok(OpOutput::Done) => (OpType::Ok, argument, None),
                Err(e) => {
                    let kind = if e.is_definite() { OpType::Fail } else { OpType::Info };
                    (kind, argument, Some(e.to_string()))
                }
            };
            let node = Some(self.hosts[call.target as usize].clone());
            let done = self.record(Process::Client(call.process), kind, call.f, value);
            done.key = Some(key);
            done.error = error;
            done.node = node;
            self.finish(call.slot, kind);
        }
    }

    /// The client gave up on `request`: its outcome is unknown.
    fn expire(&mut self, request: u64) {
        let Some(call) = self.outstanding.remove(&request) else { return };
        let (key, argument) = describe(&call.op);
        let timeout = format!("outcome unknown: no answer within {} ms", self.plan.op_timeout.as_millis());
        let node = Some(self.hosts[call.target as usize].clone());
        let done = self.record(Process::Client(call.process), OpType::Info, call.f, argument);
        done.key = Some(key);
        done.error = Some(timeout);
        done.node = node;
        self.finish(call.slot, OpType::Info);
    }

    /// Frees the slot; a process whose operation's outcome is unknown is retired and replaced.
    fn finish(&mut self, slot: usize, kind: OpType) {
        let concurrency = self.plan.concurrency as u64;
        let (workload, seed) = (self.plan.workload, self.plan.seed);
        let Some(s) = self.slots.get_mut(slot) else { return };
        s.busy = false;
        if kind == OpType::Info {
            s.process += concurrency;
            s.ops = ClientGen::new(workload, seed, s.process);
            s.master = None;
        }
    }

    fn observe(&mut self) {
        if !self.observing {
            return;
        }
        let now = self.sim.now();
        let nodes: BTreeMap<String, Option<NodeView>> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let id = i as ReplicaId;
                let view = self.sim.replica(id).filter(|_| !self.sim.is_paused(id)).map(|r| {
                    let status = r.status(now);
                    NodeView {
                        id,
                        role: format!("{:?}", status.role),
                        master: status.master,
                        applied: status.applied,
                        election_messages: ["DeclareMaster", "RevokeMaster"]
                            .iter()
                            .map(|k| status.sent.get(*k).copied().unwrap_or(0))
                            .sum(),
                        started_unix_ms: 0,
                        digest: Some(status.digest),
                    }
                });
                (name.clone(), view)
            })
            .collect();
        let registrations =
            Some(self.sim.nameserver().registrations(&self.group, now).iter().map(|r| r.id).collect());
        let round = Round { nodes, registrations };
        self.record(
            Process::observer(),
            OpType::Info,
            "observe",
            serde_json::to_value(&round).expect("a round serializes"),
        );
    }

    fn nemesis_step(&mut self, i: usize) {
        let fault = match self.schedule[i].1 {
            Step::Start(kind) => {
                let master = self.sim.converged_master().or_else(|| self.sim.masters().first().copied());
                let master = master.map(|m| self.hosts[m as usize].clone());
                let fault = generator::resolve(
                    kind,
                    self.plan,
                    &mut self.rng,
                    &self.hosts,
                    &NAMESERVER.to_string(),
                    master.as_ref(),
                );
                self.active = Some(fault.clone());
                fault
            }
            Step::Stop => match self.active.take().and_then(|f| f.inverse()) {
                Some(inverse) => inverse,
                None => return,
            },
        };
        self.apply_recorded(&fault);
    }

    /// Writes the fault to the history, applies it to the simulated world, writes its completion.
    fn apply_recorded(&mut self, fault: &Fault) {
        let f = generator::fault_name(fault);
        let value = serde_json::to_value(fault).expect("a fault serializes");
        self.record(Process::nemesis(), OpType::Invoke, f, value.clone());
        self.apply(fault);
        self.record(Process::nemesis(), OpType::Info, f, value);
    }

    fn apply(&mut self, fault: &Fault) {
        let ids = |hosts: &[Host], names: &[Host]| -> Vec<ReplicaId> {
            hosts.iter().filter_map(|h| names.iter().position(|n| n == h)).map(|i| i as ReplicaId).collect()
        };
        match fault {
            Fault::Partition { grudge } => {
                for (to, froms) in &grudge.0 {
                    for from in froms {
                        let (Some(a), Some(b)) = (self.node(from), self.node(to)) else { continue };
                        self.sim.cut_one_way(a, b);
                    }
                }
            }
            Fault::Heal => self.sim.heal(),
            Fault::Kill { hosts } => ids(hosts, &self.hosts).into_iter().for_each(|id| self.sim.crash(id)),
            Fault::Start { hosts } => ids(hosts, &self.hosts).into_iter().for_each(|id| self.sim.restart(id)),
            Fault::Pause { hosts } => ids(hosts, &self.hosts).into_iter().for_each(|id| self.sim.pause(id)),
            Fault::Resume { hosts } => ids(hosts, &self.hosts).into_iter().for_each(|id| self.sim.resume(id)),
            Fault::ClockRate { hosts, rate } => {
                ids(hosts, &self.hosts).into_iter().for_each(|id| self.sim.set_clock_rate(id, *rate))
            }
            Fault::ResetClock { hosts } => {
                ids(hosts, &self.hosts).into_iter().for_each(|id| self.sim.set_clock_rate(id, 1.0))
            }
        }
    }

    fn node(&self, host: &str) -> Option<NodeId> {
        if host == NAMESERVER {
            return Some(NodeId::NameServer);
        }
        self.hosts.iter().position(|h| h == host).map(|i| NodeId::Replica(i as ReplicaId))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::TestSpec;

    fn plan(seed: u64) -> Plan {
        let spec = TestSpec {
            seed: Some(seed),
            time_limit: Some(10),
            nemesis: Some(vec!["partition".into(), "kill".into()]),
            nemesis_interval: Some(2),
            ..TestSpec::default()
        };
        Plan::from_spec(spec, 0, None).unwrap()
    }

    #[test]
    fn one_plan_gives_one_history_event_for_event() {
        let a = run(&plan(5)).unwrap().history;
        let b = run(&plan(5)).unwrap().history;
        assert_eq!(a, b);
        assert_ne!(a, run(&plan(6)).unwrap().history);
        let clients = a.iter().filter(|o| o.process.is_client()).count();
        assert!(clients > 100, "clients ran: {clients} events");
        assert!(a.iter().any(|o| o.f == "partition" || o.f == "kill"), "the nemesis ran");
        assert!(a.iter().any(|o| o.f == "stability-end"), "the final phase ran");
    }
}
