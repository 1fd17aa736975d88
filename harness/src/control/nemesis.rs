//! Applies [`Fault`]s to a deployed group: partitions as DROP rules in our iptables chain on
//! every node at once, kills/starts/pauses/resumes by pidfile, clock rates through libfaketime's
//! timestamp file.

use std::collections::BTreeMap;
use std::net::IpAddr;

use faults::Host;
use faults::commands;
use faults::fault::Fault;
use futures::future::try_join_all;

use crate::control::group::{FAKETIME_FILE, Group, Process};
use crate::control::remote::Remote;
use crate::error::Error;

/// Names and addresses of the group's hosts, as the fault model sees them.
#[derive(Clone, Debug)]
pub struct Hosts {
    /// Host name of each process.
    pub names: BTreeMap<Host, (Process, IpAddr)>,
}

impl Hosts {
    /// The host running `process`.
    pub fn of(&self, process: Process) -> Option<&Host> {
        self.names.iter().find(|(_, (p, _))| *p == process).map(|(h, _)| h)
    }

    /// The replica hosts in index order.
    pub fn replicas(&self) -> Vec<Host> {
        let mut replicas: Vec<_> = self
            .names
            .iter()
            .filter_map(|(h, (p, _))| match p {
                Process::Replica(i) => Some((*i, h.clone())),
                Process::NameServer => None,
            })
            .collect();
        replicas.sort();
        replicas.into_iter().map(|(_, h)| h).collect()
    }

    fn process(&self, host: &str) -> Result<Process, Error> {
        self.names.get(host).map(|(p, _)| *p).ok_or_else(|| Error::Connect {
            host: host.to_string(),
            problem: "not a host of this group".into(),
        })
    }
}

/// Applies `fault` to `group`; every node it touches is handled concurrently.
pub async fn apply<R: Remote>(group: &Group<R>, hosts: &Hosts, fault: &Fault) -> Result<(), Error> {
    match fault {
        Fault::Partition { grudge } => {
            let all: Vec<Host> = hosts.names.keys().cloned().collect();
            let scripts = commands::partition(grudge, &all, |h| hosts.names.get(h).map(|(_, ip)| *ip));
            let runs = scripts.iter().map(|(host, script)| async move {
                group.node(hosts.process(host)?).run_quick(script.clone()).await
            });
            try_join_all(runs).await.map(drop)
        }
        Fault::Heal => try_join_all(group.nodes().map(|n| n.run_quick(commands::heal()))).await.map(drop),
        Fault::Kill { hosts: targets } => each(hosts, targets, |p| group.signal(p, "KILL")).await,
        Fault::Pause { hosts: targets } => each(hosts, targets, |p| group.signal(p, "STOP")).await,
        Fault::Resume { hosts: targets } => each(hosts, targets, |p| group.signal(p, "CONT")).await,
        Fault::Start { hosts: targets } => each(hosts, targets, |p| group.start(p)).await,
        Fault::ClockRate { hosts: targets, rate } => {
            each(hosts, targets, |p| group.run_on(p, commands::clock_rate(FAKETIME_FILE, *rate))).await
        }
        Fault::ResetClock { hosts: targets } => {
            each(hosts, targets, |p| group.run_on(p, commands::clock_rate(FAKETIME_FILE, 1.0))).await
        }
    }
}

async fn each<T, F, Fut>(hosts: &Hosts, targets: &[Host], act: F) -> Result<(), Error>
where
    F: Fn(Process) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let processes = targets.iter().map(|h| hosts.process(h)).collect::<Result<Vec<_>, _>>()?;
    try_join_all(processes.into_iter().map(act)).await.map(drop)
}
