//! Campaigns: a matrix of tests (system × nemesis × workload × cluster size × replica settings × seeds)
//! run one after another, reusing a local cluster while its size stays the same, with a summary
//! that keeps invalid, unknown and harness-failed runs apart.
//!
//! ```yaml
//! name: nightly
//! base: { time_limit: 30, nemesis_interval: 5 }      # any test-file field
//! matrix:
//!   system: [seeds-group, redis-sentinel, etcd]
//!   nemesis: [partition, kill, "partition,kill"]
//!   workload: [register, set]
//!   nodes: [3, 5]
//!   replica: [{ ack: async }, { ack: all }]
//! seeds: [1, 2]                                      # or repeats: 2 (random seeds)
//! ```

mod merge;
mod outcome;
mod pages;
mod shard;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::control::cluster::local::{self, LocalSpec};
use crate::error::Error;
use crate::exit;
use nodes::protocol::bugs::Bug;

use crate::plan::{NodesSource, Plan, PlanError, ReplicaSettings, SystemKind, TestSpec, Workload};
use crate::run;
use crate::run::interrupt::Interrupt;
use crate::store;

pub use merge::merge;
pub use outcome::{Outcome, Row, exit_code, summary};
pub use pages::Pages;
pub use shard::{Manifest, Shard, identity};

/// The dimensions of the matrix; an empty or missing one keeps the base's value.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Systems under test, each like `--system`.
    #[serde(default)]
    pub system: Vec<SystemKind>,
    /// Nemesis lists, each like `--nemesis`.
    #[serde(default)]
    pub nemesis: Vec<String>,
    /// Workloads.
    #[serde(default)]
    pub workload: Vec<Workload>,
    /// Local cluster sizes.
    #[serde(default)]
    pub nodes: Vec<u32>,
    /// Replica settings.
    #[serde(default)]
    pub replica: Vec<ReplicaSettings>,
    /// Deliberate bugs, each entry a list like `--bug` (`[]` for none): the mutants a campaign
    /// proves the checkers against.
    #[serde(default)]
    pub bugs: Vec<Vec<Bug>>,
}

/// A campaign file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// The campaign's name (its folder in the store).
    pub name: Option<String>,
    /// Fields every test shares.
    #[serde(default)]
    pub base: TestSpec,
    /// What varies.
    #[serde(default)]
    pub matrix: Matrix,
    /// Seeds; every combination runs once per seed.
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Without seeds: runs per combination, with random seeds.
    pub repeats: Option<u32>,
}

/// A campaign expanded into validated plans: the whole of it, or one shard.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The campaign's name (its folder in the store).
    pub name: String,
    /// The campaign file.
    pub file: PathBuf,
    /// Which shard of it these plans are ([`Shard::WHOLE`] when not sharded).
    pub shard: Shard,
    /// The runs, in order.
    pub plans: Vec<Plan>,
}

/// Reads a campaign file and expands it into validated plans, only those of `shard` when one
/// is given; nothing runs if one is bad. A sharded campaign needs the file's `seeds:` (random
/// seeds would differ from shard to shard).
pub fn plans(path: &Path, random_seed: u64, shard: Option<Shard>) -> Result<Campaign, PlanError> {
    let (name, plans) = all_plans(path, random_seed)?;
    let whole = |plans| Campaign { name: name.clone(), file: path.to_path_buf(), shard: Shard::WHOLE, plans };
    let Some(shard) = shard else { return Ok(whole(plans)) };
    let file: CampaignFile = crate::plan::load_yaml(path)?;
    if file.seeds.is_empty() {
        return Err(PlanError {
            origin: format!("--shard (with {})", path.display()),
            problem: "a sharded campaign needs fixed seeds: give `seeds:` in the file, not `repeats:`".into(),
        });
    }
    Ok(Campaign { shard, ..whole(plans.into_iter().filter(|p| shard.holds(p)).collect()) })
}

