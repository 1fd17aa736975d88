//! etcd (Debian's `etcd-server`, 3.4) on the replica hosts: one member per host, all of them in
//! the initial cluster, run by pidfile under [`DIR`] and signalled by that pid only. The leader
//! is observed from each member's status (`Maintenance/Status`: its own id and the leader it
//! knows); the register workload runs through the v3 API with `etcd-client`, reads linearizable
//! (etcd's default), a compare-and-set as a transaction. Each client talks to the member of its
//! own host.
//!
//! Clock faults are refused: libfaketime works by preloading into libc, and Go programs such as
//! etcd read the clock through Go's own runtime (checked on this machine: a Go program under
//! `LD_PRELOAD=libfaketime.so.1 FAKETIME=+3650d` prints this year, `date` the one ten years on).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use checkers::mastership::{NodeView, Round};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, Txn, TxnOp, TxnOpResponse};
use faults::Host;
use faults::commands;
use faults::packet::{Behaviour, Links};
use faults::partition::Grudge;
use futures::future::{join_all, try_join_all};
use nodes::client::{Completed, RequestError};
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::Op;
use nodes::protocol::message::OpOutput;
use tokio::time::{Instant, timeout};

use crate::control::cluster::nodes_file::NodesFile;
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::control::remote::{Cmd, Remote};
use crate::control::system::daemons::{self, DaemonHosts, INSTALL_LIMIT, decode, encode};
use crate::control::system::{SelfTermination, System, SystemClient};
use crate::error::Error;

/// Where everything of etcd lives on a host: data, pidfile, log.
pub const DIR: &str = "/var/lib/splitbrain-node/etcd";
/// The members' client port.
pub const CLIENT_PORT: u16 = 2379;
/// The members' peer port.
pub const PEER_PORT: u16 = 2380;
/// The Debian package the hosts need.
pub const PACKAGES: &str = "etcd-server";
/// How long [`System::start_all`] waits for every member to answer.
const READY: Duration = Duration::from_secs(30);
/// How long after a heal two members may still call themselves leader: a few election
/// time-outs (1 s by default; a leader that lost its quorum steps down after one, check-quorum).
const HEAL_BOUND: Duration = Duration::from_secs(5);

fn pidfile() -> String {
    format!("{DIR}/run/etcd.pid")
}

fn logfile() -> String {
    format!("{DIR}/log/etcd.log")
}

/// etcd deployed on the replica hosts of a nodes file (its name-server host is not used).
pub struct Etcd<R: Remote> {
    hosts: DaemonHosts<R>,
    /// Each member's id, by replica, as the members told it.
    ids: Mutex<BTreeMap<u64, ReplicaId>>,
    /// The observer's client of each member, kept between rounds (a new connection each round
    /// could miss a round's deadline on a loaded machine and count the member as down).
    observers: Mutex<Vec<Option<Client>>>,
    next_client: AtomicUsize,
}

impl<R: Remote> Etcd<R> {
    /// etcd on `hosts`.
    pub fn new(hosts: DaemonHosts<R>) -> Self {
        let observers = Mutex::new(vec![None; hosts.nodes.len()]);
        Etcd { hosts, ids: Mutex::new(BTreeMap::new()), observers, next_client: AtomicUsize::new(0) }
    }

    fn name(i: usize) -> String {
        format!("m{i}")
    }

    fn command(&self, i: usize) -> String {
        let ip = self.hosts.ips[i];
        let cluster: Vec<String> = self
            .hosts
            .ips
            .iter()
            .enumerate()
            .map(|(j, ip)| format!("{}=http://{ip}:{PEER_PORT}", Self::name(j)))
            .collect();
        format!(
            "etcd --name {name} --data-dir {DIR}/data --listen-client-urls http://{ip}:{CLIENT_PORT} \
             --advertise-client-urls http://{ip}:{CLIENT_PORT} --listen-peer-urls http://{ip}:{PEER_PORT} \
             --initial-advertise-peer-urls http://{ip}:{PEER_PORT} --initial-cluster {cluster} \
             --initial-cluster-state new --initial-cluster-token splitbrain",
            name = Self::name(i),
            cluster = cluster.join(","),
        )
    }

    async fn start_member(&self, i: usize) -> Result<(), Error> {
        let script = daemons::start(&pidfile(), &logfile(), DIR, &self.command(i));
        self.hosts.nodes[i].run(&Cmd::shell(script)).await.map(drop)
    }

