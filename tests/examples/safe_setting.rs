//! The opt-in sweep behind `tests/tests/safe_setting.rs`: runs the simulated register test over
//! many seeds for each `ack` setting and prints, per setting, how many runs each checker found
//! not valid, and the availability (ok / fail / info completions) under each fault kind.
//!
//! `cargo run --release -p tests --example safe_setting -- [SEEDS] [TIME_LIMIT_S] [INTERVAL_S]`
//! (defaults: 1000 seeds of 20 s with a fault every 2 s).

use std::collections::BTreeMap;

use checkers::verdict::Verdict;
use nodes::protocol::params::AckMode;
use rayon::prelude::*;

fn main() {
    let arg =
        |i: usize, default: u64| std::env::args().nth(i).map_or(default, |a| a.parse().expect("a number"));
    let (seeds, time_limit, interval) = (arg(1, 1000), arg(2, 20), arg(3, 2));
    println!(
        "{seeds} seeds, {time_limit} s each, a fault every {interval} s (partition, kill, pause, clock, packet)\n"
    );
    for ack in [AckMode::EveryMember, AckMode::All, AckMode::Async] {
        let started = std::time::Instant::now();
        let runs: Vec<_> = (1..=seeds)
            .into_par_iter()
            .map(|seed| {
                let (history, results) = tests::simulate(&tests::plan(seed, ack, time_limit, interval));
                let bad: Vec<String> = tests::not_valid(&results)
                    .into_iter()
                    .filter_map(|line| line.split(':').next().map(String::from))
                    .collect();
                (seed, results.valid, bad, tests::availability(&history))
            })
            .collect();
        let mut failing: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut table: BTreeMap<String, [u64; 3]> = BTreeMap::new();
        for (seed, _, bad, availability) in &runs {
            for name in bad {
                failing.entry(name.clone()).or_default().push(*seed);
            }
            for (fault, counts) in availability {
                let row = table.entry(fault.clone()).or_default();
                (0..3).for_each(|i| row[i] += counts[i]);
            }
        }
        let valid = runs.iter().filter(|r| r.1 == Verdict::Valid).count();
        println!("ack = {ack:?}: {valid} of {seeds} runs valid ({:.1} s)", started.elapsed().as_secs_f64());
        for (name, seeds) in &failing {
            let first: Vec<_> = seeds.iter().take(10).collect();
            println!("  {name}: {} runs not valid (first seeds {first:?})", seeds.len());
        }
        println!("  {:<12} {:>9} {:>9} {:>9} {:>7}", "fault", "ok", "fail", "info", "ok %");
        for (fault, [ok, fail, info]) in &table {
            let total = (ok + fail + info).max(1);
            println!("  {fault:<12} {ok:>9} {fail:>9} {info:>9} {:>6.1}%", 100.0 * *ok as f64 / total as f64);
        }
        println!();
    }
}
