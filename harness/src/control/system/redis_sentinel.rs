//! Redis Sentinel (Debian's `redis-server` and `redis-sentinel`, 7.0) on the replica hosts: host
//! 0 starts as the primary and the others as its replicas, and a sentinel runs on every host with
//! a majority quorum. Both daemons live under [`DIR`], run by pidfile and are signalled by that
//! pid only. Mastership is observed from each node (`ROLE`) and from the sentinels
//! (`SENTINEL get-master-addr-by-name`); a client asks the sentinel of its own host for the
//! primary before each operation, as Redis's clients do, and runs it there.
//!
//! The kill and pause faults hit a host's Redis server; its sentinel keeps running, as a
//! sentinel on a machine of its own would, so the quorum stays a majority of the hosts.
//!
//! Clock faults are refused: under libfaketime (`LD_PRELOAD`), redis-server does not start
//! (checked on this machine: "libfaketime: Unexpected recursive calls to clock_gettime()", from
//! its jemalloc's first allocation).
//!
//! Replication is asynchronous: a primary cut off from the others keeps acknowledging the writes
//! of the clients whose sentinel still names it, and when the partition heals the sentinels make
//! it a replica of the primary the majority promoted, which discards them. The set workload and
//! its checker show that loss.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use checkers::mastership::{NodeView, Round};
use faults::Host;
use faults::commands;
use faults::packet::{Behaviour, Links};
use faults::partition::Grudge;
use futures::future::{join_all, try_join_all};
use nodes::client::{Completed, RequestError};
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::OpOutput;
use redis::aio::MultiplexedConnection;
use tokio::time::{Instant, timeout};

use crate::control::cluster::nodes_file::NodesFile;
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::control::remote::{Cmd, Remote};
use crate::control::system::daemons::{self, DaemonHosts, INSTALL_LIMIT, decode, encode};
use crate::control::system::{SelfTermination, System, SystemClient};
use crate::error::Error;

/// Where everything of Redis lives on a host: configs, data, pidfiles, logs.
pub const DIR: &str = "/var/lib/splitbrain-node/redis";
/// The Redis server's port.
pub const REDIS_PORT: u16 = 6379;
/// The sentinel's port.
pub const SENTINEL_PORT: u16 = 26379;
/// The name under which the sentinels monitor the primary.
pub const MASTER_NAME: &str = "splitbrain";
/// The Debian packages the hosts need.
pub const PACKAGES: &str = "redis-server redis-sentinel";
/// How long [`System::start_all`] waits for every daemon to answer.
const READY: Duration = Duration::from_secs(20);
/// How long after a heal two primaries may still be seen (see [`System::heal_bound`]).
const HEAL_BOUND: Duration = Duration::from_secs(15);
/// How long the sentinels wait before they call an unreachable primary down.
const DOWN_AFTER_MS: u64 = 2000;
/// How long a sentinel waits before it retries a failover.
const FAILOVER_TIMEOUT_MS: u64 = 6000;

/// One of the two daemons of a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Daemon {
    Server,
    Sentinel,
}

impl Daemon {
    const BOTH: [Daemon; 2] = [Daemon::Server, Daemon::Sentinel];

    fn name(self) -> &'static str {
        match self {
            Daemon::Server => "redis-server",
            Daemon::Sentinel => "redis-sentinel",
        }
    }

    fn pidfile(self) -> String {
        format!("{DIR}/run/{}.pid", self.name())
    }

    fn logfile(self) -> String {
        format!("{DIR}/log/{}.log", self.name())
    }

    fn config(self) -> String {
        format!("{DIR}/{}.conf", self.name())
    }
}

/// Redis Sentinel deployed on the replica hosts of a nodes file (its name-server host is not used).
pub struct RedisSentinel<R: Remote> {
    hosts: DaemonHosts<R>,
    next_client: AtomicUsize,
}

impl<R: Remote> RedisSentinel<R> {
    /// Redis Sentinel on `hosts`.
    pub fn new(hosts: DaemonHosts<R>) -> Self {
        RedisSentinel { hosts, next_client: AtomicUsize::new(0) }
    }