    /// Member `i`'s own id and the leader it knows (0: none), within `within`.
    async fn status(&self, i: usize, within: Duration) -> Option<(u64, u64, u64)> {
        let cached = self.observers.lock().expect("not poisoned")[i].clone();
        let asked = async {
            let mut client = match cached {
                Some(client) => client,
                None => connect(&[endpoint(self.hosts.ips[i])], within).await.ok()?,
            };
            let status = client.status().await.ok()?;
            self.observers.lock().expect("not poisoned")[i] = Some(client);
            Some((status.header()?.member_id(), status.leader(), status.raft_index()))
        };
        let answer = timeout(within, asked).await.ok().flatten();
        if answer.is_none() {
            self.observers.lock().expect("not poisoned")[i] = None;
        }
        answer
    }

    async fn view(&self, i: usize, within: Duration) -> Option<NodeView> {
        let (own, leader, applied) = self.status(i, within).await?;
        let master = {
            let mut ids = self.ids.lock().expect("not poisoned");
            ids.insert(own, i as ReplicaId);
            ids.get(&leader).copied()
        };
        Some(NodeView {
            id: i as ReplicaId,
            role: if leader == own { "Master" } else { "Backup" }.into(),
            master,
            applied,
            election_messages: 0,
            started_unix_ms: 0,
            digest: None,
        })
    }
}

impl Etcd<SshNode> {
    /// etcd on the replica hosts of `file`, over SSH, the packet delayer
    /// `delayer` installed on each when given.
    pub fn over_ssh(
        file: &NodesFile,
        policy: HostKeyPolicy,
        delayer: Option<std::path::PathBuf>,
    ) -> Result<Self, Error> {
        Ok(Etcd::new(DaemonHosts::over_ssh(file, policy, delayer)?))
    }
}

fn endpoint(ip: IpAddr) -> String {
    format!("http://{}", SocketAddr::new(ip, CLIENT_PORT))
}

async fn connect(endpoints: &[String], within: Duration) -> Result<Client, etcd_client::Error> {
    let options = ConnectOptions::new().with_connect_timeout(within).with_timeout(within);
    Client::connect(endpoints, Some(options)).await
}

impl<R: Remote> System for Etcd<R> {
    type Client = EtcdClient;

    fn replicas(&self) -> &[Host] {
        &self.hosts.names
    }

    fn nameserver(&self) -> Option<&Host> {
        None
    }

    fn heal_bound(&self) -> Duration {
        HEAL_BOUND
    }

