//! How the system under test is reached and driven: the [`system`] seam a run drives it
//! through, commands on nodes ([`remote`]), where the nodes come from ([`cluster`]) and what
//! they are called ([`hosts`]), the seeds' group's lifecycle on them ([`group`]), and faults
//! applied through the seam ([`nemesis`]).

pub mod cluster;
pub mod group;
pub mod hosts;
pub mod nemesis;
pub mod remote;
pub mod system;
