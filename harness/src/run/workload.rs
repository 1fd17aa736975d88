//! The workload: client workers at the plan's rate, the nemesis following its seeded schedule,
//! and the observer, which keeps polling every node's role until the final phase is over.

use std::future::Future;
use std::time::Duration;

use checkers::history::{OpType, Process};
use faults::fault::Fault;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::OpOutput;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::control::nemesis;
use crate::control::system::{System, SystemClient};
use crate::error::Error;
use crate::plan::generator::{self, ClientGen, Step};
use crate::plan::schedule::{WORKLOAD_END, WORKLOAD_START};
use crate::run::Run;

/// Runs the clients and the nemesis until the time limit, or until `interrupt` is notified;
/// returns whether it was.
pub async fn workload<S: System>(run: &Run<'_, S>, interrupt: &Notify) -> Result<bool, Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    run.recorder.harness(WORKLOAD_START, serde_json::Value::Null)?;
    let workload_start = run.recorder.start().elapsed();
    let deadline = run.recorder.start() + workload_start + run.plan.time_limit;
    // Unordered: a wake-up polls only the client it is for, not every client.
    let workers: FuturesUnordered<_> =
        (0..run.plan.concurrency as u64).map(|slot| work(run, slot, stop_rx.clone(), deadline)).collect();
    let workers = workers.collect::<Vec<_>>();
    let nemesis = run_nemesis(run, stop_rx.clone(), workload_start);
    let timer = async {
        let interrupted = tokio::select! {
            biased;
            _ = interrupt.notified() => {
                run.log.say("interrupted: stopping the workload, healing, tearing down, analysing what there is");
                true
            }
            _ = tokio::time::sleep_until(deadline) => false,
        };
        let _ = stop_tx.send(true);
        interrupted
    };
    let (worked, nemesis, interrupted) = tokio::join!(workers, nemesis, timer);
    worked.into_iter().collect::<Result<Vec<()>, Error>>()?;
    nemesis?;
    run.recorder.harness(WORKLOAD_END, serde_json::Value::Null)?;
    Ok(interrupted)
}

/// Runs `phases` with the observer beside them, stopping the observer when they end.
pub async fn observed<S: System>(
    run: &Run<'_, S>,
    phases: impl Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let phases = async {
        let done = phases.await;
        let _ = stop_tx.send(true);
        done
    };
    let (observed, done) = tokio::join!(observe(run, stop_rx), phases);
    observed.and(done)
}

/// Runs one client operation and records its invocation and completion; returns false when
/// its outcome is unknown (the process must then be retired).
pub async fn call<S: System>(
    run: &Run<'_, S>,
    client: &mut S::Client,
    process: u64,
    f: &str,
    op: Op,
) -> Result<bool, Error> {
    let recorder = &run.recorder;
    let (key, argument) = describe(&op);
    let mut invoke = recorder.record(Process::Client(process), OpType::Invoke, f, argument.clone());
    invoke.key = Some(key.clone());
    recorder.write(invoke)?;
    let outcome = client.execute(op).await;
    let replicas = run.system.replicas();
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
fn describe(op: &Op) -> (String, serde_json::Value) {
    match op {
        Op::Read { key } => (key.clone(), serde_json::Value::Null),
        Op::Write { key, value } | Op::Append { key, value } => (key.clone(), value_json(value)),
        Op::Cas { key, old, new } => (key.clone(), serde_json::json!([value_json(old), value_json(new)])),
    }
}

/// A stored value as the history writes it.
fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Int(i) => serde_json::json!(i),
        Value::Str(s) => serde_json::json!(s),
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_json).collect()),
    }
}

