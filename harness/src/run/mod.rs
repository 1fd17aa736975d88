//! One test, end to end: deploy the group, run clients, nemesis and observer, heal everything in
//! the final phase, wait for recovery and the stability window, tear down, and check.
//!
//! Every fault is written to the history before it is applied, with its resolved targets; the
//! history is flushed in chunks while the test runs, so a crash leaves a readable prefix.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkers::history::{HistoryWriter, Op as HistoryOp, OpType, Process};
use checkers::mastership::{NodeView, Round};
use checkers::results::Results;
use faults::fault::Fault;
use nodes::client::{Client, ClientConfig};
use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::OpOutput;
use nodes::runtime::{NameServerReport, ReplicaReport};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::control::cluster::local::{self, DEFAULT_PREFIX, DEFAULT_STATE_DIR, LocalSpec};
use crate::control::cluster::nodes_file::NodesFile;
use crate::control::cluster::ssh_group;
use crate::control::group::{Binaries, Group, Process as DbProcess};
use crate::control::nemesis::{self, Hosts};
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::error::Error;
use crate::plan::generator::{self, ClientGen, REGISTER_KEYS, SET_KEY, Step};
use crate::plan::{NemesisKind, NodesSource, Plan, RECOVERY_SETTLE, Workload};
use crate::report;
use crate::store;

/// What a finished run left.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's directory in the store.
    pub dir: PathBuf,
    /// The checkers' results.
    pub results: Results,
}

/// The history being written, shared by every task of the run.
struct Recorder {
    writer: Mutex<HistoryWriter>,
    start: Instant,
}

impl Recorder {
    fn record(&self, process: Process, kind: OpType, f: &str, value: serde_json::Value) -> HistoryOp {
        HistoryOp::new(self.start.elapsed().as_nanos() as u64, process, kind, f).with_value(value)
    }

    fn write(&self, op: HistoryOp) -> Result<(), Error> {
        let mut writer = self.writer.lock().expect("not poisoned");
        writer.append(op).map(drop).map_err(|e| Error::file("history.jsonl", e))
    }

    fn harness(&self, f: &str, value: serde_json::Value) -> Result<(), Error> {
        self.write(self.record(Process::harness(), OpType::Info, f, value))
    }

    fn flush(&self) -> Result<(), Error> {
        self.writer.lock().expect("not poisoned").flush().map_err(|e| Error::file("history.jsonl", e))
    }
}

/// A line-per-event log of the harness itself (`harness.log`), echoed to stderr.
struct RunLog {
    file: Mutex<std::fs::File>,
    start: Instant,
}

impl RunLog {
    fn say(&self, line: &str) {
        let stamped = format!("[{:>8.3}s] {line}", self.start.elapsed().as_secs_f64());
        eprintln!("{stamped}");
        use std::io::Write;
        let _ = writeln!(self.file.lock().expect("not poisoned"), "{stamped}");
    }
}

