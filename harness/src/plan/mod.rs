//! A test's plan: a YAML test file and command-line flags (flags win), validated into one
//! [`Plan`] before anything runs. Every error names the flag or the file and field.
//!
//! ```yaml
//! name: partitions
//! nodes: 5                 # a local cluster of 5 replica hosts (made and removed by the test)
//! time_limit: 30           # seconds of workload
//! concurrency: 1n          # clients: a number, or "<k>n" = k per replica
//! system: seeds-group      # or redis-sentinel, etcd
//! workload: register       # or set
//! nemesis: [partition, kill]   # or pause, clock, packet
//! nemesis_interval: 10
//! partition_shapes: [halves, isolate-master]
//! packet: { loss_pct: 20, delay_ms: 50, jitter_ms: 10, targets: [one, all, links] }   # default: drawn
//! policy: mastership-aware   # or uniform: how faults pick their targets
//! seed: 42
//! recovery_time: 15
//! stability_window: 5
//! bugs: []
//! checkers: [mastership, convergence, linearizable, set, stats, perf]   # default: all that fit
//! replica: { ack: async, election: integral, recovery: backup }
//! ```

pub mod generator;
pub mod schedule;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use checkers::results::{self, Checker};
use faults::packet::{Behaviour, PacketTarget};
use faults::partition::Shape;
use faults::select::Selector;
use nodes::protocol::bugs::Bug;
use nodes::protocol::params::{AckMode, RecoveryMode};
use nodes::runtime::config::{GroupFile, SchemeName};
use serde::{Deserialize, Serialize};

use crate::plan::schedule::Schedule;

/// A plan that cannot be run, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {problem}")]
pub struct PlanError {
    /// The flag, or `file:line`, or `file: field`.
    pub origin: String,
    /// What is wrong and what to do.
    pub problem: String,
}

/// Which faults the nemesis injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisKind {
    /// Network partitions of the configured shapes.
    Partition,
    /// SIGKILL of replicas (restarted when the fault stops).
    Kill,
    /// SIGSTOP of replicas (SIGCONT when the fault stops).
    Pause,
    /// Clock-rate skew of replica processes through libfaketime.
    Clock,
    /// Packet loss, delay, duplication, reordering and rate limits on links.
    Packet,
}

impl NemesisKind {
    fn parse(text: &str) -> Result<Vec<NemesisKind>, String> {
        let mut kinds = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            kinds.push(match part {
                "partition" => NemesisKind::Partition,
                "kill" => NemesisKind::Kill,
                "pause" => NemesisKind::Pause,
                "clock" => NemesisKind::Clock,
                "packet" => NemesisKind::Packet,
                "none" => continue,
                other => {
                    return Err(format!(
                        "unknown nemesis {other:?}: use partition, kill, pause, clock, packet or none"
                    ));
                }
            });
        }
        kinds.sort();
        kinds.dedup();
        Ok(kinds)
    }
}

/// How the nemesis picks a fault's targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Half the time, when the plan allows it, at the current master (isolate it, kill, pause or
    /// skew it); else uniformly among the plan's shapes and targets.
    #[default]
    MastershipAware,
    /// Always uniformly among the plan's shapes and targets.
    Uniform,
}

/// The system under test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    /// The seeds' fault-tolerant server group (our `replica` and `nameserver` binaries).
    #[default]
    SeedsGroup,
    /// Redis Sentinel: Debian's `redis-server` and `redis-sentinel` on the replica hosts.
    RedisSentinel,
    /// etcd: Debian's `etcd-server`, a member on each replica host.
    Etcd,
}

impl SystemKind {
    /// Its name on the command line and in test files.
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::SeedsGroup => "seeds-group",
            SystemKind::RedisSentinel => "redis-sentinel",
            SystemKind::Etcd => "etcd",
        }
    }
}

/// The client workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// read / write / cas over a few keys, many operations per key.
    Register,
    /// append unique elements to one key, then read it back.
    Set,
}

/// Replica settings a test may change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSettings {
    /// Replica acknowledgement: every-member (safe), async or all (the seeds').
    #[arg(long, value_parser = parse_kebab::<AckMode>)]
    pub ack: Option<AckMode>,
    /// Election delay scheme: integral or equal.
    #[arg(long, value_parser = parse_kebab::<SchemeName>)]
    pub election: Option<SchemeName>,
    /// Recovery variant: backup or priority.
    #[arg(long = "recovery-mode", value_parser = parse_kebab::<RecoveryMode>)]
    pub recovery: Option<RecoveryMode>,
    /// E1 inquiry period in ms.
    #[arg(long)]
    pub detect_interval_ms: Option<u64>,
    /// E1 reply time-out in ms.
    #[arg(long)]
    pub inquiry_timeout_ms: Option<u64>,
    /// The election timer's `T` (integral) or `T1` (equal) in ms.
    #[arg(long)]
    pub election_t_ms: Option<u64>,
}

