//! The seeds' claim (004 [0044], [0068]) as the simulator measures it: after a master crash,
//! integral election timers elect the next master with one broadcast, at most c·N election
//! messages with c = 1 (measured: N - 1 for N = 3 to 100, docs/election-cost.md), where equal
//! timers contest.

use tests::election::{Scenario, Timers, average, measure};

#[test]
fn integral_timers_elect_with_at_most_n_messages_and_equal_timers_need_more() {
    for n in [3, 5, 10, 20, 50, 100] {
        let summary = average(n, Timers::Integral, Scenario::MasterCrash, 0..5);
        assert_eq!((summary.stuck, summary.stuck_setup), (0, 0), "N = {n}: every election converged");
        assert!(
            summary.messages <= f64::from(n),
            "N = {n}: {} messages per election, more than 1·N",
            summary.messages
        );
    }
    let integral = measure(10, Timers::Integral, Scenario::MasterCrash, 0).expect("converges");
    let equal = measure(10, Timers::Equal, Scenario::MasterCrash, 0).expect("converges");
    assert!(equal.messages > 10 * integral.messages, "equal timers contest: {equal:?} against {integral:?}");
}

#[test]
fn after_a_partition_heal_self_monitoring_restores_one_master_without_an_election() {
    for n in [3, 5, 10] {
        let heal = measure(n, Timers::Integral, Scenario::PartitionHeal, 0).expect("converges");
        assert_eq!(heal.messages, 0, "N = {n}: {heal:?}");
        assert!(heal.monitoring > 0, "N = {n}: the deposed master learned it from the name server: {heal:?}");
    }
}
