//! The final phase: heal every fault, wait for one master to persist, observe the stability
//! window, and read every key back.

use faults::fault::Fault;
use nodes::protocol::kv::Op;
use tokio::time::Instant;

use crate::control::system::System;
use crate::error::Error;
use crate::plan::generator::{REGISTER_KEYS, SET_KEY};
use crate::plan::{NemesisKind, RECOVERY_SETTLE, Workload};
use crate::run::Run;
use crate::run::workload::{apply_recorded, call};

/// Heals everything; unless the run was `interrupted`, waits for one master, observes the
/// stability window and reads back.
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
            format!("one master ({m}) {after} ms after the final heal; observing the stability window")
        }
        None => format!("no single master within the recovery time ({} s)", plan.recovery_time.as_secs()),
    });
    run.recorder.harness("stability-start", serde_json::Value::Null)?;
    tokio::time::sleep(plan.stability_window).await;
    run.recorder.harness("stability-end", serde_json::Value::Null)?;
    final_reads(run).await
}

/// One read of every key by a process of its own, one after the other.
async fn final_reads<S: System>(run: &Run<'_, S>) -> Result<(), Error> {
    let keys: Vec<&str> = match run.plan.workload {
        Workload::Register => REGISTER_KEYS.to_vec(),
        Workload::Set => vec![SET_KEY],
    };
    let process = u64::MAX / 2;
    let mut client = run.system.client(run.plan.op_timeout);
    for key in keys {
        call(run, &mut client, process, "read", Op::Read { key: key.into() }).await?;
    }
    Ok(())
}
