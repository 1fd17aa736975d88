//! `splitbrain`: the test harness's command line. It parses the arguments and calls the
//! `harness` library; every command returns its exit code (see `harness::exit`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use harness::check::CheckPlan;
use harness::control::cluster::command as cluster;
use harness::control::cluster::local::{DEFAULT_PREFIX, DEFAULT_STATE_DIR, DEFAULT_SUBNET, LocalSpec};
use harness::demo::{self, DemoPlan};
use harness::error::Error;
use harness::exit;
use harness::plan::{Plan, TestSpec};
use harness::run::interrupt::Interrupt;
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::protocol::params::AckMode;

#[derive(Parser)]
#[command(
    version,
    about = "A Jepsen-style test harness for fault-tolerant server groups",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Directory of the `replica` and `nameserver` binaries (default: beside this one).
    #[arg(long, global = true)]
    bin_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local group on 127.0.0.1, SIGKILL its master, and show the new one.
    Demo {
        /// Number of replicas.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=32))]
        replicas: u32,
        /// When the master acknowledges writes.
        #[arg(long, value_enum, default_value_t = Ack::All)]
        ack: Ack,
        /// Writes made before the kill.
        #[arg(long, default_value_t = 100)]
        writes: u32,
        /// Switch on a deliberate bug in every process (repeatable).
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<Bug>,
    },
    /// Run a test: deploy the group, inject faults under a client workload, heal, and check that
    /// exactly one master persists.
    Test(Box<TestArgs>),
    /// Run one plan in the simulator under each seed of a range, on all cores; keep and list
    /// every run that is not valid, with the command that replays it.
    Explore(Box<ExploreArgs>),
    /// Check histories that other tools wrote (or ours) for linearizability, one line per file.
    Check(CheckPlan),
    /// Run a campaign: a matrix of tests, one after another, and a summary; or merge the
    /// outputs of its shards (`campaign merge`).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Campaign {
        /// The campaign file (YAML; see harness/src/campaign/mod.rs and campaigns/nightly.yaml).
        #[arg(required = true)]
        file: Option<PathBuf>,
        /// Stop after the first run that is not valid.
        #[arg(long)]
        fail_fast: bool,
        /// Run only shard K of N (K/N): a stable split by each run's name and seed, one shard
        /// per CI runner or pod.
        #[arg(long)]
        shard: Option<harness::campaign::Shard>,
        /// Print the runs (the shard's, with --shard), one per line, and run nothing.
        #[arg(long)]
        list: bool,
        /// Run every test in the deterministic simulator (no root, no cluster; the seeds'
        /// group only).
        #[arg(long)]
        sim: bool,
        /// The store for every run and the campaign's pages (instead of the file's `store:`).
        #[arg(long)]
        store: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<CampaignAction>,
    },
    /// Browse the store over HTTP: runs newest first, each run's files and report, zips.
    Serve {
        /// The port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// The store to serve.
        #[arg(long, default_value = "store")]
        store: PathBuf,
    },
    /// Check a stored run again: `splitbrain analyze store/latest`.
    Analyze {
        /// The run's directory.
        dir: PathBuf,
        /// Comma list of the checkers to run, of those that fit the workload (default all):
        /// mastership, convergence, linearizable, set, stats, perf.
        #[arg(long, value_delimiter = ',', value_parser = checkers::results::Checker::parse)]
        checkers: Vec<checkers::results::Checker>,
    },
    /// Make, inspect or remove the local cluster of test hosts (network namespaces with sshd).
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
        /// Where the cluster's keys, configs, pidfiles and nodes file live.
        #[arg(long, global = true, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Prefix of the namespaces and links the cluster makes (1 to 4 characters).
        #[arg(long, global = true, default_value = DEFAULT_PREFIX)]
        prefix: String,
    },
}

/// `splitbrain test`: a test file and the flags over it.
#[derive(clap::Args)]
struct TestArgs {
    /// A YAML test file (see harness/src/plan/mod.rs); every flag overrides its field.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run the plan in the deterministic simulator instead of on hosts (no root, no cluster):
    /// the same run flow, replica cores, schedule, checkers and stored files, in virtual time.
    #[arg(long)]
    sim: bool,
    /// Run a stored run again: its plan (test.yaml) and the faults it applied (schedule.yaml), at
    /// their times; --nodes, --nodes-file, --node, --name and --store may change where.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "config")]
    replay: Option<PathBuf>,
    #[command(flatten)]
    spec: TestSpec,
}

/// `splitbrain explore`: a seed range, the threads, and the plan's flags.
#[derive(clap::Args)]
struct ExploreArgs {
    /// The seeds, as `A..B` (both included).
    #[arg(long, value_parser = parse_seeds)]
    seeds: std::ops::RangeInclusive<u64>,
    /// Runs at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Keep each failing run as found, without shrinking its fault schedule.
    #[arg(long)]
    no_shrink: bool,
    /// A YAML test file (see harness/src/plan/mod.rs); every flag overrides its field.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    spec: TestSpec,
}

fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let bad = || format!("{text:?}: give the seeds as A..B, for example 1..1000");
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a > b { Err(bad()) } else { Ok(a..=b) }
}

#[derive(Subcommand)]
enum CampaignAction {
    /// Merge the outputs of a campaign's shards into one campaign.html, junit.xml and summary
    /// (each run's folder copied beside them); reports shards missing or unfinished.
    Merge {
        /// Folders holding the shards' stores (searched for their shard.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged campaign goes (a new or empty folder).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Make the cluster (removing any earlier one first) and write its nodes file.
    Up {
        /// Number of replica hosts; a name-server host comes on top.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=200))]
        nodes: u32,
        /// The /24 the hosts live in, as its first three octets (default 10.213.77).
        #[arg(long, value_parser = parse_subnet)]
        subnet: Option<[u8; 3]>,
    },
    /// Remove everything a local cluster made (idempotent).
    Down,
    /// List what exists.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum Ack {
    Async,
    All,
}

fn parse_subnet(text: &str) -> Result<[u8; 3], String> {
    let bad = || format!("{text:?} is not the first three octets of a /24, for example 10.213.77");
    let octets: Vec<u8> = text.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad())?;
    octets.try_into().map_err(|_| bad())
}

fn main() -> ExitCode {
    let cli = match nodes::runtime::parse_args::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let interrupted = e.downcast_ref::<Error>().is_some_and(|e| matches!(e, Error::Interrupted));
            ExitCode::from(if interrupted { exit::INTERRUPTED } else { exit::HARNESS_FAILED })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    // Only the commands that do I/O on hosts or sockets start a runtime (and its worker threads).
    let runtime = || tokio::runtime::Runtime::new().context("start the tokio runtime");
    let bin_dir = || match &cli.bin_dir {
        Some(dir) => Ok(dir.clone()),
        None => beside_this_binary(),
    };
    match cli.command {
        Command::Demo { replicas, ack, writes, ref bugs } => {
            let ack = match ack {
                Ack::Async => AckMode::Async,
                Ack::All => AckMode::All,
            };
            let plan = DemoPlan { replicas, ack, writes, bin_dir: bin_dir()?, bugs: Bugs::new(bugs.clone()) };
            let outcome = runtime()?.block_on(demo::run(&plan))?;
            Ok(demo::report(&outcome))
        }
        Command::Test(ref args) => {
            let plan = match &args.replay {
                Some(dir) => Plan::replay(dir, args.spec.clone()),
                None => Plan::load(args.config.as_deref(), args.spec.clone()),
            };
            let plan = match plan {
                Ok(plan) => plan,
                Err(e) => return Ok(bad_input(&e)),
            };
            println!("seed: {}", plan.seed);
            let outcome = if args.sim {
                harness::run::simulated(&plan)
            } else {
                let bin_dir = bin_dir()?;
                runtime()?.block_on(async {
                    let interrupt = Interrupt::on_ctrl_c();
                    harness::run::on_hosts(&plan, &bin_dir, interrupt.notify()).await
                })
            };
            let outcome = match outcome {
                Err(e @ Error::Simulation(_)) => return Ok(bad_input(&e)),
                outcome => outcome?,
            };
            println!("{}", harness::analyze::summary(&outcome.results));
            println!("seed: {}; results: {}", plan.seed, outcome.dir.display());
            Ok(exit::of(outcome.results.valid))
        }
        Command::Explore(ref args) => explore(args),
        Command::Check(ref plan) => Ok(harness::check::check(plan)),
        Command::Serve { port, bind, ref store } => runtime()?.block_on(async {
            let listener = tokio::net::TcpListener::bind((bind, port))
                .await
                .with_context(|| format!("listen on {bind}:{port}"))?;
            println!("serving {} at http://{}/", store.display(), listener.local_addr()?);
            harness::serve::serve(store.clone(), listener).await?;
            Ok(exit::VALID)
        }),
        Command::Campaign { action: Some(CampaignAction::Merge { ref dirs, ref out }), .. } => {
            let gathered = match harness::campaign::merge(dirs, out) {
                Ok(gathered) => gathered,
                Err(e) => return Ok(bad_input(&e)),
            };
            let merged = gathered.write()?;
            println!("{}", merged.summary());
            println!("campaign: {}", merged.out.join("campaign.html").display());
            Ok(merged.exit_code())
        }
        Command::Campaign { ref file, fail_fast, shard, list, sim, ref store, action: None } => {
            let file = file.as_deref().context("a campaign file")?;
            let mut campaign = match harness::campaign::plans(file, harness::plan::random_seed(), shard) {
                Ok(found) => found,
                Err(e) => return Ok(bad_input(&e)),
            };
            if let Some(store) = store {
                campaign.plans.iter_mut().for_each(|plan| plan.store.clone_from(store));
            }
            if list {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                // A reader that stops early (`| head`) ends the listing, not the program.
                for plan in &campaign.plans {
                    if writeln!(out, "{}", harness::campaign::identity(&plan.name, plan.seed)).is_err() {
                        break;
                    }
                }
                return Ok(exit::VALID);
            }
            if sim && let Err(e) = campaign.simulable() {
                return Ok(bad_input(&e));
            }
            let bin_dir = bin_dir()?;
            let finished = runtime()?.block_on(async {
                let interrupt = Interrupt::on_ctrl_c();
                harness::campaign::run(&campaign, &bin_dir, fail_fast, sim, &interrupt).await
            })?;
            println!("{}", harness::campaign::summary(&finished.rows));
            println!("campaign: {}", finished.dir.join("campaign.html").display());
            Ok(finished.exit_code())
        }
        Command::Analyze { ref dir, ref checkers } => {
            let chosen = if checkers.is_empty() {
                checkers::results::all()
            } else {
                checkers.iter().copied().collect()
            };
            let results = harness::report::reanalyze(dir, &chosen)?;
            println!("{}", harness::analyze::summary(&results));
            Ok(exit::of(results.valid))
        }
        Command::Cluster { ref action, ref state_dir, ref prefix } => {
            runtime()?.block_on(async {
                match action {
                    ClusterAction::Up { nodes, subnet } => {
                        let spec = LocalSpec {
                            nodes: *nodes,
                            state_dir: state_dir.clone(),
                            subnet: subnet.unwrap_or(DEFAULT_SUBNET),
                            prefix: prefix.clone(),
                        };
                        cluster::up(spec).await
                    }
                    ClusterAction::Down => cluster::down(state_dir, prefix),
                    ClusterAction::Status => cluster::status(state_dir, prefix),
                }
            })?;
            Ok(exit::VALID)
        }
    }
}

