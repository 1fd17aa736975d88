//! The group's lifecycle on nodes, over any [`Remote`]: teardown, install, start, wait until
//! ready, stop, kill, pause, resume, collect logs. The same code serves the local cluster and
//! Debian hosts reachable as root over SSH.
//!
//! On each node everything lives under [`NODE_DIR`]: `bin/` (binaries), `group.yaml`, `run/`
//! (pidfiles, libfaketime's timestamp file) and `log/`. Processes are daemonised with `nohup`,
//! recorded in a pidfile, and signalled by that pid only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use faults::commands::{self, ALIVE};
use futures::future::try_join_all;
use nodes::client::observe_single_master;
use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::Bugs;
use nodes::runtime::config::{GroupConfig, GroupFile, MemberFile, NameServerFile};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::control::remote::{Cmd, Output, Remote};
use crate::error::Error;

/// Where the group's files live on every node.
pub const NODE_DIR: &str = "/var/lib/splitbrain-node";
/// The name server's port for replicas and clients.
pub const NAMESERVER_PORT: u16 = 7000;
/// A replica's port for peers and clients.
pub const REPLICA_PORT: u16 = 7001;
/// Admin (status) ports are these plus 100.
pub const ADMIN_OFFSET: u16 = 100;
/// libfaketime's timestamp file, read by every process started with clock faults enabled.
pub const FAKETIME_FILE: &str = "/var/lib/splitbrain-node/run/faketime.rc";
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// One process of the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Process {
    /// The name server.
    NameServer,
    /// Replica `i`.
    Replica(ReplicaId),
}

impl Process {
    fn binary(self) -> &'static str {
        match self {
            Process::NameServer => "nameserver",
            Process::Replica(_) => "replica",
        }
    }

    /// Its pidfile on its node.
    pub fn pidfile(self) -> String {
        format!("{NODE_DIR}/run/{}.pid", self.binary())
    }

    /// Its log file on its node.
    pub fn logfile(self) -> String {
        format!("{NODE_DIR}/log/{}.log", self.binary())
    }
}

/// The binaries to install.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The `replica` binary.
    pub replica: PathBuf,
    /// The `nameserver` binary.
    pub nameserver: PathBuf,
    /// The packet `delayer` binary, installed on every node when packet faults may run.
    pub delayer: Option<PathBuf>,
}

impl Binaries {
    /// The two binaries of the group in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Binaries { replica: dir.join("replica"), nameserver: dir.join("nameserver"), delayer: None }
    }

    /// These, and the packet delayer in `dir`.
    pub fn with_delayer(self, dir: &Path) -> Self {
        Binaries { delayer: Some(dir.join("delayer")), ..self }
    }
}

/// The packet delayer's files on every node.
pub fn delayer() -> commands::Delayer {
    commands::Delayer::in_dir(NODE_DIR)
}

/// Uploads the packet delayer at `path` to `node` (unless it has it); returns whether it uploaded.
pub async fn install_delayer<R: Remote>(node: &R, path: &Path) -> Result<bool, Error> {
    let data = std::fs::read(path).map(Bytes::from).map_err(|e| {
        Error::file(path, format!("{e} (the packet delayer: build it with cargo build -p delayer)"))
    })?;
    install_file(node, &delayer().binary, data, 0o755).await
}

/// What an install did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Files uploaded.
    pub uploaded: usize,
    /// Files already identical on their node.
    pub skipped: usize,
}

/// The group config of a name server at `nameserver` and replicas at `replicas` (index order),
/// on this crate's ports, with every other setting at its default.
pub fn group_file(nameserver: IpAddr, replicas: &[IpAddr]) -> GroupFile {
    let addr = |ip: IpAddr, port: u16| std::net::SocketAddr::new(ip, port).to_string();
    let defaults = nodes::protocol::nameserver::NsParams::default();
    GroupFile {
        group: "g".into(),
        nameserver: NameServerFile {
            address: addr(nameserver, NAMESERVER_PORT),
            admin: addr(nameserver, NAMESERVER_PORT + ADMIN_OFFSET),
            lease_ttl_ms: defaults.lease_ttl.as_millis() as u64,
            keep: defaults.keep,
        },
        members: replicas
            .iter()
            .enumerate()
            .map(|(i, ip)| MemberFile {
                index: i as ReplicaId,
                address: addr(*ip, REPLICA_PORT),
                admin: addr(*ip, REPLICA_PORT + ADMIN_OFFSET),
            })
            .collect(),
        timers: Default::default(),
        election: Default::default(),
        recovery: nodes::protocol::params::RecoveryMode::Backup,
        ack: nodes::protocol::params::AckMode::Async,
    }
}

/// A group deployed on nodes: the name server's node, then one node per replica.
pub struct Group<R: Remote> {
    nameserver: R,
    replicas: Vec<R>,
    config: GroupConfig,
    config_text: String,
    bugs: Bugs,
    clock_faults: bool,
}

