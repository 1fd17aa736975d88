//! How many protocol events the sans-IO core handles per second: client requests at a master
//! core alone, and a whole simulated 5-replica group under a write load.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::NsReply;
use nodes::protocol::params::Params;
use nodes::protocol::replica::{Replica, Role};
use nodes::sim::{Sim, SimConfig};

const REQUESTS: u64 = 10_000;

/// A core that became master at start-up.
fn master() -> Replica {
    let params = Params::default();
    let mut r = Replica::new(0, params.clone(), Bugs::default());
    r.start(Duration::ZERO);
    while r.poll_action().is_some() {}
    r.handle_ns(Duration::from_millis(1), NsReply::LookupReply { nonce: 1, registrations: vec![] });
    r.handle_timeout(Duration::from_millis(1) + params.election_delay(0));
    while r.poll_action().is_some() {}
    assert_eq!(r.role(), Role::Master);
    r
}

fn master_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(REQUESTS));
    group.bench_function("master handles a write and emits its Apply broadcast and answer", |b| {
        b.iter_batched(
            master,
            |mut r| {
                let now = Duration::from_secs(1);
                for i in 0..REQUESTS {
                    r.handle_request(
                        now,
                        1,
                        i,
                        Op::Write { key: format!("k{}", i % 16), value: Value::Int(i as i64) },
                    );
                    while let Some(action) = r.poll_action() {
                        black_box(action);
                    }
                }
                r
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn simulated_group(c: &mut Criterion) {
    let mut sim = Sim::new(SimConfig::default());
    sim.run_for(Duration::from_secs(1));
    let events_per_run = {
        let before = sim.processed();
        run_load(&mut sim);
        sim.processed() - before
    };
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(events_per_run));
    group.bench_function("5 replicas + name server, 1 s of writes every ms", |b| {
        b.iter_batched(
            || {
                let mut sim = Sim::new(SimConfig::default());
                sim.run_for(Duration::from_secs(1));
                sim
            },
            |mut sim| {
                run_load(&mut sim);
                sim
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn run_load(sim: &mut Sim) {
    for i in 0..1000 {
        sim.request(0, Op::Write { key: format!("k{}", i % 16), value: Value::Int(i) });
        sim.run_for(Duration::from_millis(1));
    }
}

criterion_group!(benches, master_requests, simulated_group);
criterion_main!(benches);
