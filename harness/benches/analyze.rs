//! `splitbrain analyze` on a history far larger than a page of memory (a set workload of a
//! million acknowledged appends and the final read, about 220 MiB): the streamed analysis (the
//! checkers folded over the file, read at most twice, and the report drawn from an excerpt)
//! against the baseline of reading the whole history into memory first and checking and
//! reporting from there, each with the peak memory it took. `SPLITBRAIN_BENCH_APPENDS` sets
//! the number of appends.

use std::collections::BTreeSet;
use std::path::Path;

use checkers::history::{HistoryWriter, Op, OpType, Process, Reader};
use checkers::results::{self, Checked, Checker};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Writes a set history of `appends` appends by 10 clients over 5 nodes, each acknowledged,
/// and a final read that holds every element.
fn history(path: &Path, appends: u64) {
    let mut out = HistoryWriter::create(path).unwrap();
    let op = |time: u64, p: u64, kind: OpType, f: &str, value: serde_json::Value| {
        let mut op = Op::new(time, Process::Client(p), kind, f).with_value(value);
        op.key = Some("set".into());
        op.node = Some(format!("n{}", p % 5 + 1));
        op
    };
    for i in 0..appends {
        let (t, p) = (i * 100_000, i % 10);
        out.append(op(t, p, OpType::Invoke, "append", i.into())).unwrap();
        out.append(op(t + 50_000 + (i % 7) * 1_000, p, OpType::Ok, "append", i.into())).unwrap();
    }
    let end = appends * 100_000 + 1_000_000;
    out.append(op(end, 10, OpType::Invoke, "read", serde_json::Value::Null)).unwrap();
    out.append(op(end + 1_000, 10, OpType::Ok, "read", (0..appends).collect::<Vec<_>>().into())).unwrap();
    out.flush().unwrap();
}

/// Peak resident memory of this process since the last [`reset_peak`], in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// Starts the peak anew from the memory in use now (Linux's `clear_refs` 5); false where the
/// kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The old way: the whole history read into memory, checked and reported from there.
fn whole(dir: &Path, chosen: &BTreeSet<Checker>) {
    let ops: Vec<Op> = Reader::open(&dir.join("history.jsonl")).unwrap().map(Result::unwrap).collect();
    let results = results::check(&ops, chosen);
    harness::report::write(dir, &results, ops.as_slice()).unwrap();
}

fn analyze_at_scale(c: &mut Criterion) {
    let appends =
        std::env::var("SPLITBRAIN_BENCH_APPENDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("set-test").join("2026-01-01T000000Z");
    std::fs::create_dir_all(&run).unwrap();
    history(&run.join("history.jsonl"), appends);
    let size = std::fs::metadata(run.join("history.jsonl")).unwrap().len();
    let mib = size as f64 / (1 << 20) as f64;
    let chosen: BTreeSet<Checker> = [Checker::Set, Checker::Stats, Checker::Perf].into();

    let mut group = c.benchmark_group(format!("analyze a {mib:.0} MiB history ({appends} appends)"));
    group.sample_size(10).throughput(Throughput::Bytes(size));
    let resettable = reset_peak();
    let before = peak_mib();
    group.bench_function("streamed (splitbrain analyze)", |b| {
        b.iter(|| harness::report::reanalyze(&run, &chosen).unwrap())
    });
    let streamed = peak_mib();
    reset_peak();
    group.bench_function("baseline: read whole, then checked and reported", |b| {
        b.iter(|| whole(&run, &chosen))
    });
    let read_whole = peak_mib();
    group.finish();
    let verdict = harness::report::reanalyze(&run, &chosen).unwrap().checkers.set.map(|s| s.verdict());
    eprintln!(
        "analyzing a {mib:.0} MiB history (set: {verdict:?}): peak memory {streamed:.0} MiB streamed, \
         {read_whole:.0} MiB read whole ({:.1}x), from {before:.0} MiB at the start{}",
        read_whole / streamed,
        if resettable {
            ""
        } else {
            " (the peak could not be reset: the baseline's includes the streamed run's)"
        }
    );
}

criterion_group!(benches, analyze_at_scale);
criterion_main!(benches);
