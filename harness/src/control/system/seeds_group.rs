//! The seeds' group on nodes reached through a [`Remote`] (hosts over SSH): [`Group`] runs its
//! lifecycle by pidfile, DROP rules in our own iptables chain cut its network, packet faults
//! degrade it (see [`commands::packet`]), libfaketime's
//! timestamp file skews its clocks, and the observer and clients speak the group's protocol over
//! TCP.

use std::path::Path;
use std::time::Duration;

use checkers::mastership::{NodeView, Round};
use faults::Host;
use faults::commands;
use faults::packet::{Behaviour, Links};
use faults::partition::Grudge;
use futures::future::try_join_all;
use nodes::client::{Client, ClientConfig, Completed, RequestError};
use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::Op;
use nodes::protocol::message::MessageKind;
use nodes::runtime::config::GroupFile;
use nodes::runtime::{NameServerReport, ReplicaReport};

use crate::control::cluster::nodes_file::{NodeEntry, NodesFile};
use crate::control::group::{self, Binaries, FAKETIME_FILE, Group, Process};
use crate::control::hosts::Hosts;
use crate::control::remote::Remote;
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::control::system::daemons;
use crate::control::system::{SelfTermination, System, SystemClient};
use crate::error::Error;

/// How long [`System::start_all`] waits for every process to answer.
const READY: Duration = Duration::from_secs(20);

/// The seeds' group deployed on nodes.
pub struct SeedsGroup<R: Remote> {
    group: Group<R>,
    hosts: Hosts,
    replicas: Vec<Host>,
    binaries: Binaries,
}

impl<R: Remote> SeedsGroup<R> {
    /// The group `group` on `hosts`, installed from `binaries`.
    pub fn new(group: Group<R>, hosts: Hosts, binaries: Binaries) -> Self {
        let replicas = hosts.replicas();
        SeedsGroup { group, hosts, replicas, binaries }
    }

    /// The group's lifecycle on its nodes.
    pub fn group(&self) -> &Group<R> {
        &self.group
    }

    /// Its hosts' names and addresses.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    async fn each<T>(
        &self,
        targets: &[Host],
        act: impl AsyncFn(Process) -> Result<T, Error>,
    ) -> Result<(), Error> {
        let processes = targets.iter().map(|h| self.hosts.process(h)).collect::<Result<Vec<_>, _>>()?;
        try_join_all(processes.into_iter().map(|p| act(p))).await.map(drop)
    }
}

impl SeedsGroup<SshNode> {
    /// The seeds' group on the hosts of `file` over SSH, to be installed from `binaries`; `tune`
    /// adjusts the generated group config.
    pub fn over_ssh(
        file: &NodesFile,
        policy: HostKeyPolicy,
        tune: impl FnOnce(&mut GroupFile),
        bugs: Bugs,
        clock_faults: bool,
        binaries: Binaries,
    ) -> Result<Self, Error> {
        let resolve = |node: &NodeEntry| daemons::resolve(file, node, policy);
        let mut names = std::collections::BTreeMap::new();
        let ns_ip = resolve(&file.nameserver)?;
        names.insert(file.nameserver.name.clone(), (Process::NameServer, ns_ip));
        let mut replicas = Vec::new();
        for (i, node) in file.replicas.iter().enumerate() {
            let ip = resolve(node)?;
            names.insert(node.name.clone(), (Process::Replica(i as ReplicaId), ip));
            replicas.push((SshNode::new(file.target(node, policy)), ip));
        }
        let nameserver = (SshNode::new(file.target(&file.nameserver, policy)), ns_ip);
        let group = Group::new(nameserver, replicas, tune, bugs, clock_faults)?;
        Ok(SeedsGroup::new(group, Hosts { names }, binaries))
    }
}

impl<R: Remote> System for SeedsGroup<R> {
    type Client = Client;

    fn replicas(&self) -> &[Host] {
        &self.replicas
    }

    fn nameserver(&self) -> Option<&Host> {
        self.hosts.of(Process::NameServer)
    }

    async fn setup(&self) -> Result<String, Error> {
        self.group.teardown().await?;
        let installed = self.group.install(&self.binaries).await?;
        Ok(format!("installed: {} files uploaded, {} already there", installed.uploaded, installed.skipped))
    }

    async fn start_all(&self) -> Result<(), Error> {
        self.group.start_all().await?;
        self.group.wait_ready(READY).await
    }

