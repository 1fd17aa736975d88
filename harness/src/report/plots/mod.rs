//! The report's plots, each one `<svg>` in the page: a frame drawn by plotters' SVG backend
//! (the time axis in seconds since the test started, the labelled value axis, the grid, the
//! legend, and the series that need neither a link nor a tooltip), and over it, drawn with
//! maud in the same `<svg>`, the marks that do (fault windows, lanes, bars, the data
//! checkers' findings), each with a `<title>` and, where it has one, a link to its line.

mod frame;
mod latency;
mod marks;
mod operations;
mod palette;
mod throughput;
mod timeline;
mod windows;

use checkers::history::Op;
use checkers::results::Results;
use maud::{Markup, PreEscaped, html};

pub(crate) use palette::css;

use crate::error::Error;
use frame::{DrawError, Frame, Key, WIDTH};
use palette::{FAIL, INFO, OK};

/// The time the plots cover, ms since the test started: from the first event to the last.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Span {
    /// The first event's time.
    pub(crate) first: u64,
    /// The last event's time (after the first).
    pub(crate) last: u64,
}

impl Span {
    /// The span of the history `ops`.
    pub(crate) fn of(ops: &[Op]) -> Span {
        let first = ops.iter().map(|o| o.time / 1_000_000).min().unwrap_or(0);
        let last = ops.iter().map(|o| o.time / 1_000_000).max().unwrap_or(0);
        Span { first, last: last.max(first + 1) }
    }
}

/// The SVG namespace every plot declares.
const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// A coordinate as the marks write it.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// The legend of a plot of client operations: their outcomes, then the windows `results` has.
fn outcome_keys(results: &Results) -> Vec<Key> {
    let mut keys = vec![Key::new("ok", OK), Key::new("fail", FAIL), Key::new("unknown (info)", INFO)];
    keys.extend(windows::keys(results));
    keys
}

/// The plot `id`: plotters' `frame` with the `overlay` drawn over it, in one `<svg>`.
fn svg(id: &str, frame: &Frame, overlay: Markup) -> Markup {
    html! {
        svg id=(id) xmlns=(SVG_NS) width=(WIDTH) height=(frame.height) viewBox=(format!("0 0 {WIDTH} {}", frame.height)) {
            (PreEscaped(&frame.elements))
            (overlay)
        }
    }
}

/// The page's plots, each in its section: the mastership timeline, latencies, throughput and
/// the client operation timeline.
pub(crate) fn sections(results: &Results, ops: &[Op], span: Span) -> Result<Markup, Error> {
    let plot = |plot: &'static str, drawn: Result<Markup, DrawError>| {
        drawn.map_err(|source| Error::Plot { plot, source })
    };
    let timeline = plot("mastership timeline", timeline::section(results, ops, span))?;
    let latencies = plot("latency", latency::section(results, ops, span))?;
    let throughput = plot("throughput", throughput::section(results, span))?;
    let operations = plot("client operation timeline", operations::section(results, ops, span))?;
    Ok(html! { (timeline) (latencies) (throughput) (operations) })
}