/// Runs `plan` with the binaries in `bin_dir`; `interrupt` is notified on SIGINT.
pub async fn run(plan: &Plan, bin_dir: &Path, interrupt: Arc<Notify>) -> Result<RunOutcome, Error> {
    let dir = store::create_run_dir(&plan.store, &plan.name)?;
    store::link_latest(&plan.store, &dir)?;
    let test_yaml = dir.join("test.yaml");
    std::fs::write(&test_yaml, serde_yaml::to_string(plan).expect("a plan serializes"))
        .map_err(|e| Error::file(&test_yaml, e))?;
    let log_path = dir.join("harness.log");
    let log = RunLog {
        file: Mutex::new(std::fs::File::create(&log_path).map_err(|e| Error::file(&log_path, e))?),
        start: Instant::now(),
    };
    log.say(&format!("test {:?}, seed {}, store {}", plan.name, plan.seed, dir.display()));

    let (file, made) = nodes_file(plan, &log)?;
    let clock = plan.nemesis.contains(&NemesisKind::Clock);
    let bugs = Bugs::new(plan.bugs.iter().copied());
    let outcome = match ssh_group(&file, HostKeyPolicy::Strict, |f| plan.replica.apply(f), bugs, clock) {
        Ok((group, hosts)) => {
            let history =
                HistoryWriter::create(&dir.join("history.jsonl")).map_err(|e| Error::file(&dir, e))?;
            let recorder = Recorder { writer: Mutex::new(history), start: Instant::now() };
            let unix_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let start = serde_json::json!({
                "unix_ms": unix_ms,
                "members": hosts.replicas(),
                "observe_interval_ms": plan.observe_interval.as_millis() as u64,
            });
            recorder.harness("history-start", start)?;
            let exercised = exercise(plan, bin_dir, &group, &hosts, &recorder, &log, interrupt).await;
            let cleaned = clean_up(&group, &dir, &recorder, &log).await;
            exercised.and(cleaned)
        }
        Err(e) => Err(e),
    };
    if let Some(spec) = made {
        log.say("removing the local cluster made for this test");
        local::down(&spec.state_dir, &spec.prefix)?;
    }
    outcome?;
    let results = report::reanalyze(&dir, &plan.checkers)?;
    Ok(RunOutcome { dir, results })
}

/// The nodes file to use, and the local cluster to remove afterwards if this run made it.
fn nodes_file(plan: &Plan, log: &RunLog) -> Result<(NodesFile, Option<LocalSpec>), Error> {
    match &plan.nodes {
        NodesSource::File(path) => Ok((NodesFile::load(path)?, None)),
        NodesSource::Local(n) => {
            let spec = LocalSpec {
                nodes: *n,
                state_dir: PathBuf::from(DEFAULT_STATE_DIR),
                subnet: [10, 213, 77],
                prefix: DEFAULT_PREFIX.into(),
            };
            let status = local::status(&spec.state_dir, &spec.prefix)?;
            let running = status.nodes_file.as_deref().and_then(|p| NodesFile::load(p).ok());
            match running {
                Some(file)
                    if file.replicas.len() == *n as usize && status.host_pids.len() == *n as usize + 1 =>
                {
                    log.say("using the local cluster that is up");
                    Ok((file, None))
                }
                _ => {
                    log.say(&format!("making a local cluster of {n} replica hosts"));
                    let file = local::up(&spec, &std::sync::atomic::AtomicBool::new(false))?;
                    Ok((file, Some(spec)))
                }
            }
        }
    }
}

async fn exercise(
    plan: &Plan,
    bin_dir: &Path,
    group: &Group<SshNode>,
    hosts: &Hosts,
    recorder: &Recorder,
    log: &RunLog,
    interrupt: Arc<Notify>,
) -> Result<(), Error> {
    group.teardown().await?;
    let installed = group.install(&Binaries::in_dir(bin_dir)).await?;
    log.say(&format!(
        "installed: {} files uploaded, {} already there",
        installed.uploaded, installed.skipped
    ));
    group.start_all().await?;
    group.wait_ready(Duration::from_secs(20)).await?;
    let all: Vec<ReplicaId> = (0..group.config().params.members).collect();
    let first = group.wait_for_single_master(&all, plan.recovery_time).await;
    log.say(&format!(
        "group started; first master: {}",
        first.map_or("none".into(), |m| hosts.replicas()[m as usize].clone())
    ));

    let (stop_tx, stop_rx) = watch::channel(false);
    let (observer_stop_tx, observer_stop_rx) = watch::channel(false);
    let (master_tx, master_rx) = watch::channel(None::<String>);
    let workload_start = recorder.start.elapsed();
    let deadline = recorder.start + workload_start + plan.time_limit;
    let client_config = ClientConfig::from_group(group.config(), plan.op_timeout);

    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let outcome = async {
        let observer = observe(plan, group, hosts, recorder, master_tx, observer_stop_rx);
        let workers = futures::future::join_all(
            (0..plan.concurrency as u64)
                .map(|slot| work(plan, slot, &client_config, hosts, recorder, stop_rx.clone(), deadline)),
        );
        let nemesis_task =
            run_nemesis(plan, group, hosts, recorder, master_rx, stop_rx.clone(), workload_start);
        let timer = async {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = interrupt.notified() => {
                    interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                    log.say("interrupted: stopping the workload, healing, tearing down, analysing what there is");
                }
            }
            let _ = stop_tx.send(true);
        };
        let load = async {
            let (worker_results, nemesis_result, ()) = tokio::join!(workers, nemesis_task, timer);
            worker_results.into_iter().collect::<Result<Vec<()>, Error>>()?;
            nemesis_result?;
            log.say("workload over: final phase");
            final_phase(
                plan,
                group,
                hosts,
                recorder,
                log,
                interrupted.load(std::sync::atomic::Ordering::SeqCst),
            )
            .await?;
            let _ = observer_stop_tx.send(true);
            Ok::<(), Error>(())
        };
        let (observed, loaded) = tokio::join!(observer, load);
        observed.and(loaded)
    };
    outcome.await
}