impl ReplicaSettings {
    fn or(self, other: ReplicaSettings) -> Self {
        ReplicaSettings {
            ack: self.ack.or(other.ack),
            election: self.election.or(other.election),
            recovery: self.recovery.or(other.recovery),
            detect_interval_ms: self.detect_interval_ms.or(other.detect_interval_ms),
            inquiry_timeout_ms: self.inquiry_timeout_ms.or(other.inquiry_timeout_ms),
            election_t_ms: self.election_t_ms.or(other.election_t_ms),
        }
    }

    /// Applies the settings to a group config file.
    pub fn apply(&self, file: &mut GroupFile) {
        if let Some(ack) = self.ack {
            file.ack = ack;
        }
        if let Some(scheme) = self.election {
            file.election.scheme = scheme;
        }
        if let Some(recovery) = self.recovery {
            file.recovery = recovery;
        }
        if let Some(v) = self.detect_interval_ms {
            file.timers.detect_interval_ms = v;
        }
        if let Some(v) = self.inquiry_timeout_ms {
            file.timers.inquiry_timeout_ms = v;
        }
        if let Some(v) = self.election_t_ms {
            file.election.t_ms = v;
        }
    }
}

/// Packet-fault settings a test may fix; each packet fault draws what is not fixed from the seed.
/// Any effect given fixes the behaviour: every packet fault does exactly the effects given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct PacketSettings {
    /// Packet faults drop this percent of packets.
    #[arg(long = "packet-loss", value_name = "PCT")]
    pub loss_pct: Option<f64>,
    /// Packet faults add this median one-way delay, in ms.
    #[arg(long = "packet-delay-ms", value_name = "MS")]
    pub delay_ms: Option<u32>,
    /// ... drawn uniformly within this many ms of the median.
    #[arg(long = "packet-jitter-ms", value_name = "MS")]
    pub jitter_ms: Option<u32>,
    /// Packet faults send this percent of packets twice.
    #[arg(long = "packet-duplicate", value_name = "PCT")]
    pub duplicate_pct: Option<f64>,
    /// Packet faults send this percent of packets without the delay, ahead of delayed ones.
    #[arg(long = "packet-reorder", value_name = "PCT")]
    pub reorder_pct: Option<f64>,
    /// Packet faults limit each host's rate on the links to this many kbit/s.
    #[arg(long = "packet-rate-kbit", value_name = "KBIT")]
    pub rate_kbit: Option<u64>,
    /// Comma list of the links packet faults take: one (a host's every link), all, links (those
    /// a partition of the plan's shapes would cut); default all three.
    #[arg(id = "packet_targets", long = "packet-targets", value_delimiter = ',', value_parser = parse_kebab::<PacketTarget>)]
    pub targets: Option<Vec<PacketTarget>>,
}

impl PacketSettings {
    fn or(self, other: PacketSettings) -> Self {
        PacketSettings {
            loss_pct: self.loss_pct.or(other.loss_pct),
            delay_ms: self.delay_ms.or(other.delay_ms),
            jitter_ms: self.jitter_ms.or(other.jitter_ms),
            duplicate_pct: self.duplicate_pct.or(other.duplicate_pct),
            reorder_pct: self.reorder_pct.or(other.reorder_pct),
            rate_kbit: self.rate_kbit.or(other.rate_kbit),
            targets: self.targets.or(other.targets),
        }
    }

    /// The flag (without `--`) and file field of each setting, in order, with whether it is set.
    fn given(&self) -> [(&'static str, &'static str, bool); 7] {
        [
            ("packet-loss", "packet.loss_pct", self.loss_pct.is_some()),
            ("packet-delay-ms", "packet.delay_ms", self.delay_ms.is_some()),
            ("packet-jitter-ms", "packet.jitter_ms", self.jitter_ms.is_some()),
            ("packet-duplicate", "packet.duplicate_pct", self.duplicate_pct.is_some()),
            ("packet-reorder", "packet.reorder_pct", self.reorder_pct.is_some()),
            ("packet-rate-kbit", "packet.rate_kbit", self.rate_kbit.is_some()),
            ("packet-targets", "packet.targets", self.targets.is_some()),
        ]
    }

    /// The behaviour the settings fix, when they give any effect.
    fn behaviour(&self) -> Option<Behaviour> {
        let given = self.given();
        given[..6].iter().any(|(_, _, set)| *set).then(|| Behaviour {
            loss_pct: self.loss_pct.unwrap_or(0.0),
            delay_ms: self.delay_ms.unwrap_or(0),
            jitter_ms: self.jitter_ms.unwrap_or(0),
            duplicate_pct: self.duplicate_pct.unwrap_or(0.0),
            reorder_pct: self.reorder_pct.unwrap_or(0.0),
            rate_kbit: self.rate_kbit,
        })
    }
}