    fn registrar(&self) -> &'static str {
        "the members"
    }

    async fn setup(&self) -> Result<String, Error> {
        let prepare =
            daemons::clean_and_install(&[pidfile()], DIR, PACKAGES, &["etcd"], "etcd --version | head -n 1");
        let versions = self.hosts.on_each_in_turn(&prepare, INSTALL_LIMIT).await?;
        self.hosts.install_delayer().await?;
        let version = versions.first().map(|o| o.stdout_text().trim().to_string()).unwrap_or_default();
        Ok(format!("etcd on {} hosts ({version})", self.hosts.nodes.len()))
    }

    async fn start_all(&self) -> Result<(), Error> {
        try_join_all((0..self.hosts.nodes.len()).map(|i| self.start_member(i))).await?;
        let deadline = Instant::now() + READY;
        for i in 0..self.hosts.nodes.len() {
            while self.view(i, Duration::from_millis(500)).await.is_none() {
                if Instant::now() >= deadline {
                    return Err(Error::Connect {
                        host: self.hosts.names[i].clone(),
                        cause: format!(
                            "etcd at {} did not answer within {READY:?}",
                            endpoint(self.hosts.ips[i])
                        )
                        .into(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn start(&self, hosts: &[Host]) -> Result<(), Error> {
        let indices = hosts.iter().map(|h| self.hosts.index(h)).collect::<Result<Vec<_>, _>>()?;
        try_join_all(indices.into_iter().map(|i| self.start_member(i))).await.map(drop)
    }

    async fn kill(&self, hosts: &[Host]) -> Result<(), Error> {
        self.hosts.on_hosts(hosts, |_| commands::signal(&pidfile(), "KILL")).await
    }

    async fn pause(&self, hosts: &[Host]) -> Result<(), Error> {
        self.hosts.on_hosts(hosts, |_| commands::signal(&pidfile(), "STOP")).await
    }

    async fn resume(&self, hosts: &[Host]) -> Result<(), Error> {
        self.hosts.on_hosts(hosts, |_| commands::signal(&pidfile(), "CONT")).await
    }

    async fn clock_rate(&self, _hosts: &[Host], _rate: f64) -> Result<(), Error> {
        Err(Error::Unsupported {
            system: "etcd",
            what: "clock faults (libfaketime does not reach Go's clock)",
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
        let views = join_all((0..self.hosts.nodes.len()).map(|i| self.view(i, within))).await;
        let mut leaders: Vec<ReplicaId> = views.iter().flatten().filter_map(|v| v.master).collect();
        leaders.sort_unstable();
        leaders.dedup();
        let registrations = views.iter().any(Option::is_some).then_some(leaders);
        Round { nodes: self.hosts.names.iter().cloned().zip(views).collect(), registrations }
    }

    async fn single_master(&self, among: &[ReplicaId]) -> Option<ReplicaId> {
        self.hosts.single_master(self.observe(Duration::from_millis(500)).await, among)
    }

    fn client(&self, timeout: Duration) -> EtcdClient {
        let n = self.next_client.fetch_add(1, Ordering::Relaxed) % self.hosts.ips.len();
        EtcdClient { node: n as ReplicaId, endpoint: endpoint(self.hosts.ips[n]), timeout, client: None }
    }

    async fn collect(&self, dir: Option<&Path>) -> Result<Vec<SelfTermination>, Error> {
        if let Some(dir) = dir {
            self.hosts.collect(dir, &[("etcd.log", logfile())]).await?;
        }
        Ok(Vec::new())
    }

    async fn teardown(&self) -> Result<(), Error> {
        let script = daemons::stop_all(&[pidfile()]);
        self.hosts.on_all(|_| script.clone()).await.map(drop)
    }
}

/// A client of one member, through etcd's v3 API.
pub struct EtcdClient {
    node: ReplicaId,
    endpoint: String,
    timeout: Duration,
    client: Option<Client>,
}

impl EtcdClient {
    async fn run(&mut self, op: &Op) -> Result<Result<OpOutput, String>, String> {
        let client = match &mut self.client {
            Some(c) => c,
            None => self.client.insert(
                connect(std::slice::from_ref(&self.endpoint), self.timeout)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        let definite = |what: &str| Ok(Err(format!("{what} cannot be stored whole")));
        match op {
            Op::Read { key } => {
                let got = client.get(key.as_str(), None).await.map_err(|e| e.to_string())?;
                let value = got.kvs().first().map(|kv| decode(&String::from_utf8_lossy(kv.value())));
                Ok(Ok(OpOutput::Value(value)))
            }
            Op::Write { key, value } => {
                let Some(value) = encode(value) else { return definite("a list") };
                client.put(key.as_str(), value, None).await.map_err(|e| e.to_string())?;
                Ok(Ok(OpOutput::Done))
            }
            Op::Cas { key, old, new } => {
                let (Some(old), Some(new)) = (encode(old), encode(new)) else { return definite("a list") };
                let txn = Txn::new()
                    .when([Compare::value(key.as_str(), CompareOp::Equal, old)])
                    .and_then([TxnOp::put(key.as_str(), new, None)])
                    .or_else([TxnOp::get(key.as_str(), None)]);
                let done = client.txn(txn).await.map_err(|e| e.to_string())?;
                if done.succeeded() {
                    return Ok(Ok(OpOutput::Done));
                }
                let current = done.op_responses().into_iter().find_map(|r| match r {
                    TxnOpResponse::Get(g) => {
                        Some(g.kvs().first().map(|kv| decode(&String::from_utf8_lossy(kv.value()))))
                    }
                    _ => None,
                });
                let current = current.flatten().map_or("nothing".to_string(), |v| v.to_string());
                Ok(Err(format!("cas failed: current value is {current}")))
            }
            Op::Append { .. } => Ok(Err("the set workload's appends are not run on etcd".into())),
        }
    }
}

impl SystemClient for EtcdClient {
    async fn execute(&mut self, op: Op) -> Result<Completed, RequestError> {
        let node = Some(self.node);
        match timeout(self.timeout, self.run(&op)).await {
            Ok(Ok(Ok(output))) => Ok(Completed { node: self.node, output }),
            Ok(Ok(Err(reason))) => Err(RequestError::Failed { node, reason }),
            // A read changes nothing, whatever happened to it; an update may have been applied.
            Ok(Err(reason)) if !op.is_update() => {
                self.client = None;
                Err(RequestError::Failed { node, reason })
            }
            Ok(Err(reason)) => {
                self.client = None;
                Err(RequestError::Unknown { node, reason })
            }
            Err(_) if !op.is_update() => {
                self.client = None;
                Err(RequestError::Failed { node, reason: "timed out".into() })
            }
            Err(_) => {
                self.client = None;
                Err(RequestError::Unknown { node, reason: "timed out".into() })
            }
        }
    }
}
