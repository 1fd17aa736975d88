//! Scenario tests over the simulator (`tests/`) and the opt-in sweeps behind them
//! (`examples/`): a test plan run in [`harness::run::simulate`] and judged by the same analysis as a
//! real run. This library holds what they share.

pub mod election;

use std::collections::BTreeMap;

use checkers::history::{Op, OpType};
use checkers::results::{self, Results};
use checkers::verdict::Verdict;
use harness::plan::{Plan, TestSpec};
use nodes::protocol::params::AckMode;

/// The plan of a simulated register test: 5 replicas, one client each at 10 operations a second,
/// every fault kind (packet faults included) every `interval_s` seconds for `time_limit_s`, every
/// partition shape and the default targets and packet behaviours, replicas with `ack`.
pub fn plan(seed: u64, ack: AckMode, time_limit_s: u64, interval_s: u64) -> Plan {
    let spec = TestSpec {
        seed: Some(seed),
        time_limit: Some(time_limit_s),
        nemesis: Some(["partition", "kill", "pause", "clock", "packet"].map(String::from).to_vec()),
        nemesis_interval: Some(interval_s),
        recovery_time: Some(10),
        stability_window: Some(3),
        replica: harness::plan::ReplicaSettings { ack: Some(ack), ..Default::default() },
        ..TestSpec::default()
    };
    Plan::from_spec(spec, 0, None).expect("a valid plan")
}

/// Runs `plan` in the simulator and analyses its history as `splitbrain analyze` does.
pub fn simulate(plan: &Plan) -> (Vec<Op>, Results) {
    let history = harness::run::simulate(plan).expect("the simulator runs the plan");
    let results = results::check(&history, &results::all());
    (history, results)
}

/// Each checker whose verdict is not valid, as `name: verdict: summary`.
pub fn not_valid(results: &Results) -> Vec<String> {
    let each = results.checkers.each();
    let bad = each.into_iter().filter(|(_, r)| r.verdict() != Verdict::Valid);
    bad.map(|(name, r)| format!("{name}: {}: {}", r.verdict(), r.summary())).collect()
}

/// Client completions (ok, fail, info) by the fault that was active when each completed
/// (`none` between faults; the final phase counts as `none`).
pub fn availability(history: &[Op]) -> BTreeMap<String, [u64; 3]> {
    let mut table: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut active = "none".to_string();
    for op in history {
        if op.process.is_nemesis() && op.kind == OpType::Invoke {
            active = match op.f.as_str() {
                "heal" | "heal-packet" | "start" | "resume" | "reset-clock" => "none".into(),
                f => f.into(),
            };
            continue;
        }
        if !op.process.is_client() {
            continue;
        }
        let column = match op.kind {
            OpType::Ok => 0,
            OpType::Fail => 1,
            OpType::Info => 2,
            OpType::Invoke => continue,
        };
        table.entry(active.clone()).or_default()[column] += 1;
    }
    table
}