/// How a plan's packet faults are made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketPlan {
    /// The behaviour of every packet fault; drawn for each from the seed when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<Behaviour>,
    /// Which links a packet fault takes.
    pub targets: Vec<PacketTarget>,
}

impl Default for PacketPlan {
    fn default() -> Self {
        PacketPlan { behaviour: None, targets: PacketTarget::ALL.to_vec() }
    }
}

/// Everything a test can be told, each field optional: the YAML file's shape, and the flags of
/// `splitbrain test` (a flag overrides the file's field of the same name).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// The test's name (its folder in the store).
    #[arg(long)]
    pub name: Option<String>,
    /// Make (and remove) a local cluster of N replica hosts, unless one of that size is up
    /// (default 5).
    #[arg(long)]
    pub nodes: Option<u32>,
    /// Use the hosts of a nodes file instead.
    #[arg(long)]
    pub nodes_file: Option<PathBuf>,
    /// Use these hosts instead (repeatable): the first runs the name server, the rest the
    /// replicas; each is looked up in ~/.ssh/config, and its key in ~/.ssh/known_hosts.
    #[arg(long = "node", value_name = "HOST")]
    pub hosts: Option<Vec<String>>,
    /// The user for --node hosts (default: ~/.ssh/config's User, else root).
    #[arg(long)]
    pub username: Option<String>,
    /// The private key for --node hosts (default: ~/.ssh/config or the agent).
    #[arg(long)]
    pub ssh_private_key: Option<PathBuf>,
    /// Seconds of workload (default 60).
    #[arg(long)]
    pub time_limit: Option<u64>,
    /// Clients: a number, or `<k>n` for k per replica (default 1n).
    #[arg(long)]
    pub concurrency: Option<String>,
    /// The system under test: seeds-group (default), redis-sentinel or etcd.
    #[arg(long, value_parser = parse_kebab::<SystemKind>)]
    pub system: Option<SystemKind>,
    /// register or set.
    #[arg(long, value_parser = parse_kebab::<Workload>)]
    pub workload: Option<Workload>,
    /// Comma list of partition, kill, pause, clock, packet, none (default partition).
    #[arg(long, value_delimiter = ',')]
    pub nemesis: Option<Vec<String>>,
    /// Seconds between nemesis actions (default 10).
    #[arg(long)]
    pub nemesis_interval: Option<u64>,
    /// Comma list of partition shapes (default all): halves, random-halves, one,
    /// isolate-master, isolate-name-server, majorities-ring, bridge, one-way.
    #[arg(long, value_delimiter = ',', value_parser = parse_kebab::<Shape>)]
    pub partition_shapes: Option<Vec<Shape>>,
    /// Comma list of targets for kill, pause and clock: one, minority, majority, all, master.
    #[arg(long, value_delimiter = ',', value_parser = parse_kebab::<Selector>)]
    pub targets: Option<Vec<Selector>>,
    /// How faults pick their targets: mastership-aware (default: half the time the master) or
    /// uniform.
    #[arg(long, value_parser = parse_kebab::<Policy>)]
    pub policy: Option<Policy>,
    /// The seed of every random choice (random when absent; always recorded and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds the final phase waits for one master (default 15; 30 for redis-sentinel).
    #[arg(long)]
    pub recovery_time: Option<u64>,
    /// Seconds one master must persist unchanged (default 5).
    #[arg(long)]
    pub stability_window: Option<u64>,
    /// Milliseconds between observer rounds (default 100).
    #[arg(long)]
    pub observe_interval_ms: Option<u64>,
    /// Operations per second per client (default 10).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Milliseconds before a client operation's outcome is unknown (default 1000).
    #[arg(long)]
    pub op_timeout_ms: Option<u64>,
    /// Switch on a deliberate bug in every process (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Option<Vec<Bug>>,
    /// Comma list of the checkers to run, of those that fit the workload (default all):
    /// mastership, convergence, linearizable, set, stats, perf.
    #[arg(long, value_delimiter = ',', value_parser = Checker::parse)]
    pub checkers: Option<Vec<Checker>>,
    /// Apply this schedule file's faults at their times instead of drawing faults from the seed
    /// (see harness/src/plan/schedule.rs; every run writes its own as schedule.yaml).
    #[arg(long, value_name = "FILE")]
    pub schedule: Option<PathBuf>,
    /// Replica settings.
    #[serde(default)]
    #[command(flatten)]
    pub replica: ReplicaSettings,
    /// Packet-fault settings.
    #[serde(default)]
    #[command(flatten)]
    pub packet: PacketSettings,
    /// Where runs are stored (default ./store).
    #[arg(long)]
    pub store: Option<PathBuf>,
}