/// Heals everything, waits for one master, observes the stability window, reads back.
async fn final_phase(
    plan: &Plan,
    group: &Group<SshNode>,
    hosts: &Hosts,
    recorder: &Recorder,
    log: &RunLog,
    interrupted: bool,
) -> Result<(), Error> {
    let replicas = hosts.replicas();
    let mut undo = vec![
        Fault::Heal,
        Fault::Resume { hosts: replicas.clone() },
        Fault::Start { hosts: replicas.clone() },
    ];
    if plan.nemesis.contains(&NemesisKind::Clock) {
        undo.push(Fault::ResetClock { hosts: replicas.clone() });
    }
    for fault in &undo {
        apply_recorded(group, hosts, recorder, fault).await?;
    }
    recorder.harness("final-phase", serde_json::Value::Null)?;
    if interrupted {
        return Ok(());
    }
    let all: Vec<ReplicaId> = (0..replicas.len() as ReplicaId).collect();
    let started = Instant::now();
    let converged = group.wait_for_settled_master(&all, plan.recovery_time, RECOVERY_SETTLE).await;
    let after = started.elapsed().as_millis() as u64;
    let name = converged.map(|m| replicas[m as usize].clone());
    recorder.harness("recovered", serde_json::json!({"master": name, "after_ms": after}))?;
    log.say(&match &name {
        Some(m) => {
            format!("one master ({m}) {after} ms after the final heal; observing the stability window")
        }
        None => format!("no single master within the recovery time ({} s)", plan.recovery_time.as_secs()),
    });
    recorder.harness("stability-start", serde_json::Value::Null)?;
    tokio::time::sleep(plan.stability_window).await;
    recorder.harness("stability-end", serde_json::Value::Null)?;
    final_reads(plan, group, recorder, hosts).await
}

async fn final_reads(
    plan: &Plan,
    group: &Group<SshNode>,
    recorder: &Recorder,
    hosts: &Hosts,
) -> Result<(), Error> {
    let keys: Vec<&str> = match plan.workload {
        Workload::Register => REGISTER_KEYS.to_vec(),
        Workload::Set => vec![SET_KEY],
    };
    let process = u64::MAX / 2;
    let mut client = Client::new(ClientConfig::from_group(group.config(), plan.op_timeout));
    for key in keys {
        call(&mut client, process, "read", Op::Read { key: key.into() }, recorder, hosts).await?;
    }
    Ok(())
}