impl Campaign {
    /// Refuses, before anything runs, a campaign the simulator cannot run (`--sim`): one of
    /// another system than the seeds' group, or on hosts of a nodes file.
    pub fn simulable(&self) -> Result<(), PlanError> {
        let refuse = |plan: &Plan, why: String| PlanError {
            origin: format!("--sim (with {})", self.file.display()),
            problem: format!("run {}: {why}; run the campaign without --sim", plan.name),
        };
        for plan in &self.plans {
            if plan.system != SystemKind::SeedsGroup {
                return Err(refuse(
                    plan,
                    format!("the simulator runs the seeds' group only, not {}", plan.system.name()),
                ));
            }
            if !matches!(plan.nodes, NodesSource::Local(_)) {
                return Err(refuse(plan, "the simulator makes its own hosts: give `nodes:` a count".into()));
            }
        }
        Ok(())
    }
}

fn all_plans(path: &Path, random_seed: u64) -> Result<(String, Vec<Plan>), PlanError> {
    let file: CampaignFile = crate::plan::load_yaml(path)?;
    let name = file.name.clone().unwrap_or_else(|| "campaign".into());
    let one = |v: Vec<Option<String>>| if v.is_empty() { vec![None] } else { v };
    let nemeses = one(file.matrix.nemesis.iter().cloned().map(Some).collect());
    let workloads: Vec<Option<Workload>> = if file.matrix.workload.is_empty() {
        vec![None]
    } else {
        file.matrix.workload.iter().copied().map(Some).collect()
    };
    let sizes: Vec<Option<u32>> = if file.matrix.nodes.is_empty() {
        vec![None]
    } else {
        file.matrix.nodes.iter().copied().map(Some).collect()
    };
    let replicas: Vec<ReplicaSettings> = if file.matrix.replica.is_empty() {
        vec![ReplicaSettings::default()]
    } else {
        file.matrix.replica.clone()
    };
    let bug_sets: Vec<Option<Vec<Bug>>> = if file.matrix.bugs.is_empty() {
        vec![None]
    } else {
        file.matrix.bugs.iter().cloned().map(Some).collect()
    };
    let seeds: Vec<Option<u64>> = if !file.seeds.is_empty() {
        file.seeds.iter().copied().map(Some).collect()
    } else {
        (0..file.repeats.unwrap_or(1)).map(|i| Some(random_seed.wrapping_add(u64::from(i)))).collect()
    };
    let systems: Vec<Option<SystemKind>> = if file.matrix.system.is_empty() {
        vec![None]
    } else {
        file.matrix.system.iter().copied().map(Some).collect()
    };
    let mut plans = Vec::new();
    for (nodes, system) in sizes.iter().flat_map(|n| systems.iter().map(move |s| (n, s))) {
        for nemesis in &nemeses {
            for workload in &workloads {
                for (r, replica) in replicas.iter().enumerate() {
                    for (bugs, seed) in bug_sets.iter().flat_map(|b| seeds.iter().map(move |s| (b, s))) {
                        let bug_label = bugs.as_ref().map(|b| {
                            if b.is_empty() {
                                "no-bug".to_string()
                            } else {
                                b.iter().map(|b| b.name()).collect::<Vec<_>>().join("+")
                            }
                        });
                        let label = [
                            system.map(|s| s.name().to_string()),
                            nodes.map(|n| format!("{n}n")),
                            nemesis.clone().map(|n| n.replace(',', "+")),
                            workload.map(|w| format!("{w:?}").to_lowercase()),
                            (replicas.len() > 1).then(|| format!("r{r}")),
                            bug_label,
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("-");
                        let spec = TestSpec {
                            name: Some(format!(
                                "{name}-{}",
                                if label.is_empty() { "run".into() } else { label }
                            )),
                            nodes: *nodes,
                            system: *system,
                            nemesis: nemesis.clone().map(|n| vec![n]),
                            workload: *workload,
                            seed: *seed,
                            bugs: bugs.clone(),
                            replica: replica.clone(),
                            ..TestSpec::default()
                        };
                        plans.push(Plan::from_spec(spec.or(file.base.clone()), random_seed, Some(path))?);
                    }
                }
            }
        }
    }
    Ok((name, plans))
}

/// What a campaign left.
#[derive(Debug)]
pub struct Finished {
    /// A row per run that ran, in order (the last one [`Outcome::Interrupted`] after Ctrl-C).
    pub rows: Vec<Row>,
    /// The campaign's folder (`campaign.html`, `junit.xml`, `campaign.json`, `summary.txt`,
    /// `shard.json`).
    pub dir: PathBuf,
    /// True when Ctrl-C stopped it.
    pub interrupted: bool,
}

impl Finished {
    /// 130 after Ctrl-C, else the exit code of the worst outcome.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted { exit::INTERRUPTED } else { exit_code(&self.rows) }
    }
}

