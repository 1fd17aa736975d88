//! `report.html`: one self-contained page per run (inline CSS and SVG, nothing fetched): the
//! verdict, each checker's result, a mastership timeline with a lane per node, latencies over
//! time with the fault windows, the client operations (capped), and the anomalies in words.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use checkers::history::{Op, OpType, Process, client_pairs};
use checkers::mastership::Round;
use checkers::results::Results;
use checkers::verdict::Verdict;

use crate::report::markup::escape;

const WIDTH: f64 = 1000.0;
const LANE: f64 = 26.0;
/// Client operations listed at most.
pub const MAX_OPS_LISTED: usize = 500;
/// Latency points plotted at most.
const MAX_POINTS: usize = 5000;
/// Client operations drawn on the operation timeline at most.
pub const MAX_OPS_DRAWN: usize = 2000;

/// The page for the run of test `name`, stored in `dir` (where the node logs are).
pub fn report(name: &str, results: &Results, ops: &[Op], dir: &Path) -> String {
    let first = ops.iter().map(|o| o.time / 1_000_000).min().unwrap_or(0);
    let last = ops.iter().map(|o| o.time / 1_000_000).max().unwrap_or(0);
    let span = Span { first, last: last.max(first + 1) };
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>splitbrain: {name}</title>\n<style>{STYLE}</style></head><body>\n",
        name = escape(name)
    );
    let word = results.valid.word();
    let _ = writeln!(
        page,
        "<header id=\"verdict\" class=\"{word}\"><h1>{}</h1><p>test {}</p></header>",
        word.to_uppercase(),
        escape(name)
    );
    let schedule = crate::plan::schedule::Schedule::of_history(ops);
    let _ = writeln!(
        page,
        "<p id=\"schedule\">fault schedule: {} (<a href=\"schedule.yaml\">schedule.yaml</a>, to run again with <code>--replay</code>)</p>",
        escape(&schedule.summary())
    );
    checkers_table(&mut page, results);
    anomalies(&mut page, results, ops, dir);
    timeline(&mut page, results, ops, span);
    latencies(&mut page, results, ops, span);
    throughput(&mut page, results, span);
    ops_timeline(&mut page, results, ops, span);
    operations(&mut page, ops);
    page.push_str("</body></html>\n");
    page
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
header{padding:.6em 1em;border-radius:6px;color:#fff}header h1{margin:0}\
.valid{background:#2e7d32}.INVALID{background:#c62828}.unknown{background:#ef6c00}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}\
section{margin-top:1.5em}svg{border:1px solid #ddd;background:#fafafa}\
.Master{fill:#c62828}.Backup{fill:#1565c0}.WaitElection{fill:#ef6c00}.down{fill:#9e9e9e}\
.fault{fill:#000;opacity:.08}.deposed{fill:none;stroke:#6a1b9a;stroke-width:2;stroke-dasharray:4 2}\
.discarded{fill:#6a1b9a}.stale{fill:#f9a825}.lost{fill:#000}.nonlinearizable{stroke:#000;stroke-width:2}.split{fill:#c62828;opacity:.25}.ok{fill:#2e7d32}.fail{fill:#c62828}.info{fill:#ef6c00}";

fn checkers_table(page: &mut String, results: &Results) {
    page.push_str("<section id=\"checkers\"><h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>summary</th></tr>\n");
    for (name, r) in results.checkers.each() {
        let verdict = r.verdict().word();
        let _ = writeln!(
            page,
            "<tr><td>{name}</td><td class=\"{verdict}\" style=\"color:#fff\">{verdict}</td><td>{}</td></tr>",
            escape(&r.summary())
        );
    }
    page.push_str("</table></section>\n");
}

fn anomalies(page: &mut String, results: &Results, ops: &[Op], dir: &Path) {
    let mut items = Vec::new();
    if let Some(m) = &results.checkers.mastership {
        if m.valid == Verdict::Invalid {
            let logs: Vec<String> = m
                .persisted_masters
                .iter()
                .map(|n| match m.violation_ms.and_then(|t| log_line(dir, n, t, ops)) {
                    Some((stamp, link)) => format!("<a href=\"{link}\">{n}/replica.log at {stamp}</a>"),
                    None => format!("<a href=\"{n}/replica.log\">{n}/replica.log</a>"),
                })
                .collect();
            let history =
                m.violation_ms.and_then(|t| history_line(ops, t)).map_or(String::new(), |(line, link)| {
                    format!(" <a href=\"{link}\">History line {line}</a>.")
                });
            items.push(format!("{}{history} Logs around it: {}.", escape(&m.summary), logs.join(", ")));
        }
        for w in &m.split_brain_windows {
            items.push(format!(
                "Split brain from {} ms to {} ms: {} said Master at once.",
                w.start_ms,
                w.end_ms,
                w.masters.join(", ")
            ));
        }
        for f in &m.failovers {
            items.push(match (&f.new_master, f.after_ms) {
                (Some(new), Some(after)) => {
                    format!("Master {} killed at {} ms; {new} took over after {after} ms.", f.killed, f.at_ms)
                }
                _ => format!("Master {} killed at {} ms; no single master followed.", f.killed, f.at_ms),
            });
        }
    }
    if let Some(s) = &results.checkers.set {
        for lost in &s.result.lost {
            let faults: Vec<String> =
                lost.faults_nearby.iter().map(|f| format!("{} at {} ms", f.f, f.at_ms)).collect();
            items.push(format!(
                "Element <a href=\"{}\">{}</a> acknowledged by {} at {} ms is missing from the final read (faults nearby: {}).",
                element_link(&lost.element),
                lost.element,
                lost.node.as_deref().unwrap_or("?"),
                lost.written_ms.1,
                if faults.is_empty() { "none".to_string() } else { faults.join(", ") }
            ));
        }
    }
    if let Some(c) = results.checkers.linearizable.as_ref().and_then(|l| l.result.counterexample.as_ref()) {
        let b = &c.blocking;
        let line = b.line();
        let candidates: Vec<String> = c.candidates.iter().map(|o| escape(&o.op)).collect();
        items.push(format!(
            "Not linearizable on key {}: <a href=\"{}\">{} by process {} at {}</a> (history line {line}) fits no order \
             of the operations: after {} of them the last consistent state is {}, and none of the candidates to go next \
             ({}) explains it.",
            escape(c.key.as_deref().unwrap_or("-")),
            index_link(line.saturating_sub(1) as u64),
            escape(&b.op),
            escape(&b.process),
            escape(b.node.as_deref().unwrap_or("?")),
            c.linearized,
            escape(&c.state),
            if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") },
        ));
    }
    for d in results.checkers.deposed_masters() {
        let cited: Vec<String> = [&d.acknowledged, &d.reads]
            .into_iter()
            .flat_map(|ops| ops.iter().take(5))
            .map(|o| format!("<a href=\"{}\">{}</a>", index_link(o.index), escape(&o.op)))
            .collect();
        let log = |at_ms: u64, what: &str| match log_line(dir, &d.node, at_ms, ops) {
            Some((stamp, link)) => {
                format!("<a href=\"{link}\">{}/replica.log at {stamp}</a> ({what})", d.node)
            }
            None => format!("<a href=\"{}/replica.log\">{}/replica.log</a>", d.node, d.node),
        };
        let logs = match d.stepped_down_ms {
            Some(t) => format!("{}, {}", log(d.from_ms, "a rival says Master"), log(t, "it steps down")),
            None => log(d.from_ms, "a rival says Master"),
        };
        items.push(format!(
            "{} History lines: {}. Its log: {logs}.",
            escape(&d.words),
            if cited.is_empty() { "none".to_string() } else { cited.join(", ") }
        ));
    }
    page.push_str("<section id=\"anomalies\"><h2>What happened</h2>");
    if items.is_empty() {
        page.push_str("<p>No anomaly.</p>");
    } else {
        page.push_str("<ul>");
        for item in items {
            let _ = write!(page, "<li>{item}</li>");
        }
        page.push_str("</ul>");
    }
    page.push_str(" <p>Details: <a href=\"results.json\">results.json</a>, <a href=\"history.jsonl\">history.jsonl</a>.</p></section>\n");
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

/// Room below a plot for its time axis.
const AXIS: f64 = 18.0;

/// A time axis in seconds since the test started, under a plot of `height`: ticks at a round
/// step (at most about a dozen), each labelled.
fn time_axis(svg: &mut String, span: Span, height: f64) {
    let seconds = (span.last - span.first) as f64 / 1000.0;
    let step = [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]
        .into_iter()
        .find(|s| seconds / *s as f64 <= 12.0)
        .unwrap_or(7200);
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{:.1}\" y1=\"{height:.1}\" x2=\"{:.1}\" y2=\"{height:.1}\" stroke=\"#888\"/>",
        x(span.first, span),
        x(span.last, span)
    );
    let mut t = span.first.div_ceil(step * 1000) * step;
    while t * 1000 <= span.last {
        let at = x(t * 1000, span);
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" y1=\"{height:.1}\" x2=\"{at:.1}\" y2=\"{:.1}\" stroke=\"#888\"/><text class=\"tick\" x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{t} s</text>",
            height + 4.0,
            height + 14.0
        );
        t += step;
    }
}

/// A value axis at the left of a plot of `height`: its top value, its name, and 0.
fn value_axis(svg: &mut String, top: &str, name: &str, height: f64) {
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"14\">{}</text><text x=\"4\" y=\"{:.0}\">{}</text><text x=\"4\" y=\"{:.0}\">0</text>",
        escape(top),
        height / 2.0,
        escape(name),
        height - 4.0
    );
}

/// Shaded fault windows and marked split-brain windows over a plot of `height`.
fn windows(svg: &mut String, results: &Results, span: Span, height: f64) {
    for f in results.checkers.perf.iter().flat_map(|p| &p.faults) {
        let (a, b) = (x(f.start_ms, span), x(f.end_ms, span));
        let _ = write!(
            svg,
            "<rect class=\"fault\" x=\"{a:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height}\"><title>{} {}-{} ms</title></rect>",
            (b - a).max(1.0),
            escape(&f.f),
            f.start_ms,
            f.end_ms
        );
    }
    for w in results.checkers.mastership.iter().flat_map(|m| &m.split_brain_windows) {
        let (a, b) = (x(w.start_ms, span), x(w.end_ms, span));
        let _ = write!(
            svg,
            "<rect class=\"split\" x=\"{a:.1}\" y=\"0\" width=\"{:.1}\" height=\"6\"><title>split brain: {}</title></rect>",
            (b - a).max(3.0),
            escape(&w.masters.join(", "))
        );
    }
}

fn timeline(page: &mut String, results: &Results, ops: &[Op], span: Span) {
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
    let _ = write!(
        page,
        "<section id=\"timeline\"><h2>Mastership timeline</h2><svg id=\"mastership\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\">",
        height + AXIS
    );
    time_axis(page, span, height);
    windows(page, results, span, height);
    for (i, (node, segments)) in lanes.iter().enumerate() {
        let y = 8.0 + i as f64 * LANE;
        let _ = write!(page, "<text x=\"4\" y=\"{:.1}\">{}</text>", y + 15.0, escape(node));
        for (k, (start, state, follows)) in segments.iter().enumerate() {
            let stop = segments.get(k + 1).map_or(span.last, |s| s.0);
            let (a, b) = (x(*start, span), x(stop, span));
            let _ = write!(
                page,
                "<rect class=\"{state}\" x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{node} {state} following {follows}, {start}-{stop} ms</title></rect>",
                (b - a).max(0.5),
                LANE - 6.0,
                node = escape(node),
            );
        }
    }
    let names: Vec<&str> = lanes.keys().map(String::as_str).collect();
    data_marks(page, results, ops, span, &names);
    page.push_str("</svg><p>Red: Master, blue: Backup, orange: WaitElection, grey: down. Shaded: faults; red band: split brain. Hover a bar for whom the node followed.</p>");
    page.push_str("<p>Data anomalies, each a link to its history line: a dashed purple frame where a deposed master served while a rival did, purple ticks for the updates it acknowledged there (discarded at its recovery), yellow ticks for the reads it answered there (possibly stale), a black diamond for an acknowledged set element missing from the final read, and a black line through every lane at the operation no linearization explains.</p></section>\n");
}

/// Ticks drawn per deposed master and kind (acknowledged updates, reads) at most.
const MAX_TICKS: usize = 200;

/// The data checkers' findings drawn over the mastership lanes (`lanes`, top to bottom): what
/// each deposed master did while a rival served, lost set elements where they were
/// acknowledged, and the operation no linearization explains; each mark links to its history
/// line.
fn data_marks(svg: &mut String, results: &Results, ops: &[Op], span: Span, lanes: &[&str]) {
    let top = |node: &str| lanes.iter().position(|l| *l == node).map(|i| 8.0 + i as f64 * LANE);
    let bottom = 8.0 + lanes.len() as f64 * LANE;
    for d in results.checkers.deposed_masters() {
        let Some(y) = top(&d.node) else { continue };
        let (a, b) = (x(d.from_ms, span), x(d.stepped_down_ms.unwrap_or(span.last), span));
        let link = d
            .acknowledged
            .first()
            .or(d.reads.first())
            .map_or("history.jsonl".to_string(), |o| index_link(o.index));
        let _ = write!(
            svg,
            "<a href=\"{link}\"><rect class=\"deposed\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect></a>",
            y - 2.0,
            (b - a).max(2.0),
            LANE - 2.0,
            escape(&d.words)
        );
        for (class, cited, tick) in
            [("discarded", &d.acknowledged, (y - 1.0, 6.0)), ("stale", &d.reads, (y + LANE - 9.0, 6.0))]
        {
            for o in cited.iter().take(MAX_TICKS) {
                let at = x(o.at_ms, span);
                let _ = write!(
                    svg,
                    "<a href=\"{}\"><rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"2\" height=\"{:.1}\"><title>{} at {} ms ({class})</title></rect></a>",
                    index_link(o.index),
                    at - 1.0,
                    tick.0,
                    tick.1,
                    escape(&o.op),
                    o.at_ms
                );
            }
        }
    }
    for lost in results.checkers.set.iter().flat_map(|s| &s.result.lost) {
        let Some(y) = lost.node.as_deref().and_then(top) else { continue };
        let (at, mid) = (x(lost.written_ms.1, span), y + (LANE - 6.0) / 2.0);
        let _ = write!(
            svg,
            "<a href=\"{}\"><path class=\"lost\" d=\"M{at:.1} {:.1}L{:.1} {mid:.1}L{at:.1} {:.1}L{:.1} {mid:.1}Z\"><title>element {} acknowledged at {} ms, missing from the final read</title></path></a>",
            element_link(&lost.element),
            mid - 5.0,
            at + 4.0,
            mid + 5.0,
            at - 4.0,
            lost.element,
            lost.written_ms.1
        );
    }
    let counterexample =
        results.checkers.linearizable.as_ref().and_then(|l| l.result.counterexample.as_ref());
    if let Some(c) = counterexample {
        let line = c.blocking.line();
        let index = line.saturating_sub(1) as u64;
        let Some(op) = ops.iter().find(|o| o.index == index) else { return };
        let at = x(op.time / 1_000_000, span);
        let _ = write!(
            svg,
            "<a href=\"{}\"><line class=\"nonlinearizable\" x1=\"{at:.1}\" y1=\"2\" x2=\"{at:.1}\" y2=\"{bottom:.1}\"><title>not linearizable on key {}: {} by process {} (history line {line})</title></line></a>",
            index_link(index),
            escape(c.key.as_deref().unwrap_or("-")),
            escape(&c.blocking.op),
            escape(&c.blocking.process)
        );
    }
}

fn latencies(page: &mut String, results: &Results, ops: &[Op], span: Span) {
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
    let _ = write!(
        page,
        "<section id=\"latency\"><h2>Latency</h2><svg id=\"latencies\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\">",
        height + AXIS
    );
    windows(page, results, span, height);
    time_axis(page, span, height);
    value_axis(page, &format!("{max:.0} ms"), "latency (ms)", height);
    for (t, ms, kind) in points.iter().step_by(step) {
        let class = kind.name();
        let y = height - 10.0 - (ms / max) * (height - 20.0);
        let _ = write!(page, "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"1.6\"/>", x(*t, span));
    }
    let shown = total.div_ceil(step);
    let _ = writeln!(
        page,
        "</svg><p>{shown} of {total} completions plotted (green ok, red fail, orange unknown), by invocation time.</p></section>"
    );
}

/// Completions per second (all operations, by outcome), stacked, with the fault windows.
fn throughput(page: &mut String, results: &Results, span: Span) {
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
    let _ = write!(
        page,
        "<section id=\"throughput\"><h2>Throughput</h2><svg id=\"rates\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\">",
        height + AXIS
    );
    windows(page, results, span, height);
    time_axis(page, span, height);
    value_axis(page, &format!("{peak}/s"), "operations/s", height);
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
            let _ = write!(
                page,
                "<rect class=\"{outcome}\" x=\"{a:.1}\" y=\"{base:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{n} {outcome} in second {i}</title></rect>",
                (b - a - 0.5).max(0.5)
            );
        }
    }
    page.push_str("</svg><p>Completions per second: green ok, red fail, orange unknown.</p></section>\n");
}

/// One row per client process, each operation a bar from its invocation to its completion,
/// coloured by outcome (an operation that never completed runs to the end).
fn ops_timeline(page: &mut String, results: &Results, ops: &[Op], span: Span) {
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
    let _ = write!(
        page,
        "<section id=\"op-timeline\"><h2>Client operation timeline</h2><svg id=\"operations-timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\">",
        height + AXIS
    );
    windows(page, results, span, height);
    time_axis(page, span, height);
    for (i, p) in rows.iter().enumerate() {
        let label = if *p >= u64::MAX / 4 { "final".to_string() } else { format!("p{p}") };
        let _ = write!(
            page,
            "<text x=\"4\" y=\"{:.1}\" font-size=\"10\">{label}</text>",
            14.0 + i as f64 * row_height
        );
    }
    for (p, start, end, outcome, what) in &bars {
        let row = rows.binary_search(p).unwrap_or(0);
        let (a, b) = (x(*start, span), x(*end, span));
        let _ = write!(
            page,
            "<rect class=\"{outcome}\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
            6.0 + row as f64 * row_height,
            (b - a).max(1.0),
            row_height - 3.0,
            escape(what)
        );
    }
    page.push_str("</svg>");
    if total > MAX_OPS_DRAWN {
        let _ = write!(page, "<p>Showing the first {MAX_OPS_DRAWN} of {total} operations.</p>");
    }
    page.push_str("<p>One row per client process; bars from invocation to completion: green ok, red fail, orange unknown. Hover a bar for the operation.</p></section>\n");
}

fn operations(page: &mut String, ops: &[Op]) {
    let clients: Vec<&Op> = ops.iter().filter(|o| o.process.is_client()).collect();
    let _ = write!(page, "<section id=\"operations\"><h2>Client operations</h2>");
    if clients.len() > MAX_OPS_LISTED {
        let _ = write!(
            page,
            "<p>Showing the first {MAX_OPS_LISTED} of {} operations; the rest are in <a href=\"history.jsonl\">history.jsonl</a>.</p>",
            clients.len()
        );
    }
    page.push_str("<table><tr><th>line</th><th>ms</th><th>process</th><th>type</th><th>f</th><th>key</th><th>value</th><th>node</th><th>error</th></tr>");
    for op in clients.iter().take(MAX_OPS_LISTED) {
        let process = match &op.process {
            Process::Client(p) => p.to_string(),
            Process::Named(n) => n.clone(),
        };
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{process}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            op.index + 1,
            op.time / 1_000_000,
            op.kind,
            escape(&op.f),
            escape(op.key.as_deref().unwrap_or("")),
            escape(&op.value.to_string()),
            escape(op.node.as_deref().unwrap_or("")),
            escape(op.error.as_deref().unwrap_or("")),
        );
    }
    page.push_str("</table></section>\n");
}
