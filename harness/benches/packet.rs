//! Packet faults measured on a real local cluster (needs root, and the node binaries and the
//! delayer built beside the bench: `cargo build --release -p nodes -p delayer`): for each
//! effect, the configured value against what 10 000 datagrams from n1 to n2 (or a TCP transfer,
//! for the rate) show, printed; criterion times applying and healing a packet fault on every host.
//!
//! `cargo bench -p harness --bench packet` (under `flock /tmp/splitbrain-real-cluster.lock`).

#[path = "../tests/support/packet_probe.rs"]
mod probe;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use faults::packet::{Behaviour, Links};
use harness::control::cluster::local::{self, LocalSpec};
use harness::control::group::Binaries;
use harness::control::remote::ssh::HostKeyPolicy;
use harness::control::system::System;
use harness::control::system::seeds_group::SeedsGroup;
use nodes::protocol::bugs::Bugs;

const PREFIX: &str = "sbp-";
const SUBNET: [u8; 3] = [10, 213, 84];
const N: u32 = 10_000;

fn ip(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], host)
}

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn packet(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = LocalSpec {
        nodes: 3,
        state_dir: PathBuf::from("/var/lib/splitbrain/packet-bench"),
        subnet: SUBNET,
        prefix: PREFIX.into(),
    };
    let dir = bin_dir();
    for binary in ["replica", "nameserver", "delayer"] {
        assert!(
            dir.join(binary).exists(),
            "no {}: build it first with `cargo build --release -p nodes -p delayer`",
            dir.join(binary).display()
        );
    }
    let file = local::up(&spec, &AtomicBool::new(false)).expect("cluster up");
    let binaries = Binaries::in_dir(&dir).with_delayer(&dir);
    let seeds =
        SeedsGroup::over_ssh(&file, HostKeyPolicy::Strict, |_| {}, Bugs::default(), false, binaries).unwrap();
    rt.block_on(seeds.setup()).unwrap();
    let mut link = Links::default();
    link.add("n1", "n2");
    let apply = |b: &Behaviour| rt.block_on(seeds.packet(&link, b, 1)).unwrap();
    let burst = |port| probe::udp_burst("sbp-n1", ip(11), "sbp-n2", SocketAddr::from((ip(12), port)), N);

    let none = burst(9100);
    eprintln!(
        "no fault: loss {:.2} % over {N} datagrams, one-way delay median {:.2} ms",
        none.loss_pct(),
        none.median().as_secs_f64() * 1e3
    );
    for (i, loss) in [5.0, 20.0, 30.0].into_iter().enumerate() {
        apply(&Behaviour { loss_pct: loss, ..Behaviour::default() });
        let b = burst(9101 + i as u16);
        eprintln!("loss: configured {loss} %, measured {:.2} % over {N} datagrams", b.loss_pct());
    }
    for (i, (delay, jitter)) in [(20, 0), (50, 10), (100, 20)].into_iter().enumerate() {
        apply(&Behaviour { delay_ms: delay, jitter_ms: jitter, ..Behaviour::default() });
        let b = burst(9111 + i as u16);
        let added = b.median().saturating_sub(none.median());
        eprintln!(
            "delay: configured {delay} ± {jitter} ms, measured median {:.2} ms one-way ({:.2} ms added; \
             min {:.2}, max {:.2}), loss {:.2} %",
            b.median().as_secs_f64() * 1e3,
            added.as_secs_f64() * 1e3,
            b.delays[0].as_secs_f64() * 1e3,
            b.delays[b.delays.len() - 1].as_secs_f64() * 1e3,
            b.loss_pct()
        );
    }
    apply(&Behaviour { delay_ms: 10, duplicate_pct: 20.0, reorder_pct: 20.0, ..Behaviour::default() });
    let b = burst(9121);
    eprintln!(
        "duplicate 20 %, reorder 20 % over 10 ms: measured {:.2} % duplicated, {} arrivals out of order",
        b.duplicate_pct(),
        b.out_of_order
    );
    for (i, rate) in [300u64, 1000, 3000].into_iter().enumerate() {
        apply(&Behaviour { rate_kbit: Some(rate), ..Behaviour::default() });
        let bytes = (rate as usize * 1000 / 8) * 3;
        let t = probe::tcp_transfer("sbp-n1", "sbp-n2", SocketAddr::from((ip(12), 9131 + i as u16)), bytes);
        let whole = bytes as f64 * 8.0 / t.took.as_secs_f64() / 1000.0;
        eprintln!(
            "rate: configured {rate} kbit/s, measured {:.0} kbit/s of TCP payload between 20 and 80 % of \
             {bytes} bytes ({:.1} % of the rate; TCP/IP/Ethernet headers are ~4.4 % of a full frame), \
             {whole:.0} kbit/s over the whole transfer",
            t.steady_kbit,
            100.0 * t.steady_kbit / rate as f64
        );
    }
    rt.block_on(seeds.heal_packets()).unwrap();

    let every = Links::all(&["n1", "n2", "n3", "ns"].map(String::from));
    let both = Behaviour {
        loss_pct: 10.0,
        delay_ms: 20,
        jitter_ms: 5,
        rate_kbit: Some(1000),
        ..Behaviour::default()
    };
    let mut group = c.benchmark_group("packet fault on 4 hosts, every link");
    group.sample_size(10).measurement_time(Duration::from_secs(15));
    group.bench_function("apply (loss, delay, rate) + heal", |bench| {
        bench.to_async(&rt).iter(|| async {
            seeds.packet(&every, &both, 2).await.unwrap();
            seeds.heal_packets().await.unwrap();
        })
    });
    group.finish();
    rt.block_on(seeds.teardown()).unwrap();
    drop(seeds);
    local::down(&spec.state_dir, PREFIX).unwrap();
}

criterion_group!(benches, packet);
criterion_main!(benches);
