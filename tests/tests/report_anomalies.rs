//! The report draws the data checkers' findings on the mastership timeline, each mark a link
//! to its history line: a group whose losses the checkers find (the seeds' `ack = async` under
//! partitions, simulated) shows them; the safe setting's valid run shows none.

use checkers::results;
use harness::plan::{Plan, ReplicaSettings, TestSpec, Workload};
use nodes::protocol::params::AckMode;

/// The mastership timeline's SVG of the report of a simulated partition run.
fn timeline(ack: AckMode, workload: Workload, seed: u64) -> (results::Results, String) {
    let spec = TestSpec {
        seed: Some(seed),
        time_limit: Some(30),
        nemesis: Some(vec!["partition".into()]),
        nemesis_interval: Some(3),
        workload: Some(workload),
        replica: ReplicaSettings { ack: Some(ack), ..Default::default() },
        ..TestSpec::default()
    };
    let plan = Plan::from_spec(spec, 0, None).expect("a valid plan");
    let history = harness::run::simulate(&plan).expect("the simulator runs the plan");
    let results = results::check(&history, &results::all());
    let no_logs = std::path::Path::new("no-such-run");
    let excerpt = harness::report::excerpt::Excerpt::whole(&history);
    let page =
        harness::report::html::report("anomalies", &results, &excerpt, no_logs).expect("the plots draw");
    let svg = page.split("<svg id=\"mastership\"").nth(1).and_then(|s| s.split("</svg>").next());
    (results, svg.expect("a mastership timeline").to_string())
}

fn marks(svg: &str, class: &str) -> usize {
    svg.matches(&format!("class=\"{class}\"")).count()
}

#[test]
fn a_lost_register_write_is_drawn_where_the_deposed_master_acknowledged_it() {
    let (results, svg) = timeline(AckMode::Async, Workload::Register, 1);
    let l = results.checkers.linearizable.as_ref().expect("registers checked");
    assert_eq!(l.result.valid, checkers::verdict::Verdict::Invalid, "{:?}", l.result.reason);
    let deposed = results.checkers.deposed_masters();
    assert!(!deposed.is_empty());
    assert_eq!(marks(&svg, "deposed"), deposed.len(), "a frame per deposed master");
    let acknowledged: usize = deposed.iter().map(|d| d.acknowledged.len().min(200)).sum();
    assert_eq!(marks(&svg, "discarded"), acknowledged);
    assert_eq!(marks(&svg, "nonlinearizable"), 1, "the counterexample's operation");
    let c = l.result.counterexample.as_ref().unwrap();
    let index = c.blocking.lines.1.unwrap() - 1;
    assert!(
        svg.contains(&format!("%22index%22%3A{index}%2C")),
        "the line links to history line {}",
        index + 1
    );
}

#[test]
fn a_lost_set_element_is_drawn_on_the_lane_of_the_node_that_acknowledged_it() {
    let lost = (1..=10).find_map(|seed| {
        let (results, svg) = timeline(AckMode::Async, Workload::Set, seed);
        let set = results.checkers.set.as_ref().expect("the set checked");
        (!set.result.lost.is_empty()).then_some((set.result.lost.len(), svg))
    });
    let (count, svg) = lost.expect("ack = async loses set elements under partitions in one of 10 seeds");
    assert_eq!(marks(&svg, "lost"), count);
}

#[test]
fn a_valid_run_draws_no_data_anomaly() {
    let (results, svg) = timeline(AckMode::EveryMember, Workload::Register, 1);
    assert_eq!(results.valid, checkers::verdict::Verdict::Valid, "{:?}", tests::not_valid(&results));
    for class in ["deposed", "discarded", "stale", "lost", "nonlinearizable"] {
        assert_eq!(marks(&svg, class), 0, "{class}");
    }
}
