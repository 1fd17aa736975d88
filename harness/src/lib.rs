//! The splitbrain controller. One test's data flow, in order:
//!
//! 1. [`plan`]: flags and a test file become one validated plan, with its seeded generators;
//! 2. [`run`]: prepare the nodes, run the workload (clients, observer, nemesis), the final
//!    phase, and tear down, recording the history;
//! 3. [`analyze`]: the checkers judge the history;
//! 4. [`report`]: `results.json`, `junit.xml` and `report.html`, in the run's folder of the
//!    [`store`].
//!
//! Around it: [`control`] (how nodes are reached and driven), [`campaign`] (a matrix of tests), [`explore`] (one plan under thousands of seeds, simulated),
//! [`serve`] (the store over HTTP), [`check`] (histories of other tools), [`demo`], and the vocabularies [`error`] and [`exit`].

pub mod analyze;
pub mod campaign;
pub mod check;
pub mod control;
pub mod demo;
pub mod error;
pub mod exit;
pub mod explore;
pub mod plan;
pub mod report;
pub mod run;
pub mod serve;
pub mod store;
