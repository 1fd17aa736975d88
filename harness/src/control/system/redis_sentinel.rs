//! Redis Sentinel (Debian's `redis-server` and `redis-sentinel`, 7.0) on the replica hosts: host
//! 0 starts as the primary and the others as its replicas, and a sentinel runs on every host with
//! a majority quorum. Both daemons live under [`DIR`], run by pidfile and are signalled by that
//! pid only. Mastership is observed from each node (`ROLE`) and from the sentinels
//! (`SENTINEL get-master-addr-by-name`); a client asks the sentinel of its own host for the
//! primary before each operation, as Redis's clients do, and runs it there.
//!
//! Replication is asynchronous: a primary cut off from the others keeps acknowledging the writes
//! of the clients whose sentinel still names it, and when the partition heals the sentinels make
//! it a replica of the primary the majority promoted, which discards them. The set workload and
//! its checker show that loss.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use checkers::mastership::{NodeView, Round};
use faults::Host;
use faults::commands::{self, ALIVE};
use faults::partition::Grudge;
use futures::future::{join_all, try_join_all};
use nodes::client::{Completed, RequestError};
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::OpOutput;
use redis::aio::MultiplexedConnection;
use tokio::time::{Instant, timeout};

use crate::control::cluster::nodes_file::{NodeEntry, NodesFile};
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::control::remote::{Cmd, Remote};
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
    nodes: Vec<R>,
    ips: Vec<IpAddr>,
    replicas: Vec<Host>,
    next_client: AtomicUsize,
}

impl<R: Remote> RedisSentinel<R> {
    /// Redis Sentinel on `nodes`, host `i` at `ips[i]` named `replicas[i]`.
    pub fn new(nodes: Vec<R>, ips: Vec<IpAddr>, replicas: Vec<Host>) -> Self {
        RedisSentinel { nodes, ips, replicas, next_client: AtomicUsize::new(0) }
    }

    fn index(&self, host: &str) -> Result<usize, Error> {
        self.replicas.iter().position(|h| h == host).ok_or_else(|| Error::Connect {
            host: host.to_string(),
            cause: "not a host of this Redis deployment".into(),
        })
    }

    async fn on_hosts(&self, hosts: &[Host], script: impl Fn(usize) -> String) -> Result<(), Error> {
        let indices = hosts.iter().map(|h| self.index(h)).collect::<Result<Vec<_>, _>>()?;
        let script = &script;
        try_join_all(
            indices.into_iter().map(|i| async move { self.nodes[i].run(&Cmd::shell(script(i))).await }),
        )
        .await
        .map(drop)
    }

    fn server_config(&self, i: usize) -> String {
        let mut text = format!(
            "bind {ip}\nport {REDIS_PORT}\nprotected-mode no\ndaemonize no\ndir {DIR}/data\n\
             save \"\"\nappendonly no\nlogfile \"\"\nreplica-announce-ip {ip}\n",
            ip = self.ips[i]
        );
        if i != 0 {
            text.push_str(&format!("replicaof {} {REDIS_PORT}\n", self.ips[0]));
        }
        text
    }

    fn sentinel_config(&self, i: usize) -> String {
        let quorum = self.ips.len() / 2 + 1;
        format!(
            "bind {ip}\nport {SENTINEL_PORT}\nprotected-mode no\ndaemonize no\ndir {DIR}/data\n\
             logfile \"\"\nsentinel announce-ip {ip}\n\
             sentinel monitor {MASTER_NAME} {primary} {REDIS_PORT} {quorum}\n\
             sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            ip = self.ips[i],
            primary = self.ips[0],
        )
    }

    /// Starts `daemon` on host `i` unless its pidfile names a live process.
    async fn start_daemon(&self, i: usize, daemon: Daemon) -> Result<(), Error> {
        let (pidfile, log, config) = (daemon.pidfile(), daemon.logfile(), daemon.config());
        let args = match daemon {
            Daemon::Server => config,
            Daemon::Sentinel => format!("{config} --sentinel"),
        };
        let script = format!(
            "if [ -f {pidfile} ]; then pid=$(cat {pidfile}); if {ALIVE}; then exit 0; fi; fi; \
             cd {DIR} || exit 1; nohup redis-server {args} >> {log} 2>&1 < /dev/null & echo $! > {pidfile}"
        );
        self.nodes[i].run(&Cmd::shell(script)).await.map(drop)
    }

