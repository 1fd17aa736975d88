//! What the systems built from Debian daemons (Redis Sentinel, etcd) share: their replica hosts
//! reached over SSH, daemons started and signalled by pidfile, the packages installed when
//! missing without letting Debian start them, partitions and packet faults in our own firewall
//! chains (the packet delayer installed when packet faults may run), logs
//! collected, values stored as text, and the single master of an observer round.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use checkers::mastership::Round;
use faults::Host;
use faults::commands::{self, ALIVE};
use faults::packet::{Behaviour, Links};
use faults::partition::Grudge;
use futures::future::try_join_all;
use nodes::protocol::ReplicaId;
use nodes::protocol::kv::Value;

use crate::control::cluster::nodes_file::{NodeEntry, NodesFile};
use crate::control::group;
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::control::remote::{Cmd, Output, Remote};
use crate::error::Error;

/// How long setup gives each host to install its packages.
pub const INSTALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The replica hosts of a deployment: host `i` is `nodes[i]`, at `ips[i]`, named `names[i]`.
pub struct DaemonHosts<R: Remote> {
    /// How to reach each host.
    pub nodes: Vec<R>,
    /// Each host's address.
    pub ips: Vec<IpAddr>,
    /// Each host's name, as the fault model names it.
    pub names: Vec<Host>,
    /// The packet delayer to install on every host at setup, when packet faults may run.
    pub delayer: Option<PathBuf>,
}

impl DaemonHosts<SshNode> {
    /// The replica hosts of `file` (its name-server host is not used), over SSH; `delayer` is
    /// installed on each when given.
    pub fn over_ssh(
        file: &NodesFile,
        policy: HostKeyPolicy,
        delayer: Option<PathBuf>,
    ) -> Result<Self, Error> {
        Ok(DaemonHosts {
            ips: file.replicas.iter().map(|n| resolve(file, n, policy)).collect::<Result<_, _>>()?,
            nodes: file.replicas.iter().map(|n| SshNode::new(file.target(n, policy))).collect(),
            names: file.replicas.iter().map(|n| n.name.clone()).collect(),
            delayer,
        })
    }
}

/// The address of `node` of `file`, as SSH would reach it.
pub fn resolve(file: &NodesFile, node: &NodeEntry, policy: HostKeyPolicy) -> Result<IpAddr, Error> {
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
}

impl<R: Remote> DaemonHosts<R> {
    /// The index of `host`; an error for a host that is not one of these.
    pub fn index(&self, host: &str) -> Result<usize, Error> {
        self.names.iter().position(|h| h == host).ok_or_else(|| Error::Connect {
            host: host.to_string(),
            cause: "not a host of this deployment".into(),
        })
    }

    /// The replica at `ip`, if it is one.
    pub fn replica_at(&self, ip: IpAddr) -> Option<ReplicaId> {
        self.ips.iter().position(|&x| x == ip).map(|i| i as ReplicaId)
    }

    /// Runs `script(i)` on each host `i` of `hosts`, all at once.
    pub async fn on_hosts(&self, hosts: &[Host], script: impl Fn(usize) -> String) -> Result<(), Error> {
        let indices = hosts.iter().map(|h| self.index(h)).collect::<Result<Vec<_>, _>>()?;
        let script = &script;
        try_join_all(
            indices.into_iter().map(|i| async move { self.nodes[i].run(&Cmd::shell(script(i))).await }),
        )
        .await
        .map(drop)
    }

    /// Runs `script` on every host, one after another (installing packages must not run twice
    /// at once where hosts share `/`, as the local cluster's do), each within `limit`.
    pub async fn on_each_in_turn(
        &self,
        script: &str,
        limit: std::time::Duration,
    ) -> Result<Vec<Output>, Error> {
        let mut outputs = Vec::new();
        for node in &self.nodes {
            outputs.push(node.run(&Cmd::shell(script).timeout(limit)).await?);
        }
        Ok(outputs)
    }

    /// Runs `script(i)` on every host `i`, all at once; their outputs in host order.
    pub async fn on_all(&self, script: impl Fn(usize) -> String) -> Result<Vec<Output>, Error> {
        let script = &script;
        try_join_all(
            self.nodes.iter().enumerate().map(|(i, n)| async move { n.run(&Cmd::shell(script(i))).await }),
        )
        .await
    }

    /// Drops packets between the hosts as `grudge` says.
    pub async fn partition(&self, grudge: &Grudge) -> Result<(), Error> {
        let scripts = commands::partition(grudge, &self.names, |h| {
            self.names.iter().position(|x| x == h).map(|i| self.ips[i])
        });
        let runs = scripts.iter().map(|(host, script)| async move {
            self.nodes[self.index(host)?].run_quick(script.clone()).await
        });
        try_join_all(runs).await.map(drop)
    }

    /// Restores every link.
    pub async fn heal(&self) -> Result<(), Error> {
        try_join_all(self.nodes.iter().map(|n| n.run_quick(commands::heal()))).await.map(drop)
    }

    /// Installs the packet delayer on every host, when there is one to install.
    pub async fn install_delayer(&self) -> Result<(), Error> {
        let Some(path) = &self.delayer else { return Ok(()) };
        try_join_all(self.nodes.iter().map(|n| group::install_delayer(n, path))).await.map(drop)
    }

