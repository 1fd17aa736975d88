//! `splitbrain`: the test harness's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use harness::control::cluster::local::{self, DEFAULT_PREFIX, DEFAULT_STATE_DIR, LocalSpec};
use harness::demo::{self, DemoPlan};
use harness::error::Error;
use harness::plan::{Plan, ReplicaSettings, TestSpec};
use nodes::protocol::bugs::{Bug, Bugs};
use nodes::protocol::params::AckMode;

use harness::exit;

/// mimalloc: the checkers' parsing and searching allocate small objects by the million, and
/// it serves them several times faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "A Jepsen-style test harness for fault-tolerant server groups",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Directory of the `replica` and `nameserver` binaries (default: beside this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// Switch on a deliberate bug in every process (repeatable).
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<Bug>,
    },
    /// Run a test: deploy the group, inject faults under a client workload, heal, and check that
    /// exactly one master persists.
    Test(Box<TestArgs>),
    /// Check histories that other tools wrote (or ours) for linearizability, one line per file.
    Check {
        /// The history files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// register (starts absent; nil reads are exact), cas-register (starts at 0; nil reads
        /// are wildcards) or kv (strings: get / put / append).
        #[arg(long, value_parser = parse_model)]
        model: checkers::linearizable::Model,
        /// jepsen-log, edn or jsonl.
        #[arg(long, value_parser = parse_format)]
        format: checkers::linearizable::Format,
        /// Print one JSON object per file: {"file", "valid", "ms"}.
        #[arg(long)]
        json: bool,
        /// Seconds per file before its verdict is unknown.
        #[arg(long, default_value_t = 60)]
        time_limit: u64,
        /// MiB the search may memoise per file before its verdict is unknown.
        #[arg(long, default_value_t = checkers::linearizable::DEFAULT_BUDGET_BYTES >> 20)]
        memory_mb: usize,
    },
    /// Run a campaign: a matrix of tests, one after another, and a summary.
    Campaign {
        /// The campaign file (YAML; see harness/src/campaign.rs and campaigns/nightly.yaml).
        file: PathBuf,
        /// Stop after the first run that is not valid.
        #[arg(long)]
        fail_fast: bool,
        /// Directory of the `replica` and `nameserver` binaries (default: beside this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
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

/// Flags of `splitbrain test`; each overrides the test file's field of the same name.
#[derive(clap::Args)]
struct TestArgs {
    /// A YAML test file (see harness/src/plan.rs).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The test's name (its folder in the store).
    #[arg(long)]
    name: Option<String>,
    /// Make (and remove) a local cluster of N replica hosts, unless one of that size is up.
    #[arg(long)]
    nodes: Option<u32>,
    /// Use the hosts of a nodes file instead.
    #[arg(long)]
    nodes_file: Option<PathBuf>,
    /// Run the plan in the deterministic simulator instead of on hosts (no root, no cluster):
    /// the same replica cores, schedule, checkers and stored files.
    #[arg(long)]
    sim: bool,
    /// Use these hosts instead (repeatable): the first runs the name server, the rest the replicas.
    #[arg(long = "node", value_name = "HOST")]
    node: Vec<String>,
    /// The user for --node hosts.
    #[arg(long, default_value = "root")]
    username: String,
    /// The private key for --node hosts.
    #[arg(long)]
    ssh_private_key: Option<PathBuf>,
    /// Seconds of workload (default 60).
    #[arg(long)]
    time_limit: Option<u64>,
    /// Clients: a number, or `<k>n` for k per replica (default 1n).
    #[arg(long)]
    concurrency: Option<String>,
    /// register or set.
    #[arg(long, value_parser = parse_kebab::<harness::plan::Workload>)]
    workload: Option<harness::plan::Workload>,
    /// Comma list of partition, kill, pause, clock, none (default partition).
    #[arg(long)]
    nemesis: Option<String>,
    /// Seconds between nemesis actions (default 10).
    #[arg(long)]
    nemesis_interval: Option<u64>,
    /// Comma list of partition shapes (default all): halves, random-halves, one, isolate-master,
    /// isolate-name-server, majorities-ring, bridge, one-way.
    #[arg(long, value_delimiter = ',', value_parser = parse_kebab::<faults::partition::Shape>)]
    partition_shapes: Vec<faults::partition::Shape>,
    /// Comma list of targets for kill, pause and clock: one, minority, majority, all, master.
    #[arg(long, value_delimiter = ',', value_parser = parse_kebab::<faults::select::Selector>)]
    targets: Vec<faults::select::Selector>,
    /// The seed of every random choice (random when absent; always recorded and printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds the final phase waits for one master (default 15).
    #[arg(long)]
    recovery_time: Option<u64>,
    /// Seconds one master must persist unchanged (default 5).
    #[arg(long)]
    stability_window: Option<u64>,
    /// Milliseconds between observer rounds (default 100).
    #[arg(long)]
    observe_interval_ms: Option<u64>,
    /// Operations per second per client (default 10).
    #[arg(long)]
    rate: Option<f64>,
    /// Milliseconds before a client operation's outcome is unknown (default 1000).
    #[arg(long)]
    op_timeout_ms: Option<u64>,
    /// Switch on a deliberate bug in every process (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<Bug>,
    /// Comma list of the checkers to run, of those that fit the workload (default all):
    /// mastership, convergence, linearizable, set, stats, perf.
    #[arg(long, value_delimiter = ',', value_parser = checkers::results::Checker::parse)]
    checkers: Vec<checkers::results::Checker>,
    /// Replica acknowledgement: every-member (safe), async or all (the seeds').
    #[arg(long, value_parser = parse_kebab::<AckMode>)]
    ack: Option<AckMode>,
    /// Election delay scheme: integral or equal.
    #[arg(long, value_parser = parse_kebab::<nodes::runtime::config::SchemeName>)]
    election: Option<nodes::runtime::config::SchemeName>,
    /// Recovery variant: backup or priority.
    #[arg(long, value_parser = parse_kebab::<nodes::protocol::params::RecoveryMode>)]
    recovery_mode: Option<nodes::protocol::params::RecoveryMode>,
    /// E1 inquiry period in ms.
    #[arg(long)]
    detect_interval_ms: Option<u64>,
    /// E1 reply time-out in ms.
    #[arg(long)]
    inquiry_timeout_ms: Option<u64>,
    /// Where runs are stored (default ./store).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Directory of the `replica` and `nameserver` binaries (default: beside this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

fn parse_model(text: &str) -> Result<checkers::linearizable::Model, String> {
    checkers::linearizable::Model::parse(text)
        .ok_or_else(|| format!("{text:?}: use register, cas-register or kv"))
}

fn parse_format(text: &str) -> Result<checkers::linearizable::Format, String> {
    checkers::linearizable::Format::parse(text)
        .ok_or_else(|| format!("{text:?}: use jepsen-log, edn or jsonl"))
}

fn parse_kebab<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Make the cluster (removing any earlier one first) and write its nodes file.
    Up {
        /// Number of replica hosts; a name-server host comes on top.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=200))]
        nodes: u32,
        /// The /24 the hosts live in, as its first three octets.
        #[arg(long, default_value = "10.213.77", value_parser = parse_subnet)]
        subnet: [u8; 3],
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
    let octets: Vec<u8> =
        text.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad_subnet(text))?;
    octets.try_into().map_err(|_| bad_subnet(text))
}

fn bad_subnet(text: &str) -> String {
    format!("{text:?} is not the first three octets of a /24, for example 10.213.77")
}

fn main() -> ExitCode {
    let cli = match nodes::runtime::parse_args::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let interrupted = e.downcast_ref::<Error>().is_some_and(|e| matches!(e, Error::Interrupted));
            ExitCode::from(if interrupted { exit::INTERRUPTED } else { exit::HARNESS_FAILED })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    match cli.command {
        Command::Demo { replicas, ack, writes, bin_dir, bugs } => {
            let bin_dir = match bin_dir {
                Some(dir) => dir,
                None => beside_this_binary()?,
            };
            let ack = match ack {
                Ack::Async => AckMode::Async,
                Ack::All => AckMode::All,
            };
            let plan = DemoPlan { replicas, ack, writes, bin_dir, bugs: Bugs::new(bugs) };
            let outcome = runtime.block_on(demo::run(&plan))?;
            Ok(report_demo(&outcome))
        }
        Command::Test(args) => test(*args, &runtime),
        Command::Check { files, model, format, json, time_limit, memory_mb } => {
            let budget = checkers::linearizable::Budget {
                time: std::time::Duration::from_secs(time_limit),
                bytes: memory_mb << 20,
            };
            Ok(check(&files, model, format, json, budget))
        }
        Command::Serve { port, bind, store } => runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind((bind, port))
                .await
                .with_context(|| format!("listen on {bind}:{port}"))?;
            println!("serving {} at http://{}/", store.display(), listener.local_addr()?);
            harness::serve::serve(store, listener).await?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Campaign { file, fail_fast, bin_dir } => {
            let random_seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let (name, plans) = match harness::campaign::plans(&file, random_seed) {
                Ok(found) => found,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(exit::BAD_INPUT));
                }
            };
            let bin_dir = match bin_dir {
                Some(dir) => dir,
                None => beside_this_binary()?,
            };
            let interrupt = Arc::new(tokio::sync::Notify::new());
            let (rows, dir) =
                runtime.block_on(harness::campaign::run(&name, &plans, &bin_dir, fail_fast, interrupt))?;
            println!("{}", harness::campaign::summary(&rows));
            println!("campaign: {}", dir.join("campaign.html").display());
            Ok(ExitCode::from(harness::campaign::exit_code(&rows)))
        }
        Command::Analyze { dir, checkers } => {
            let chosen =
                if checkers.is_empty() { checkers::results::all() } else { checkers.into_iter().collect() };
            let results = harness::report::reanalyze(&dir, &chosen)?;
            println!("{}", harness::analyze::summary(&results));
            Ok(ExitCode::from(exit::of(results.valid)))
        }
        Command::Cluster { action, state_dir, prefix } => {
            runtime.block_on(cluster(action, state_dir, prefix))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn cluster(action: ClusterAction, state_dir: PathBuf, prefix: String) -> Result<(), Error> {
    match action {
        ClusterAction::Up { nodes, subnet } => {
            let spec = LocalSpec { nodes, state_dir, subnet, prefix };
            let cancel = Arc::new(AtomicBool::new(false));
            let building = tokio::task::spawn_blocking({
                let (spec, cancel) = (spec.clone(), cancel.clone());
                move || local::up(&spec, &cancel)
            });
            tokio::pin!(building);
            let built = tokio::select! {
                built = &mut building => built,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: removing what was made");
                    cancel.store(true, Ordering::SeqCst);
                    let _ = building.await;
                    local::down(&spec.state_dir, &spec.prefix)?;
                    return Err(Error::Interrupted);
                }
            };
            let file = built
                .map_err(|e| Error::Local { command: "cluster up".into(), problem: e.to_string() })??;
            println!("local cluster up: {} replica hosts and a name-server host", file.replicas.len());
            for node in file.all() {
                println!("  {:<4} {}", node.name, node.address);
            }
            println!("nodes file: {}", spec.nodes_file_path().display());
            Ok(())
        }
        ClusterAction::Down => {
            local::down(&state_dir, &prefix)?;
            println!("local cluster removed");
            Ok(())
        }
        ClusterAction::Status => {
            let status = local::status(&state_dir, &prefix)?;
            if status.is_empty() {
                println!("no local cluster");
            } else {
                println!("namespaces: {}", status.namespaces.join(" "));
                println!("links: {}", status.links.join(" "));
                println!("host process trees (pids): {:?}", status.host_pids);
                if let Some(path) = status.nodes_file {
                    println!("nodes file: {}", path.display());
                }
            }
            Ok(())
        }
    }
}

fn test(args: TestArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    let bad = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        Ok(ExitCode::from(exit::BAD_INPUT))
    };
    let file_spec = match &args.config {
        Some(path) => match TestSpec::load(path) {
            Ok(spec) => spec,
            Err(e) => return bad(&e),
        },
        None => TestSpec::default(),
    };
    let mut nodes_file = args.nodes_file.clone();
    if !args.node.is_empty() {
        match hosts_nodes_file(&args) {
            Ok(path) => nodes_file = Some(path),
            Err(e) => return bad(&e),
        }
    }
    let flags = TestSpec {
        name: args.name,
        nodes: args.nodes,
        nodes_file,
        time_limit: args.time_limit,
        concurrency: args.concurrency,
        workload: args.workload,
        nemesis: args.nemesis.map(|n| vec![n]),
        nemesis_interval: args.nemesis_interval,
        partition_shapes: (!args.partition_shapes.is_empty()).then_some(args.partition_shapes),
        targets: (!args.targets.is_empty()).then_some(args.targets),
        seed: args.seed,
        recovery_time: args.recovery_time,
        stability_window: args.stability_window,
        observe_interval_ms: args.observe_interval_ms,
        rate: args.rate,
        op_timeout_ms: args.op_timeout_ms,
        bugs: (!args.bugs.is_empty()).then_some(args.bugs),
        checkers: (!args.checkers.is_empty()).then_some(args.checkers),
        replica: ReplicaSettings {
            ack: args.ack,
            election: args.election,
            recovery: args.recovery_mode,
            detect_interval_ms: args.detect_interval_ms,
            inquiry_timeout_ms: args.inquiry_timeout_ms,
            election_t_ms: None,
        },
        store: args.store,
    };
    let random_seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let plan = match Plan::from_spec(flags.or(file_spec), random_seed, args.config.as_deref()) {
        Ok(plan) => plan,
        Err(e) => return bad(&e),
    };
    println!("seed: {}", plan.seed);
    if args.sim {
        let outcome = match harness::run::simulated(&plan) {
            Err(e @ harness::error::Error::Simulation(_)) => return bad(&e),
            outcome => outcome?,
        };
        println!("{}", harness::analyze::summary(&outcome.results));
        println!("seed: {}; results: {}", plan.seed, outcome.dir.display());
        return Ok(ExitCode::from(exit::of(outcome.results.valid)));
    }
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => beside_this_binary()?,
    };
    let interrupt = Arc::new(tokio::sync::Notify::new());
    let outcome = runtime.block_on(async {
        let signal = tokio::spawn({
            let interrupt = interrupt.clone();
            async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    interrupt.notify_one();
                }
            }
        });
        let outcome = harness::run::on_hosts(&plan, &bin_dir, interrupt).await;
        signal.abort();
        outcome
    });
    let outcome = outcome?;
    println!("{}", harness::analyze::summary(&outcome.results));
    println!("seed: {}; results: {}", plan.seed, outcome.dir.display());
    Ok(ExitCode::from(exit::of(outcome.results.valid)))
}

