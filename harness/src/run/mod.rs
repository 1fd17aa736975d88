//! One test, end to end, against a system through the [`System`] seam: [`prepare`] it, run the
//! [`workload`] (clients, nemesis, and the observer throughout), the [`final_phase`] (heal,
//! recover, stability window, read back), and [`teardown`]; the [`recorder`] writes every step
//! down. Then the stored history is analysed and reported.
//!
//! [`on_hosts`] runs the plan's system (the seeds' group, Redis Sentinel or etcd) on hosts over SSH; [`simulated`] runs the same flow
//! against the seeds' group in the simulator, in virtual time.

pub mod final_phase;
pub mod interrupt;
pub mod prepare;
pub mod recorder;
pub mod teardown;
pub mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use checkers::history::Op;
use checkers::results::Results;
use faults::Host;
use nodes::protocol::bugs::Bugs;
use nodes::runtime::config::GroupConfig;
use tokio::sync::{Notify, watch};

use crate::control::cluster::local;
use crate::control::group::{Binaries, group_file};
use crate::control::remote::ssh::HostKeyPolicy;
use crate::control::system::System;
use crate::control::system::etcd::Etcd;
use crate::control::system::redis_sentinel::RedisSentinel;
use crate::control::system::seeds_group::SeedsGroup;
use crate::control::system::simulated::{self, SimulatedGroup};
use crate::error::Error;
use crate::plan::{NemesisKind, NodesSource, Plan, SystemKind};
use crate::report;
use crate::run::recorder::{Recorder, RunLog};
use crate::store;

/// One run in progress: what every step of it reads and writes.
pub struct Run<'a, S: System> {
    /// The plan.
    pub plan: &'a Plan,
    /// The system under test.
    pub system: &'a S,
    /// The history being recorded.
    pub recorder: Recorder,
    /// The harness's log.
    pub log: RunLog,
    /// The run's folder in the store (none for a run kept in memory).
    pub dir: Option<PathBuf>,
    /// The master the observer saw last, for the nemesis's master-aware faults.
    pub master: watch::Sender<Option<Host>>,
}

impl<'a, S: System> Run<'a, S> {
    /// A run of `plan` against `system`, recording with `recorder` and `log`.
    pub fn new(plan: &'a Plan, system: &'a S, recorder: Recorder, log: RunLog, dir: Option<PathBuf>) -> Self {
        Run { plan, system, recorder, log, dir, master: watch::channel(None).0 }
    }
}

/// What a finished run left.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's directory in the store.
    pub dir: PathBuf,
    /// The checkers' results.
    pub results: Results,
}

/// The data flow of one test: prepare, workload and final phase under the observer, teardown
/// (which runs whatever happened before it). `interrupt` ends the workload early.
pub async fn test<S: System>(run: &Run<'_, S>, interrupt: &Notify) -> Result<(), Error> {
    let exercised = async {
        prepare::prepare(run).await?;
        workload::observed(run, async {
            let interrupted = workload::workload(run, interrupt).await?;
            final_phase::final_phase(run, interrupted).await
        })
        .await
    }
    .await;
    let torn = teardown::teardown(run).await;
    exercised.and(torn)
}

/// Runs `plan` on hosts: those of its nodes file, or a local cluster (made for the run, and
/// removed after it, when none of the right size is up), with the binaries in `bin_dir`;
/// `interrupt` is notified on SIGINT. Analyses and reports the stored run.
pub async fn on_hosts(plan: &Plan, bin_dir: &Path, interrupt: Arc<Notify>) -> Result<RunOutcome, Error> {
    let dir = begin(plan)?;
    let log = RunLog::to_file(&dir.join("harness.log"))?;
    log.say(&format!("test {:?}, seed {}, store {}", plan.name, plan.seed, dir.display()));
    let (file, made) = prepare::nodes_file(plan, &log)?;
    let clock = plan.nemesis.contains(&NemesisKind::Clock);
    let delayer = plan.nemesis.contains(&NemesisKind::Packet).then(|| bin_dir.join("delayer"));
    let bugs = Bugs::new(plan.bugs.iter().copied());
    let tune = |f: &mut _| plan.replica.apply(f);
    let tested = match plan.system {
        SystemKind::SeedsGroup => match SeedsGroup::over_ssh(
            &file,
            HostKeyPolicy::Strict,
            tune,
            bugs,
            clock,
            Binaries { delayer: delayer.clone(), ..Binaries::in_dir(bin_dir) },
        ) {
            Ok(system) => test_stored(plan, &system, &dir, log, &interrupt, made.is_some()).await,
            Err(e) => Err(e),
        },
        SystemKind::RedisSentinel => {
            match RedisSentinel::over_ssh(&file, HostKeyPolicy::Strict, delayer.clone()) {
                Ok(system) => test_stored(plan, &system, &dir, log, &interrupt, made.is_some()).await,
                Err(e) => Err(e),
            }
        }
        SystemKind::Etcd => match Etcd::over_ssh(&file, HostKeyPolicy::Strict, delayer) {
            Ok(system) => test_stored(plan, &system, &dir, log, &interrupt, made.is_some()).await,
            Err(e) => Err(e),
        },
    };
    if let Some(spec) = made {
        local::down(&spec.state_dir, &spec.prefix)?;
    }
    tested?;
    finish(plan, dir)
}

