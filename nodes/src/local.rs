//! A group of real processes on 127.0.0.1: one name server and N replicas started from the
//! `nameserver` and `replica` binaries, each with its own ports and log file, stopped by pid.
//! Used by the process tests, the loopback benchmarks and `splitbrain demo`.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::client::{Client, ClientConfig, observe_single_master, status};
use crate::error::Error;
use crate::protocol::ReplicaId;
use crate::protocol::bugs::Bugs;
use crate::runtime::config::{ElectionFile, GroupConfig, GroupFile, MemberFile, NameServerFile, TimersFile};
use crate::runtime::{NameServerReport, ReplicaReport};

const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(20);

/// A running group of local processes; dropping it kills them all.
pub struct LocalGroup {
    dir: TempDir,
    bin_dir: PathBuf,
    bugs: Bugs,
    config: GroupConfig,
    nameserver: Option<Child>,
    replicas: Vec<Option<Child>>,
}

impl LocalGroup {
    /// A config for `members` replicas on free ports of 127.0.0.1, with the default timers.
    pub fn group_file(members: u32) -> Result<GroupFile, Error> {
        let mut ports = free_ports(2 * members as usize + 2)?.into_iter();
        let mut addr = || format!("127.0.0.1:{}", ports.next().expect("enough ports"));
        let nameserver = NameServerFile {
            address: addr(),
            admin: addr(),
            lease_ttl_ms: crate::protocol::nameserver::NsParams::default().lease_ttl.as_millis() as u64,
            keep: Default::default(),
        };
        let members =
            (0..members).map(|index| MemberFile { index, address: addr(), admin: addr() }).collect();
        Ok(GroupFile {
            group: "g".into(),
            nameserver,
            members,
            timers: TimersFile::default(),
            election: ElectionFile::default(),
            recovery: crate::protocol::params::RecoveryMode::Backup,
            ack: crate::protocol::params::AckMode::Async,
        })
    }

