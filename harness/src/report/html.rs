//! `report.html`: one self-contained page per run (inline CSS and SVG, nothing fetched): the
//! verdict, each checker's result, a mastership timeline with a lane per node, latencies over
//! time with the fault windows, the client operations (capped), and the anomalies in words.
//! Written with maud, which escapes every value it is given.

use std::collections::BTreeMap;
use std::path::Path;

use checkers::history::{Op, OpType, Process, client_pairs};
use checkers::mastership::Round;
use checkers::results::Results;
use checkers::verdict::Verdict;
use maud::{DOCTYPE, Markup, html};

use super::excerpt::Excerpt;

const WIDTH: f64 = 1000.0;
const LANE: f64 = 26.0;
/// Client operations listed at most.
pub const MAX_OPS_LISTED: usize = 500;
/// Latency points plotted at most.
const MAX_POINTS: usize = 5000;
/// Client operations drawn on the operation timeline at most.
pub const MAX_OPS_DRAWN: usize = 2000;
/// The SVG namespace every plot declares.
const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// The page for the run of test `name`, stored in `dir` (where the node logs are), drawn from
/// `excerpt` of its history.
pub fn report(name: &str, results: &Results, excerpt: &Excerpt, dir: &Path) -> String {
    let ops = excerpt.ops.as_slice();
    let first = ops.iter().map(|o| o.time / 1_000_000).min().unwrap_or(0);
    let last = ops.iter().map(|o| o.time / 1_000_000).max().unwrap_or(0);
    let span = Span { first, last: last.max(first + 1) };
    let word = results.valid.word();
    let schedule = crate::plan::schedule::Schedule::of_history(ops);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "splitbrain: " (name) }
                style { (STYLE) }
            }
            body {
                header id="verdict" class=(word) {
                    h1 { (word.to_uppercase()) }
                    p { "test " (name) }
                }
                p id="schedule" {
                    "fault schedule: " (schedule.summary()) " ("
                    a href="schedule.yaml" { "schedule.yaml" }
                    ", to run again with " code { "--replay" } ")"
                }
                @if excerpt.stride > 1 {
                    p id="excerpt" {
                        "The history holds " (excerpt.invocations) " client operations: the plots and tables below show one in "
                        (excerpt.stride) ", evenly spaced, each with its completion; the checkers read them all ("
                        a href="history.jsonl" { "history.jsonl" } ")."
                    }
                }
                (checkers_table(results))
                (anomalies(results, ops, dir))
                (timeline(results, ops, span))
                (latencies(results, ops, span))
                (throughput(results, span))
                (ops_timeline(results, ops, span))
                (operations(ops))
            }
        }
    };
    page.into_string() + "\n"
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
header{padding:.6em 1em;border-radius:6px;color:#fff}header h1{margin:0}\
.valid{background:#2e7d32}.INVALID{background:#c62828}.unknown{background:#ef6c00}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}\
section{margin-top:1.5em}svg{border:1px solid #ddd;background:#fafafa}\
.Master{fill:#c62828}.Backup{fill:#1565c0}.WaitElection{fill:#ef6c00}.down{fill:#9e9e9e}\
.fault{fill:#000;opacity:.08}.packet{fill:#1565c0;opacity:.12}.deposed{fill:none;stroke:#6a1b9a;stroke-width:2;stroke-dasharray:4 2}\
.discarded{fill:#6a1b9a}.stale{fill:#f9a825}.lost{fill:#000}.nonlinearizable{stroke:#000;stroke-width:2}.split{fill:#c62828;opacity:.25}.ok{fill:#2e7d32}.fail{fill:#c62828}.info{fill:#ef6c00}";

fn checkers_table(results: &Results) -> Markup {
    html! {
        section id="checkers" {
            h2 { "Checkers" }
            table {
                tr { th { "checker" } th { "verdict" } th { "summary" } }
                @for (name, r) in results.checkers.each() {
                    tr {
                        td { (name) }
                        td class=(r.verdict().word()) style="color:#fff" { (r.verdict().word()) }
                        td { (r.summary()) }
                    }
                }
            }
        }
    }
}

/// A link to `node`'s log at the line written at or before `at_ms` (`what` says why), or to
/// the whole log when that line cannot be found.
fn log_link(dir: &Path, node: &str, at_ms: u64, ops: &[Op], what: Option<&str>) -> Markup {
    match log_line(dir, node, at_ms, ops) {
        Some((stamp, link)) => html! {
            a href=(link) { (node) "/replica.log at " (stamp) }
            @if let Some(what) = what { " (" (what) ")" }
        },
        None => html! { a href=(format!("{node}/replica.log")) { (node) "/replica.log" } },
    }
}

/// `items` joined by ", ", or "none".
fn listed(items: Vec<Markup>) -> Markup {
    html! {
        @if items.is_empty() { "none" }
        @for (i, item) in items.into_iter().enumerate() {
            @if i > 0 { ", " }
            (item)
        }
    }
}

fn anomalies(results: &Results, ops: &[Op], dir: &Path) -> Markup {
    let mut items: Vec<Markup> = Vec::new();
    if let Some(m) = &results.checkers.mastership {
        if m.valid == Verdict::Invalid {
            let logs: Vec<Markup> = m
                .persisted_masters
                .iter()
                .map(|n| match m.violation_ms {
                    Some(t) => log_link(dir, n, t, ops, None),
                    None => html! { a href=(format!("{n}/replica.log")) { (n) "/replica.log" } },
                })
                .collect();
            let history = m.violation_ms.and_then(|t| history_line(ops, t));
            items.push(html! {
                (m.summary)
                @if let Some((line, link)) = history { " " a href=(link) { "History line " (line) } "." }
                " Logs around it: " (listed(logs)) "."
            });
        }
        for w in &m.split_brain_windows {
            items.push(html! {
                "Split brain from " (w.start_ms) " ms to " (w.end_ms) " ms: " (w.masters.join(", ")) " said Master at once."
            });
        }
        for f in &m.failovers {
            items.push(match (&f.new_master, f.after_ms) {
                (Some(new), Some(after)) => html! {
                    "Master " (f.killed) " killed at " (f.at_ms) " ms; " (new) " took over after " (after) " ms."
                },
                _ => html! { "Master " (f.killed) " killed at " (f.at_ms) " ms; no single master followed." },
            });
        }
    }
    if let Some(s) = &results.checkers.set {
        for lost in &s.result.lost {
            let faults: Vec<String> =
                lost.faults_nearby.iter().map(|f| format!("{} at {} ms", f.f, f.at_ms)).collect();
            items.push(html! {
                "Element " a href=(element_link(&lost.element)) { (lost.element) }
                " acknowledged by " (lost.node.as_deref().unwrap_or("?")) " at " (lost.written_ms.1)
                " ms is missing from the final read (faults nearby: "
                (if faults.is_empty() { "none".to_string() } else { faults.join(", ") }) ")."
            });
        }
    }
    if let Some(c) = results.checkers.linearizable.as_ref().and_then(|l| l.result.counterexample.as_ref()) {
        let b = &c.blocking;
        let line = b.line();
        let candidates: Vec<&str> = c.candidates.iter().map(|o| o.op.as_str()).collect();
        items.push(html! {
            "Not linearizable on key " (c.key.as_deref().unwrap_or("-")) ": "
            a href=(index_link(line.saturating_sub(1) as u64)) {
                (b.op) " by process " (b.process) " at " (b.node.as_deref().unwrap_or("?"))
            }
            " (history line " (line) ") fits no order of the operations: after " (c.linearized)
            " of them the last consistent state is " (c.state)
            ", and none of the candidates to go next ("
            (if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") })
            ") explains it."
        });
    }
    for d in results.checkers.deposed_masters() {
        let cited: Vec<Markup> = [&d.acknowledged, &d.reads]
            .into_iter()
            .flat_map(|ops| ops.iter().take(5))
            .map(|o| html! { a href=(index_link(o.index)) { (o.op) } })
            .collect();
        let rival = log_link(dir, &d.node, d.from_ms, ops, Some("a rival says Master"));
        let stepped = d.stepped_down_ms.map(|t| log_link(dir, &d.node, t, ops, Some("it steps down")));
        items.push(html! {
            (d.words) " History lines: " (listed(cited)) ". Its log: " (rival)
            @if let Some(stepped) = stepped { ", " (stepped) }
            "."
        });
    }
    html! {
        section id="anomalies" {
            h2 { "What happened" }
            @if items.is_empty() {
                p { "No anomaly." }
            } @else {
                ul { @for item in items { li { (item) } } }
            }
            " "
            p {
                "Details: " a href="results.json" { "results.json" } ", "
                a href="history.jsonl" { "history.jsonl" } "."
            }
        }
    }
}

/// A link that highlights the history line of the set element `element`'s append.
fn element_link(element: &serde_json::Value) -> String {
    format!("history.jsonl#:~:text={}", fragment(&format!("\"value\":{element},")))
}

/// A link that highlights the history line of the event at `index`.
fn index_link(index: u64) -> String {
    format!("history.jsonl#:~:text={}", fragment(&format!("\"index\":{index},")))
}

/// The history line of the observer round at `at_ms`, and a link that highlights it.
fn history_line(ops: &[Op], at_ms: u64) -> Option<(u64, String)> {
    let op =
        ops.iter().find(|o| o.process.is_observer() && o.f == "observe" && o.time / 1_000_000 == at_ms)?;
    Some((op.index + 1, index_link(op.index)))
}

/// The line of `node`'s log written at or just before `at_ms` (its lines are stamped with the
/// process's uptime), and a link that highlights it.
fn log_line(dir: &Path, node: &str, at_ms: u64, ops: &[Op]) -> Option<(String, String)> {
    let start =
        ops.iter().find(|o| o.process.is_harness() && o.f == "history-start")?.value["unix_ms"].as_u64()?;
    let started = ops
        .iter()
        .filter(|o| o.process.is_observer() && o.f == "observe" && o.time / 1_000_000 <= at_ms)
        .filter_map(|o| o.value["nodes"][node]["started_unix_ms"].as_u64())
        .rfind(|&t| t > 0)?;
    let uptime = (start + at_ms).checked_sub(started)? as f64 / 1000.0;
    let log = std::fs::read_to_string(dir.join(node).join("replica.log")).ok()?;
    let stamp = log
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .rfind(|s| s.strip_suffix('s').and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v <= uptime))?
        .to_string();
    let link = format!("{node}/replica.log#:~:text={}", fragment(&stamp));
    Some((stamp, link))
}

/// `text` encoded for a URL text fragment.
fn fragment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The time the plots cover, ms since the test started: from the first event to the last.
#[derive(Clone, Copy)]
struct Span {
    first: u64,
    last: u64,
}

fn x(ms: u64, span: Span) -> f64 {
    let at = ms.clamp(span.first, span.last) - span.first;
    120.0 + (at as f64 / (span.last - span.first) as f64) * (WIDTH - 130.0)
}

/// A coordinate as the plots write it.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Room below a plot for its time axis.
const AXIS: f64 = 18.0;

/// A time axis in seconds since the test started, under a plot of `height`: ticks at a round
/// step (at most about a dozen), each labelled.
fn time_axis(span: Span, height: f64) -> Markup {
    let seconds = (span.last - span.first) as f64 / 1000.0;
    let step = [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]
        .into_iter()
        .find(|s| seconds / *s as f64 <= 12.0)
        .unwrap_or(7200);
    let first = span.first.div_ceil(step * 1000) * step;
    let ticks = (first..).step_by(step as usize).take_while(|t| t * 1000 <= span.last);
    html! {
        line class="axis" x1=(px(x(span.first, span))) y1=(px(height)) x2=(px(x(span.last, span))) y2=(px(height)) stroke="#888" {}
        @for t in ticks {
            @let at = px(x(t * 1000, span));
            line x1=(at) y1=(px(height)) x2=(at) y2=(px(height + 4.0)) stroke="#888" {}
            text class="tick" x=(at) y=(px(height + 14.0)) text-anchor="middle" font-size="10" { (t) " s" }
        }
    }
}

/// A value axis at the left of a plot of `height`: its top value, its name, and 0.
fn value_axis(top: &str, name: &str, height: f64) -> Markup {
    html! {
        text x="4" y="14" { (top) }
        text x="4" y=(format!("{:.0}", height / 2.0)) { (name) }
        text x="4" y=(format!("{:.0}", height - 4.0)) { "0" }
    }
}

/// Shaded fault windows (packet faults in a shade of their own) and marked split-brain windows
/// over a plot of `height`.
fn windows(results: &Results, span: Span, height: f64) -> Markup {
    html! {
        @for f in results.checkers.perf.iter().flat_map(|p| &p.faults) {
            @let (a, b) = (x(f.start_ms, span), x(f.end_ms, span));
            // Packet faults slow and thin traffic rather than cut it: their own shade.
            rect class=(if f.f == "packet" { "packet" } else { "fault" }) x=(px(a)) y="0"
                width=(px((b - a).max(1.0))) height=(height) {
                title { (f.f) " " (f.start_ms) "-" (f.end_ms) " ms" }
            }
        }
        @for w in results.checkers.mastership.iter().flat_map(|m| &m.split_brain_windows) {
            @let (a, b) = (x(w.start_ms, span), x(w.end_ms, span));
            rect class="split" x=(px(a)) y="0" width=(px((b - a).max(3.0))) height="6" {
                title { "split brain: " (w.masters.join(", ")) }
            }
        }
    }
}

fn timeline(results: &Results, ops: &[Op], span: Span) -> Markup {
    let rounds: Vec<(u64, Round)> = ops
        .iter()
        .filter(|o| o.process.is_observer() && o.f == "observe")
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok().map(|r| (o.time / 1_000_000, r)))
        .collect();
    let mut lanes: BTreeMap<String, Vec<(u64, String, String)>> = BTreeMap::new();
    let names: BTreeMap<u32, String> = rounds
        .iter()
        .flat_map(|(_, r)| r.nodes.iter().filter_map(|(n, v)| v.as_ref().map(|v| (v.id, n.clone()))))
        .collect();
    for (t, round) in &rounds {
        for (node, view) in &round.nodes {
            let (state, follows) = match view {
                Some(v) => (
                    v.role.clone(),
                    v.master.and_then(|m| names.get(&m).cloned()).unwrap_or_else(|| "-".into()),
                ),
                None => ("down".to_string(), "-".into()),
            };
            let lane = lanes.entry(node.clone()).or_default();
            if lane.last().is_none_or(|(_, s, f)| *s != state || *f != follows) {
                lane.push((*t, state, follows));
            }
        }
    }
    let height = LANE * lanes.len() as f64 + 10.0;
    let lane_names: Vec<&str> = lanes.keys().map(String::as_str).collect();
    html! {
        section id="timeline" {
            h2 { "Mastership timeline" }
            svg id="mastership" xmlns=(SVG_NS) width=(WIDTH) height=(height + AXIS) {
                (time_axis(span, height))
                (windows(results, span, height))
                @for (i, (node, segments)) in lanes.iter().enumerate() {
                    @let y = 8.0 + i as f64 * LANE;
                    text x="4" y=(px(y + 15.0)) { (node) }
                    @for (k, (start, state, follows)) in segments.iter().enumerate() {
                        @let stop = segments.get(k + 1).map_or(span.last, |s| s.0);
                        @let (a, b) = (x(*start, span), x(stop, span));
                        rect class=(state) x=(px(a)) y=(px(y)) width=(px((b - a).max(0.5))) height=(px(LANE - 6.0)) {
                            title { (node) " " (state) " following " (follows) ", " (start) "-" (stop) " ms" }
                        }
                    }
                }
                (data_marks(results, ops, span, &lane_names))
            }
            p { "Red: Master, blue: Backup, orange: WaitElection, grey: down. Shaded: faults (blue: packet faults); red band: split brain. Hover a bar for whom the node followed." }
            p {
                "Data anomalies, each a link to its history line: a dashed purple frame where a deposed master served while a rival did, \
                 purple ticks for the updates it acknowledged there (discarded at its recovery), yellow ticks for the reads it answered \
                 there (possibly stale), a black diamond for an acknowledged set element missing from the final read, and a black line \
                 through every lane at the operation no linearization explains."
            }
        }
    }
}

/// Ticks drawn per deposed master and kind (acknowledged updates, reads) at most.
const MAX_TICKS: usize = 200;

/// The data checkers' findings drawn over the mastership lanes (`lanes`, top to bottom): what
/// each deposed master did while a rival served, lost set elements where they were
/// acknowledged, and the operation no linearization explains; each mark links to its history
/// line.
fn data_marks(results: &Results, ops: &[Op], span: Span, lanes: &[&str]) -> Markup {
    let top = |node: &str| lanes.iter().position(|l| *l == node).map(|i| 8.0 + i as f64 * LANE);
    let bottom = 8.0 + lanes.len() as f64 * LANE;
    let counterexample =
        results.checkers.linearizable.as_ref().and_then(|l| l.result.counterexample.as_ref()).and_then(|c| {
            let index = c.blocking.line().saturating_sub(1) as u64;
            ops.iter().find(|o| o.index == index).map(|op| (c, index, op.time / 1_000_000))
        });
    html! {
        @for d in results.checkers.deposed_masters() {
            @if let Some(y) = top(&d.node) {
                @let (a, b) = (x(d.from_ms, span), x(d.stepped_down_ms.unwrap_or(span.last), span));
                @let link = d.acknowledged.first().or(d.reads.first()).map_or("history.jsonl".to_string(), |o| index_link(o.index));
                a href=(link) {
                    rect class="deposed" x=(px(a)) y=(px(y - 2.0)) width=(px((b - a).max(2.0))) height=(px(LANE - 2.0)) {
                        title { (d.words) }
                    }
                }
                @for (class, cited, tick_y) in [("discarded", &d.acknowledged, y - 1.0), ("stale", &d.reads, y + LANE - 9.0)] {
                    @for o in cited.iter().take(MAX_TICKS) {
                        a href=(index_link(o.index)) {
                            rect class=(class) x=(px(x(o.at_ms, span) - 1.0)) y=(px(tick_y)) width="2" height=(px(6.0)) {
                                title { (o.op) " at " (o.at_ms) " ms (" (class) ")" }
                            }
                        }
                    }
                }
            }
        }
        @for lost in results.checkers.set.iter().flat_map(|s| &s.result.lost) {
            @if let Some(y) = lost.node.as_deref().and_then(top) {
                @let (at, mid) = (x(lost.written_ms.1, span), y + (LANE - 6.0) / 2.0);
                a href=(element_link(&lost.element)) {
                    path class="lost" d=(format!("M{at:.1} {:.1}L{:.1} {mid:.1}L{at:.1} {:.1}L{:.1} {mid:.1}Z", mid - 5.0, at + 4.0, mid + 5.0, at - 4.0)) {
                        title { "element " (lost.element) " acknowledged at " (lost.written_ms.1) " ms, missing from the final read" }
                    }
                }
            }
        }
        @if let Some((c, index, at_ms)) = counterexample {
            @let at = px(x(at_ms, span));
            a href=(index_link(index)) {
                line class="nonlinearizable" x1=(at) y1="2" x2=(at) y2=(px(bottom)) {
                    title {
                        "not linearizable on key " (c.key.as_deref().unwrap_or("-")) ": " (c.blocking.op)
                        " by process " (c.blocking.process) " (history line " (c.blocking.line()) ")"
                    }
                }
            }
        }
    }
}

fn latencies(results: &Results, ops: &[Op], span: Span) -> Markup {
    let points: Vec<(u64, f64, OpType)> = client_pairs(ops)
        .into_iter()
        .filter_map(|(_, invoke, done)| {
            done.map(|d| (invoke.time / 1_000_000, (d.time - invoke.time) as f64 / 1e6, d.kind))
        })
        .collect();
    let total = points.len();
    let step = total.div_ceil(MAX_POINTS).max(1);
    let max = points.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let height = 220.0;
    html! {
        section id="latency" {
            h2 { "Latency" }
            svg id="latencies" xmlns=(SVG_NS) width=(WIDTH) height=(height + AXIS) {
                (windows(results, span, height))
                (time_axis(span, height))
                (value_axis(&format!("{max:.0} ms"), "latency (ms)", height))
                @for (t, ms, kind) in points.iter().step_by(step) {
                    circle class=(kind.name()) cx=(px(x(*t, span))) cy=(px(height - 10.0 - (ms / max) * (height - 20.0))) r="1.6" {}
                }
            }
            p { (total.div_ceil(step)) " of " (total) " completions plotted (green ok, red fail, orange unknown), by invocation time." }
        }
    }
}

/// Completions per second (all operations, by outcome), stacked, with the fault windows.
fn throughput(results: &Results, span: Span) -> Markup {
    let empty = BTreeMap::new();
    let series = results.checkers.perf.as_ref().map_or(&empty, |p| &p.throughput);
    let seconds = series.values().map(Vec::len).max().unwrap_or(0);
    let mut totals: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (name, counts) in series {
        let outcome = name.rsplit(' ').next().unwrap_or("ok");
        let outcome = if ["ok", "fail", "info"].contains(&outcome) { outcome } else { "ok" };
        let slot = totals.entry(outcome).or_insert_with(|| vec![0; seconds]);
        for (i, c) in counts.iter().enumerate() {
            slot[i] += c;
        }
    }
    let peak = (0..seconds).map(|i| totals.values().map(|v| v[i]).sum::<u64>()).max().unwrap_or(0).max(1);
    let height = 160.0;
    // Each second's bars, stacked from the bottom: (outcome, count, x, width, y, height).
    let mut bars = Vec::new();
    for i in 0..seconds {
        let second_ms = i as u64 * 1000;
        if second_ms + 1000 < span.first || second_ms > span.last {
            continue;
        }
        let (a, b) = (x(second_ms, span), x(second_ms + 1000, span));
        let mut base = height - 4.0;
        for outcome in ["ok", "fail", "info"] {
            let n = totals.get(outcome).map_or(0, |v| v[i]);
            if n == 0 {
                continue;
            }
            let h = n as f64 / peak as f64 * (height - 24.0);
            base -= h;
            bars.push((outcome, n, i, a, (b - a - 0.5).max(0.5), base, h));
        }
    }
    html! {
        section id="throughput" {
            h2 { "Throughput" }
            svg id="rates" xmlns=(SVG_NS) width=(WIDTH) height=(height + AXIS) {
                (windows(results, span, height))
                (time_axis(span, height))
                (value_axis(&format!("{peak}/s"), "operations/s", height))
                @for (outcome, n, second, a, w, y, h) in bars {
                    rect class=(outcome) x=(px(a)) y=(px(y)) width=(px(w)) height=(px(h)) {
                        title { (n) " " (outcome) " in second " (second) }
                    }
                }
            }
            p { "Completions per second: green ok, red fail, orange unknown." }
        }
    }
}

/// One row per client process, each operation a bar from its invocation to its completion,
/// coloured by outcome (an operation that never completed runs to the end).
fn ops_timeline(results: &Results, ops: &[Op], span: Span) -> Markup {
    let mut bars: Vec<(u64, u64, u64, &'static str, String)> = client_pairs(ops)
        .into_iter()
        .map(|(p, invoke, done)| match done {
            Some(d) => {
                let what = format!(
                    "process {p}: {} {} {} -> {} {}",
                    d.f,
                    d.key.as_deref().unwrap_or(""),
                    invoke.value,
                    d.value,
                    d.error.as_deref().unwrap_or("")
                );
                (p, invoke.time / 1_000_000, d.time / 1_000_000, d.kind.name(), what)
            }
            None => (
                p,
                invoke.time / 1_000_000,
                span.last,
                "info",
                format!("process {p}: {} never completed", invoke.f),
            ),
        })
        .collect();
    bars.sort_by_key(|b| b.1);
    let total = bars.len();
    bars.truncate(MAX_OPS_DRAWN);
    let rows: Vec<u64> =
        bars.iter().map(|b| b.0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let row_height = 12.0;
    let height = rows.len() as f64 * row_height + 10.0;
    html! {
        section id="op-timeline" {
            h2 { "Client operation timeline" }
            svg id="operations-timeline" xmlns=(SVG_NS) width=(WIDTH) height=(height + AXIS) {
                (windows(results, span, height))
                (time_axis(span, height))
                @for (i, p) in rows.iter().enumerate() {
                    text x="4" y=(px(14.0 + i as f64 * row_height)) font-size="10" {
                        @if *p >= u64::MAX / 4 { "final" } @else { "p" (p) }
                    }
                }
                @for (p, start, end, outcome, what) in &bars {
                    @let row = rows.binary_search(p).unwrap_or(0);
                    @let (a, b) = (x(*start, span), x(*end, span));
                    rect class=(outcome) x=(px(a)) y=(px(6.0 + row as f64 * row_height)) width=(px((b - a).max(1.0))) height=(px(row_height - 3.0)) {
                        title { (what) }
                    }
                }
            }
            @if total > MAX_OPS_DRAWN {
                p { "Showing the first " (MAX_OPS_DRAWN) " of " (total) " operations." }
            }
            p { "One row per client process; bars from invocation to completion: green ok, red fail, orange unknown. Hover a bar for the operation." }
        }
    }
}

fn operations(ops: &[Op]) -> Markup {
    let clients: Vec<&Op> = ops.iter().filter(|o| o.process.is_client()).collect();
    html! {
        section id="operations" {
            h2 { "Client operations" }
            @if clients.len() > MAX_OPS_LISTED {
                p {
                    "Showing the first " (MAX_OPS_LISTED) " of " (clients.len()) " operations; the rest are in "
                    a href="history.jsonl" { "history.jsonl" } "."
                }
            }
            table {
                tr {
                    th { "line" } th { "ms" } th { "process" } th { "type" } th { "f" }
                    th { "key" } th { "value" } th { "node" } th { "error" }
                }
                @for op in clients.iter().take(MAX_OPS_LISTED) {
                    tr {
                        td { (op.index + 1) }
                        td { (op.time / 1_000_000) }
                        td {
                            @match &op.process {
                                Process::Client(p) => (p),
                                Process::Named(n) => (n),
                            }
                        }
                        td { (format!("{:?}", op.kind)) }
                        td { (op.f) }
                        td { (op.key.as_deref().unwrap_or("")) }
                        td { (op.value.to_string()) }
                        td { (op.node.as_deref().unwrap_or("")) }
                        td { (op.error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}