/// Runs [`test`] against `system`, recording into the run's folder `dir`.
async fn test_stored<S: System>(
    plan: &Plan,
    system: &S,
    dir: &Path,
    log: RunLog,
    interrupt: &Notify,
    local_cluster_made: bool,
) -> Result<(), Error> {
    let recorder = Recorder::to_file(&dir.join("history.jsonl"))?;
    let run = Run::new(plan, system, recorder, log, Some(dir.to_path_buf()));
    let tested = test(&run, interrupt).await;
    if local_cluster_made {
        run.log.say("removing the local cluster made for this test");
    }
    tested
}

/// Runs `plan` against the seeds' group in the simulator, in virtual time, and stores,
/// analyses and reports it as a run on hosts is. Needs no root and no hosts.
pub fn simulated(plan: &Plan) -> Result<RunOutcome, Error> {
    let system = simulated_group(plan)?;
    let dir = begin(plan)?;
    let runtime = simulated::runtime()?;
    runtime.block_on(async {
        let log = RunLog::to_file(&dir.join("harness.log"))?;
        let recorder = Recorder::to_file(&dir.join("history.jsonl"))?;
        let run = Run::new(plan, &system, recorder, log, Some(dir.clone()));
        system.driving(test(&run, &Notify::new())).await
    })?;
    finish(plan, dir)
}

/// Runs `plan` in the simulator as [`simulated`] does, keeping the history in memory and
/// storing nothing: for sweeps over thousands of seeds.
pub fn simulate(plan: &Plan) -> Result<Vec<Op>, Error> {
    simulate_with(plan, None)
}

/// As [`simulate`], with Ctrl-C pressed `at` into the run (virtual time from the start).
pub fn simulate_interrupted(plan: &Plan, at: Duration) -> Result<Vec<Op>, Error> {
    simulate_with(plan, Some(at))
}

fn simulate_with(plan: &Plan, interrupt_at: Option<Duration>) -> Result<Vec<Op>, Error> {
    let system = simulated_group(plan)?;
    let runtime = simulated::runtime()?;
    runtime.block_on(async {
        let run = Run::new(plan, &system, Recorder::in_memory(), RunLog::quiet(), None);
        let interrupt = Notify::new();
        let ctrl_c = async {
            if let Some(at) = interrupt_at {
                tokio::time::sleep(at).await;
                interrupt.notify_one();
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            biased;
            tested = system.driving(test(&run, &interrupt)) => tested?,
            () = ctrl_c => unreachable!("pending forever"),
        }
        Ok(run.recorder.into_ops())
    })
}

/// The simulated seeds' group of `plan`: its node count, replica settings, bugs and seed.
fn simulated_group(plan: &Plan) -> Result<SimulatedGroup, Error> {
    if plan.system != SystemKind::SeedsGroup {
        return Err(Error::Simulation(format!(
            "it simulates the seeds' group only, not {}: run it on hosts (without --sim)",
            plan.system.name()
        )));
    }
    let NodesSource::Local(n) = plan.nodes else {
        return Err(Error::Simulation("it makes its own hosts: give --nodes, not --nodes-file".into()));
    };
    let config = simulated_config(plan, n)?;
    Ok(SimulatedGroup::new(&config, Bugs::new(plan.bugs.iter().copied()), plan.seed))
}

fn simulated_config(plan: &Plan, n: u32) -> Result<GroupConfig, Error> {
    use std::net::{IpAddr, Ipv4Addr};
    let ips: Vec<IpAddr> = (0..n).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8))).collect();
    let mut file = group_file(IpAddr::V4(Ipv4Addr::LOCALHOST), &ips);
    plan.replica.apply(&mut file);
    Ok(file.validate(Path::new("simulated group.yaml"))?)
}

/// A new folder in the store for `plan`'s run, linked as `latest`, with the plan as `test.yaml`.
fn begin(plan: &Plan) -> Result<PathBuf, Error> {
    let dir = store::create_run_dir(&plan.store, &plan.name)?;
    store::link_latest(&plan.store, &dir)?;
    let test_yaml = dir.join("test.yaml");
    std::fs::write(&test_yaml, serde_yaml::to_string(plan).expect("a plan serializes"))
        .map_err(|e| Error::file(&test_yaml, e))?;
    Ok(dir)
}

/// Analyses and reports the stored run in `dir`.
fn finish(plan: &Plan, dir: PathBuf) -> Result<RunOutcome, Error> {
    let results = report::reanalyze(&dir, &plan.checkers)?;
    Ok(RunOutcome { dir, results })
}
