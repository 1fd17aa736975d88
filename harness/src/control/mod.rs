//! How nodes are reached and driven: commands on nodes ([`remote`]), where the nodes come from
//! ([`cluster`]), the seeds' group's lifecycle on them ([`group`]), and faults applied to it
//! ([`nemesis`]).

pub mod cluster;
pub mod group;
pub mod nemesis;
pub mod remote;
