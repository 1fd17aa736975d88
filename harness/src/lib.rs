//! The splitbrain controller: reaching nodes ([`remote`]), the local cluster of test hosts
//! ([`cluster`]), the group's lifecycle on nodes ([`db`]), applying faults ([`nemesis`]), and the
//! local fail-over demonstration ([`demo`]).

pub mod analyze;
pub mod campaign;
pub mod cluster;
pub mod db;
pub mod demo;
pub mod error;
pub mod exit;
pub mod generator;
pub mod junit;
pub mod nemesis;
pub mod plan;
pub mod remote;
pub mod report;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod store;