    /// Degrades the packets of `links` between the hosts as `behaviour` says.
    pub async fn packet(&self, links: &Links, behaviour: &Behaviour, seed: u64) -> Result<(), Error> {
        let addr = |h: &str| self.names.iter().position(|x| x == h).map(|i| self.ips[i]);
        let scripts = commands::packet(links, behaviour, seed, &self.names, addr, &group::delayer());
        let runs = scripts.iter().map(|(host, script)| async move {
            self.nodes[self.index(host)?].run_quick(script.clone()).await
        });
        try_join_all(runs).await.map(drop)
    }

    /// Restores every link's packets.
    pub async fn heal_packets(&self) -> Result<(), Error> {
        let heal = commands::heal_packets(&group::delayer());
        try_join_all(self.nodes.iter().map(|n| n.run_quick(heal.clone()))).await.map(drop)
    }

    /// Copies each host's `logs` (file name in `dir/<host>/`, path on the host) into `dir`.
    pub async fn collect(&self, dir: &Path, logs: &[(&str, String)]) -> Result<(), Error> {
        for (node, host) in self.nodes.iter().zip(&self.names) {
            let into = dir.join(host);
            std::fs::create_dir_all(&into).map_err(|e| Error::file(&into, e))?;
            for (name, path) in logs {
                let cmd =
                    Cmd::shell(format!("cat {} 2>/dev/null || true", shell_escape::escape(path.into())));
                let log = node.run(&cmd).await?.stdout;
                let path = into.join(name);
                std::fs::write(&path, log).map_err(|e| Error::file(&path, e))?;
            }
        }
        Ok(())
    }

    /// `Some(m)` when `round`, cut down to the replicas `among`, shows exactly one master `m`
    /// that every other one of them follows and the registry names.
    pub fn single_master(&self, mut round: Round, among: &[ReplicaId]) -> Option<ReplicaId> {
        round.nodes.retain(|name, _| {
            self.names.iter().position(|h| h == name).is_some_and(|i| among.contains(&(i as ReplicaId)))
        });
        let master = round.single_master(true).ok()?;
        self.names.iter().position(|h| *h == master).map(|i| i as ReplicaId)
    }
}

/// A script that starts `command` in `dir`, daemonised, its output appended to `log` and its pid
/// written to `pidfile`, unless the pidfile names a live process.
pub fn start(pidfile: &str, log: &str, dir: &str, command: &str) -> String {
    format!(
        "if [ -f {pidfile} ]; then pid=$(cat {pidfile}); if {ALIVE}; then exit 0; fi; fi; \
         cd {dir} || exit 1; nohup {command} >> {log} 2>&1 < /dev/null & echo $! > {pidfile}"
    )
}

/// What setup runs on each host first: the daemons of `pidfiles` an earlier run left are
/// SIGKILLed, the packet delayer stopped, our firewall chains, qdiscs and `dir` removed; then `packages` are installed unless every
/// one of `binaries` is there, without letting Debian start them (a `policy-rc.d` that forbids
/// it, removed when the script exits if it was ours); then `dir`'s
/// `run`, `log` and `data` folders and our chain are made, and `version` runs.
pub fn clean_and_install(
    pidfiles: &[String],
    dir: &str,
    packages: &str,
    binaries: &[&str],
    version: &str,
) -> String {
    let mut kill: Vec<String> =
        pidfiles.iter().map(|p| format!("{}; ", commands::signal(p, "KILL"))).collect();
    kill.push(format!("{}; ", commands::stop_delayer(&group::delayer())));
    let present: Vec<String> = binaries.iter().map(|b| format!("command -v {b} >/dev/null")).collect();
    let present = present.join(" && ");
    format!(
        "{kill}{chain}; rm -rf {dir}; \
         if ! {{ {present}; }}; then \
           if [ ! -e /usr/sbin/policy-rc.d ]; then trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
             printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; fi; \
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=120 {packages} >/dev/null 2>&1; \
         fi; \
         {{ {present}; }} || \
           {{ echo '{packages} missing and could not be installed: apt-get install {packages} (for the local cluster: ./scripts/setup.sh {packages})' >&2; exit 1; }}; \
         mkdir -p {dir}/run {dir}/log {dir}/data && {prepare} && {version}",
        kill = kill.concat(),
        chain = commands::remove_chain(),
        prepare = commands::prepare_chain(),
    )
}

/// What teardown runs on each host: the daemons of `pidfiles` SIGKILLed and their pidfiles
/// removed (so that a later run never signals a pid reused by another process), the packet
/// delayer stopped, our chains and qdiscs removed.
pub fn stop_all(pidfiles: &[String]) -> String {
    let mut steps: Vec<String> =
        pidfiles.iter().map(|p| format!("{}; rm -f {p}", commands::signal(p, "KILL"))).collect();
    steps.push(commands::stop_delayer(&group::delayer()));
    steps.push(commands::remove_chain());
    steps.join("; ")
}

/// A value as stored: its type's letter, then its text, so that an integer reads back as one
/// and a string as a string; `None` for a list, which is not stored whole.
pub fn encode(value: &Value) -> Option<String> {
    match value {
        Value::Int(i) => Some(format!("i{i}")),
        Value::Str(s) => Some(format!("s{s}")),
        Value::List(_) => None,
    }
}

/// A stored value read back (see [`encode`]); text in no such form reads as a string.
pub fn decode(text: &str) -> Value {
    match text.strip_prefix('i').and_then(|i| i.parse().ok()) {
        Some(i) => Value::Int(i),
        None => Value::Str(text.strip_prefix('s').unwrap_or(text).to_string()),
    }
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