    async fn start(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, async |p| self.group.start(p).await).await
    }

    async fn kill(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, async |p| self.group.signal(p, "KILL").await).await
    }

    async fn pause(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, async |p| self.group.signal(p, "STOP").await).await
    }

    async fn resume(&self, hosts: &[Host]) -> Result<(), Error> {
        self.each(hosts, async |p| self.group.signal(p, "CONT").await).await
    }

    async fn clock_rate(&self, hosts: &[Host], rate: f64) -> Result<(), Error> {
        self.each(hosts, async |p| self.group.run_on(p, commands::clock_rate(FAKETIME_FILE, rate)).await)
            .await
    }

    async fn partition(&self, grudge: &Grudge) -> Result<(), Error> {
        let all: Vec<Host> = self.hosts.names.keys().cloned().collect();
        let scripts = commands::partition(grudge, &all, |h| self.hosts.names.get(h).map(|(_, ip)| *ip));
        let runs = scripts.iter().map(|(host, script)| async move {
            self.group.node(self.hosts.process(host)?).run_quick(script.clone()).await
        });
        try_join_all(runs).await.map(drop)
    }

    async fn heal(&self) -> Result<(), Error> {
        try_join_all(self.group.nodes().map(|n| n.run_quick(commands::heal()))).await.map(drop)
    }

    async fn packet(&self, links: &Links, behaviour: &Behaviour, seed: u64) -> Result<(), Error> {
        let all: Vec<Host> = self.hosts.names.keys().cloned().collect();
        let addr = |h: &str| self.hosts.names.get(h).map(|(_, ip)| *ip);
        let scripts = commands::packet(links, behaviour, seed, &all, addr, &group::delayer());
        let runs = scripts.iter().map(|(host, script)| async move {
            self.group.node(self.hosts.process(host)?).run_quick(script.clone()).await
        });
        try_join_all(runs).await.map(drop)
    }

    async fn heal_packets(&self) -> Result<(), Error> {
        let heal = commands::heal_packets(&group::delayer());
        try_join_all(self.group.nodes().map(|n| n.run_quick(heal.clone()))).await.map(drop)
    }

    async fn observe(&self, within: Duration) -> Round {
        let config = self.group.config();
        let views = futures::future::join_all(
            config.members.iter().map(|m| nodes::client::status::<ReplicaReport>(m.admin, within)),
        );
        let ns = nodes::client::status::<NameServerReport>(config.nameserver.admin, within);
        let (views, ns) = tokio::join!(views, ns);
        Round {
            nodes: self
                .replicas
                .iter()
                .zip(views)
                .map(|(name, view)| {
                    let view = view.ok().map(|r| NodeView {
                        id: r.status.id,
                        role: format!("{:?}", r.status.role),
                        master: r.status.master,
                        applied: r.status.applied,
                        election_messages: election_messages(&r.status.sent),
                        started_unix_ms: r.process.started_unix_ms,
                        digest: Some(r.status.digest),
                    });
                    (name.clone(), view)
                })
                .collect(),
            registrations: ns.ok().map(|r| {
                r.status
                    .groups
                    .get(&config.params.group)
                    .map(|g| g.registrations.iter().map(|x| x.id).collect())
                    .unwrap_or_default()
            }),
        }
    }

    async fn single_master(&self, among: &[ReplicaId]) -> Option<ReplicaId> {
        self.group.single_master(among.iter().copied()).await
    }

    fn client(&self, timeout: Duration) -> Client {
        Client::new(ClientConfig::from_group(self.group.config(), timeout))
    }

    async fn collect(&self, dir: Option<&Path>) -> Result<Vec<SelfTermination>, Error> {
        let Some(dir) = dir else { return Ok(Vec::new()) };
        self.group.collect_logs(dir).await?;
        let mut found = Vec::new();
        for (i, host) in self.replicas.iter().enumerate() {
            let text = std::fs::read_to_string(dir.join(host).join("replica.log")).unwrap_or_default();
            found.extend(text.lines().filter(|l| l.contains("self-termination")).map(|line| {
                SelfTermination { replica: i as ReplicaId, host: host.clone(), line: line.to_string() }
            }));
        }
        Ok(found)
    }

    async fn teardown(&self) -> Result<(), Error> {
        let stopped = self.group.stop_all().await;
        let torn = self.group.teardown().await;
        stopped.and(torn)
    }
}

impl SystemClient for Client {
    async fn execute(&mut self, op: Op) -> Result<Completed, RequestError> {
        Client::execute(self, op).await
    }
}

/// The message types that make an election: declarations and revocations of mastership.
pub const ELECTION_MESSAGES: [MessageKind; 2] = [MessageKind::DeclareMaster, MessageKind::RevokeMaster];

/// The election messages a replica sent, of its per-type counts.
pub fn election_messages(sent: &std::collections::BTreeMap<String, u64>) -> u64 {
    ELECTION_MESSAGES.iter().map(|k| sent.get(k.name()).copied().unwrap_or(0)).sum()
}
