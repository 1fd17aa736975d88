//! The nodes file: which hosts run the replicas and the name server, and how to reach them.
//!
//! ```yaml
//! user: root
//! private_key: /var/lib/splitbrain/local/id_ed25519   # optional: else ~/.ssh/config or the agent
//! known_hosts: /var/lib/splitbrain/local/known_hosts   # optional: else ~/.ssh/known_hosts
//! nameserver: { name: ns, address: 10.213.77.10 }
//! replicas:
//!   - { name: n1, address: 10.213.77.11 }
//!   - { name: n2, address: 10.213.77.12, port: 22 }
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::control::remote::ssh::{Auth, HostKeyPolicy, SshTarget};
use crate::error::Error;

/// One host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The node's name (`n1`, `ns`, …), unique in the file.
    pub name: String,
    /// Where to connect: an IP or a host name (resolved through `~/.ssh/config` too).
    pub address: String,
    /// The SSH port.
    #[serde(default = "default_port")]
    pub port: u16,
}

fn default_port() -> u16 {
    22
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesFile {
    /// The user to log in as (root on test hosts).
    #[serde(default = "default_user")]
    pub user: String,
    /// The private key to log in with.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// The known_hosts file to check host keys against.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// The host of the name server.
    pub nameserver: NodeEntry,
    /// The hosts of the replicas, replica `i` at position `i`.
    pub replicas: Vec<NodeEntry>,
}

fn default_user() -> String {
    "root".to_string()
}

impl NodesFile {
    /// Reads and checks the file at `path`; errors name the file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
        let file: NodesFile = serde_yaml::from_str(&text).map_err(|e| Error::file(path, e))?;
        if file.replicas.is_empty() {
            return Err(Error::file(path, "field `replicas`: must list at least one host"));
        }
        let mut names: Vec<&str> = file.all().map(|n| n.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::file(path, format!("node name {:?} appears twice", w[0])));
        }
        Ok(file)
    }

    /// Writes the file to `path`.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_yaml::to_string(self).expect("a nodes file serializes");
        std::fs::write(path, text).map_err(|e| Error::file(path, e))
    }

    /// The name server's host, then the replicas' in order.
    pub fn all(&self) -> impl Iterator<Item = &NodeEntry> {
        std::iter::once(&self.nameserver).chain(&self.replicas)
    }

    /// The SSH target of `node`: the file's settings first, `~/.ssh/config` for the rest.
    pub fn target(&self, node: &NodeEntry, policy: HostKeyPolicy) -> SshTarget {
        let mut target = SshTarget::from_ssh_config(
            &node.address,
            Some(&self.user),
            self.private_key.as_deref(),
            self.known_hosts.as_deref(),
        );
        target.host = node.name.clone();
        if node.port != default_port() {
            target.port = node.port;
        }
        if let Some(key) = &self.private_key {
            target.auth = Auth::KeyFile(key.clone());
        }
        target.policy = policy;
        target
    }
}
