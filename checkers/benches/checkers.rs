//! Checker speed: the mastership and set checkers on generated 1,000,000-operation histories;
//! the linearizability checker, parsing included, on porcupine's rows (its etcd logs, and its
//! kv `c50-ok` and `c50-bad` when `PORCUPINE_DATA` names a checkout's `test_data` folder: they
//! are not in the shared data), on every shared public history (per set, and all together) and
//! on a generated 1,000,000-operation register history of 10 keys. Peak memory (VmHWM) is
//! printed. `PORCUPINE_DATA=/tmp/porcupine/test_data cargo bench -p checkers`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use checkers::history::{Op, OpType, Process};
use checkers::linearizable::{Budget, Call, Format, History, Model, Operation, Ret, Val, check, operations};
use checkers::mastership::{NodeView, Round};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A history of `n` operations: client reads and writes, and an observer round every 100 ms
/// showing one stable master, with the stability window at the end.
fn mastership_history(n: usize) -> Vec<Op> {
    let mut ops = Vec::with_capacity(n);
    let mk = |time: u64, process: Process, kind: OpType, f: &str, value: serde_json::Value| {
        let mut op = Op::new(time, process, kind, f).with_value(value);
        op.key = Some("r0".into());
        op
    };
    let round = serde_json::to_value(Round {
        nodes: (0..5u32)
            .map(|i| {
                let role = if i == 0 { "Master" } else { "Backup" };
                (
                    format!("n{}", i + 1),
                    Some(NodeView {
                        id: i,
                        role: role.into(),
                        master: Some(0),
                        applied: 0,
                        election_messages: 4,
                        started_unix_ms: 0,
                        digest: Some(1),
                    }),
                )
            })
            .collect(),
        registrations: Some(vec![0]),
    })
    .unwrap();
    let mut time = 0u64;
    while ops.len() < n {
        time += 1_000_000;
        if time % 100_000_000 == 0 {
            ops.push(mk(time, Process::observer(), OpType::Info, "observe", round.clone()));
        } else {
            let p = Process::Client(time % 7);
            ops.push(mk(time, p.clone(), OpType::Invoke, "read", serde_json::Value::Null));
            ops.push(mk(time + 500_000, p, OpType::Ok, "read", serde_json::json!(1)));
        }
    }
    let last = time;
    ops.push(mk(last / 2, Process::harness(), OpType::Info, "final-phase", serde_json::Value::Null));
    ops.push(mk(last / 2 + 1, Process::harness(), OpType::Info, "stability-start", serde_json::Value::Null));
    ops.push(mk(last + 1, Process::harness(), OpType::Info, "stability-end", serde_json::Value::Null));
    ops.sort_by_key(|o| o.time);
    ops
}

/// A linearizable register history: `n` operations of 5 processes over 10 keys, each taking
/// effect at a random point inside its interval.
fn register_history(n: usize, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let processes = 5;
    let mut clock = vec![0u64; processes];
    let mut planned = Vec::with_capacity(n);
    for i in 0..n {
        let p = i % processes;
        let invoke = clock[p] + rng.random_range(0..5);
        let effect = invoke + rng.random_range(1..10);
        let complete = effect + rng.random_range(1..10);
        clock[p] = complete + 1;
        let key = format!("k{}", rng.random_range(0..10));
        let call = match rng.random_range(0..3) {
            0 => Call::Read,
            1 => Call::Write(Val::Int(rng.random_range(0..5))),
            _ => Call::Cas(Val::Int(rng.random_range(0..5)), Val::Int(rng.random_range(0..5))),
        };
        planned.push((effect * 8 + p as u64, invoke * 8 + p as u64, complete * 8 + p as u64, p, key, call));
    }
    planned.sort_by_key(|t| t.0);
    let mut state: std::collections::HashMap<String, Val> = std::collections::HashMap::new();
    let ops = planned.into_iter().map(|(_, invoke, complete, p, key, call)| {
        let current = state.entry(key.clone()).or_insert(Val::Nil);
        let ret = match &call {
            Call::Read => Ret::Value(current.clone()),
            Call::Write(v) => {
                *current = v.clone();
                Ret::Done
            }
            Call::Cas(old, new) => {
                let swapped = current == old;
                if swapped {
                    *current = new.clone();
                }
                Ret::Swapped(swapped)
            }
            Call::Append(_) => unreachable!("no appends"),
        };
        Operation {
            invoke: invoke as usize,
            complete: Some(complete as usize),
            process: p.to_string(),
            key: Some(key),
            call,
            ret,
            node: None,
            lines: (invoke as usize + 1, Some(complete as usize + 1)),
        }
    });
    History::from_operations(ops).expect("a well-formed history")
}

