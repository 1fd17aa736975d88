//! The fault windows every plot shades (packet faults in a shade of their own) and the
//! split-brain windows it marks, with their legend entries.

use std::collections::BTreeSet;

use checkers::results::Results;
use maud::{Markup, html};

use super::frame::{Area, Key};
use super::palette::{FAULT, PACKET, SPLIT};
use super::px;

/// Height of the split-brain band at the top of a plot.
const BAND: f64 = 6.0;

/// The legend entries of the windows `results` has: one for the faults (naming their kinds),
/// one for packet faults, one for split brain.
pub(crate) fn keys(results: &Results) -> Vec<Key> {
    let faults = results.checkers.perf.iter().flat_map(|p| &p.faults);
    let kinds: BTreeSet<&str> = faults.clone().map(|f| f.f.as_str()).filter(|f| *f != "packet").collect();
    let mut keys = Vec::new();
    if !kinds.is_empty() {
        keys.push(Key::new(format!("fault: {}", kinds.into_iter().collect::<Vec<_>>().join(", ")), FAULT));
    }
    if faults.clone().any(|f| f.f == "packet") {
        keys.push(Key::new("fault: packet", PACKET));
    }
    if results.checkers.mastership.iter().any(|m| !m.split_brain_windows.is_empty()) {
        keys.push(Key::new("split brain", SPLIT));
    }
    keys
}

/// Shaded fault windows and the split-brain band over `area`, each with its span as a tooltip.
pub(crate) fn overlay(results: &Results, area: &Area) -> Markup {
    let (top, bottom) = area.vertical();
    html! {
        @for f in results.checkers.perf.iter().flat_map(|p| &p.faults) {
            @let (a, b) = (area.x(f.start_ms), area.x(f.end_ms));
            // Packet faults slow and thin traffic rather than cut it: their own shade.
            rect class=(if f.f == "packet" { PACKET.class } else { FAULT.class }) x=(px(a)) y=(px(top))
                width=(px((b - a).max(1.0))) height=(px(bottom - top)) {
                title { (f.f) " " (f.start_ms) "-" (f.end_ms) " ms" }
            }
        }
        @for w in results.checkers.mastership.iter().flat_map(|m| &m.split_brain_windows) {
            @let (a, b) = (area.x(w.start_ms), area.x(w.end_ms));
            rect class=(SPLIT.class) x=(px(a)) y=(px(top)) width=(px((b - a).max(3.0))) height=(px(BAND)) {
                title { "split brain: " (w.masters.join(", ")) " (" (w.start_ms) "-" (w.end_ms) " ms)" }
            }
        }
    }
}