    async fn wait_answering(&self, port: u16) -> Result<(), Error> {
        let deadline = Instant::now() + READY;
        for (i, ip) in self.ips.iter().enumerate() {
            let addr = SocketAddr::new(*ip, port);
            loop {
                match query::<String>(addr, &redis::cmd("PING"), Duration::from_millis(500)).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(Error::Connect {
                            host: self.replicas[i].clone(),
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
        let ip: IpAddr = ip.parse().ok()?;
        self.ips.iter().position(|&x| x == ip).map(|i| i as ReplicaId)
    }

    async fn view(&self, i: usize, within: Duration) -> Option<NodeView> {
        let addr = SocketAddr::new(self.ips[i], REDIS_PORT);
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
        let asks = self.ips.iter().map(|ip| sentinel_master(SocketAddr::new(*ip, SENTINEL_PORT), within));
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
    /// Redis Sentinel on the replica hosts of `file`, over SSH.
    pub fn over_ssh(file: &NodesFile, policy: HostKeyPolicy) -> Result<Self, Error> {
        let resolve = |node: &NodeEntry| -> Result<IpAddr, Error> {
            let target = file.target(node, policy);
            (target.address.as_str(), target.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .map(|a| a.ip())
                .ok_or_else(|| Error::Connect {
                    host: node.name.clone(),
                    cause: format!("cannot resolve {}", target.address).into(),
                })
        };
        let ips = file.replicas.iter().map(resolve).collect::<Result<Vec<_>, _>>()?;
        let nodes = file.replicas.iter().map(|n| SshNode::new(file.target(n, policy))).collect();
        let replicas = file.replicas.iter().map(|n| n.name.clone()).collect();
        Ok(RedisSentinel::new(nodes, ips, replicas))
    }
}

/// What setup runs on each host first: the daemons an earlier run left are SIGKILLed by their
/// pidfiles, our firewall chain and Redis's folder removed; then the packages are installed when
/// missing, without letting Debian start them (`policy-rc.d`).
fn clean_and_install() -> String {
    let kill: Vec<String> = Daemon::BOTH.iter().map(|d| commands::signal(&d.pidfile(), "KILL")).collect();
    format!(
        "{kill}; {chain}; rm -rf {DIR}; \
         if ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null; then \
           made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d \
             && chmod +x /usr/sbin/policy-rc.d && made=1; fi; \
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q {PACKAGES} >/dev/null 2>&1; \
           [ -n \"$made\" ] && rm -f /usr/sbin/policy-rc.d; \
         fi; \
         command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null || \
           {{ echo 'redis-server and redis-sentinel are missing and could not be installed: apt-get install {PACKAGES} (for the local cluster: ./scripts/setup.sh {PACKAGES})' >&2; exit 1; }}; \
         mkdir -p {DIR}/run {DIR}/log {DIR}/data && {prepare} && redis-server --version",
        kill = kill.join("; "),
        chain = commands::remove_chain(),
        prepare = commands::prepare_chain(),
    )
}

impl<R: Remote> System for RedisSentinel<R> {
    type Client = RedisClient;

    fn replicas(&self) -> &[Host] {
        &self.replicas
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

    fn unix_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    async fn setup(&self) -> Result<String, Error> {
        let versions = try_join_all(
            self.nodes.iter().map(|n| async move { n.run(&Cmd::shell(clean_and_install())).await }),
        )
        .await?;
        for (i, node) in self.nodes.iter().enumerate() {
            for (daemon, text) in
                [(Daemon::Server, self.server_config(i)), (Daemon::Sentinel, self.sentinel_config(i))]
            {
                node.upload(Bytes::from(text), &daemon.config(), 0o644).await?;
            }
        }
        let version = versions.first().map(|o| o.stdout_text().trim().to_string()).unwrap_or_default();
        Ok(format!(
            "Redis Sentinel on {} hosts ({version}), quorum {}",
            self.nodes.len(),
            self.nodes.len() / 2 + 1
        ))
    }

    async fn start_all(&self) -> Result<(), Error> {
        try_join_all((0..self.nodes.len()).map(|i| self.start_daemon(i, Daemon::Server))).await?;
        self.wait_answering(REDIS_PORT).await?;
        try_join_all((0..self.nodes.len()).map(|i| self.start_daemon(i, Daemon::Sentinel))).await?;
        self.wait_answering(SENTINEL_PORT).await
    }

    async fn start(&self, hosts: &[Host]) -> Result<(), Error> {
        let indices = hosts.iter().map(|h| self.index(h)).collect::<Result<Vec<_>, _>>()?;
        try_join_all(indices.into_iter().map(|i| async move {
            self.start_daemon(i, Daemon::Server).await?;
            self.start_daemon(i, Daemon::Sentinel).await
        }))
        .await
        .map(drop)
    }

    async fn kill(&self, hosts: &[Host]) -> Result<(), Error> {
        self.on_hosts(hosts, |_| commands::signal(&Daemon::Server.pidfile(), "KILL")).await
    }

    async fn pause(&self, hosts: &[Host]) -> Result<(), Error> {
        self.on_hosts(hosts, |_| commands::signal(&Daemon::Server.pidfile(), "STOP")).await
    }

    async fn resume(&self, hosts: &[Host]) -> Result<(), Error> {
        self.on_hosts(hosts, |_| commands::signal(&Daemon::Server.pidfile(), "CONT")).await
    }

    async fn clock_rate(&self, _hosts: &[Host], _rate: f64) -> Result<(), Error> {
        Err(Error::Unsupported { system: "redis-sentinel", what: "clock faults" })
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), Error> {
        let scripts = commands::partition(grudge, &self.replicas, |h| {
            self.replicas.iter().position(|x| x == h).map(|i| self.ips[i])
        });
        let runs = scripts.iter().map(|(host, script)| async move {
            self.nodes[self.index(host)?].run_quick(script.clone()).await
        });
        try_join_all(runs).await.map(drop)
    }

    async fn heal(&self) -> Result<(), Error> {
        try_join_all(self.nodes.iter().map(|n| n.run_quick(commands::heal()))).await.map(drop)
    }

    async fn observe(&self, within: Duration) -> Round {
        let views = join_all((0..self.nodes.len()).map(|i| self.view(i, within)));
        let (views, registrations) = tokio::join!(views, self.sentinels_say(within));
        Round { nodes: self.replicas.iter().cloned().zip(views).collect(), registrations }
    }

    async fn single_master(&self, among: &[ReplicaId]) -> Option<ReplicaId> {
        let mut round = self.observe(Duration::from_millis(500)).await;
        round.nodes.retain(|name, _| {
            self.replicas.iter().position(|h| h == name).is_some_and(|i| among.contains(&(i as ReplicaId)))
        });
        let master = round.single_master(true).ok()?;
        self.replicas.iter().position(|h| *h == master).map(|i| i as ReplicaId)
    }

    fn client(&self, timeout: Duration) -> RedisClient {
        let n = self.next_client.fetch_add(1, Ordering::Relaxed) % self.ips.len();
        RedisClient {
            sentinel: SocketAddr::new(self.ips[n], SENTINEL_PORT),
            ips: self.ips.clone(),
            timeout,
            primary: None,
        }
    }

    async fn collect(&self, dir: Option<&Path>) -> Result<Vec<SelfTermination>, Error> {
        let Some(dir) = dir else { return Ok(Vec::new()) };
        for (node, host) in self.nodes.iter().zip(&self.replicas) {
            let into = dir.join(host);
            std::fs::create_dir_all(&into).map_err(|e| Error::file(&into, e))?;
            for daemon in Daemon::BOTH {
                let cmd = Cmd::shell(format!("cat {} 2>/dev/null || true", daemon.logfile()));
                let log = node.run(&cmd).await?.stdout;
                let path = into.join(format!("{}.log", daemon.name()));
                std::fs::write(&path, log).map_err(|e| Error::file(&path, e))?;
            }
        }
        Ok(Vec::new())
    }

    async fn teardown(&self) -> Result<(), Error> {
        let script = || {
            let mut steps: Vec<String> =
                Daemon::BOTH.iter().map(|d| commands::signal(&d.pidfile(), "KILL")).collect();
            steps.push(commands::remove_chain());
            steps.join("; ")
        };
        try_join_all(self.nodes.iter().map(|n| async move { n.run(&Cmd::shell(script())).await }))
            .await
            .map(drop)
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

/// A value as stored: its type's letter, then its text, so that an integer reads back as one.
fn encode(value: &Value) -> Option<String> {
    match value {
        Value::Int(i) => Some(format!("i{i}")),
        Value::Str(s) => Some(format!("s{s}")),
        Value::List(_) => None,
    }
}

fn decode(text: &str) -> Value {
    match text.strip_prefix('i').and_then(|i| i.parse().ok()) {
        Some(i) => Value::Int(i),
        None => Value::Str(text.strip_prefix('s').unwrap_or(text).to_string()),
    }
}

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
                let parts: Vec<redis::Value> = redis::from_redis_value(&answer).unwrap_or_default();
                let kind = parts.first().and_then(|v| redis::from_redis_value::<String>(v).ok());
                match kind.as_deref() {
                    Some("list") => {
                        let items: Vec<String> =
                            parts.get(1).and_then(|v| redis::from_redis_value(v).ok()).unwrap_or_default();
                        OpOutput::Value(Some(Value::List(items.iter().map(|s| decode(s)).collect())))
                    }
                    Some("string") => OpOutput::Value(
                        parts
                            .get(1)
                            .and_then(|v| redis::from_redis_value::<String>(v).ok())
                            .map(|s| decode(&s)),
                    ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_they_were_written() {
        for v in [Value::Int(-3), Value::Int(1_000_001), Value::Str("i5".into()), Value::Str(String::new())] {
            assert_eq!(decode(&encode(&v).expect("a scalar")), v);
        }
        assert_eq!(encode(&Value::List(vec![])), None);
    }
}
