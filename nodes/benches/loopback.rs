//! Client operations per second through a real 3-replica group on 127.0.0.1, with `ack = async`
//! and `ack = all`: one client at a time (latency-bound) and 16 concurrent clients.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nodes::local::LocalGroup;
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::params::{AckMode, Params};

const CLIENTS: u64 = 16;

fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_replica")).parent().unwrap().to_path_buf();
    for ack in [AckMode::Async, AckMode::All] {
        let group = rt.block_on(async {
            let mut file = LocalGroup::group_file(3).unwrap();
            file.ack = ack;
            let group = LocalGroup::start(&bin_dir, file, Bugs::default()).await.unwrap();
            group.wait_for_single_master(Duration::from_secs(10)).await.expect("a master");
            tokio::time::sleep(Params::default().reach_window()).await;
            group
        });
        let mut bench = c.benchmark_group(format!("loopback ack={ack:?}"));
        bench.throughput(Throughput::Elements(1));
        bench.bench_function("1 client, writes", |b| {
            let group = &group;
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut client = group.client(Duration::from_secs(2));
                client.execute(write(0)).await.expect("warm-up write succeeds");
                let start = Instant::now();
                for i in 0..iters {
                    client.execute(write(i)).await.expect("write succeeds");
                }
                start.elapsed()
            });
        });
        bench.throughput(Throughput::Elements(CLIENTS));
        bench.bench_function("16 concurrent clients, writes", |b| {
            let group = &group;
            b.to_async(&rt).iter_custom(|iters| async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..CLIENTS)
                    .map(|_| {
                        let mut client = group.client(Duration::from_secs(2));
                        tokio::spawn(async move {
                            for i in 0..iters {
                                client.execute(write(i)).await.expect("write succeeds");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            });
        });
        bench.finish();
    }
}

fn write(i: u64) -> Op {
    Op::Write { key: format!("k{}", i % 16), value: Value::Int(i as i64) }
}

criterion_group!(benches, loopback);
criterion_main!(benches);