/// Runs the plans in order, making the local cluster each needs (and removing it at the end),
/// or in the simulator (`sim`; see [`Campaign::simulable`]).
/// Ctrl-C stops the current run (it heals, tears down and analyses what it recorded) and the
/// campaign after it; the summary and pages cover the runs that ran.
/// The campaign's folder holds `shard.json` from the start and `campaign.json` after each run,
/// so a shard whose machine dies leaves what it did for `campaign merge` to find.
pub async fn run(
    campaign: &Campaign,
    bin_dir: &Path,
    fail_fast: bool,
    sim: bool,
    interrupt: &Interrupt,
) -> Result<Finished, Error> {
    let (name, plans) = (&campaign.name, &campaign.plans);
    let root = plans.first().map_or_else(|| PathBuf::from("store"), |p| p.store.clone());
    let dir = store::create_run_dir(&root, name)?;
    Manifest {
        campaign: name.clone(),
        file: campaign.file.clone(),
        shard: campaign.shard,
        runs: plans.iter().map(|p| identity(&p.name, p.seed)).collect(),
    }
    .write(&dir)?;
    pages::write_rows(&dir, &[])?;
    let bar = indicatif::ProgressBar::new(plans.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("a valid template"),
    );
    let mut rows = Vec::new();
    let mut made: Option<LocalSpec> = None;
    let ran = async {
        for plan in plans {
            if interrupt.fired() {
                break;
            }
            bar.set_message(plan.name.clone());
            if let NodesSource::Local(n) = plan.nodes
                && !sim
                && made.as_ref().is_none_or(|m| m.nodes != n)
            {
                let spec = LocalSpec::default_of(n);
                made = Some(spec.clone());
                local::up(&spec, &AtomicBool::new(false))?;
            }
            let started = std::time::Instant::now();
            let outcome = if sim {
                let plan = plan.clone();
                // The simulator drives its own runtime, which may not start inside this one.
                tokio::task::spawn_blocking(move || run::simulated(&plan))
                    .await
                    .unwrap_or_else(|e| Err(Error::Simulation(format!("the simulated run panicked: {e}"))))
            } else {
                run::on_hosts(plan, bin_dir, interrupt.notify()).await
            };
            let (outcome, run_dir) = match outcome {
                Ok(done) if interrupt.fired() => (Outcome::Interrupted, Some(done.dir)),
                Ok(done) => (Outcome::Verdict(done.results.valid), Some(done.dir)),
                Err(e) => (Outcome::HarnessFailed(crate::error::chain(&e)), None),
            };
            let seconds = Some(started.elapsed().as_secs_f64());
            let row = Row { name: plan.name.clone(), seed: plan.seed, outcome, dir: run_dir, seconds };
            let stop = fail_fast && row.rank() > 0;
            rows.push(row);
            pages::write_rows(&dir, &rows)?;
            bar.inc(1);
            if stop {
                break;
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    bar.finish_and_clear();
    let removed = match made {
        Some(spec) => local::down(&spec.state_dir, &spec.prefix),
        None => Ok(()),
    };
    ran.and(removed)?;
    Pages { name, rows: &rows, missing_shards: &[] }.write(&dir)?;
    Ok(Finished { rows, dir, interrupted: interrupt.fired() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_campaign_into_disjoint_stable_parts() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/nightly.yaml");
        let all = plans(&path, 0, None).unwrap().plans;
        let ids = |plans: &[Plan]| plans.iter().map(|p| identity(&p.name, p.seed)).collect::<Vec<_>>();
        let shards: Vec<Vec<String>> =
            (1..=4).map(|k| ids(&plans(&path, 0, Some(Shard { k, n: 4 })).unwrap().plans)).collect();
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), all.len(), "every run in one shard");
        assert!(
            shards.iter().all(|s| !s.is_empty() && s.len() < all.len()),
            "{:?}",
            shards.iter().map(Vec::len).collect::<Vec<_>>()
        );
        for (i, a) in shards.iter().enumerate() {
            for b in &shards[i + 1..] {
                assert!(a.iter().all(|x| !b.contains(x)), "shards overlap");
            }
        }
        // A run's shard depends on it alone: dropping other runs does not move it.
        let third = Shard { k: 3, n: 4 };
        let kept: Vec<&Plan> = all.iter().step_by(3).filter(|p| third.holds(p)).collect();
        assert!(kept.iter().all(|p| shards[2].contains(&identity(&p.name, p.seed))));
        assert_eq!("2/4".parse(), Ok(Shard { k: 2, n: 4 }));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sharded_campaign_needs_fixed_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "name: c\nmatrix: { nemesis: [partition, kill] }\nrepeats: 2\n").unwrap();
        assert_eq!(plans(&path, 0, None).unwrap().plans.len(), 4);
        let e = plans(&path, 0, Some(Shard { k: 1, n: 2 })).unwrap_err();
        assert!(e.origin.starts_with("--shard") && e.problem.contains("seeds:"), "{e}");
    }

    #[test]
    fn the_third_party_campaign_runs_each_system_under_each_nemesis() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/third-party.yaml");
        let plans = plans(&path, 0, None).unwrap().plans;
        let runs: Vec<(SystemKind, &str)> =
            plans.iter().map(|p| (p.system, p.name.trim_start_matches("third-party-"))).collect();
        assert_eq!(
            runs,
            [
                (SystemKind::RedisSentinel, "redis-sentinel-partition-register"),
                (SystemKind::RedisSentinel, "redis-sentinel-kill+pause-register"),
                (SystemKind::Etcd, "etcd-partition-register"),
                (SystemKind::Etcd, "etcd-kill+pause-register"),
            ]
        );
    }

    #[test]
    fn the_nightly_campaign_expands_into_its_whole_matrix_of_valid_plans() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/nightly.yaml");
        let campaign = plans(&path, 0, None).unwrap();
        let plans = campaign.plans;
        assert_eq!(campaign.name, "nightly");
        assert_eq!(plans.len(), 2 * 4 * 2 * 3 * 2, "nodes x nemesis x workload x replica x seeds");
        assert!(plans.iter().all(|p| p.time_limit.as_secs() == 60));
        let names: std::collections::BTreeSet<_> = plans.iter().map(|p| (p.name.clone(), p.seed)).collect();
        assert_eq!(names.len(), plans.len(), "every run has its own name and seed");
    }

    #[test]
    fn the_mutants_campaign_is_every_bug_and_the_correct_group_over_ten_seeds_of_the_main_command() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/mutants.yaml");
        let plans = plans(&path, 0, None).unwrap().plans;
        assert_eq!(plans.len(), 5 * 10, "no bug and four bugs, ten seeds each");
        let bugs: std::collections::BTreeSet<Vec<Bug>> = plans.iter().map(|p| p.bugs.clone()).collect();
        assert_eq!(bugs.len(), 5);
        assert!(plans.iter().all(|p| p.replica.ack == Some(nodes::protocol::params::AckMode::EveryMember)));
        assert!(plans.iter().all(|p| p.time_limit.as_secs() == 30 && p.nemesis_interval.as_secs() == 5));
        let names: std::collections::BTreeSet<_> = plans.iter().map(|p| (p.name.clone(), p.seed)).collect();
        assert_eq!(names.len(), plans.len(), "every run has its own name and seed");
    }
}