    /// Writes `file` and starts the name server and every replica from the binaries in
    /// `bin_dir`; returns once every process answers its status query.
    pub async fn start(bin_dir: &Path, file: GroupFile, bugs: Bugs) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("splitbrain-group-")
            .tempdir()
            .map_err(|e| Error::Process { context: "create the group's directory".into(), source: e })?;
        let path = dir.path().join("group.yaml");
        let text = serde_yaml::to_string(&file).expect("a group file serializes");
        std::fs::write(&path, text).map_err(|e| Error::ConfigRead { path: path.clone(), source: e })?;
        let config = file.validate(&path)?;
        let members = config.params.members;
        let mut group = LocalGroup {
            dir,
            bin_dir: bin_dir.to_path_buf(),
            bugs,
            config,
            nameserver: None,
            replicas: (0..members).map(|_| None).collect(),
        };
        group.nameserver = Some(group.spawn("nameserver", None)?);
        group.wait_until_answering(&[]).await?;
        for id in 0..members {
            group.restart(id)?;
        }
        group.wait_until_answering(&(0..members).collect::<Vec<_>>()).await?;
        Ok(group)
    }

    /// The validated config every process runs with.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// A client of the group with a per-request `timeout`.
    pub fn client(&self, timeout: Duration) -> Client {
        Client::new(ClientConfig::from_group(&self.config, timeout))
    }

    /// The pid of replica `id`, while it runs.
    pub fn pid(&self, id: ReplicaId) -> Option<u32> {
        self.replicas.get(id as usize)?.as_ref().map(Child::id)
    }

    /// Kills replica `id` with SIGKILL (by its pid) and reaps it.
    pub fn kill(&mut self, id: ReplicaId) -> Result<(), Error> {
        if let Some(mut child) = self.replicas.get_mut(id as usize).and_then(Option::take) {
            stop(&mut child, Signal::SIGKILL)?;
        }
        Ok(())
    }

    /// Stops replica `id` with SIGTERM (by its pid) and returns its exit status.
    pub fn terminate(&mut self, id: ReplicaId) -> Result<Option<ExitStatus>, Error> {
        let Some(mut child) = self.replicas.get_mut(id as usize).and_then(Option::take) else {
            return Ok(None);
        };
        stop(&mut child, Signal::SIGTERM).map(Some)
    }

    /// Starts replica `id` again (a no-op while it runs).
    pub fn restart(&mut self, id: ReplicaId) -> Result<(), Error> {
        if self.pid(id).is_none() {
            let child = self.spawn("replica", Some(id))?;
            self.replicas[id as usize] = Some(child);
        }
        Ok(())
    }

    /// The status of replica `id`.
    pub async fn status(&self, id: ReplicaId) -> Result<ReplicaReport, Error> {
        status(self.config.member(id)?.admin, STATUS_TIMEOUT).await
    }

    /// The status of the name server.
    pub async fn nameserver_status(&self) -> Result<NameServerReport, Error> {
        status(self.config.nameserver.admin, STATUS_TIMEOUT).await
    }

    /// `Some(m)` when, right now, exactly one master persists among the running replicas.
    pub async fn single_master(&self) -> Option<ReplicaId> {
        let running = (0..self.config.params.members).filter(|&id| self.pid(id).is_some());
        observe_single_master(&self.config, running, STATUS_TIMEOUT).await
    }

    /// Polls until exactly one master persists, or `limit` elapsed.
    pub async fn wait_for_single_master(&self, limit: Duration) -> Option<ReplicaId> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(m) = self.single_master().await {
                return Some(m);
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// The log of replica `id` (or of the name server for `None`) so far.
    pub fn log(&self, id: Option<ReplicaId>) -> String {
        std::fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }

    fn log_path(&self, id: Option<ReplicaId>) -> PathBuf {
        match id {
            Some(id) => self.dir.path().join(format!("replica-{id}.log")),
            None => self.dir.path().join("nameserver.log"),
        }
    }

    fn spawn(&self, binary: &str, id: Option<ReplicaId>) -> Result<Child, Error> {
        let program = self.bin_dir.join(binary);
        let context = || format!("start {}", program.display());
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .map_err(|e| Error::Process { context: context(), source: e })?;
        let mut command = Command::new(&program);
        command.arg("--config").arg(&self.config.path);
        if let Some(id) = id {
            command.arg("--id").arg(id.to_string());
        }
        for bug in self.bugs.iter() {
            command.arg("--bug").arg(bug.name());
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::Process { context: context(), source: e })
    }

    /// Waits until the name server and `replicas` answer their status queries.
    async fn wait_until_answering(&self, replicas: &[ReplicaId]) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut last = self.nameserver_status().await.err();
            for &id in replicas {
                if let Err(e) = self.status(id).await {
                    last = Some(e);
                }
            }
            match last {
                None => return Ok(()),
                Some(e) if Instant::now() >= deadline => return Err(e),
                Some(_) => tokio::time::sleep(POLL).await,
            }
        }
    }
}

impl Drop for LocalGroup {
    fn drop(&mut self) {
        for child in
            self.replicas.iter_mut().chain(std::iter::once(&mut self.nameserver)).filter_map(Option::take)
        {
            let mut child = child;
            let _ = stop(&mut child, Signal::SIGKILL);
        }
    }
}

/// Sends `signal` to the child's pid and reaps it.
fn stop(child: &mut Child, signal: Signal) -> Result<ExitStatus, Error> {
    let pid = child.id();
    let context = || format!("stop pid {pid}");
    kill(Pid::from_raw(pid as i32), signal)
        .map_err(|e| Error::Process { context: context(), source: e.into() })?;
    child.wait().map_err(|e| Error::Process { context: context(), source: e })
}

/// `n` distinct ports that were free on 127.0.0.1 a moment ago.
fn free_ports(n: usize) -> Result<Vec<u16>, Error> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::net("find free ports on 127.0.0.1", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::net("find free ports on 127.0.0.1", e))
}