impl<R: Remote> Group<R> {
    /// A group over `nameserver` and `replicas`, reached at the given addresses; `tune` adjusts
    /// the generated config (timers, ack, …) before it is validated.
    pub fn new(
        nameserver: (R, IpAddr),
        replicas: Vec<(R, IpAddr)>,
        tune: impl FnOnce(&mut GroupFile),
        bugs: Bugs,
        clock_faults: bool,
    ) -> Result<Self, Error> {
        let ips: Vec<IpAddr> = replicas.iter().map(|(_, ip)| *ip).collect();
        let mut file = group_file(nameserver.1, &ips);
        tune(&mut file);
        let config_text = serde_yaml::to_string(&file).expect("a group file serializes");
        let config = file.validate(Path::new("generated group.yaml"))?;
        Ok(Group {
            nameserver: nameserver.0,
            replicas: replicas.into_iter().map(|(r, _)| r).collect(),
            config,
            config_text,
            bugs,
            clock_faults,
        })
    }

    /// The validated config every process runs with.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The node that runs `process`.
    pub fn node(&self, process: Process) -> &R {
        match process {
            Process::NameServer => &self.nameserver,
            Process::Replica(i) => &self.replicas[i as usize],
        }
    }

    /// Runs `script` on the node of `process`, failing unless it exits with 0.
    pub async fn run_on(&self, process: Process, script: String) -> Result<Output, Error> {
        self.node(process).run(&Cmd::shell(script)).await
    }

    /// The name server's node, then the replicas' in order.
    pub fn nodes(&self) -> impl Iterator<Item = &R> {
        std::iter::once(&self.nameserver).chain(&self.replicas)
    }

    /// Every process of the group.
    pub fn processes(&self) -> impl Iterator<Item = Process> + use<R> {
        std::iter::once(Process::NameServer)
            .chain((0..self.replicas.len() as ReplicaId).map(Process::Replica))
    }

    /// Removes what an earlier run left on every node: its processes (SIGKILL by pidfile), the
    /// packet delayer, our firewall chains and qdiscs, clock faults, old logs.
    pub async fn teardown(&self) -> Result<(), Error> {
        try_join_all(self.processes().map(|p| {
            let script = [
                commands::signal(&p.pidfile(), "KILL"),
                format!("rm -f {}", p.pidfile()),
                commands::stop_delayer(&delayer()),
                commands::remove_chain(),
                format!("rm -f {FAKETIME_FILE} {NODE_DIR}/log/*.log"),
            ]
            .join("; ");
            self.run_on(p, script)
        }))
        .await
        .map(drop)
    }

    /// Uploads the binaries (the delayer too, when there is one) and the config to every node,
    /// skipping files whose checksum already matches, and verifying every upload's checksum;
    /// prepares our firewall chains.
    pub async fn install(&self, binaries: &Binaries) -> Result<InstallReport, Error> {
        try_join_all(self.processes().map(|p| self.run_on(p, commands::prepare_chain()))).await?;
        let read = |path: &Path| std::fs::read(path).map(Bytes::from).map_err(|e| Error::file(path, e));
        let replica = read(&binaries.replica)?;
        let nameserver = read(&binaries.nameserver)?;
        let config = Bytes::from(self.config_text.clone());
        let reports = try_join_all(self.processes().map(|p| {
            let binary = match p {
                Process::NameServer => nameserver.clone(),
                Process::Replica(_) => replica.clone(),
            };
            let node = self.node(p);
            let config = config.clone();
            async move {
                let mut report = InstallReport::default();
                let files = [
                    (format!("{NODE_DIR}/bin/{}", p.binary()), binary, 0o755),
                    (format!("{NODE_DIR}/group.yaml"), config, 0o644),
                ];
                for (path, data, mode) in files {
                    if install_file(node, &path, data, mode).await? {
                        report.uploaded += 1;
                    } else {
                        report.skipped += 1;
                    }
                }
                if let Some(path) = &binaries.delayer {
                    if install_delayer(node, path).await? {
                        report.uploaded += 1;
                    } else {
                        report.skipped += 1;
                    }
                }
                Ok::<_, Error>(report)
            }
        }))
        .await?;
        Ok(reports.into_iter().fold(InstallReport::default(), |a, r| InstallReport {
            uploaded: a.uploaded + r.uploaded,
            skipped: a.skipped + r.skipped,
        }))
    }

    /// Starts every process (the name server first).
    pub async fn start_all(&self) -> Result<(), Error> {
        self.start(Process::NameServer).await?;
        try_join_all((0..self.replicas.len() as ReplicaId).map(|i| self.start(Process::Replica(i))))
            .await
            .map(drop)
    }