/// `splitbrain explore`: a line per failing seed as it is found, then the summary.
fn explore(args: &ExploreArgs) -> anyhow::Result<u8> {
    if args.spec.seed.is_some() {
        return Ok(bad_input(&"--seed: explore runs every seed of --seeds A..B"));
    }
    let plan = match Plan::load(args.config.as_deref(), args.spec.clone()) {
        Ok(plan) => plan,
        Err(e) => return Ok(bad_input(&e)),
    };
    let bar = indicatif::ProgressBar::new(args.seeds.clone().count() as u64);
    let shrink = !args.no_shrink;
    let explored = harness::explore::explore(&plan, args.seeds.clone(), args.jobs, shrink, |failure| {
        if let Some(f) = failure {
            let (checker, why) = f.checkers.first().map_or(("-", ""), |(c, w)| (c.name(), w.as_str()));
            let line = format!(
                "seed {}: {checker}: {why}\n  failing schedule: {} (found with {}); replay: splitbrain test --sim --replay {} (on the local cluster: without --sim)",
                f.seed,
                f.schedule.summary(),
                f.found_with,
                shell_escape::escape(f.dir.display().to_string().into()),
            );
            if bar.is_hidden() {
                println!("{line}");
            } else {
                bar.println(line);
            }
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let explored = match explored {
        Err(e @ Error::Simulation(_)) => return Ok(bad_input(&e)),
        explored => explored?,
    };
    let by_checker: Vec<String> =
        explored.by_checker().iter().map(|(c, n)| format!("{} {n}", c.name())).collect();
    let (shrink_runs, shrink_simulated) = explored.shrinking();
    println!(
        "{} runs, {} not valid ({}); {:.0} simulated seconds per wall-clock second ({:.1} s simulated in {:.1} s{})",
        explored.runs,
        explored.failures.len(),
        if by_checker.is_empty() { "none".to_string() } else { by_checker.join(", ") },
        explored.speed(),
        explored.simulated.as_secs_f64(),
        explored.wall.as_secs_f64(),
        if shrink_runs == 0 {
            String::new()
        } else {
            format!(
                ", shrinking included: {shrink_runs} more runs, {:.1} s simulated",
                shrink_simulated.as_secs_f64()
            )
        },
    );
    for f in &explored.failures {
        println!("  seed {}: {} ({})", f.seed, f.verdict.word(), f.dir.display());
    }
    Ok(exit::of(explored.verdict()))
}

/// Prints `e` and returns the exit code of bad input.
fn bad_input(e: &dyn std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    exit::BAD_INPUT
}

fn beside_this_binary() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()
        .context("locate the splitbrain binary")?
        .parent()
        .context("the splitbrain binary has no directory")?
        .to_path_buf())
}