    /// Every write is in the append-only file before it is acknowledged (`appendfsync always`),
    /// so a server killed and started again comes back with what it acknowledged: the writes a
    /// run finds lost are lost by replication, not by this configuration.
    fn server_config(&self, i: usize) -> String {
        let mut text = format!(
            "bind {ip}\nport {REDIS_PORT}\nprotected-mode no\ndaemonize no\ndir {DIR}/data\n\
             save \"\"\nappendonly yes\nappendfsync always\nlogfile \"\"\nreplica-announce-ip {ip}\n",
            ip = self.hosts.ips[i]
        );
        if i != 0 {
            text.push_str(&format!("replicaof {} {REDIS_PORT}\n", self.hosts.ips[0]));
        }
        text
    }

    fn sentinel_config(&self, i: usize) -> String {
        let quorum = self.hosts.ips.len() / 2 + 1;
        format!(
            "bind {ip}\nport {SENTINEL_PORT}\nprotected-mode no\ndaemonize no\ndir {DIR}/data\n\
             logfile \"\"\nsentinel announce-ip {ip}\n\
             sentinel monitor {MASTER_NAME} {primary} {REDIS_PORT} {quorum}\n\
             sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            ip = self.hosts.ips[i],
            primary = self.hosts.ips[0],
        )
    }

    /// Starts `daemon` on host `i` unless its pidfile names a live process.
    async fn start_daemon(&self, i: usize, daemon: Daemon) -> Result<(), Error> {
        let args = match daemon {
            Daemon::Server => daemon.config(),
            Daemon::Sentinel => format!("{} --sentinel", daemon.config()),
        };
        let script =
            daemons::start(&daemon.pidfile(), &daemon.logfile(), DIR, &format!("redis-server {args}"));
        self.hosts.nodes[i].run(&Cmd::shell(script)).await.map(drop)
    }