/// Runs one client operation and records its invocation and completion; returns false when
/// its outcome is unknown (the process must then be retired).
async fn call(
    client: &mut Client,
    process: u64,
    f: &str,
    op: Op,
    recorder: &Recorder,
    hosts: &Hosts,
) -> Result<bool, Error> {
    let (key, argument) = describe(&op);
    let mut invoke = recorder.record(Process::Client(process), OpType::Invoke, f, argument.clone());
    invoke.key = Some(key.clone());
    recorder.write(invoke)?;
    let outcome = client.execute(op).await;
    let replicas = hosts.replicas();
    let name = |n: Option<ReplicaId>| n.and_then(|n| replicas.get(n as usize).cloned());
    let (kind, value, error, node) = match outcome {
        Ok(done) => {
            let value = match done.output {
                OpOutput::Value(v) => v.as_ref().map_or(serde_json::Value::Null, value_json),
                OpOutput::Done => argument,
            };
            (OpType::Ok, value, None, name(Some(done.node)))
        }
        Err(e) => {
            let kind = if e.is_definite() { OpType::Fail } else { OpType::Info };
            (kind, argument, Some(e.to_string()), name(e.node()))
        }
    };
    let mut done = recorder.record(Process::Client(process), kind, f, value);
    done.key = Some(key);
    done.error = error;
    done.node = node;
    recorder.write(done)?;
    Ok(kind != OpType::Info)
}

/// The key and the argument of `op`, as the history shows them.
pub(crate) fn describe(op: &Op) -> (String, serde_json::Value) {
    match op {
        Op::Read { key } => (key.clone(), serde_json::Value::Null),
        Op::Write { key, value } | Op::Append { key, value } => (key.clone(), value_json(value)),
        Op::Cas { key, old, new } => (key.clone(), serde_json::json!([value_json(old), value_json(new)])),
    }
}

/// A stored value as the history writes it.
pub(crate) fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Int(i) => serde_json::json!(i),
        Value::Str(s) => serde_json::json!(s),
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_json).collect()),
    }
}

/// One client slot: runs operations at the plan's rate until the deadline; a process whose
/// operation has an unknown outcome is retired and replaced (process number + concurrency).
async fn work(
    plan: &Plan,
    slot: u64,
    config: &ClientConfig,
    hosts: &Hosts,
    recorder: &Recorder,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
) -> Result<(), Error> {
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let mut process = slot;
    let mut ops = ClientGen::new(plan.workload, plan.seed, process);
    let mut client = Client::new(config.clone());
    let stagger = period.mul_f64(slot as f64 / plan.concurrency as f64);
    let mut next = Instant::now() + stagger;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => return Ok(()),
        }
        if *stop.borrow() || Instant::now() >= deadline {
            return Ok(());
        }
        next += period;
        let (f, op) = ops.next_op();
        if !call(&mut client, process, f, op, recorder, hosts).await? {
            process += plan.concurrency as u64;
            ops = ClientGen::new(plan.workload, plan.seed, process);
            client = Client::new(config.clone());
        }
    }
}

