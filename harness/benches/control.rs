//! Control-plane speed on a real local cluster (needs root):
//! * cluster up + install + start of 5 replicas and the name server, until one master persists;
//! * applying and healing a partition on all 5 replica hosts and the name server over the
//!   persistent SSH connections, against a baseline of one fresh `ssh` process per node command.
//!
//! Besides criterion's estimates it prints p50 and p99 over 100 rounds of each.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use faults::commands;
use faults::fault::Fault;
use faults::partition::{Shape, grudge};
use harness::control::cluster::local::{self, LocalSpec};
use harness::control::cluster::nodes_file::NodesFile;
use harness::control::group::Binaries;
use harness::control::hosts::Hosts;
use harness::control::nemesis;
use harness::control::remote::ssh::{HostKeyPolicy, SshNode};
use harness::control::system::System;
use harness::control::system::seeds_group::SeedsGroup;
use nodes::protocol::bugs::Bugs;
use rand::SeedableRng;
use rand::rngs::StdRng;

const PREFIX: &str = "sbb-";
const ROUNDS: usize = 100;

fn spec() -> LocalSpec {
    LocalSpec {
        nodes: 5,
        state_dir: PathBuf::from("/var/lib/splitbrain/bench-cluster"),
        subnet: [10, 213, 79],
        prefix: PREFIX.into(),
    }
}

fn binaries() -> Binaries {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Binaries::in_dir(dir)
}

/// Up, install, start, and wait for one master; returns the deployment and the time it took.
async fn bring_up(spec: &LocalSpec) -> (NodesFile, SeedsGroup<SshNode>, Duration) {
    let start = Instant::now();
    let file = local::up(spec, &AtomicBool::new(false)).expect("cluster up");
    let group =
        SeedsGroup::over_ssh(&file, HostKeyPolicy::Strict, |_| {}, Bugs::default(), false, binaries())
            .unwrap();
    group.setup().await.unwrap();
    group.start_all().await.unwrap();
    group.wait_for_single_master(&group.all(), Duration::from_secs(10)).await.expect("one master");
    let took = start.elapsed();
    (file, group, took)
}

fn halves(hosts: &Hosts) -> Fault {
    let ns = hosts.of(harness::control::group::Process::NameServer).unwrap();
    Fault::Partition {
        grudge: grudge(Shape::Halves, &hosts.replicas(), ns, None, &mut StdRng::seed_from_u64(0)).unwrap(),
    }
}

/// Runs every node's part of `fault` through a fresh `ssh` client process per node.
async fn fresh_ssh(file: &NodesFile, hosts: &Hosts, fault: &Fault) {
    let all: Vec<String> = hosts.names.keys().cloned().collect();
    let scripts = match fault {
        Fault::Partition { grudge } => {
            commands::partition(grudge, &all, |h| hosts.names.get(h).map(|(_, ip)| *ip))
        }
        _ => all.iter().map(|h| (h.clone(), commands::heal())).collect(),
    };
    let runs = scripts.into_iter().map(|(host, script)| {
        let (_, ip) = hosts.names[&host];
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.arg("-i").arg(file.private_key.as_ref().unwrap());
        cmd.arg("-o").arg(format!("UserKnownHostsFile={}", file.known_hosts.as_ref().unwrap().display()));
        cmd.args(["-o", "BatchMode=yes", &format!("root@{ip}"), &script]);
        async move { assert!(cmd.status().await.unwrap().success()) }
    });
    futures::future::join_all(runs).await;
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    (at(0.50), at(0.99))
}

fn control(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = spec();
    let mut group = c.benchmark_group("control");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("cluster up + install + start 5 replicas and ns, until one master", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (_, _, took) = rt.block_on(bring_up(&spec));
                total += took;
                local::down(&spec.state_dir, PREFIX).unwrap();
            }
            total
        })
    });
    group.finish();

    let (file, deployment, took) = rt.block_on(bring_up(&spec));
    let hosts = deployment.hosts().clone();
    eprintln!("cluster up + install + start until one master: {took:?}");
    let cut = halves(&hosts);
    let mut apply = Vec::new();
    let mut heal = Vec::new();
    let mut fresh_apply = Vec::new();
    let mut fresh_heal = Vec::new();
    rt.block_on(async {
        for _ in 0..ROUNDS {
            let t = Instant::now();
            nemesis::apply(&deployment, &cut).await.unwrap();
            apply.push(t.elapsed());
            let t = Instant::now();
            nemesis::apply(&deployment, &Fault::Heal).await.unwrap();
            heal.push(t.elapsed());
        }
        for _ in 0..ROUNDS {
            let t = Instant::now();
            fresh_ssh(&file, &hosts, &cut).await;
            fresh_apply.push(t.elapsed());
            let t = Instant::now();
            fresh_ssh(&file, &hosts, &Fault::Heal).await;
            fresh_heal.push(t.elapsed());
        }
    });
    for (name, samples) in [
        ("apply, persistent", apply),
        ("heal, persistent", heal),
        ("apply, fresh ssh", fresh_apply),
        ("heal, fresh ssh", fresh_heal),
    ] {
        let (p50, p99) = percentiles(samples);
        eprintln!("partition {name} on 6 nodes over {ROUNDS} rounds: p50 {p50:?} p99 {p99:?}");
    }

    let mut group = c.benchmark_group("partition on 6 nodes");
    group.bench_function("apply + heal, persistent connections", |b| {
        b.to_async(&rt).iter(|| async {
            nemesis::apply(&deployment, &cut).await.unwrap();
            nemesis::apply(&deployment, &Fault::Heal).await.unwrap();
        })
    });
    group.sample_size(10);
    group.bench_function("apply + heal, fresh ssh process per node command", |b| {
        b.to_async(&rt).iter(|| async {
            fresh_ssh(&file, &hosts, &cut).await;
            fresh_ssh(&file, &hosts, &Fault::Heal).await;
        })
    });
    group.finish();
    local::down(&spec.state_dir, PREFIX).unwrap();
}

criterion_group!(benches, control);
criterion_main!(benches);
