//! The seeds' claim (004 [0044], [0068]) as the simulator measures it: after a master crash,
//! integral election timers elect the next master with one broadcast, at most c·N election
//! messages with c = 1 (measured: N - 1, docs/election-cost.md), where equal timers contest.

use tests::election::{Scenario, Timers, average, measure};

#[test]
fn integral_timers_elect_with_at_most_n_messages_and_equal_timers_need_more() {
    for n in [3, 5, 10, 20] {
        let (messages, _, failed) = average(n, Timers::Integral, Scenario::MasterCrash, 0..5);
        assert_eq!(failed, 0, "N = {n}: every election converged");
        assert!(messages <= f64::from(n), "N = {n}: {messages} messages per election, more than 1·N");
    }
    let integral = measure(10, Timers::Integral, Scenario::MasterCrash, 0).expect("converges");
    let equal = measure(10, Timers::Equal, Scenario::MasterCrash, 0).expect("converges");
    assert!(equal.messages > 10 * integral.messages, "equal timers contest: {equal:?} against {integral:?}");
}
