//! Pure functions over a recorded history.
//!
//! * [`history`]: the operation model and the streaming JSONL reader and writer.
//! * [`mastership`]: exactly one master persisted after recovery; split-brain and leaderless
//!   windows, convergence and fail-over times, self-terminations, messages per election.
//! * [`convergence`]: every backup holds the master's data after recovery.
//! * [`stats`]: ok / fail / info counts per operation.
//! * [`linearizable`]: per-key Wing-Gong-Lowe search for register, cas-register and kv models,
//!   over our histories and other tools' (Jepsen text logs, EDN via [`edn`]).
//! * [`set`]: lost, unexpected, recovered and duplicated elements of the set workload.
//! * [`perf`]: latency quantiles, throughput over time and fault windows.
//! * [`deposed`]: what a master did while a rival served, in words (explains data anomalies).
//! * [`verdict`]: the three-valued verdict.
//! * [`results`]: every checker behind one interface, and a run's combined results.

pub mod convergence;
pub mod deposed;
pub mod edn;
mod fx;
pub mod history;
pub mod linearizable;
pub mod mastership;
pub mod perf;
pub mod results;
pub mod set;
pub mod stats;
pub mod verdict;
