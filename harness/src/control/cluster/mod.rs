//! Where the nodes come from: a nodes file of hosts reachable over SSH ([`nodes_file`]), which
//! the local cluster of test hosts in network namespaces ([`local`]) writes for itself.

pub mod command;
pub mod local;
pub mod nodes_file;