    async fn wait_answering(&self, port: u16) -> Result<(), Error> {
        let deadline = Instant::now() + READY;
        for (i, ip) in self.hosts.ips.iter().enumerate() {
            let addr = SocketAddr::new(*ip, port);
            loop {
                match query::<String>(addr, &redis::cmd("PING"), Duration::from_millis(500)).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(Error::Connect {
                            host: self.hosts.names[i].clone(),
                            cause: format!("{addr} did not answer PING within {READY:?}: {e}").into(),
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        Ok(())
    }

    /// The replica that `ip` is, if it is one.
    fn replica_at(&self, ip: &str) -> Option<ReplicaId> {
        self.hosts.replica_at(ip.parse().ok()?)
    }

    async fn view(&self, i: usize, within: Duration) -> Option<NodeView> {
        let addr = SocketAddr::new(self.hosts.ips[i], REDIS_PORT);
        let role: Vec<redis::Value> = query(addr, &redis::cmd("ROLE"), within).await.ok()?;
        let text = |v: &redis::Value| redis::from_redis_value::<String>(v).ok();
        let number = |v: &redis::Value| redis::from_redis_value::<u64>(v).ok();
        let (role, master, applied) = match role.first().and_then(text).as_deref() {
            Some("master") => ("Master", Some(i as ReplicaId), role.get(1).and_then(number)),
            Some("slave") => (
                "Backup",
                role.get(1).and_then(text).and_then(|ip| self.replica_at(&ip)),
                role.get(4).and_then(number),
            ),
            _ => ("Unknown", None, None),
        };
        Some(NodeView {
            id: i as ReplicaId,
            role: role.into(),
            master,
            applied: applied.unwrap_or(0),
            election_messages: 0,
            started_unix_ms: 0,
            digest: None,
        })
    }

    /// The primaries the sentinels that answered name, without repeats; `None` when none answered.
    async fn sentinels_say(&self, within: Duration) -> Option<Vec<ReplicaId>> {
        let asks =
            self.hosts.ips.iter().map(|ip| sentinel_master(SocketAddr::new(*ip, SENTINEL_PORT), within));
        let answers: Vec<_> = join_all(asks).await.into_iter().flatten().collect();
        if answers.is_empty() {
            return None;
        }
        let mut named: Vec<ReplicaId> =
            answers.iter().map(|ip| self.replica_at(ip).unwrap_or(ReplicaId::MAX)).collect();
        named.sort_unstable();
        named.dedup();
        Some(named)
    }
}

impl RedisSentinel<SshNode> {
    /// Redis Sentinel on the replica hosts of `file`, over SSH, the packet delayer
    /// `delayer` installed on each when given.
    pub fn over_ssh(
        file: &NodesFile,
        policy: HostKeyPolicy,
        delayer: Option<std::path::PathBuf>,
    ) -> Result<Self, Error> {
        Ok(RedisSentinel::new(DaemonHosts::over_ssh(file, policy, delayer)?))
    }
}

fn pidfiles() -> Vec<String> {
    Daemon::BOTH.iter().map(|d| d.pidfile()).collect()
}

impl<R: Remote> System for RedisSentinel<R> {
    type Client = RedisClient;

    fn replicas(&self) -> &[Host] {
        &self.hosts.names
    }

    fn nameserver(&self) -> Option<&Host> {
        None
    }

    /// The sentinels read each instance's `INFO` every 10 s, and turn a primary that comes back
    /// from a partition into a replica once they see it: up to 10 s and a failover's steps.
    fn heal_bound(&self) -> Duration {
        HEAL_BOUND
    }

    fn registrar(&self) -> &'static str {
        "the sentinels"
    }

    async fn setup(&self) -> Result<String, Error> {
        let binaries = ["redis-server", "redis-sentinel"];
        let prepare =
            daemons::clean_and_install(&pidfiles(), DIR, PACKAGES, &binaries, "redis-server --version");
        let versions = self.hosts.on_each_in_turn(&prepare, INSTALL_LIMIT).await?;
        self.hosts.install_delayer().await?;
        for (i, node) in self.hosts.nodes.iter().enumerate() {
            for (daemon, text) in
                [(Daemon::Server, self.server_config(i)), (Daemon::Sentinel, self.sentinel_config(i))]
            {
                node.upload(Bytes::from(text), &daemon.config(), 0o644).await?;
            }
        }
        let version = versions.first().map(|o| o.stdout_text().trim().to_string()).unwrap_or_default();
        let n = self.hosts.nodes.len();
        Ok(format!("Redis Sentinel on {n} hosts ({version}), quorum {}", n / 2 + 1))
    }

    async fn start_all(&self) -> Result<(), Error> {
        let n = self.hosts.nodes.len();
        try_join_all((0..n).map(|i| self.start_daemon(i, Daemon::Server))).await?;
        self.wait_answering(REDIS_PORT).await?;
        try_join_all((0..n).map(|i| self.start_daemon(i, Daemon::Sentinel))).await?;
        self.wait_answering(SENTINEL_PORT).await
    }

    async fn start(&self, hosts: &[Host]) -> Result<(), Error> {
        let indices = hosts.iter().map(|h| self.hosts.index(h)).collect::<Result<Vec<_>, _>>()?;
        try_join_all(indices.into_iter().map(|i| async move {
            self.start_daemon(i, Daemon::Server).await?;
            self.start_daemon(i, Daemon::Sentinel).await
        }))
        .await
        .map(drop)
    }

    async fn kill(&self, hosts: &[Host]) -> Result<(), Error> {
        self.hosts.on_hosts(hosts, |_| commands::signal(&Daemon::Server.pidfile(), "KILL")).await
    }

    async fn pause(&self, hosts: &[Host]) -> Result<(), Error> {
        self.hosts.on_hosts(hosts, |_| commands::signal(&Daemon::Server.pidfile(), "STOP")).await
    }

    async fn resume(&self, hosts: &[Host]) -> Result<(), Error> {
        self.hosts.on_hosts(hosts, |_| commands::signal(&Daemon::Server.pidfile(), "CONT")).await
    }

    async fn clock_rate(&self, _hosts: &[Host], _rate: f64) -> Result<(), Error> {
        Err(Error::Unsupported {
            system: "redis-sentinel",
            what: "clock faults (libfaketime stops redis-server starting)",
        })
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), Error> {
        self.hosts.partition(grudge).await
    }

    async fn heal(&self) -> Result<(), Error> {
        self.hosts.heal().await
    }

    async fn packet(&self, links: &Links, behaviour: &Behaviour, seed: u64) -> Result<(), Error> {
        self.hosts.packet(links, behaviour, seed).await
    }

    async fn heal_packets(&self) -> Result<(), Error> {
        self.hosts.heal_packets().await
    }

    async fn observe(&self, within: Duration) -> Round {
        let views = join_all((0..self.hosts.nodes.len()).map(|i| self.view(i, within)));
        let (views, registrations) = tokio::join!(views, self.sentinels_say(within));
        Round { nodes: self.hosts.names.iter().cloned().zip(views).collect(), registrations }
    }

    async fn single_master(&self, among: &[ReplicaId]) -> Option<ReplicaId> {
        self.hosts.single_master(self.observe(Duration::from_millis(500)).await, among)
    }

    fn client(&self, timeout: Duration) -> RedisClient {
        let n = self.next_client.fetch_add(1, Ordering::Relaxed) % self.hosts.ips.len();
        RedisClient {
            sentinel: SocketAddr::new(self.hosts.ips[n], SENTINEL_PORT),
            ips: self.hosts.ips.clone(),
            timeout,
            primary: None,
        }
    }

    async fn collect(&self, dir: Option<&Path>) -> Result<Vec<SelfTermination>, Error> {
        if let Some(dir) = dir {
            let names: Vec<String> = Daemon::BOTH.iter().map(|d| format!("{}.log", d.name())).collect();
            let logs: Vec<(&str, String)> =
                names.iter().zip(Daemon::BOTH).map(|(n, d)| (n.as_str(), d.logfile())).collect();
            self.hosts.collect(dir, &logs).await?;
        }
        Ok(Vec::new())
    }

    async fn teardown(&self) -> Result<(), Error> {
        let script = daemons::stop_all(&pidfiles());
        self.hosts.on_all(|_| script.clone()).await.map(drop)
    }
}

/// A client that asks its sentinel for the primary before each operation and runs it there.
pub struct RedisClient {
    sentinel: SocketAddr,
    ips: Vec<IpAddr>,
    timeout: Duration,
    primary: Option<(ReplicaId, MultiplexedConnection)>,
}

const READ: &str = "local t = redis.call('TYPE', KEYS[1]).ok \
    if t == 'list' then return {'list', redis.call('LRANGE', KEYS[1], 0, -1)} \
    elseif t == 'string' then return {'string', redis.call('GET', KEYS[1])} \
    else return {t} end";
const CAS: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return {1} end \
    if v then return {0, v} end return {0}";

impl RedisClient {
    async fn primary(&mut self) -> Result<(ReplicaId, MultiplexedConnection), RequestError> {
        let failed = |reason: String| RequestError::Failed { node: None, reason };
        let ip = sentinel_master(self.sentinel, self.timeout)
            .await
            .ok_or_else(|| failed(format!("the sentinel at {} named no primary", self.sentinel)))?;
        let ip: IpAddr = ip.parse().map_err(|_| failed(format!("the sentinel named {ip:?}")))?;
        let index = self
            .ips
            .iter()
            .position(|&x| x == ip)
            .ok_or_else(|| failed(format!("the sentinel named {ip}, not one of the hosts")))?
            as ReplicaId;
        if let Some((i, conn)) = &self.primary
            && *i == index
        {
            return Ok((index, conn.clone()));
        }
        let addr = SocketAddr::new(ip, REDIS_PORT);
        let conn = connect(addr, self.timeout).await.map_err(|e| RequestError::Failed {
            node: Some(index),
            reason: format!("connect to {addr}: {e}"),
        })?;
        self.primary = Some((index, conn.clone()));
        Ok((index, conn))
    }
}

impl SystemClient for RedisClient {
    async fn execute(&mut self, op: Op) -> Result<Completed, RequestError> {
        let (node, mut conn) = self.primary().await?;
        let definite = |reason: String| RequestError::Failed { node: Some(node), reason };
        let mut cmd = redis::cmd("EVAL");
        match &op {
            Op::Read { key } => cmd.arg(READ).arg(1).arg(key),
            Op::Write { key, value } => {
                let value = encode(value).ok_or_else(|| definite("a list cannot be written".into()))?;
                cmd = redis::cmd("SET");
                cmd.arg(key).arg(value)
            }
            Op::Cas { key, old, new } => {
                let (old, new) = encode(old)
                    .zip(encode(new))
                    .ok_or_else(|| definite("a list cannot be compared".into()))?;
                cmd.arg(CAS).arg(1).arg(key).arg(old).arg(new)
            }
            Op::Append { key, value } => {
                let value = encode(value).ok_or_else(|| definite("a list cannot be appended".into()))?;
                cmd = redis::cmd("RPUSH");
                cmd.arg(key).arg(value)
            }
        };
        let answer = match timeout(self.timeout, cmd.query_async::<redis::Value>(&mut conn)).await {
            Err(_) => {
                self.primary = None;
                return Err(RequestError::Unknown { node: Some(node), reason: "timed out".into() });
            }
            Ok(Err(e)) if e.code().is_some() => {
                self.primary = None;
                return Err(definite(e.to_string()));
            }
            Ok(Err(e)) => {
                self.primary = None;
                return Err(RequestError::Unknown { node: Some(node), reason: e.to_string() });
            }
            Ok(Ok(answer)) => answer,
        };
        let output = match op {
            Op::Read { .. } => {
                // A reply of another shape fails the read (which changed nothing) rather than
                // reading as an empty value.
                let odd = || definite(format!("a read answered {answer:?}"));
                let parts: Vec<redis::Value> = redis::from_redis_value(&answer).map_err(|_| odd())?;
                let kind = parts.first().and_then(|v| redis::from_redis_value::<String>(v).ok());
                let second = || parts.get(1).ok_or_else(odd);
                match kind.as_deref() {
                    Some("list") => {
                        let items: Vec<String> = redis::from_redis_value(second()?).map_err(|_| odd())?;
                        OpOutput::Value(Some(Value::List(items.iter().map(|s| decode(s)).collect())))
                    }
                    Some("string") => {
                        let text: String = redis::from_redis_value(second()?).map_err(|_| odd())?;
                        OpOutput::Value(Some(decode(&text)))
                    }
                    Some("none") => OpOutput::Value(None),
                    other => return Err(definite(format!("the key holds a {other:?}"))),
                }
            }
            Op::Cas { .. } => {
                let parts: Vec<redis::Value> = redis::from_redis_value(&answer).unwrap_or_default();
                match parts.first().and_then(|v| redis::from_redis_value::<i64>(v).ok()) {
                    Some(1) => OpOutput::Done,
                    _ => {
                        let current = parts.get(1).and_then(|v| redis::from_redis_value::<String>(v).ok());
                        let current = current.map_or("nothing".to_string(), |s| decode(&s).to_string());
                        return Err(definite(format!("cas failed: current value is {current}")));
                    }
                }
            }
            Op::Write { .. } | Op::Append { .. } => OpOutput::Done,
        };
        Ok(Completed { node, output })
    }
}

async fn connect(addr: SocketAddr, within: Duration) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| e.to_string())?;
    match timeout(within, client.get_multiplexed_async_connection()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {within:?}")),
    }
}

/// Runs `cmd` on a fresh connection to `addr`, all within `within`.
async fn query<T: redis::FromRedisValue>(
    addr: SocketAddr,
    cmd: &redis::Cmd,
    within: Duration,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    let mut conn = connect(addr, within).await?;
    match tokio::time::timeout_at(deadline, cmd.query_async::<T>(&mut conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {within:?}")),
    }
}

/// The primary's address as the sentinel at `addr` names it.
async fn sentinel_master(addr: SocketAddr, within: Duration) -> Option<String> {
    let mut cmd = redis::cmd("SENTINEL");
    cmd.arg("get-master-addr-by-name").arg(MASTER_NAME);
    let answer: Option<(String, String)> = query(addr, &cmd, within).await.ok()?;
    answer.map(|(ip, _port)| ip)
}
