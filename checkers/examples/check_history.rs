//! Checks one history file for linearizability as `splitbrain check` does, reading it line by
//! line (the line formats) rather than whole, with the allocator `splitbrain` uses; prints the
//! verdict and where the time went, so that peak memory can be measured with
//! `/usr/bin/time -v`:
//! `cargo run --release -p checkers --example check_history -- PATH [FORMAT [MODEL]]`
//! (`jsonl` and `register` by default).

use std::io::BufReader;
use std::time::{Duration, Instant};

use checkers::linearizable::{Budget, Format, Model, check, read_operations};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: check_history PATH [FORMAT [MODEL]]");
    let format = Format::parse(&args.next().unwrap_or("jsonl".into())).expect("jepsen-log, edn or jsonl");
    let model =
        Model::parse(&args.next().unwrap_or("register".into())).expect("register, cas-register or kv");
    let started = Instant::now();
    let file = std::fs::File::open(&path).expect("the history file can be opened");
    let history = read_operations(BufReader::new(file), format, model).expect("a readable history");
    let parsed = started.elapsed();
    let result = check(&history, model, Budget { time: Duration::from_secs(600), ..Budget::default() });
    let checked = started.elapsed() - parsed;
    println!(
        "{path}: {} ({} ops, {} keys, {} states); parsed in {:.1} ms, checked in {:.1} ms",
        result.valid,
        result.ops,
        result.keys,
        result.states,
        parsed.as_secs_f64() * 1e3,
        checked.as_secs_f64() * 1e3
    );
}
