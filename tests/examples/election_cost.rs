//! The seeds' election-cost claim measured (004 [0044], [0068]): election messages and time to
//! one master, integral against equal timers, for groups of 3 to 100, after a master crash and
//! after a partition heal, averaged over seeds. Writes `docs/election-cost.md`.
//!
//! `cargo run --release -p tests --example election_cost -- [SEEDS]` (default 100).

use std::fmt::Write as _;

use rayon::prelude::*;
use tests::election::{MESSAGE_CAP, Scenario, Summary, TIME_LIMIT, Timers, measure, summarise};

const SIZES: [u32; 6] = [3, 5, 10, 20, 50, 100];
const SCENARIOS: [Scenario; 2] = [Scenario::MasterCrash, Scenario::PartitionHeal];
const TIMERS: [Timers; 2] = [Timers::Integral, Timers::Equal];

fn main() {
    let seeds: u64 = std::env::args().nth(1).map_or(100, |a| a.parse().expect("a number of seeds"));
    let started = std::time::Instant::now();
    let runs: Vec<(Scenario, u32, Timers, u64)> = SCENARIOS
        .into_iter()
        .flat_map(|s| SIZES.into_iter().flat_map(move |n| TIMERS.into_iter().map(move |t| (s, n, t))))
        .flat_map(|(s, n, t)| (0..seeds).map(move |seed| (s, n, t, seed)))
        .collect();
    let results: Vec<_> = runs.par_iter().map(|&(s, n, t, seed)| measure(n, t, s, seed)).collect();
    let cell = |scenario, n, timers| {
        let of: Vec<_> = runs
            .iter()
            .zip(&results)
            .filter(|((s, m, t, _), _)| (*s, *m, *t) == (scenario, n, timers))
            .map(|(_, r)| *r)
            .collect();
        summarise(&of)
    };
    let mut doc = format!(
        "# Election cost: integral against equal timers\n\n\
         Election messages (DeclareMaster and RevokeMaster, every copy), self-monitoring messages\n\
         (name-server lookups, their replies and notifications, state transfers) and the time until\n\
         exactly one master persists, in the simulator (1 ms links, up to 1 ms of jitter), averaged\n\
         over the seeds 0 to {last} that converged. Integral: `D_i = 150 ms + i × 20 ms`; equal:\n\
         `D_i = 150 ms`. The group is brought up from `S_0` alone, the others joining it, so that\n\
         both schemes start from one master. A master counts once it persisted 500 ms (messages in\n\
         flight when it first appears are counted). \"Did not converge\": no such master within\n\
         {limit} s of simulated time or {cap} election messages; \"not reached\": the election the\n\
         scenario starts from (the group's, or the majority's before the heal) did not converge.\n\
         Regenerate: `cargo run --release -p tests --example election_cost -- {seeds}`.\n\n\
         | scenario | N | integral: election messages | per N | integral: monitoring | integral: ms | equal: election messages | equal: max | equal: monitoring | equal: ms | did not converge (integral / equal) | not reached (integral / equal) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        last = seeds - 1,
        limit = TIME_LIMIT.as_secs(),
        cap = MESSAGE_CAP,
    );
    for scenario in SCENARIOS {
        for n in SIZES {
            let (i, e) = (cell(scenario, n, Timers::Integral), cell(scenario, n, Timers::Equal));
            let name = match scenario {
                Scenario::MasterCrash => "master crash",
                Scenario::PartitionHeal => "partition heal",
            };
            let per_n =
                if i.converged > 0 { format!("{:.2}", i.messages / f64::from(n)) } else { "—".into() };
            let row = format!(
                "| {name} | {n} | {} | {per_n} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
                shown(&i, i.messages),
                shown(&i, i.monitoring),
                millis(&i),
                shown(&e, e.messages),
                if e.converged > 0 { e.max_messages.to_string() } else { "—".into() },
                shown(&e, e.monitoring),
                millis(&e),
                i.stuck,
                e.stuck,
                i.stuck_setup,
                e.stuck_setup,
            );
            println!("{row}");
            let _ = writeln!(doc, "{row}");
        }
    }
    let c = SIZES
        .into_iter()
        .map(|n| cell(Scenario::MasterCrash, n, Timers::Integral))
        .zip(SIZES)
        .map(|(summary, n)| summary.messages / f64::from(n))
        .fold(0.0, f64::max);
    let _ = write!(
        doc,
        "\nAfter a master crash, integral timers elect the next master with one broadcast: at most\n\
         {c:.2}·N election messages here (`tests/tests/election_cost.rs` asserts at most 1·N for every\n\
         N of the table). Equal timers expire together: every server that hears a revocation from a\n\
         higher index takes mastership and broadcasts its own (E3), so the contest grows much faster\n\
         than N. The means leave out the runs that did not converge, so the equal columns understate\n\
         the cost. After a partition heal\n\
         no election message is sent: the deposed master learns the registered master from the name\n\
         server and steps down (self-monitoring, M1-M3); its cost is the monitoring column. With\n\
         equal timers the larger groups rarely get that far: the majority's own election, before\n\
         the heal, is a contest (\"not reached\").\n"
    );
    let _ = writeln!(doc, "\n({} s on this machine, both cores.)", started.elapsed().as_secs());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/election-cost.md");
    std::fs::write(path, doc).expect("write docs/election-cost.md");
    println!("written: docs/election-cost.md");
}

/// A mean, or a dash when no run converged.
fn shown(summary: &Summary, mean: f64) -> String {
    if summary.converged > 0 { format!("{mean:.1}") } else { "—".into() }
}

fn millis(summary: &Summary) -> String {
    if summary.converged > 0 { summary.time.as_millis().to_string() } else { "—".into() }
}
