//! The names and addresses of a deployment's hosts, as the fault model names them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use faults::Host;

use crate::control::group::Process;
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

    /// The process on `host`; an error for a host that is not one of the group's.
    pub fn process(&self, host: &str) -> Result<Process, Error> {
        self.names.get(host).map(|(p, _)| *p).ok_or_else(|| Error::Connect {
            host: host.to_string(),
            cause: "not a host of this group".into(),
        })
    }
}