/// One client slot: runs operations at the plan's rate until the deadline; a process whose
/// operation has an unknown outcome is retired and replaced (process number + concurrency).
async fn work<S: System>(
    run: &Run<'_, S>,
    slot: u64,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
) -> Result<(), Error> {
    let plan = run.plan;
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let mut process = slot;
    let mut ops = ClientGen::new(plan.workload, plan.seed, process);
    let mut client = run.system.client(plan.op_timeout);
    let stagger = period.mul_f64(slot as f64 / plan.concurrency as f64);
    let mut next = Instant::now() + stagger;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            _ = tokio::time::sleep_until(next) => {}
        }
        if *stop.borrow() || Instant::now() >= deadline {
            return Ok(());
        }
        next += period;
        let (f, op) = ops.next_op();
        if !call(run, &mut client, process, f, op).await? {
            process += plan.concurrency as u64;
            ops = ClientGen::new(plan.workload, plan.seed, process);
            client = run.system.client(plan.op_timeout);
        }
    }
}

/// Polls every node each observe interval and records a round; tells the nemesis who the
/// master is.
async fn observe<S: System>(run: &Run<'_, S>, mut stop: watch::Receiver<bool>) -> Result<(), Error> {
    let interval = run.plan.observe_interval;
    let within = interval.clamp(Duration::from_millis(50), Duration::from_millis(300));
    loop {
        let started = Instant::now();
        let round = run.system.observe(within).await;
        run.master.send_replace(round.single_master(false).ok());
        let value = serde_json::to_value(&round).expect("a round serializes");
        run.recorder.write(run.recorder.record(Process::observer(), OpType::Info, "observe", value))?;
        run.recorder.flush()?;
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            _ = tokio::time::sleep_until(started + interval) => {}
        }
    }
}

/// Follows the plan's schedule when it has one, else the seeded one: start a fault, later undo
/// it, until the workload ends; a fault still running at the end is left to the final phase.
async fn run_nemesis<S: System>(
    run: &Run<'_, S>,
    mut stop: watch::Receiver<bool>,
    workload_start: Duration,
) -> Result<(), Error> {
    let plan = run.plan;
    if let Some(schedule) = &plan.schedule {
        for timed in &schedule.faults {
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                _ = tokio::time::sleep_until(run.recorder.start() + workload_start + Duration::from_millis(timed.at_ms)) => {}
            }
            apply_recorded(run, &timed.fault).await?;
        }
        return Ok(());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed.rotate_left(17));
    let replicas = run.system.replicas();
    let nameserver = run.system.nameserver().cloned().unwrap_or_default();
    let mut active: Option<Fault> = None;
    for (at, step) in generator::schedule(plan) {
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            _ = tokio::time::sleep_until(run.recorder.start() + workload_start + at) => {}
        }
        let fault = match step {
            Step::Start(kind) => {
                let current = run.master.borrow().clone();
                let fault = generator::resolve(kind, plan, &mut rng, replicas, &nameserver, current.as_ref());
                if fault.affects_nothing() {
                    run.log.say(&format!(
                        "skipped a {} fault that affects nothing (the group is too small for its shape or targets)",
                        generator::fault_name(&fault)
                    ));
                    continue;
                }
                active = Some(fault.clone());
                fault
            }
            Step::Stop => match active.take().and_then(|f| f.inverse()) {
                Some(inverse) => inverse,
                None => continue,
            },
        };
        apply_recorded(run, &fault).await?;
    }
    Ok(())
}

/// Writes the fault to the history, applies it, and writes its completion.
pub async fn apply_recorded<S: System>(run: &Run<'_, S>, fault: &Fault) -> Result<(), Error> {
    let recorder = &run.recorder;
    let f = generator::fault_name(fault);
    let value = serde_json::to_value(fault).expect("a fault serializes");
    recorder.write(recorder.record(Process::nemesis(), OpType::Invoke, f, value.clone()))?;
    recorder.flush()?;
    let applied = nemesis::apply(run.system, fault).await;
    let mut done = recorder.record(Process::nemesis(), OpType::Info, f, value);
    done.error = applied.as_ref().err().map(|e| crate::error::chain(e));
    recorder.write(done)?;
    applied
}