/// Parses a flag's value by its kebab-case YAML name.
pub fn parse_kebab<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| e.to_string())
}

/// A seed for a run that was given none: the wall clock's nanoseconds (always recorded).
pub fn random_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Reads the YAML file at `path` as a `T`; errors name the file and line.
pub fn load_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PlanError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| PlanError { origin: origin.clone(), problem: e.to_string() })?;
    serde_yaml::from_str(&text).map_err(|e| {
        let at = e.location().map(|l| format!("{origin}:{}", l.line())).unwrap_or(origin);
        PlanError { origin: at, problem: e.to_string() }
    })
}

impl TestSpec {
    /// Reads a test file; errors name the file and line.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        load_yaml(path)
    }

    /// `self` where set, else `other`.
    pub fn or(self, other: TestSpec) -> TestSpec {
        TestSpec {
            name: self.name.or(other.name),
            nodes: self.nodes.or(other.nodes),
            nodes_file: self.nodes_file.or(other.nodes_file),
            hosts: self.hosts.or(other.hosts),
            username: self.username.or(other.username),
            ssh_private_key: self.ssh_private_key.or(other.ssh_private_key),
            time_limit: self.time_limit.or(other.time_limit),
            concurrency: self.concurrency.or(other.concurrency),
            system: self.system.or(other.system),
            workload: self.workload.or(other.workload),
            nemesis: self.nemesis.or(other.nemesis),
            nemesis_interval: self.nemesis_interval.or(other.nemesis_interval),
            partition_shapes: self.partition_shapes.or(other.partition_shapes),
            targets: self.targets.or(other.targets),
            policy: self.policy.or(other.policy),
            seed: self.seed.or(other.seed),
            recovery_time: self.recovery_time.or(other.recovery_time),
            stability_window: self.stability_window.or(other.stability_window),
            observe_interval_ms: self.observe_interval_ms.or(other.observe_interval_ms),
            rate: self.rate.or(other.rate),
            op_timeout_ms: self.op_timeout_ms.or(other.op_timeout_ms),
            bugs: self.bugs.or(other.bugs),
            checkers: self.checkers.or(other.checkers),
            schedule: self.schedule.or(other.schedule),
            replica: self.replica.or(other.replica),
            packet: self.packet.or(other.packet),
            store: self.store.or(other.store),
        }
    }
}

/// Where the nodes come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodesSource {
    /// A local cluster of this many replica hosts, made and removed by the test when none is up.
    Local(u32),
    /// The hosts of a nodes file.
    File(PathBuf),
    /// Hosts named on the command line: the first runs the name server, the rest the replicas.
    Hosts {
        /// Their addresses or names.
        hosts: Vec<String>,
        /// The SSH user (else `~/.ssh/config`'s User, else root).
        #[serde(default)]
        user: Option<String>,
        /// The private key (else `~/.ssh/config` or the agent).
        private_key: Option<PathBuf>,
    },
}

/// Final phase: how long one master must hold without a break before the group counts as
/// recovered and the stability window starts.
pub const RECOVERY_SETTLE: Duration = Duration::from_secs(1);

/// A validated test: what runs, stored as `test.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The test's name.
    pub name: String,
    /// Where the nodes come from.
    pub nodes: NodesSource,
    /// Workload duration.
    pub time_limit: Duration,
    /// Number of client processes.
    pub concurrency: usize,
    /// The system under test.
    #[serde(default)]
    pub system: SystemKind,
    /// The workload.
    pub workload: Workload,
    /// Fault kinds (empty: no nemesis).
    pub nemesis: Vec<NemesisKind>,
    /// Time between nemesis actions.
    pub nemesis_interval: Duration,
    /// Partition shapes.
    pub partition_shapes: Vec<Shape>,
    /// Targets of kill, pause and clock faults.
    pub targets: Vec<Selector>,
    /// How packet faults are made.
    #[serde(default)]
    pub packet: PacketPlan,
    /// How faults pick their targets.
    #[serde(default)]
    pub policy: Policy,
    /// The seed.
    pub seed: u64,
    /// Final phase: how long to wait for one master.
    pub recovery_time: Duration,
    /// Final phase: how long one master must persist.
    pub stability_window: Duration,
    /// Observer period.
    pub observe_interval: Duration,
    /// Operations per second per client.
    pub rate: f64,
    /// Client operation time-out.
    pub op_timeout: Duration,
    /// Deliberate bugs.
    pub bugs: Vec<Bug>,
    /// The checkers to run (those of them that fit the workload); every one by default.
    #[serde(default = "results::all")]
    pub checkers: BTreeSet<Checker>,
    /// Replica settings.
    pub replica: ReplicaSettings,
    /// The store's root.
    pub store: PathBuf,
    /// Faults to apply at their times instead of drawing them from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

