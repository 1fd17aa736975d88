//! Where the nodes come from: a nodes file of hosts reachable over SSH ([`nodes_file`]), which
//! the local cluster of test hosts in network namespaces ([`local`]) writes for itself.

pub mod command;
pub mod local;
pub mod nodes_file;

use std::net::{IpAddr, ToSocketAddrs};

use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::Bugs;
use nodes::runtime::config::GroupFile;

use crate::control::group::{Binaries, Group, Process};
use crate::control::hosts::Hosts;
use crate::control::remote::ssh::{HostKeyPolicy, SshNode};
use crate::control::system::seeds_group::SeedsGroup;
use crate::error::Error;
use nodes_file::{NodeEntry, NodesFile};

/// The seeds' group on the hosts of `file` over SSH, to be installed from `binaries`.
pub fn ssh_group(
    file: &NodesFile,
    policy: HostKeyPolicy,
    tune: impl FnOnce(&mut GroupFile),
    bugs: Bugs,
    clock_faults: bool,
    binaries: Binaries,
) -> Result<SeedsGroup<SshNode>, Error> {
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
