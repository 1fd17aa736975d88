//! The nodes file: which hosts run the replicas and the name server, and how to reach them.
//!
//! ```yaml
//! user: root                                           # optional: else ~/.ssh/config, else root
//! private_key: /var/lib/splitbrain/local/id_ed25519   # optional: else ~/.ssh/config or the agent
//! known_hosts: /var/lib/splitbrain/local/known_hosts   # optional: else ~/.ssh/known_hosts
//! nameserver: { name: ns, address: 10.213.77.10 }
//! replicas:
//!   - { name: n1, address: 10.213.77.11 }
//!   - { name: n2, address: 10.213.77.12, port: 22 }
//! ```
//!
//! A host may also be named by its `~/.ssh/config` alias alone, which is then both its name
//! and its address, and SSH takes the rest (HostName, User, Port, IdentityFile) from the config:
//!
//! ```yaml
//! nameserver: names
//! replicas: [alpha, beta, gamma]
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::control::remote::ssh::{HostKeyPolicy, SshTarget};
use crate::error::Error;

/// One host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeEntry {
    /// The node's name (`n1`, `ns`, …), unique in the file; it names the host's folder in a
    /// run's store.
    pub name: String,
    /// Where to connect: an IP or a host name, looked up in `~/.ssh/config` as `ssh` would
    /// (default: the name).
    pub address: String,
    /// The SSH port (default: `~/.ssh/config`'s Port, else 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// The mapping form of a host.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFields {
    name: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    port: Option<u16>,
}

impl<'de> Deserialize<'de> for NodeEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = NodeEntry;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a host alias, or { name, address, port }")
            }

            fn visit_str<E: de::Error>(self, alias: &str) -> Result<NodeEntry, E> {
                Ok(NodeEntry { name: alias.to_string(), address: alias.to_string(), port: None })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NodeEntry, A::Error> {
                let fields = EntryFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let address = fields.address.unwrap_or_else(|| fields.name.clone());
                Ok(NodeEntry { name: fields.name, address, port: fields.port })
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesFile {
    /// The user to log in as (default: `~/.ssh/config`'s User, else root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
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

impl NodesFile {
    /// Reads and checks the file at `path`; errors name the file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
        let file: NodesFile = serde_yaml::from_str(&text).map_err(|e| Error::file(path, e))?;
        if file.replicas.is_empty() {
            return Err(Error::file(path, "field `replicas`: must list at least one host"));
        }
        if let Some(bad) = file.all().find(|n| !is_plain_name(&n.name)) {
            return Err(Error::file(
                path,
                format!(
                    "node name {:?}: use letters, digits, '.', '-' and '_' (it names a folder)",
                    bad.name
                ),
            ));
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
            self.user.as_deref(),
            self.private_key.as_deref(),
            self.known_hosts.as_deref(),
        );
        target.host = node.name.clone();
        if let Some(port) = node.port {
            target.port = port;
        }
        target.policy = policy;
        target
    }
}

/// A name that is safe as a folder name: not empty, not `.` or `..`, of letters, digits, `.`,
/// `-` and `_` only.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<NodesFile, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes.yaml");
        std::fs::write(&path, text).unwrap();
        NodesFile::load(&path)
    }

    #[test]
    fn hosts_named_by_alias_alone_are_their_own_address_and_leave_the_rest_to_ssh_config() {
        let file = load("nameserver: names\nreplicas: [alpha, { name: beta }]\n").unwrap();
        let alias = |a: &str| NodeEntry { name: a.into(), address: a.into(), port: None };
        assert_eq!(file.nameserver, alias("names"));
        assert_eq!(file.replicas, vec![alias("alpha"), alias("beta")]);
        assert_eq!((file.user, file.private_key, file.known_hosts), (None, None, None));
    }

    #[test]
    fn the_full_form_still_reads_and_round_trips() {
        let text = "user: root\nnameserver: { name: ns, address: 10.0.0.10 }\n\
                    replicas:\n  - { name: n1, address: 10.0.0.11, port: 2222 }\n";
        let file = load(text).unwrap();
        assert_eq!(file.user.as_deref(), Some("root"));
        assert_eq!(file.replicas[0].port, Some(2222));
        assert_eq!(load(&serde_yaml::to_string(&file).unwrap()).unwrap(), file);
    }

    #[test]
    fn bad_entries_are_refused_naming_what_is_wrong() {
        for (text, words) in [
            ("nameserver: ns\nreplicas: [{ name: n1, adress: x }]\n", "adress"),
            ("nameserver: ns\nreplicas: [7]\n", "a host alias"),
            ("nameserver: ns\nreplicas: [../etc]\n", "names a folder"),
            ("nameserver: ns\nreplicas: [ns]\n", "appears twice"),
            ("nameserver: ns\nreplicas: []\n", "at least one host"),
        ] {
            let err = crate::error::chain(&load(text).unwrap_err());
            assert!(err.contains(words), "{text}: {err}");
        }
    }
}
