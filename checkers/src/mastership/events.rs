//! What the mastership checker reads of a history, found in one pass over it.

use super::Round;
use crate::history::{Op, OpType, Process};

/// The observer's rounds, the harness's phases, the nemesis's faults and kills.
pub(super) struct Events<'a> {
    /// The observer rounds that could be read, in history order, with their times.
    pub rounds: Vec<(u64, Round)>,
    /// The position in the history of each of `rounds`.
    pub positions: Vec<usize>,
    /// The observer rounds that could not be read: position and history index.
    pub unreadable: Vec<(usize, u64)>,
    /// The first harness event of each name, with its position.
    harness: Vec<(&'a str, usize, &'a Op)>,
    /// The nodes that terminated themselves, as the harness recorded them.
    pub self_terminations: Vec<String>,
    /// The nemesis's invocations: time and function.
    pub faults: Vec<(u64, &'a str)>,
    /// The nemesis's `kill` completions.
    pub kills: Vec<&'a Op>,
}

impl<'a> Events<'a> {
    /// Reads `ops` once.
    pub(crate) fn of(ops: &'a [Op]) -> Events<'a> {
        let mut e = Events {
            rounds: Vec::new(),
            positions: Vec::new(),
            unreadable: Vec::new(),
            harness: Vec::new(),
            self_terminations: Vec::new(),
            faults: Vec::new(),
            kills: Vec::new(),
        };
        for (position, o) in ops.iter().enumerate() {
            let Process::Named(who) = &o.process else { continue };
            match who.as_str() {
                "observer" if o.f == "observe" => match Round::deserialize_from(&o.value) {
                    Some(round) => {
                        e.rounds.push((o.time, round));
                        e.positions.push(position);
                    }
                    None => e.unreadable.push((position, o.index)),
                },
                "harness" => {
                    if !e.harness.iter().any(|(f, ..)| *f == o.f) {
                        e.harness.push((&o.f, position, o));
                    }
                    if o.f == "self-terminated" {
                        e.self_terminations.extend(o.node.clone());
                    }
                }
                "nemesis" if o.kind == OpType::Invoke => e.faults.push((o.time, &o.f)),
                "nemesis" if o.kind == OpType::Info && o.f == "kill" => e.kills.push(o),
                _ => {}
            }
        }
        e
    }

    /// The harness's first `f` event and its position.
    pub(crate) fn harness(&self, f: &str) -> Option<(usize, &'a Op)> {
        self.harness.iter().find(|(name, ..)| *name == f).map(|&(_, position, op)| (position, op))
    }

    /// How long after a heal the run's system may still show two masters, as its start recorded.
    pub(crate) fn heal_bound_ms(&self) -> Option<u64> {
        let (_, start) = self.harness("history-start")?;
        start.value.get("heal_bound_ms")?.as_u64()
    }

    /// The replica hosts the run's start recorded (`history-start`'s `members`), if it did.
    pub(crate) fn members(&self) -> Option<Vec<String>> {
        let (_, start) = self.harness("history-start")?;
        serde_json::from_value(start.value.get("members")?.clone()).ok()
    }
}
