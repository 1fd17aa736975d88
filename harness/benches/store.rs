//! The store at scale, as `serve` meets it: a store of 10,000 runs (each a copy of one simulated
//! run's `test.yaml` and `results.json`), its index scanned and refreshed, its first page (and a
//! filtered page) over HTTP, against the baseline of reading every run's results for each page
//! (what `serve` did before it kept an index); and a history far larger than a page of memory
//! streamed over HTTP, with the growth of the process's peak memory while it is.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::plan::{Plan, TestSpec};
use harness::serve::index::Index;
use harness::serve::pages::{Filter, index};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RUNS: usize = 10_000;

/// A store of [`RUNS`] runs over 10 tests, made of one simulated run's files (hard links).
fn store(root: &Path) {
    let spec = TestSpec {
        seed: Some(1),
        time_limit: Some(10),
        store: Some(root.join("template")),
        ..TestSpec::default()
    };
    let plan = Plan::from_spec(spec, 0, None).expect("a valid plan");
    let template = harness::run::simulated(&plan).expect("the simulated run").dir;
    for i in 0..RUNS {
        let dir = root.join("store").join(format!("test-{}", i % 10)).join(format!("2026-01-01T{:06}Z", i));
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["test.yaml", "results.json"] {
            std::fs::hard_link(template.join(file), dir.join(file)).unwrap();
        }
    }
}

/// Peak resident memory of this process so far, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// GETs `path` and returns the bytes received (head and body), reading them as they come.
async fn get(addr: SocketAddr, path: &str) -> usize {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0;
    loop {
        match stream.read(&mut buf).await.unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

fn store_at_scale(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let root = dir.path().join("store").canonicalize().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let started = Instant::now();
    let scanned = Arc::new(Index::scan(root.clone()));
    eprintln!("{} runs indexed in {:?}", scanned.runs().len(), started.elapsed());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = harness::serve::router(root.clone(), scanned.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let mut group = c.benchmark_group("store of 10,000 runs");
    group.sample_size(20);
    group.bench_function("index: scan", |b| b.iter(|| Index::scan(root.clone())));
    group.bench_function("index: refresh, nothing new", |b| b.iter(|| scanned.refresh()));
    group.bench_function("first page over HTTP", |b| b.to_async(&rt).iter(|| get(addr, "/")));
    group.bench_function("filtered page over HTTP (?verdict=valid&test=test-3&page=5)", |b| {
        b.to_async(&rt).iter(|| get(addr, "/?verdict=valid&test=test-3&page=5"))
    });
    group.bench_function("baseline: first page reading every run's results", |b| {
        b.iter(|| index(&Index::scan(root.clone()).runs(), &Filter::default(), false))
    });
    group.finish();

    // A history of 1 GiB in a run of its own, streamed to a client that reads as it comes.
    let big = root.join("test-0/2026-01-01T000000Z/history.jsonl");
    let line = format!("{}\n", r#"{"time":1,"process":0,"type":"ok","f":"write","value":[1,2],"node":"n1"}"#);
    let chunk = line.repeat((1 << 20) / line.len());
    {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        for _ in 0..1024 {
            out.write_all(chunk.as_bytes()).unwrap();
        }
    }
    let size = std::fs::metadata(&big).unwrap().len();
    let before = peak_mib();
    let mut group = c.benchmark_group("a 1 GiB history");
    group.sample_size(10).throughput(Throughput::Bytes(size));
    group.bench_function("streamed over HTTP", |b| {
        b.to_async(&rt).iter(|| get(addr, "/run/test-0/2026-01-01T000000Z/history.jsonl"))
    });
    group.finish();
    eprintln!(
        "serving a {:.0} MiB history: peak memory {before:.0} MiB before, {:.0} MiB after",
        size as f64 / (1 << 20) as f64,
        peak_mib()
    );
}

criterion_group!(benches, store_at_scale);
criterion_main!(benches);