impl Plan {
    /// The plan of the test file `config` (if any) with the `flags` over it, a random seed
    /// drawn when neither gives one.
    pub fn load(config: Option<&Path>, flags: TestSpec) -> Result<Plan, PlanError> {
        let file = match config {
            Some(path) => TestSpec::load(path)?,
            None => TestSpec::default(),
        };
        Plan::from_spec(flags.or(file), random_seed(), config)
    }

    /// The plan of the stored run in `dir` (its `test.yaml`) with the schedule it applied (its
    /// `schedule.yaml`), to run again; `flags` may choose other nodes (`--nodes`,
    /// `--nodes-file`, `--node`), another name and another store.
    pub fn replay(dir: &Path, flags: TestSpec) -> Result<Plan, PlanError> {
        let origin = |file: &str| dir.join(file).display().to_string();
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file)).map_err(|e| PlanError {
                origin: format!("--replay {}", origin(file)),
                problem: e.to_string(),
            })
        };
        let mut plan: Plan = serde_yaml::from_str(&read("test.yaml")?)
            .map_err(|e| PlanError { origin: origin("test.yaml"), problem: e.to_string() })?;
        plan.schedule = Some(Schedule::load(&dir.join("schedule.yaml"))?);
        if flags.nodes.is_some() || flags.nodes_file.is_some() || flags.hosts.is_some() {
            plan.nodes = Plan::from_spec(flags.clone(), plan.seed, None)?.nodes;
        }
        plan.name = flags.name.unwrap_or(plan.name);
        plan.store = flags.store.unwrap_or(plan.store);
        Ok(plan)
    }

    /// Validates `spec` (flags merged over the file); `random_seed` is used when none is given.
    pub fn from_spec(spec: TestSpec, random_seed: u64, file: Option<&Path>) -> Result<Plan, PlanError> {
        let origin = |flag: &str, field: &str| match file {
            Some(path) => format!("--{flag} (or {}: {field})", path.display()),
            None => format!("--{flag}"),
        };
        let bad =
            |flag: &str, field: &str, problem: String| PlanError { origin: origin(flag, field), problem };
        let given = [spec.nodes.is_some(), spec.nodes_file.is_some(), spec.hosts.is_some()];
        if given.iter().filter(|&&g| g).count() > 1 {
            return Err(bad("nodes", "nodes", "give one of --nodes, --nodes-file and --node".into()));
        }
        if spec.hosts.is_none() && (spec.username.is_some() || spec.ssh_private_key.is_some()) {
            return Err(bad(
                "username",
                "username",
                "--username and --ssh-private-key are for --node hosts".into(),
            ));
        }
        let nodes = match (spec.nodes, spec.nodes_file, spec.hosts) {
            (_, _, Some(hosts)) => {
                if hosts.len() < 2 {
                    return Err(bad(
                        "node",
                        "hosts",
                        "give the name server's host first, then at least one replica host".into(),
                    ));
                }
                NodesSource::Hosts { hosts, user: spec.username, private_key: spec.ssh_private_key }
            }
            (_, Some(path), None) => NodesSource::File(path),
            (n, None, None) => {
                let n = n.unwrap_or(5);
                if !(1..=200).contains(&n) {
                    return Err(bad("nodes", "nodes", format!("{n} replica hosts: use 1 to 200")));
                }
                NodesSource::Local(n)
            }
        };
        let replicas = match &nodes {
            NodesSource::Local(n) => Some(*n as usize),
            NodesSource::Hosts { hosts, .. } => Some(hosts.len() - 1),
            NodesSource::File(_) => None,
        };
        let concurrency_text = spec.concurrency.unwrap_or_else(|| "1n".into());
        let concurrency = parse_concurrency(&concurrency_text, replicas.unwrap_or(1))
            .map_err(|p| bad("concurrency", "concurrency", p))?;
        let positive = |v: u64, flag: &str, field: &str| {
            if v == 0 { Err(bad(flag, field, "must be greater than 0".into())) } else { Ok(v) }
        };
        let time_limit = positive(spec.time_limit.unwrap_or(60), "time-limit", "time_limit")?;
        let interval = positive(spec.nemesis_interval.unwrap_or(10), "nemesis-interval", "nemesis_interval")?;
        let system = spec.system.unwrap_or_default();
        let default_recovery = match system {
            SystemKind::SeedsGroup | SystemKind::Etcd => 15,
            // The sentinels may take 10 s to see a returning primary (see `redis_sentinel`).
            SystemKind::RedisSentinel => 30,
        };
        let recovery =
            positive(spec.recovery_time.unwrap_or(default_recovery), "recovery-time", "recovery_time")?;
        let stability = positive(spec.stability_window.unwrap_or(5), "stability-window", "stability_window")?;
        let observe =
            positive(spec.observe_interval_ms.unwrap_or(100), "observe-interval-ms", "observe_interval_ms")?;
        let op_timeout = positive(spec.op_timeout_ms.unwrap_or(1000), "op-timeout-ms", "op_timeout_ms")?;
        let rate = spec.rate.unwrap_or(10.0);
        if !(rate > 0.0 && rate <= 10_000.0) {
            return Err(bad(
                "rate",
                "rate",
                format!("{rate} operations per second per client: use a number in (0, 10000]"),
            ));
        }
        let nemesis = NemesisKind::parse(&spec.nemesis.unwrap_or_else(|| vec!["partition".into()]).join(","))
            .map_err(|p| bad("nemesis", "nemesis", p))?;
        let shapes_given = spec.partition_shapes.is_some();
        let partition_shapes = spec.partition_shapes.unwrap_or_else(|| Shape::ALL.to_vec());
        if partition_shapes.is_empty() {
            return Err(bad("partition-shapes", "partition_shapes", "name at least one shape".into()));
        }
        let targets =
            spec.targets.unwrap_or_else(|| vec![Selector::One, Selector::Minority, Selector::Master]);
        if targets.is_empty() {
            return Err(bad("targets", "targets", "name at least one selector".into()));
        }
        let packet = packet_plan(&spec.packet, nemesis.contains(&NemesisKind::Packet))
            .map_err(|(flag, field, problem)| bad(flag, field, problem))?;
        // Convergence compares the data digests only the seeds' replicas report.
        let checkers: BTreeSet<Checker> = match (&spec.checkers, system) {
            (None, SystemKind::SeedsGroup) => results::all(),
            (None, _) => results::all().into_iter().filter(|c| *c != Checker::Convergence).collect(),
            (Some(c), _) => c.iter().copied().collect(),
        };
        if system != SystemKind::SeedsGroup && checkers.contains(&Checker::Convergence) {
            return Err(bad(
                "checkers",
                "checkers",
                format!(
                    "convergence needs the data digests of the seeds' replicas; {} reports none",
                    system.name()
                ),
            ));
        }
        if checkers.is_empty() {
            return Err(bad("checkers", "checkers", "name at least one checker".into()));
        }
        if system != SystemKind::SeedsGroup {
            let refuse = |flag: &str, field: &str, what: &str| {
                Err(bad(flag, field, format!("{what} is for the seeds' group only, not {}", system.name())))
            };
            if spec.bugs.as_ref().is_some_and(|b| !b.is_empty()) {
                return refuse("bug", "bugs", "--bug");
            }
            if nemesis.contains(&NemesisKind::Clock) {
                // Both checked on this machine (see the systems' module docs).
                let why = match system {
                    SystemKind::Etcd => "libfaketime works through libc, and Go reads the clock without it",
                    _ => {
                        "under libfaketime redis-server does not start (its jemalloc's clock_gettime recurses)"
                    }
                };
                return Err(bad(
                    "nemesis",
                    "nemesis",
                    format!("clock faults cannot reach {}: {why}", system.name()),
                ));
            }
            if system == SystemKind::Etcd && spec.workload == Some(Workload::Set) {
                return Err(bad("workload", "workload", "etcd runs the register workload only".into()));
            }
            if partition_shapes.contains(&Shape::IsolateNameServer) && shapes_given {
                return refuse("partition-shapes", "partition_shapes", "isolate-name-server");
            }
        }
        let partition_shapes = match system {
            SystemKind::SeedsGroup => partition_shapes,
            _ => partition_shapes.into_iter().filter(|s| *s != Shape::IsolateNameServer).collect(),
        };
        Ok(Plan {
            name: spec.name.unwrap_or_else(|| "test".into()),
            system,
            nodes,
            time_limit: Duration::from_secs(time_limit),
            concurrency,
            workload: spec.workload.unwrap_or(Workload::Register),
            nemesis,
            nemesis_interval: Duration::from_secs(interval),
            partition_shapes,
            targets,
            packet,
            policy: spec.policy.unwrap_or_default(),
            seed: spec.seed.unwrap_or(random_seed),
            recovery_time: Duration::from_secs(recovery),
            stability_window: Duration::from_secs(stability),
            observe_interval: Duration::from_millis(observe),
            rate,
            op_timeout: Duration::from_millis(op_timeout),
            bugs: spec.bugs.unwrap_or_default(),
            checkers,
            replica: spec.replica,
            store: spec.store.unwrap_or_else(|| PathBuf::from("store")),
            schedule: spec
                .schedule
                .map(|path| Schedule::load(&path))
                .transpose()
                .map_err(|e| bad("schedule", "schedule", e.to_string()))?,
        })
    }
}