fn check(
    files: &[PathBuf],
    model: checkers::linearizable::Model,
    format: checkers::linearizable::Format,
    json: bool,
    budget: checkers::linearizable::Budget,
) -> ExitCode {
    use checkers::linearizable::{check, operations};
    use checkers::verdict::Verdict;
    let mut histories = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return ExitCode::from(exit::BAD_INPUT);
            }
        };
        match operations(&text, format, model) {
            Ok(ops) => histories.push((file, ops)),
            Err(e) => {
                eprintln!("error: {}:{}: {}", file.display(), e.line, e.problem);
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    }
    use rayon::prelude::*;
    let checked: Vec<_> = histories
        .into_par_iter()
        .map(|(file, ops)| {
            let started = std::time::Instant::now();
            let result = check(&ops, model, budget);
            (file, result, started.elapsed().as_secs_f64() * 1000.0)
        })
        .collect();
    let mut worst = Verdict::Valid;
    for (file, result, ms) in checked {
        worst = worst.worst(result.valid);
        if json {
            println!("{}", serde_json::json!({"file": file, "valid": result.valid, "ms": ms}));
            continue;
        }
        println!(
            "{}: {} ({} ops, {} keys, {ms:.1} ms)",
            file.display(),
            result.valid,
            result.ops,
            result.keys
        );
        if let Some(reason) = &result.reason {
            println!("  {reason}");
        }
        if let Some(c) = &result.counterexample {
            println!(
                "  key {}: after {} operations in state {}, cannot linearize {} (process {}, events {}..{})",
                c.key.as_deref().unwrap_or("-"),
                c.linearized,
                c.state,
                c.blocking.op,
                c.blocking.process,
                c.blocking.invoked_at,
                c.blocking.completed_at.map_or("-".into(), |t| t.to_string())
            );
            for other in &c.candidates {
                println!(
                    "    candidate: {} (process {}, invoked at event {})",
                    other.op, other.process, other.invoked_at
                );
            }
        }
    }
    ExitCode::from(exit::of(worst))
}