    /// Starts `process`, daemonised, unless its pidfile names a live process.
    pub async fn start(&self, process: Process) -> Result<(), Error> {
        let mut args = vec!["--config".to_string(), format!("{NODE_DIR}/group.yaml")];
        if let Process::Replica(i) = process {
            args.extend(["--id".to_string(), i.to_string()]);
        }
        for bug in self.bugs.iter() {
            args.extend(["--bug".to_string(), bug.name().to_string()]);
        }
        let args: Vec<String> =
            args.into_iter().map(|a| shell_escape::escape(a.into()).into_owned()).collect();
        let pidfile = process.pidfile();
        let preload = if self.clock_faults {
            format!(
                "lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1); \
                 [ -n \"$lib\" ] || {{ echo 'libfaketime is missing: apt-get install faketime' >&2; exit 1; }}; \
                 [ -f {FAKETIME_FILE} ] || echo '+0 x1' > {FAKETIME_FILE}; \
                 export LD_PRELOAD=\"$lib\" FAKETIME_TIMESTAMP_FILE={FAKETIME_FILE} FAKETIME_CACHE_DURATION=1; "
            )
        } else {
            String::new()
        };
        let script = format!(
            "mkdir -p {NODE_DIR}/run {NODE_DIR}/log && \
             if [ -f {pidfile} ]; then pid=$(cat {pidfile}); if {ALIVE}; then exit 0; fi; fi; \
             {preload}cd {NODE_DIR} || exit 1; \
             nohup ./bin/{binary} {args} >> {log} 2>&1 < /dev/null & echo $! > {pidfile}",
            binary = process.binary(),
            args = args.join(" "),
            log = process.logfile(),
        );
        self.node(process).run(&Cmd::shell(script)).await.map(drop)
    }

    /// Waits until every running process answers its status query.
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        let mut admins = vec![self.config.nameserver.admin];
        admins.extend(self.config.members.iter().map(|m| m.admin));
        for admin in admins {
            loop {
                match nodes::client::status::<serde_json::Value>(admin, STATUS_TIMEOUT).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => return Err(e.into()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
        Ok(())
    }

    /// `Some(m)` when exactly one master persists among `running` replicas right now.
    pub async fn single_master(&self, running: impl IntoIterator<Item = ReplicaId>) -> Option<ReplicaId> {
        observe_single_master(&self.config, running, STATUS_TIMEOUT).await
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub async fn stop(&self, process: Process) -> Result<(), Error> {
        let pidfile = process.pidfile();
        let script = format!(
            "[ -f {pidfile} ] || exit 0; pid=$(cat {pidfile}); {ALIVE} || exit 0; kill -TERM \"$pid\"; \
             for i in $(seq 50); do {ALIVE} || exit 0; sleep 0.1; done; kill -KILL \"$pid\""
        );
        self.node(process).run(&Cmd::shell(script)).await.map(drop)
    }

    /// Stops every process.
    pub async fn stop_all(&self) -> Result<(), Error> {
        try_join_all(self.processes().map(|p| self.stop(p))).await.map(drop)
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to `process` by its pidfile.
    pub async fn signal(&self, process: Process, signal: &str) -> Result<(), Error> {
        self.node(process).run(&Cmd::shell(commands::signal(&process.pidfile(), signal))).await.map(drop)
    }

    /// The pid in `process`'s pidfile, when it names a live process.
    pub async fn pid(&self, process: Process) -> Result<Option<u32>, Error> {
        let pidfile = process.pidfile();
        let script = format!(
            "[ -f {pidfile} ] && pid=$(cat {pidfile}) && kill -0 \"$pid\" 2>/dev/null && echo \"$pid\" || true"
        );
        let out = self.node(process).run(&Cmd::shell(script)).await?;
        Ok(out.stdout_text().trim().parse().ok())
    }

    /// Copies every process's log to `dest/<node>/<binary>.log`.
    pub async fn collect_logs(&self, dest: &Path) -> Result<(), Error> {
        try_join_all(self.processes().map(|p| async move {
            let node = self.node(p);
            let log = node.run(&Cmd::shell(format!("cat {} 2>/dev/null || true", p.logfile()))).await?.stdout;
            let dir = dest.join(node.host());
            std::fs::create_dir_all(&dir).map_err(|e| Error::file(&dir, e))?;
            let path = dir.join(format!("{}.log", p.binary()));
            std::fs::write(&path, log).map_err(|e| Error::file(&path, e))
        }))
        .await
        .map(drop)
    }
}

/// Uploads `data` to `path` unless the node already has it; returns whether it uploaded.
async fn install_file<R: Remote>(node: &R, path: &str, data: Bytes, mode: u32) -> Result<bool, Error> {
    let expected = hex(&Sha256::digest(&data));
    let checksum = |path: &str| Cmd::shell(format!("sha256sum {path} 2>/dev/null | cut -d' ' -f1"));
    if node.run(&checksum(path)).await?.stdout_text().trim() == expected {
        return Ok(false);
    }
    node.upload(data, path, mode).await?;
    let found = node.run(&checksum(path)).await?.stdout_text().trim().to_string();
    if found != expected {
        return Err(Error::Checksum {
            host: node.host().to_string(),
            path: path.to_string(),
            expected,
            found,
        });
    }
    Ok(true)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
