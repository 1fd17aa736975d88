//! Before the workload: the nodes a run on hosts uses (a local cluster made for it when none of
//! the right size is up), then the system set up, started, and given the recovery time to elect
//! a first master.

use serde_json::json;

use crate::control::cluster::local::{self, LocalSpec};
use crate::control::cluster::nodes_file::{NodeEntry, NodesFile};
use crate::control::system::System;
use crate::error::Error;
use crate::plan::{NodesSource, Plan};
use crate::run::Run;
use crate::run::recorder::RunLog;

/// Writes the history's first event (its time zero on the wall clock), cleans what an earlier
/// run left, installs and starts the system, and waits for a first master.
pub async fn prepare<S: System>(run: &Run<'_, S>) -> Result<(), Error> {
    let system = run.system;
    let start = json!({
        "unix_ms": system.unix_ms(),
        "members": system.replicas(),
        "observe_interval_ms": run.plan.observe_interval.as_millis() as u64,
        "system": run.plan.system.name(),
        "heal_bound_ms": system.heal_bound().as_millis() as u64,
        "registrar": system.registrar(),
    });
    run.recorder.harness("history-start", start)?;
    let done = system.setup().await?;
    run.log.say(&done);
    system.start_all().await?;
    let first = system.wait_for_single_master(&system.all(), run.plan.recovery_time).await;
    run.log.say(&format!(
        "group started; first master: {}",
        first.map_or("none".into(), |m| system.replicas()[m as usize].clone())
    ));
    Ok(())
}

/// The nodes file to use, and the local cluster to remove afterwards if this run made it.
pub fn nodes_file(plan: &Plan, log: &RunLog) -> Result<(NodesFile, Option<LocalSpec>), Error> {
    match &plan.nodes {
        NodesSource::File(path) => Ok((NodesFile::load(path)?, None)),
        NodesSource::Hosts { hosts, user, private_key } => {
            let entry = |(i, host): (usize, &String)| NodeEntry {
                name: if i == 0 { "ns".into() } else { format!("n{i}") },
                address: host.clone(),
                port: None,
            };
            let mut entries = hosts.iter().enumerate().map(entry);
            let nameserver = entries.next().expect("a validated plan names two hosts at least");
            let file = NodesFile {
                user: user.clone(),
                private_key: private_key.clone(),
                known_hosts: None,
                nameserver,
                replicas: entries.collect(),
            };
            Ok((file, None))
        }
        NodesSource::Local(n) => {
            let spec = LocalSpec::default_of(*n);
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
