//! The simulator's speed: the README's main plan (5 replicas, one client each at 10 operations a
//! second, partitions and kills every 5 s, 30 s of workload, the final phase) run through the
//! whole run flow in virtual time, checkers included, against the simulated time it covers.
//! Prints the ratio of simulated to wall-clock time beside criterion's estimate.

use std::time::{Duration, Instant};

use checkers::results;
use criterion::{Criterion, criterion_group, criterion_main};
use harness::plan::{Plan, ReplicaSettings, TestSpec};
use nodes::protocol::params::AckMode;

fn main_plan(seed: u64) -> Plan {
    let spec = TestSpec {
        seed: Some(seed),
        time_limit: Some(30),
        nemesis: Some(vec!["partition".into(), "kill".into()]),
        nemesis_interval: Some(5),
        replica: ReplicaSettings { ack: Some(AckMode::EveryMember), ..Default::default() },
        ..TestSpec::default()
    };
    Plan::from_spec(spec, 0, None).expect("a valid plan")
}

/// Simulates and checks one run; returns the simulated time it covered.
fn one_run(seed: u64) -> Duration {
    let history = harness::run::simulate(&main_plan(seed)).expect("the plan runs");
    let checked = results::check(&history, &results::all());
    std::hint::black_box(checked);
    Duration::from_nanos(history.last().map_or(0, |o| o.time))
}

fn simulate(c: &mut Criterion) {
    let started = Instant::now();
    let simulated: Duration = (1..=20).map(one_run).sum();
    let wall = started.elapsed();
    eprintln!(
        "main plan, 20 seeds: {simulated:?} simulated in {wall:?} of wall-clock time: {:.0}x real time",
        simulated.as_secs_f64() / wall.as_secs_f64()
    );
    let mut group = c.benchmark_group("simulate");
    group.sample_size(20);
    group.bench_function("main plan (30 s workload + final phase), checked", |b| {
        let mut seed = 0;
        b.iter(|| {
            seed += 1;
            one_run(seed)
        })
    });
    group.finish();
}

criterion_group!(benches, simulate);
criterion_main!(benches);
