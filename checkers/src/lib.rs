//! Pure functions over a recorded history.
//!
//! * [`history`]: the operation model and the streaming JSONL reader and writer.
//! * [`mastership`]: exactly one master persisted after recovery; split-brain and leaderless
//!   windows, convergence and fail-over times, self-terminations, messages per election.
//! * [`stats`]: ok / fail / info counts per operation.
//! * [`verdict`]: the three-valued verdict and the combined results.

pub mod edn;
pub mod history;
pub mod linearizable;
pub mod mastership;
pub mod stats;
pub mod verdict;
