//! The data checkers' findings drawn over the mastership lanes, each mark a link to its
//! history line: what each deposed master did while a rival served, lost set elements where
//! they were acknowledged, and the operation no linearization explains.

use checkers::history::Op;
use checkers::results::Results;
use maud::{Markup, html};

use super::frame::{Area, Key};
use super::palette::{DEPOSED, DISCARDED, LOST, NONLINEARIZABLE, STALE};
use super::px;
use crate::report::links::{element_link, index_link};

/// Ticks drawn per deposed master and kind (acknowledged updates, reads) at most.
const MAX_TICKS: usize = 200;

/// The legend entries of the marks `results` has.
pub(crate) fn keys(results: &Results) -> Vec<Key> {
    let deposed = results.checkers.deposed_masters();
    let mut keys = Vec::new();
    if !deposed.is_empty() {
        keys.push(Key::new("deposed master serving", DEPOSED));
    }
    if deposed.iter().any(|d| !d.acknowledged.is_empty()) {
        keys.push(Key::new("discarded update", DISCARDED));
    }
    if deposed.iter().any(|d| !d.reads.is_empty()) {
        keys.push(Key::new("possibly stale read", STALE));
    }
    if results.checkers.set.iter().any(|s| !s.result.lost.is_empty()) {
        keys.push(Key::new("lost set element", LOST));
    }
    if results.checkers.linearizable.iter().any(|l| l.result.counterexample.is_some()) {
        keys.push(Key::new("not linearizable", NONLINEARIZABLE));
    }
    keys
}

/// The marks over `area`, whose rows are the lanes of `lanes` (top to bottom).
pub(crate) fn overlay(results: &Results, ops: &[Op], area: &Area, lanes: &[String]) -> Markup {
    let row = |node: &str| lanes.iter().position(|l| l == node).map(|i| area.row(i));
    let (top, bottom) = area.vertical();
    let counterexample =
        results.checkers.linearizable.as_ref().and_then(|l| l.result.counterexample.as_ref()).and_then(|c| {
            let index = c.blocking.line().saturating_sub(1) as u64;
            ops.iter().find(|o| o.index == index).map(|op| (c, index, op.time / 1_000_000))
        });
    html! {
        @for d in results.checkers.deposed_masters() {
            @if let Some((y, lane)) = row(&d.node) {
                @let (a, b) = (area.x(d.from_ms), area.x(d.stepped_down_ms.unwrap_or(u64::MAX)));
                @let link = d.acknowledged.first().or(d.reads.first()).map_or("history.jsonl".to_string(), |o| index_link(o.index));
                a href=(link) {
                    rect class=(DEPOSED.class) x=(px(a)) y=(px(y + 1.0)) width=(px((b - a).max(2.0))) height=(px(lane - 2.0)) {
                        title { (d.words) }
                    }
                }
                @for (class, cited, tick_y) in [(DISCARDED.class, &d.acknowledged, y + 2.0), (STALE.class, &d.reads, y + lane - 8.0)] {
                    @for o in cited.iter().take(MAX_TICKS) {
                        a href=(index_link(o.index)) {
                            rect class=(class) x=(px(area.x(o.at_ms) - 1.0)) y=(px(tick_y)) width="2" height="6" {
                                title { (o.op) " at " (o.at_ms) " ms (" (class) ")" }
                            }
                        }
                    }
                }
            }
        }
        @for lost in results.checkers.set.iter().flat_map(|s| &s.result.lost) {
            @if let Some((y, lane)) = lost.node.as_deref().and_then(row) {
                @let (at, mid) = (area.x(lost.written_ms.1), y + lane / 2.0);
                a href=(element_link(&lost.element)) {
                    path class=(LOST.class) d=(format!("M{at:.1} {:.1}L{:.1} {mid:.1}L{at:.1} {:.1}L{:.1} {mid:.1}Z", mid - 5.0, at + 4.0, mid + 5.0, at - 4.0)) {
                        title { "element " (lost.element) " acknowledged at " (lost.written_ms.1) " ms, missing from the final read" }
                    }
                }
            }
        }
        @if let Some((c, index, at_ms)) = counterexample {
            @let at = px(area.x(at_ms));
            a href=(index_link(index)) {
                line class=(NONLINEARIZABLE.class) x1=(at) y1=(px(top)) x2=(at) y2=(px(bottom)) {
                    title {
                        "not linearizable on key " (c.key.as_deref().unwrap_or("-")) ": " (c.blocking.op)
                        " by process " (c.blocking.process) " (history line " (c.blocking.line()) ")"
                    }
                }
            }
        }
    }
}
