//! The mutation table: each deliberate bug under the README's main plan (5 replicas, 30 s,
//! partitions and kills every 5 s, the safe setting) in the simulator, over many seeds, for each
//! fault-targeting policy (the mastership-aware default and uniform): how many seeds find the
//! bug, the first seed that does, and the median number of seeds to a first failure when seeds
//! are drawn at random (from the rate p: the smallest k with 1 - (1 - p)^k >= 1/2). The correct
//! group's false alarms come first. Writes `docs/mutation-table.md`.
//!
//! `cargo run --release -p tests --example mutation_table -- [SEEDS]` (default 1000).

use std::fmt::Write as _;

use checkers::verdict::Verdict;
use harness::plan::{Plan, Policy, ReplicaSettings, TestSpec};
use nodes::protocol::bugs::Bug;
use nodes::protocol::params::AckMode;
use rayon::prelude::*;

fn plan(seed: u64, bug: Option<Bug>, policy: Policy) -> Plan {
    let spec = TestSpec {
        seed: Some(seed),
        time_limit: Some(30),
        nemesis: Some(vec!["partition".into(), "kill".into()]),
        nemesis_interval: Some(5),
        policy: Some(policy),
        bugs: Some(bug.into_iter().collect()),
        replica: ReplicaSettings { ack: Some(AckMode::EveryMember), ..Default::default() },
        ..TestSpec::default()
    };
    Plan::from_spec(spec, 0, None).expect("a valid plan")
}

/// The median number of seeds drawn at random until one finds a bug found at rate `p`.
fn median_seeds(p: f64) -> Option<u64> {
    if p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some(1);
    }
    Some((0.5f64.ln() / (1.0 - p).ln()).ceil() as u64)
}

fn main() {
    let seeds: u64 = std::env::args().nth(1).map_or(1000, |a| a.parse().expect("a number of seeds"));
    let started = std::time::Instant::now();
    let mut doc = String::new();
    let _ = writeln!(
        doc,
        "# Mutation table\n\nEach deliberate bug under the README's main plan (5 replicas, 30 s, partitions and kills every\n\
         5 s, `ack: every-member`) in the simulator, seeds 1 to {seeds}, for each fault-targeting policy\n\
         (`--policy mastership-aware`, the default: half the faults go for the current master; `uniform`).\n\
         \"Median seeds\" is the median number of randomly drawn seeds until a first failure, from the rate.\n\
         Regenerate: `cargo run --release -p tests --example mutation_table -- {seeds}`.\n\n\
         | bug | policy | seeds that find it | first failing seed | median seeds to a first failure |\n|---|---|---|---|---|"
    );
    let bugs = std::iter::once(None).chain(Bug::ALL.into_iter().map(Some));
    let mut worst_first: Option<u64> = Some(0);
    let mut false_alarms = 0;
    for bug in bugs {
        for policy in [Policy::MastershipAware, Policy::Uniform] {
            let found: Vec<u64> = (1..=seeds)
                .into_par_iter()
                .filter(|&seed| {
                    let (_, results) = tests::simulate(&plan(seed, bug, policy));
                    results.valid == Verdict::Invalid
                })
                .collect();
            let name =
                bug.map_or("none (the correct group: false alarms)".to_string(), |b| b.name().to_string());
            let policy_name = match policy {
                Policy::MastershipAware => "mastership-aware",
                Policy::Uniform => "uniform",
            };
            let rate = found.len() as f64 / seeds as f64;
            let median = median_seeds(rate).map_or("-".into(), |m| m.to_string());
            let first = found.iter().min().map_or("-".into(), |s| s.to_string());
            match (bug, policy) {
                (None, _) => false_alarms += found.len(),
                (Some(_), Policy::MastershipAware) => {
                    worst_first = worst_first.zip(found.iter().min().copied()).map(|(w, f)| w.max(f))
                }
                (Some(_), Policy::Uniform) => {}
            }
            let line =
                format!("| {name} | {policy_name} | {} of {seeds} | {first} | {median} |", found.len());
            println!("{line}");
            let _ = writeln!(doc, "{line}");
        }
    }
    let _ = writeln!(
        doc,
        "\n{}; {false_alarms} false alarms on the correct group.",
        match worst_first {
            Some(w) if w <= 100 => format!(
                "Every bug is found within 100 seeds by the default policy (the latest first failure: seed {w})"
            ),
            Some(w) => format!(
                "NOT every bug is found within 100 seeds by the default policy (the latest first failure: seed {w})"
            ),
            None => "A bug is NEVER found by the default policy".to_string(),
        }
    );
    let _ = writeln!(doc, "\n({} s on this machine.)", started.elapsed().as_secs());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/mutation-table.md");
    std::fs::write(path, doc).expect("write docs/mutation-table.md");
    println!("written: docs/mutation-table.md");
}