fn shared(dir: &str, ext: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/linearizability").join(dir);
    let mut files: Vec<PathBuf> =
        walk(&root).into_iter().filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A set history of `n` operations: appends of distinct elements by 5 processes, each
/// acknowledged, and one final read that holds them all.
fn set_history(n: usize) -> Vec<Op> {
    let mut ops = Vec::with_capacity(n + 4);
    let key = |mut op: Op| {
        op.key = Some("set".into());
        op
    };
    let appends = (n - 2) / 2;
    for i in 0..appends as u64 {
        let p = Process::Client(i % 5);
        ops.push(key(Op::new(i * 10, p.clone(), OpType::Invoke, "append").with_value(serde_json::json!(i))));
        ops.push(key(Op::new(i * 10 + 5, p, OpType::Ok, "append").with_value(serde_json::json!(i))));
    }
    let end = appends as u64 * 10;
    let all = serde_json::Value::Array((0..appends as u64).map(serde_json::Value::from).collect());
    ops.push(key(Op::new(end, Process::Client(u64::MAX / 2), OpType::Invoke, "read")));
    ops.push(key(Op::new(end + 1, Process::Client(u64::MAX / 2), OpType::Ok, "read").with_value(all)));
    ops
}

/// Parses and checks `files` as `splitbrain check` does; the number of invalid files.
fn parse_and_check(files: &[(String, Format, Model)], budget: Budget) -> usize {
    files
        .iter()
        .filter(|(text, format, model)| {
            let ops = operations(text, *format, *model).expect("a readable history");
            check(&ops, *model, budget).valid == checkers::verdict::Verdict::Invalid
        })
        .count()
}

fn benches(c: &mut Criterion) {
    let history = mastership_history(1_000_000);
    let mut g = c.benchmark_group("mastership");
    g.throughput(Throughput::Elements(history.len() as u64));
    g.sample_size(10);
    g.bench_function("1,000,000-operation history", |b| b.iter(|| checkers::mastership::check(&history)));
    g.finish();
    drop(history);
    let history = set_history(1_000_000);
    assert_eq!(checkers::set::check(&history).valid, checkers::verdict::Verdict::Valid);
    let mut g = c.benchmark_group("set");
    g.throughput(Throughput::Elements(history.len() as u64));
    g.sample_size(10);
    g.bench_function("1,000,000-operation history", |b| b.iter(|| checkers::set::check(&history)));
    g.finish();
    drop(history);

    let budget = Budget { time: Duration::from_secs(60), ..Budget::default() };
    let read = |files: Vec<PathBuf>, format: Format, model: Model| -> Vec<(String, Format, Model)> {
        files.iter().map(|f| (std::fs::read_to_string(f).unwrap(), format, model)).collect()
    };
    let mut rows = vec![(
        "etcd logs (70 shared)".to_string(),
        read(shared("porcupine-etcd", "log"), Format::JepsenLog, Model::Register),
    )];
    match std::env::var_os("PORCUPINE_DATA").map(PathBuf::from) {
        Some(data) => {
            let mut etcd: Vec<PathBuf> = walk(&data.join("jepsen"));
            etcd.retain(|p| p.extension().is_some_and(|e| e == "log") && !p.ends_with("etcd_095.log"));
            etcd.sort();
            let n = etcd.len();
            rows.push((
                format!("etcd logs ({n} of porcupine's tests)"),
                read(etcd, Format::JepsenLog, Model::Register),
            ));
            for name in ["c50-ok", "c50-bad"] {
                let file = data.join("kv").join(format!("{name}.txt"));
                rows.push((format!("kv {name}"), read(vec![file], Format::Edn, Model::Kv)));
            }
        }
        None => eprintln!("PORCUPINE_DATA is not set: the kv c50 rows are left out"),
    }
    let mut g = c.benchmark_group("linearizable, porcupine's rows (parsing included)");
    g.sample_size(10);
    for (name, files) in &rows {
        g.bench_function(name.as_str(), |b| b.iter(|| parse_and_check(files, budget)));
    }
    g.finish();
    eprintln!("peak RSS after porcupine's rows: {:.0} MB", peak_rss_mb());

    let sets = [
        ("porcupine-etcd (70 files)", shared("porcupine-etcd", "log"), Format::JepsenLog, Model::Register),
        ("porcupine-kv (4 files)", shared("porcupine-kv", "txt"), Format::Edn, Model::Kv),
        ("knossos cas-register (81 files)", shared("knossos", "edn"), Format::Edn, Model::CasRegister),
    ];
    let parsed: Vec<(&str, Vec<History>, Model)> = sets
        .iter()
        .map(|(name, files, format, model)| {
            let histories = files
                .iter()
                .map(|f| operations(&std::fs::read_to_string(f).unwrap(), *format, *model).unwrap())
                .collect();
            (*name, histories, *model)
        })
        .collect();
    let mut g = c.benchmark_group("linearizable, shared histories");
    g.sample_size(10);
    for (name, histories, model) in &parsed {
        g.bench_function(*name, |b| {
            b.iter(|| histories.iter().map(|h| check(h, *model, budget).states).sum::<u64>())
        });
    }
    g.bench_function("all 155 files", |b| {
        b.iter(|| {
            parsed
                .iter()
                .flat_map(|(_, hs, m)| hs.iter().map(move |h| check(h, *m, budget).states))
                .sum::<u64>()
        })
    });
    g.finish();
    let slowest = parsed
        .iter()
        .flat_map(|(name, hs, m)| hs.iter().enumerate().map(move |(i, h)| (name, i, h, *m)))
        .map(|(name, i, h, m)| {
            let t = std::time::Instant::now();
            check(h, m, budget);
            (t.elapsed(), name, i)
        })
        .max()
        .unwrap();
    eprintln!(
        "slowest shared history: {} #{} in {:?}; peak RSS so far {:.0} MB",
        slowest.1,
        slowest.2,
        slowest.0,
        peak_rss_mb()
    );

    let generated = register_history(1_000_000, 7);
    assert_eq!(check(&generated, Model::Register, budget).valid, checkers::verdict::Verdict::Valid);
    let mut g = c.benchmark_group("linearizable, generated");
    g.throughput(Throughput::Elements(generated.len() as u64));
    g.sample_size(10);
    g.bench_function("1,000,000-operation register history, 10 keys, 5 processes", |b| {
        b.iter(|| check(&generated, Model::Register, budget))
    });
    g.finish();
    eprintln!("peak RSS after the generated history: {:.0} MB", peak_rss_mb());
}

criterion_group!(group, benches);
criterion_main!(group);
