//! Latencies over time: a point per completed client operation at its invocation, coloured by
//! its outcome, drawn by plotters, with the fault windows.

use checkers::history::{Op, client_pairs};
use checkers::results::Results;
use maud::{Markup, html};

use super::frame::{self, Dot, DrawError, Values};
use super::palette::Paint;
use super::{Span, outcome_keys, svg, windows};

/// Latency points plotted at most.
const MAX_POINTS: usize = 5000;
/// The plotting area's height.
const HEIGHT: u32 = 220;

/// The latency section.
pub(crate) fn section(results: &Results, ops: &[Op], span: Span) -> Result<Markup, DrawError> {
    let points: Vec<Dot> = client_pairs(ops)
        .into_iter()
        .filter_map(|(_, invoke, done)| {
            done.map(|d| {
                let at = (invoke.time / 1_000_000) as f64 / 1000.0;
                (at, (d.time - invoke.time) as f64 / 1e6, Paint::of_outcome(d.kind.name()))
            })
        })
        .collect();
    let total = points.len();
    let step = total.div_ceil(MAX_POINTS).max(1);
    let top = points.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let plotted: Vec<Dot> = points.into_iter().step_by(step).collect();
    let values = Values::Linear { name: "latency (ms)", top };
    let frame = frame::draw(span, HEIGHT, &values, &outcome_keys(results), &plotted)?;
    let overlay = windows::overlay(results, &frame.area);
    Ok(html! {
        section id="latency" {
            h2 { "Latency" }
            (svg("latencies", &frame, overlay))
            p { (plotted.len()) " of " (total) " completions plotted, by invocation time." }
        }
    })
}
