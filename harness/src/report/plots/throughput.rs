//! Completions per second (all operations, by outcome), stacked, with the fault windows.

use std::collections::BTreeMap;

use checkers::results::Results;
use maud::{Markup, html};

use super::frame::{self, DrawError, Values};
use super::palette::Paint;
use super::{Span, outcome_keys, px, svg, windows};

/// The plotting area's height.
const HEIGHT: u32 = 160;
/// The outcomes, bottom to top.
const OUTCOMES: [&str; 3] = ["ok", "fail", "info"];

/// Each outcome's completions per second since the test started, from the perf checker's
/// series (named `<f> <outcome>`).
fn per_second(results: &Results) -> BTreeMap<&'static str, Vec<u64>> {
    let empty = BTreeMap::new();
    let series = results.checkers.perf.as_ref().map_or(&empty, |p| &p.throughput);
    let seconds = series.values().map(Vec::len).max().unwrap_or(0);
    let mut totals: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (name, counts) in series {
        let outcome = name.rsplit(' ').next().unwrap_or("ok");
        let outcome = OUTCOMES.into_iter().find(|o| *o == outcome).unwrap_or("ok");
        let slot = totals.entry(outcome).or_insert_with(|| vec![0; seconds]);
        for (i, c) in counts.iter().enumerate() {
            slot[i] += c;
        }
    }
    totals
}

/// The throughput section.
pub(crate) fn section(results: &Results, span: Span) -> Result<Markup, DrawError> {
    let totals = per_second(results);
    let seconds = totals.values().map(Vec::len).max().unwrap_or(0);
    let peak = (0..seconds).map(|i| totals.values().map(|v| v[i]).sum::<u64>()).max().unwrap_or(0).max(1);
    let values = Values::Linear { name: "operations/s", top: peak as f64 };
    let frame = frame::draw(span, HEIGHT, &values, &outcome_keys(results), &[])?;
    let area = frame.area;
    // Each second's bars, stacked from the bottom: (outcome, count, second, x, width, y, height).
    let mut bars = Vec::new();
    for i in 0..seconds {
        let second_ms = i as u64 * 1000;
        if second_ms + 1000 < span.first || second_ms > span.last {
            continue;
        }
        let (a, b) = (area.x(second_ms), area.x(second_ms + 1000));
        let mut below = 0;
        for outcome in OUTCOMES {
            let n = totals.get(outcome).map_or(0, |v| v[i]);
            if n == 0 {
                continue;
            }
            let (y0, y1) = (area.y(below as f64), area.y((below + n) as f64));
            below += n;
            bars.push((outcome, n, i, a, (b - a - 0.5).max(0.5), y1, y0 - y1));
        }
    }
    let overlay = html! {
        (windows::overlay(results, &area))
        @for (outcome, n, second, a, w, y, h) in bars {
            rect class=(Paint::of_outcome(outcome).class) x=(px(a)) y=(px(y)) width=(px(w)) height=(px(h)) {
                title { (n) " " (outcome) " in second " (second) }
            }
        }
    };
    Ok(html! {
        section id="throughput" {
            h2 { "Throughput" }
            (svg("rates", &frame, overlay))
            p { "Completions per second, stacked by outcome." }
        }
    })
}
