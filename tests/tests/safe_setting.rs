//! The safe setting (`ack = every-member`) against every fault kind in the simulator: every
//! history linearizable and exactly one master after recovery; and the seeds' own settings,
//! whose losses the same checkers must find (PROTOCOL.md, "What the seeds' design loses").

use checkers::verdict::Verdict;
use nodes::protocol::params::AckMode;
use rayon::prelude::*;

/// Seeds whose run is not valid, with the verdict of each checker that is not.
fn not_valid(ack: AckMode, seeds: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<String>)> {
    seeds
        .into_par_iter()
        .filter_map(|seed| {
            let (_, results) = tests::simulate(&tests::plan(seed, ack, 20, 2));
            let bad = tests::not_valid(&results);
            (results.valid != Verdict::Valid).then_some((seed, bad))
        })
        .collect()
}

#[test]
fn the_safe_setting_is_linearizable_and_keeps_one_master_under_every_fault_kind() {
    let failures = not_valid(AckMode::EveryMember, 1..=300);
    assert!(failures.is_empty(), "{} of 300 seeds not valid: {failures:#?}", failures.len());
}

#[test]
fn the_seeds_settings_lose_acknowledged_writes_and_the_linearizability_checker_says_so() {
    for ack in [AckMode::Async, AckMode::All] {
        let failures = not_valid(ack, 1..=50);
        let by_linearizability =
            failures.iter().filter(|(_, bad)| bad.iter().any(|b| b.starts_with("linearizable:"))).count();
        assert!(by_linearizability >= 10, "ack = {ack:?}: only {by_linearizability} of 50 seeds caught");
    }
}
