//! The splitbrain controller. For now it holds the local fail-over demonstration; the test
//! runner, cluster backends and reports arrive with their issues.

pub mod demo;
