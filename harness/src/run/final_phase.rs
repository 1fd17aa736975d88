//! The final phase: heal every fault, wait for one master to persist, read every key, write
//! every key once, observe the stability window, and read every key back.
//!
//! The first reads see what survived the faults (a lost write shows there, before the final
//! writes cover it); the final writes give the convergence checker something the recovered group
//! must replicate: without them, a master that never forwards its updates goes unseen whenever
//! every backup happened to catch up from it after the last heal.

use faults::fault::Fault;
use nodes::protocol::kv::{Op, Value};
use tokio::time::Instant;

use crate::control::system::System;
use crate::error::Error;
use crate::plan::generator::{FINAL_VALUE, REGISTER_KEYS, SET_KEY};
use crate::plan::{NemesisKind, RECOVERY_SETTLE, Workload};
use crate::run::Run;
use crate::run::workload::{apply_recorded, call};

/// Heals everything; unless the run was `interrupted`, waits for one master, reads and writes
/// every key, observes the stability window and reads back.
pub async fn final_phase<S: System>(run: &Run<'_, S>, interrupted: bool) -> Result<(), Error> {
    run.log.say("workload over: final phase");
    let (plan, system) = (run.plan, run.system);
    let replicas = system.replicas().to_vec();
    let mut undo = vec![
        Fault::Heal,
        Fault::Resume { hosts: replicas.clone() },
        Fault::Start { hosts: replicas.clone() },
    ];
    if plan.nemesis.contains(&NemesisKind::Clock) {
        undo.push(Fault::ResetClock { hosts: replicas.clone() });
    }
    if plan.nemesis.contains(&NemesisKind::Packet) {
        undo.push(Fault::HealPacket);
    }
    for fault in &undo {
        apply_recorded(run, fault).await?;
    }
    run.recorder.harness("final-phase", serde_json::Value::Null)?;
    if interrupted {
        return Ok(());
    }
    let started = Instant::now();
    let converged = system.wait_for_settled_master(&system.all(), plan.recovery_time, RECOVERY_SETTLE).await;
    let after = started.elapsed().as_millis() as u64;
    let name = converged.map(|m| replicas[m as usize].clone());
    run.recorder.harness("recovered", serde_json::json!({"master": name, "after_ms": after}))?;
    run.log.say(&match &name {
        Some(m) => {
            format!("one master ({m}) {after} ms after the final heal; reading and writing every key, then observing the stability window")
        }
        None => format!("no single master within the recovery time ({} s)", plan.recovery_time.as_secs()),
    });
    final_reads(run).await?;
    final_writes(run).await?;
    run.recorder.harness("stability-start", serde_json::Value::Null)?;
    tokio::time::sleep(plan.stability_window).await;
    run.recorder.harness("stability-end", serde_json::Value::Null)?;
    final_reads(run).await
}

/// The process of the final phase's operations: no client's.
const FINAL_PROCESS: u64 = u64::MAX / 2;

/// One write of [`FINAL_VALUE`] to every key (an append, in the set workload), one after the other.
async fn final_writes<S: System>(run: &Run<'_, S>) -> Result<(), Error> {
    let mut client = run.system.client(run.plan.op_timeout);
    for key in keys(run.plan.workload) {
        let (name, op) = match run.plan.workload {
            Workload::Register => ("write", Op::Write { key: key.into(), value: Value::Int(FINAL_VALUE) }),
            Workload::Set => ("append", Op::Append { key: key.into(), value: Value::Int(FINAL_VALUE) }),
        };
        call(run, &mut client, FINAL_PROCESS, name, op).await?;
    }
    Ok(())
}

/// One read of every key, one after the other.
async fn final_reads<S: System>(run: &Run<'_, S>) -> Result<(), Error> {
    let mut client = run.system.client(run.plan.op_timeout);
    for key in keys(run.plan.workload) {
        call(run, &mut client, FINAL_PROCESS, "read", Op::Read { key: key.into() }).await?;
    }
    Ok(())
}

/// The keys of a workload.
fn keys(workload: Workload) -> Vec<&'static str> {
    match workload {
        Workload::Register => REGISTER_KEYS.to_vec(),
        Workload::Set => vec![SET_KEY],
    }
}
