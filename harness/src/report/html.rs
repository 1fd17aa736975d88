//! `report.html`: one self-contained page per run (inline CSS and SVG, nothing fetched): the
//! verdict, each checker's result, the anomalies in words, the plots (`plots`: a mastership
//! timeline with a lane per node, latencies, throughput and the client operations over time,
//! with the fault windows), and the client operations (capped). Written with maud, which
//! escapes every value it is given.

use std::path::Path;

use checkers::history::{Op, Process};
use checkers::results::Results;
use checkers::verdict::Verdict;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::excerpt::Excerpt;
use super::links::{element_link, fragment, index_link};
use super::plots::{self, Span};
use crate::error::Error;

/// Client operations listed at most.
pub const MAX_OPS_LISTED: usize = 500;

/// The page for the run of test `name`, stored in `dir` (where the node logs are), drawn from
/// `excerpt` of its history.
pub fn report(name: &str, results: &Results, excerpt: &Excerpt, dir: &Path) -> Result<String, Error> {
    let ops = excerpt.ops.as_slice();
    let plots = plots::sections(results, ops, Span::of(ops))?;
    let word = results.valid.word();
    let schedule = crate::plan::schedule::Schedule::of_history(ops);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "splitbrain: " (name) }
                style { (PreEscaped(STYLE)) (PreEscaped(plots::css())) }
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
                (plots)
                (operations(ops))
            }
        }
    };
    Ok(page.into_string() + "\n")
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
header{padding:.6em 1em;border-radius:6px;color:#fff}header h1{margin:0}\
.valid{background:#2e7d32}.INVALID{background:#c62828}.unknown{background:#ef6c00}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}\
section{margin-top:1.5em}section>svg{border:1px solid #ddd;background:#fafafa;max-width:100%;height:auto}";

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