/// The packet plan of `settings`; an error names the flag and field at fault (settings given
/// while the packet nemesis is off are one).
fn packet_plan(
    settings: &PacketSettings,
    on: bool,
) -> Result<PacketPlan, (&'static str, &'static str, String)> {
    if let Some((flag, field, _)) = settings.given().into_iter().find(|(_, _, set)| *set)
        && !on
    {
        return Err((flag, field, "packet faults are off: add packet to --nemesis".into()));
    }
    let targets = settings.targets.clone().unwrap_or_else(|| PacketTarget::ALL.to_vec());
    if targets.is_empty() {
        return Err(("packet-targets", "packet.targets", "name at least one target".into()));
    }
    let behaviour = settings.behaviour();
    if let Some(b) = &behaviour {
        b.validate().map_err(|e| {
            // A fault that does nothing is the fault of the effects given (all zero).
            let given = settings.given();
            let (flag, field, _) = given
                .iter()
                .find(|(_, field, _)| field.strip_prefix("packet.") == Some(e.field))
                .or_else(|| given[..6].iter().find(|(_, _, set)| *set))
                .copied()
                .expect("a fixed behaviour has an effect given");
            (flag, field, e.problem)
        })?;
    }
    Ok(PacketPlan { behaviour, targets })
}

/// `"5"` → 5 clients; `"3n"` → 3 per replica.
fn parse_concurrency(text: &str, replicas: usize) -> Result<usize, String> {
    let bad = || format!("{text:?}: use a number of clients (5) or clients per replica (3n)");
    let n = match text.strip_suffix('n') {
        Some(k) => k.parse::<usize>().map_err(|_| bad())? * replicas,
        None => text.parse::<usize>().map_err(|_| bad())?,
    };
    if n == 0 || n > 10_000 { Err(bad()) } else { Ok(n) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(spec: TestSpec) -> Result<Plan, PlanError> {
        Plan::from_spec(spec, 7, Some(Path::new("t.yaml")))
    }

    #[test]
    fn other_systems_refuse_what_only_the_seeds_group_has_and_redis_waits_longer_for_recovery() {
        let redis = |f: fn(&mut TestSpec)| {
            let mut spec = TestSpec { system: Some(SystemKind::RedisSentinel), ..TestSpec::default() };
            f(&mut spec);
            plan(spec)
        };
        let p = redis(|_| {}).unwrap();
        assert_eq!((p.system, p.recovery_time), (SystemKind::RedisSentinel, Duration::from_secs(30)));
        assert!(!p.partition_shapes.contains(&Shape::IsolateNameServer), "{:?}", p.partition_shapes);
        let e = redis(|s| s.bugs = Some(vec![Bug::NeverYield])).unwrap_err();
        assert!(e.origin.starts_with("--bug") && e.problem.contains("redis-sentinel"), "{e}");
        let e = redis(|s| s.nemesis = Some(vec!["clock".into()])).unwrap_err();
        assert!(e.origin.starts_with("--nemesis") && e.problem.contains("jemalloc"), "{e}");
        let etcd_clock = TestSpec {
            system: Some(SystemKind::Etcd),
            nemesis: Some(vec!["clock".into()]),
            ..TestSpec::default()
        };
        let e = plan(etcd_clock).unwrap_err();
        assert!(e.origin.starts_with("--nemesis") && e.problem.contains("Go"), "{e}");
        let e = redis(|s| s.partition_shapes = Some(vec![Shape::IsolateNameServer])).unwrap_err();
        assert!(e.origin.starts_with("--partition-shapes"), "{e}");
        assert!(!p.checkers.contains(&Checker::Convergence), "no digests to compare: {:?}", p.checkers);
        let e = redis(|s| s.checkers = Some(vec![Checker::Convergence])).unwrap_err();
        assert!(e.origin.starts_with("--checkers") && e.problem.contains("digests"), "{e}");
        let etcd_set =
            TestSpec { system: Some(SystemKind::Etcd), workload: Some(Workload::Set), ..TestSpec::default() };
        assert!(plan(etcd_set).unwrap_err().origin.starts_with("--workload"));
        assert_eq!(plan(TestSpec::default()).unwrap().system, SystemKind::SeedsGroup);
    }

    #[test]
    fn defaults_fill_an_empty_spec_and_the_random_seed_is_kept() {
        let p = plan(TestSpec::default()).unwrap();
        assert_eq!(p.nodes, NodesSource::Local(5));
        assert_eq!((p.concurrency, p.seed, p.time_limit), (5, 7, Duration::from_secs(60)));
        assert_eq!(p.nemesis, vec![NemesisKind::Partition]);
        assert_eq!(p.checkers, results::all());
    }

    #[test]
    fn flags_override_the_file() {
        let file = TestSpec { time_limit: Some(30), seed: Some(1), ..TestSpec::default() };
        let flags = TestSpec { time_limit: Some(5), concurrency: Some("3n".into()), ..TestSpec::default() };
        let p = plan(flags.or(file)).unwrap();
        assert_eq!((p.time_limit, p.seed, p.concurrency), (Duration::from_secs(5), 1, 15));
    }

    #[test]
    fn bad_values_name_the_flag_and_the_file_field() {
        let cases = [
            (
                TestSpec { concurrency: Some("lots".into()), ..TestSpec::default() },
                "--concurrency (or t.yaml: concurrency)",
            ),
            (TestSpec { nemesis: Some(vec!["flood".into()]), ..TestSpec::default() }, "--nemesis"),
            (TestSpec { time_limit: Some(0), ..TestSpec::default() }, "--time-limit"),
            (TestSpec { checkers: Some(vec![]), ..TestSpec::default() }, "--checkers"),
            (
                TestSpec { nodes: Some(3), nodes_file: Some("n.yaml".into()), ..TestSpec::default() },
                "--nodes",
            ),
        ];
        for (spec, origin) in cases {
            let err = plan(spec).unwrap_err().to_string();
            assert!(err.starts_with(origin), "{err}");
        }
    }

    #[test]
    fn node_hosts_are_a_nodes_source_of_their_own_the_first_the_name_server() {
        let hosts = |h: &[&str]| Some(h.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let p = plan(TestSpec { hosts: hosts(&["a", "b", "c"]), ..TestSpec::default() }).unwrap();
        assert_eq!(
            p.nodes,
            NodesSource::Hosts { hosts: hosts(&["a", "b", "c"]).unwrap(), user: None, private_key: None }
        );
        assert_eq!(p.concurrency, 2, "1n: one client per replica host");
        let one = plan(TestSpec { hosts: hosts(&["a"]), ..TestSpec::default() }).unwrap_err().to_string();
        assert!(one.starts_with("--node") && one.contains("name server's host first"), "{one}");
        let stray = TestSpec { username: Some("u".into()), ..TestSpec::default() };
        assert!(plan(stray).unwrap_err().to_string().contains("are for --node hosts"));
        let both = TestSpec { nodes: Some(3), hosts: hosts(&["a", "b"]), ..TestSpec::default() };
        assert!(plan(both).unwrap_err().to_string().contains("give one of --nodes, --nodes-file and --node"));
    }

    #[test]
    fn packet_settings_fix_the_behaviour_and_bad_ones_name_their_flag() {
        let packet = |settings: PacketSettings| {
            plan(TestSpec { nemesis: Some(vec!["packet".into()]), packet: settings, ..TestSpec::default() })
        };
        let drawn = packet(PacketSettings::default()).unwrap();
        assert_eq!(
            (drawn.nemesis.clone(), drawn.packet.clone()),
            (vec![NemesisKind::Packet], PacketPlan::default())
        );
        let fixed =
            packet(PacketSettings { loss_pct: Some(20.0), delay_ms: Some(50), ..PacketSettings::default() })
                .unwrap();
        assert_eq!(
            fixed.packet.behaviour,
            Some(Behaviour { loss_pct: 20.0, delay_ms: 50, ..Behaviour::default() }),
            "the effects given, and no other"
        );
        let cases = [
            (
                PacketSettings { loss_pct: Some(101.0), ..PacketSettings::default() },
                "--packet-loss (or t.yaml: packet.loss_pct)",
            ),
            (
                PacketSettings { delay_ms: Some(5), jitter_ms: Some(9), ..PacketSettings::default() },
                "--packet-jitter-ms",
            ),
            (PacketSettings { reorder_pct: Some(10.0), ..PacketSettings::default() }, "--packet-reorder"),
            (PacketSettings { rate_kbit: Some(0), ..PacketSettings::default() }, "--packet-rate-kbit"),
            (PacketSettings { delay_ms: Some(0), ..PacketSettings::default() }, "--packet-delay-ms"),
            (PacketSettings { duplicate_pct: Some(0.0), ..PacketSettings::default() }, "--packet-duplicate"),
            (PacketSettings { targets: Some(vec![]), ..PacketSettings::default() }, "--packet-targets"),
        ];
        for (settings, origin) in cases {
            let err = packet(settings).unwrap_err().to_string();
            assert!(err.starts_with(origin), "{err}");
        }
        let off = TestSpec {
            packet: PacketSettings { delay_ms: Some(10), ..PacketSettings::default() },
            ..TestSpec::default()
        };
        let err = plan(off).unwrap_err().to_string();
        assert!(err.starts_with("--packet-delay-ms") && err.contains("add packet to --nemesis"), "{err}");
    }

    #[test]
    fn a_test_file_with_an_unknown_field_names_the_line() {
        let dir = std::env::temp_dir().join(format!("plan-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.yaml");
        std::fs::write(&path, "name: x\ntime_limit: 5\nnemesys: [kill]\n").unwrap();
        let err = TestSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("t.yaml:3") && err.contains("nemesys"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
