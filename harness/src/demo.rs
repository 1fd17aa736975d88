//! `splitbrain demo`: start a group of real processes on 127.0.0.1, write through its master,
//! SIGKILL the master, and show the new master and the data it kept.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use nodes::local::LocalGroup;
use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::OpOutput;
use nodes::protocol::params::AckMode;
use tokio::time::Instant;

use crate::error::Error as HarnessError;

/// What the demo runs.
#[derive(Clone, Debug)]
pub struct DemoPlan {
    /// Number of replicas.
    pub replicas: u32,
    /// When the master acknowledges writes.
    pub ack: AckMode,
    /// Writes made before the kill.
    pub writes: u32,
    /// Where the `replica` and `nameserver` binaries are.
    pub bin_dir: PathBuf,
    /// Deliberate bugs for every process.
    pub bugs: Bugs,
}

/// What the demo saw.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoOutcome {
    /// The master before the kill.
    pub old_master: ReplicaId,
    /// The single master after it, if one emerged in time.
    pub new_master: Option<ReplicaId>,
    /// Time from the kill until exactly one master persisted.
    pub failover: Duration,
    /// Writes acknowledged before the kill.
    pub acknowledged: u32,
    /// Acknowledged writes whose value the new master did not return.
    pub lost: Vec<String>,
}

const CONVERGE: Duration = Duration::from_secs(10);

/// Prints what the demo showed and returns its exit code: valid when one new master emerged
/// and kept every acknowledged write.
pub fn report(outcome: &DemoOutcome) -> u8 {
    match outcome.new_master {
        Some(m) => println!(
            "exactly one new master: S_{m}, {} ms after the kill; {} of {} acknowledged writes read back",
            outcome.failover.as_millis(),
            outcome.acknowledged as usize - outcome.lost.len(),
            outcome.acknowledged
        ),
        None => println!("INVALID: no single master {} ms after the kill", outcome.failover.as_millis()),
    }
    if !outcome.lost.is_empty() {
        println!("INVALID: acknowledged writes lost: {:?}", outcome.lost);
    }
    let valid = outcome.new_master.is_some() && outcome.lost.is_empty();
    if valid { crate::exit::VALID } else { crate::exit::INVALID }
}

/// Runs the demo, printing progress to stdout.
pub async fn run(plan: &DemoPlan) -> Result<DemoOutcome, HarnessError> {
    println!("starting a name server and {} replicas on 127.0.0.1 (ack = {:?})", plan.replicas, plan.ack);
    let mut file = LocalGroup::group_file(plan.replicas)?;
    file.ack = plan.ack;
    let mut group = LocalGroup::start(&plan.bin_dir, file, plan.bugs.clone()).await?;
    let old_master =
        group.wait_for_single_master(CONVERGE).await.ok_or(HarnessError::NoFirstMaster(CONVERGE))?;
    println!("{}", table(&group).await);

    let mut client = group.client(Duration::from_secs(1));
    let mut acknowledged = Vec::new();
    for i in 0..plan.writes {
        let key = format!("k{i}");
        if client.execute(Op::Write { key: key.clone(), value: Value::Int(i64::from(i)) }).await.is_ok() {
            acknowledged.push((key, i64::from(i)));
        }
    }
    println!("{} of {} writes acknowledged by S_{old_master}", acknowledged.len(), plan.writes);

    println!("SIGKILL S_{old_master} (pid {})", group.pid(old_master).unwrap_or_default());
    let killed = Instant::now();
    group.kill(old_master)?;
    let new_master = group.wait_for_single_master(CONVERGE).await;
    let failover = killed.elapsed();
    println!("{}", table(&group).await);

    let mut lost = Vec::new();
    if new_master.is_some() {
        for (key, value) in &acknowledged {
            let read = client.execute(Op::Read { key: key.clone() }).await;
            if !matches!(read, Ok(ref done) if done.output == OpOutput::Value(Some(Value::Int(*value)))) {
                lost.push(key.clone());
            }
        }
    }
    Ok(DemoOutcome { old_master, new_master, failover, acknowledged: acknowledged.len() as u32, lost })
}

/// One line per process: role, master, applied requests.
async fn table(group: &LocalGroup) -> String {
    let mut out = String::from("  node  pid      role          master  applied\n");
    for id in 0..group.config().params.members {
        let line = match group.status(id).await {
            Ok(r) => format!(
                "{:<8} {:<12}  {:<6}  {}",
                r.process.pid,
                format!("{:?}", r.status.role),
                r.status.master.map_or("-".into(), |m| m.to_string()),
                r.status.applied
            ),
            Err(_) => "down".to_string(),
        };
        let _ = writeln!(out, "  S_{id:<3} {line}");
    }
    if let Ok(ns) = group.nameserver_status().await {
        let registered: Vec<_> =
            ns.status.groups.values().flat_map(|g| g.registrations.iter().map(|r| r.id)).collect();
        let _ = write!(out, "  name server registers {registered:?}");
    }
    out
}