/// Writes a nodes file for `--node` hosts (the first runs the name server) and returns its path.
fn hosts_nodes_file(args: &TestArgs) -> Result<PathBuf, String> {
    if args.node.len() < 2 {
        return Err("--node: give the name server's host first, then at least one replica host".into());
    }
    let entry = |(i, host): (usize, &String)| harness::control::cluster::nodes_file::NodeEntry {
        name: if i == 0 { "ns".into() } else { format!("n{i}") },
        address: host.clone(),
        port: 22,
    };
    let mut entries = args.node.iter().enumerate().map(entry);
    let file = harness::control::cluster::nodes_file::NodesFile {
        user: args.username.clone(),
        private_key: args.ssh_private_key.clone(),
        known_hosts: None,
        nameserver: entries.next().expect("two hosts at least"),
        replicas: entries.collect(),
    };
    let path = std::env::temp_dir().join(format!("splitbrain-nodes-{}.yaml", std::process::id()));
    file.save(&path).map_err(|e| e.to_string())?;
    Ok(path)
}

fn beside_this_binary() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()
        .context("locate the splitbrain binary")?
        .parent()
        .context("the splitbrain binary has no directory")?
        .to_path_buf())
}

fn report_demo(outcome: &demo::DemoOutcome) -> ExitCode {
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
    if valid { ExitCode::SUCCESS } else { ExitCode::from(exit::INVALID) }
}
