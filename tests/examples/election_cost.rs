//! The seeds' election-cost claim measured (004 [0044], [0068]): messages per election
//! (DeclareMaster and RevokeMaster, every copy) and time to one master, integral against equal
//! timers, for groups of 3 to 20 (50 and 100 exhausted memory: see the closing note of session 4), after a master crash and after a partition heal, averaged over
//! seeds. Writes `docs/election-cost.md`.
//!
//! `cargo run --release -p tests --example election_cost -- [SEEDS]` (default 100).

use std::fmt::Write as _;

use rayon::prelude::*;
use tests::election::{Scenario, Timers, average};

fn main() {
    let seeds: u64 = std::env::args().nth(1).map_or(100, |a| a.parse().expect("a number of seeds"));
    let started = std::time::Instant::now();
    let mut doc = format!(
        "# Election cost: integral against equal timers\n\n\
         Messages per election (DeclareMaster and RevokeMaster, every copy) and time until exactly one\n\
         master persists, in the simulator (1 ms links, up to 1 ms of jitter), averaged over seeds 0 to\n\
         {}. Integral: `D_i = 150 ms + i × 20 ms`; equal: `D_i = 150 ms`. \"Did not converge\" counts\n\
         runs with no single master within 30 s. Regenerate:\n\
         `cargo run --release -p tests --example election_cost -- {seeds}`.\n\n\
         | scenario | N | integral: messages | integral: ms | integral: messages / N | equal: messages | equal: ms | did not converge (integral / equal) |\n\
         |---|---|---|---|---|---|---|---|\n",
        seeds - 1
    );
    let cells: Vec<(Scenario, u32)> = [Scenario::MasterCrash, Scenario::PartitionHeal]
        .into_iter()
        .flat_map(|s| [3, 5, 10, 20].map(|n| (s, n)))
        .collect();
    let rows: Vec<String> = cells
        .par_iter()
        .map(|&(scenario, n)| {
            let (im, it, ifail) = average(n, Timers::Integral, scenario, 0..seeds);
            let (em, et, efail) = average(n, Timers::Equal, scenario, 0..seeds);
            let name = match scenario {
                Scenario::MasterCrash => "master crash",
                Scenario::PartitionHeal => "partition heal",
            };
            format!(
                "| {name} | {n} | {im:.1} | {} | {:.2} | {em:.1} | {} | {ifail} / {efail} |",
                it.as_millis(),
                im / f64::from(n),
                et.as_millis()
            )
        })
        .collect();
    for row in rows {
        println!("{row}");
        let _ = writeln!(doc, "{row}");
    }
    let _ = writeln!(doc, "\n({} s on this machine.)", started.elapsed().as_secs());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/election-cost.md");
    std::fs::write(path, doc).expect("write docs/election-cost.md");
    println!("written: docs/election-cost.md");
}
