//! The mastership timeline: one lane per node, a bar per stretch in one state (Master, Backup,
//! WaitElection, down) following one master, with the fault windows and the data checkers'
//! marks.

use std::collections::BTreeMap;

use checkers::history::Op;
use checkers::mastership::Round;
use checkers::results::Results;
use maud::{Markup, html};

use super::frame::{self, DrawError, Key, Values};
use super::palette::{BACKUP, DOWN, MASTER, WAIT_ELECTION};
use super::{Span, marks, px, svg, windows};

/// A lane's height at least, in pixels.
const LANE: u32 = 26;

/// A stretch of one node: from when, in which state, following whom.
type Stretch = (u64, String, String);

/// Each node's stretches, from the observer's rounds in `ops`.
fn lanes(ops: &[Op]) -> BTreeMap<String, Vec<Stretch>> {
    let rounds: Vec<(u64, Round)> = ops
        .iter()
        .filter(|o| o.process.is_observer() && o.f == "observe")
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok().map(|r| (o.time / 1_000_000, r)))
        .collect();
    let names: BTreeMap<u32, String> = rounds
        .iter()
        .flat_map(|(_, r)| r.nodes.iter().filter_map(|(n, v)| v.as_ref().map(|v| (v.id, n.clone()))))
        .collect();
    let mut lanes: BTreeMap<String, Vec<Stretch>> = BTreeMap::new();
    for (t, round) in &rounds {
        for (node, view) in &round.nodes {
            let (state, follows) = match view {
                Some(v) => (
                    v.role.clone(),
                    v.master.and_then(|m| names.get(&m).cloned()).unwrap_or_else(|| "-".into()),
                ),
                None => (DOWN.class.to_string(), "-".into()),
            };
            let lane = lanes.entry(node.clone()).or_default();
            if lane.last().is_none_or(|(_, s, f)| *s != state || *f != follows) {
                lane.push((*t, state, follows));
            }
        }
    }
    lanes
}

/// The timeline's section.
pub(crate) fn section(results: &Results, ops: &[Op], span: Span) -> Result<Markup, DrawError> {
    let lanes = lanes(ops);
    let names: Vec<String> = lanes.keys().cloned().collect();
    let mut keys: Vec<Key> =
        [MASTER, BACKUP, WAIT_ELECTION, DOWN].into_iter().map(|p| Key::new(p.class, p)).collect();
    keys.extend(windows::keys(results));
    keys.extend(marks::keys(results));
    let values = Values::Rows { name: "node", rows: names.clone() };
    let frame = frame::draw(span, LANE * names.len().max(1) as u32, &values, &keys, &[])?;
    let area = frame.area;
    let overlay = html! {
        (windows::overlay(results, &area))
        @for (i, (node, stretches)) in lanes.iter().enumerate() {
            @let (top, height) = area.row(i);
            @for (k, (start, state, follows)) in stretches.iter().enumerate() {
                @let stop = stretches.get(k + 1).map_or(span.last, |s| s.0);
                @let (a, b) = (area.x(*start), area.x(stop));
                rect class=(state) x=(px(a)) y=(px(top + 3.0)) width=(px((b - a).max(0.5))) height=(px(height - 6.0)) {
                    title { (node) " " (state) " following " (follows) ", " (start) "-" (stop) " ms" }
                }
            }
        }
        (marks::overlay(results, ops, &area, &names))
    };
    Ok(html! {
        section id="timeline" {
            h2 { "Mastership timeline" }
            (svg("mastership", &frame, overlay))
            p { "One lane per node. Shaded: fault windows (blue: packet faults); red band at the top: split brain. Hover a bar for whom the node followed." }
            p {
                "Data anomalies, each a link to its history line: a dashed purple frame where a deposed master served while a rival did, \
                 purple ticks for the updates it acknowledged there (discarded at its recovery), yellow ticks for the reads it answered \
                 there (possibly stale), a black diamond for an acknowledged set element missing from the final read, and a black line \
                 through every lane at the operation no linearization explains."
            }
        }
    })
}