/// Polls every replica and the name server each observe interval and records a round.
async fn observe(
    plan: &Plan,
    group: &Group<SshNode>,
    hosts: &Hosts,
    recorder: &Recorder,
    master: watch::Sender<Option<String>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let config = group.config();
    let names = hosts.replicas();
    let timeout = plan.observe_interval.clamp(Duration::from_millis(50), Duration::from_millis(300));
    loop {
        let started = Instant::now();
        let views = futures::future::join_all(
            config.members.iter().map(|m| nodes::client::status::<ReplicaReport>(m.admin, timeout)),
        );
        let ns = nodes::client::status::<NameServerReport>(config.nameserver.admin, timeout);
        let (views, ns) = tokio::join!(views, ns);
        let round = Round {
            nodes: names
                .iter()
                .zip(views)
                .map(|(name, view)| {
                    let view = view.ok().map(|r| NodeView {
                        id: r.status.id,
                        role: format!("{:?}", r.status.role),
                        master: r.status.master,
                        applied: r.status.applied,
                        election_messages: ["DeclareMaster", "RevokeMaster"]
                            .iter()
                            .map(|k| r.status.sent.get(*k).copied().unwrap_or(0))
                            .sum(),
                        started_unix_ms: r.process.started_unix_ms,
                        digest: Some(r.status.digest),
                    });
                    (name.clone(), view)
                })
                .collect(),
            registrations: ns.ok().map(|r| {
                r.status
                    .groups
                    .get(&config.params.group)
                    .map(|g| g.registrations.iter().map(|x| x.id).collect())
                    .unwrap_or_default()
            }),
        };
        let current = round.single_master(false).ok();
        let _ = master.send(current);
        recorder.write(recorder.record(
            Process::observer(),
            OpType::Info,
            "observe",
            serde_json::to_value(&round).expect("a round serializes"),
        ))?;
        recorder.flush()?;
        tokio::select! {
            _ = tokio::time::sleep_until(started + plan.observe_interval) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Follows the seeded schedule: start a fault, later undo it, until the workload ends; a fault
/// still running at the end is left to the final phase.
async fn run_nemesis(
    plan: &Plan,
    group: &Group<SshNode>,
    hosts: &Hosts,
    recorder: &Recorder,
    master: watch::Receiver<Option<String>>,
    mut stop: watch::Receiver<bool>,
    workload_start: Duration,
) -> Result<(), Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed.rotate_left(17));
    let replicas = hosts.replicas();
    let nameserver = hosts.of(DbProcess::NameServer).expect("the group has a name server").clone();
    let mut active: Option<Fault> = None;
    for (at, step) in generator::schedule(plan) {
        tokio::select! {
            _ = tokio::time::sleep_until(recorder.start + workload_start + at) => {}
            _ = stop.changed() => return Ok(()),
        }
        let fault = match step {
            Step::Start(kind) => {
                let current = master.borrow().clone();
                let fault =
                    generator::resolve(kind, plan, &mut rng, &replicas, &nameserver, current.as_ref());
                active = Some(fault.clone());
                fault
            }
            Step::Stop => match active.take().and_then(|f| f.inverse()) {
                Some(inverse) => inverse,
                None => continue,
            },
        };
        apply_recorded(group, hosts, recorder, &fault).await?;
    }
    Ok(())
}

/// Writes the fault to the history, applies it, and writes its completion.
async fn apply_recorded(
    group: &Group<SshNode>,
    hosts: &Hosts,
    recorder: &Recorder,
    fault: &Fault,
) -> Result<(), Error> {
    let f = generator::fault_name(fault);
    let value = serde_json::to_value(fault).expect("a fault serializes");
    recorder.write(recorder.record(Process::nemesis(), OpType::Invoke, f, value.clone()))?;
    recorder.flush()?;
    let applied = nemesis::apply(group, hosts, fault).await;
    let mut done = recorder.record(Process::nemesis(), OpType::Info, f, value);
    done.error = applied.as_ref().err().map(ToString::to_string);
    recorder.write(done)?;
    applied
}

/// Collects the logs, records self-terminations, stops everything and removes our traces.
async fn clean_up(
    group: &Group<SshNode>,
    dir: &Path,
    recorder: &Recorder,
    log: &RunLog,
) -> Result<(), Error> {
    let collected = group.collect_logs(dir).await;
    for (i, host) in group
        .processes()
        .filter_map(|p| match p {
            DbProcess::Replica(i) => Some(i),
            DbProcess::NameServer => None,
        })
        .map(|i| (i, group.node(DbProcess::Replica(i)).target().host.clone()))
    {
        let text = std::fs::read_to_string(dir.join(&host).join("replica.log")).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("self-termination")) {
            let mut op = recorder.record(
                Process::harness(),
                OpType::Info,
                "self-terminated",
                serde_json::json!({"replica": i, "log": line}),
            );
            op.node = Some(host.clone());
            recorder.write(op)?;
        }
    }
    recorder.flush()?;
    let stopped = group.stop_all().await;
    let torn = group.teardown().await;
    log.say("group stopped and torn down");
    collected.and(stopped).and(torn)
}
