//! The client operation timeline: one row per client process, each operation a bar from its
//! invocation to its completion, coloured by outcome (one that never completed runs to the
//! end), with the fault windows.

use std::collections::BTreeSet;

use checkers::history::{Op, client_pairs};
use checkers::results::Results;
use maud::{Markup, html};

use super::frame::{self, DrawError, Values};
use super::palette::Paint;
use super::{Span, outcome_keys, px, svg, windows};

/// Client operations drawn on the operation timeline at most.
pub(crate) const MAX_OPS_DRAWN: usize = 2000;
/// A row's height, in pixels.
const ROW: u32 = 12;

/// A bar: process, start and end (ms), outcome, and what the operation was.
type Bar = (u64, u64, u64, &'static str, String);

/// The first [`MAX_OPS_DRAWN`] client operations of `ops` as bars, by invocation, and how many
/// there are in all.
fn bars(ops: &[Op], span: Span) -> (Vec<Bar>, usize) {
    let mut bars: Vec<Bar> = client_pairs(ops)
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
    (bars, total)
}

/// The client operation timeline's section.
pub(crate) fn section(results: &Results, ops: &[Op], span: Span) -> Result<Markup, DrawError> {
    let (bars, total) = bars(ops, span);
    let rows: Vec<u64> = bars.iter().map(|b| b.0).collect::<BTreeSet<_>>().into_iter().collect();
    let names = rows.iter().map(|p| if *p >= u64::MAX / 4 { "final".to_string() } else { format!("p{p}") });
    let values = Values::Rows { name: "client process", rows: names.collect() };
    let frame = frame::draw(span, ROW * rows.len().max(1) as u32, &values, &outcome_keys(results), &[])?;
    let area = frame.area;
    let overlay = html! {
        (windows::overlay(results, &area))
        @for (p, start, end, outcome, what) in &bars {
            @let (top, height) = area.row(rows.binary_search(p).unwrap_or(0));
            @let (a, b) = (area.x(*start), area.x(*end));
            rect class=(Paint::of_outcome(outcome).class) x=(px(a)) y=(px(top + 1.5)) width=(px((b - a).max(1.0))) height=(px((height - 3.0).max(1.0))) {
                title { (what) }
            }
        }
    };
    Ok(html! {
        section id="op-timeline" {
            h2 { "Client operation timeline" }
            (svg("operations-timeline", &frame, overlay))
            @if total > MAX_OPS_DRAWN {
                p { "Showing the first " (MAX_OPS_DRAWN) " of " (total) " operations." }
            }
            p { "One row per client process; bars from invocation to completion, coloured by outcome. Hover a bar for the operation." }
        }
    })
}
