//! Exactly one master persists after recovery.
//!
//! Reads three kinds of events from the history:
//! * observer rounds (`process: "observer"`, `f: "observe"`): every node's status ([`Round`]);
//! * harness phases: `final-phase` (everything healed and restarted), `stability-start` and
//!   `stability-end` (the window that must show one unchanging master), `self-terminated`;
//! * nemesis `kill` completions, for fail-over times.
//!
//! Valid when every round in the stability window shows the same master `m`: `m` is the only
//! node that says Master, every other node answers, says Backup and follows `m`, and the name
//! server registers exactly `m`; and when no split brain outlived a heal: once every fault of the
//! workload has been undone, two nodes saying Master must not still be seen [`SELF_HEAL_BOUND`]
//! later while no new fault has started (self-monitoring restores one master after a partition
//! heals, within a few detector periods). Unknown when the history has no stability window, no
//! round in it, a round in it that cannot be read, or a gap in it longer than two observer
//! intervals (the window must be watched from its start to its end). A member of the group that
//! the run's start recorded but a round does not list counts as a node that did not answer. The
//! rest (windows, times, message counts) is reported beside the verdict.

mod events;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::Op;
use crate::verdict::Verdict;
use events::Events;

/// What the observer saw of one node in one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The replica's index.
    pub id: u32,
    /// `Master`, `Backup` or `WaitElection`.
    pub role: String,
    /// The index of the master it follows.
    pub master: Option<u32>,
    /// Requests applied.
    pub applied: u64,
    /// `DeclareMaster` plus `RevokeMaster` messages it sent since it started.
    #[serde(default)]
    pub election_messages: u64,
    /// When its process started, ms since the Unix epoch (to find its log lines by time).
    #[serde(default)]
    pub started_unix_ms: u64,
    /// A digest of its replicated data (equal digests, equal data), when the node reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<u64>,
}

/// One observer round: the value of an `observe` event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// Per replica node name, its view, or `null` when it did not answer.
    pub nodes: BTreeMap<String, Option<NodeView>>,
    /// The name server's registrations for the group, or `null` when it did not answer.
    pub registrations: Option<Vec<u32>>,
}

impl Round {
    /// The round that `value` holds, if it holds one.
    fn deserialize_from(value: &serde_json::Value) -> Option<Round> {
        Round::deserialize(value).ok()
    }

    /// The nodes that say Master.
    fn masters(&self) -> impl Iterator<Item = &String> {
        self.nodes.iter().filter(|(_, v)| v.as_ref().is_some_and(|v| v.role == "Master")).map(|(n, _)| n)
    }

    fn name_of(&self, id: u32) -> Option<&String> {
        self.nodes.iter().find(|(_, v)| v.as_ref().is_some_and(|v| v.id == id)).map(|(n, _)| n)
    }

    /// The single master of this round, or why there is none. With `all_answer`, a node that
    /// did not answer breaks it.
    pub fn single_master(&self, all_answer: bool) -> Result<String, String> {
        self.the_master(all_answer).cloned()
    }

    /// As [`single_master`](Round::single_master), the master's name borrowed.
    fn the_master(&self, all_answer: bool) -> Result<&String, String> {
        let mut masters = self.masters();
        let (Some(m), None) = (masters.next(), masters.next()) else {
            let masters: Vec<&str> = self.masters().map(String::as_str).collect();
            return Err(if masters.is_empty() {
                "no master".into()
            } else {
                format!("masters {}", masters.join(", "))
            });
        };
        let id = self.nodes[m].as_ref().expect("a master answered").id;
        for (name, view) in &self.nodes {
            match view {
                None if all_answer => return Err(format!("{name} did not answer")),
                None => {}
                Some(v) if name != m && (v.role != "Backup" || v.master != Some(id)) => {
                    let follows =
                        v.master.and_then(|x| self.name_of(x)).map_or("nobody".to_string(), |n| n.clone());
                    return Err(format!("{name} is {} following {follows}, not a backup of {m}", v.role));
                }
                Some(_) => {}
            }
        }
        match &self.registrations {
            Some(r) if r[..] == [id] => Ok(m),
            Some(r) => {
                let names: Vec<String> =
                    r.iter().map(|x| self.name_of(*x).cloned().unwrap_or_else(|| format!("#{x}"))).collect();
                Err(format!("the registry names [{}], not {m}", names.join(", ")))
            }
            None => Err("the registry (name server or sentinels) did not answer".into()),
        }
    }
}

/// A stretch of time with too many or too few masters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Milliseconds since the test started.
    pub start_ms: u64,
    /// Milliseconds since the test started (the last round inside).
    pub end_ms: u64,
    /// The nodes that said Master during it.
    pub masters: Vec<String>,
}

/// How long the group took to replace a killed master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failover {
    /// The killed master.
    pub killed: String,
    /// When it was killed (ms since start).
    pub at_ms: u64,
    /// The single master that followed, if one did before the next kill.
    pub new_master: Option<String>,
    /// Milliseconds from the kill to that master.
    pub after_ms: Option<u64>,
}

/// The checker's result, as stored in `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MastershipResult {
    /// The verdict.
    pub valid: Verdict,
    /// One sentence saying why.
    pub summary: String,
    /// The master that persisted through the stability window.
    pub master: Option<String>,
    /// When invalid: the nodes that still said Master at the end of the window.
    pub persisted_masters: Vec<String>,
    /// When invalid: the first round of the window that broke the property (ms since start).
    pub violation_ms: Option<u64>,
    /// Milliseconds from the start of the final phase to the convergence that lasted.
    pub convergence_ms: Option<u64>,
    /// Rounds in the stability window.
    pub window_rounds: usize,
    /// Stretches with more than one node saying Master.
    pub split_brain_windows: Vec<Window>,
    /// Stretches with no node saying Master.
    pub leaderless_windows: Vec<Window>,
    /// Each kill of the current master and what followed.
    pub failovers: Vec<Failover>,
    /// Nodes that terminated themselves in recovery.
    pub self_terminations: Vec<String>,
    /// Times a node became Master.
    pub elections: u64,
    /// `DeclareMaster` + `RevokeMaster` messages sent in the whole run.
    pub election_messages: u64,
    /// `election_messages / elections`.
    pub messages_per_election: Option<f64>,
}

/// The replica hosts the run's start recorded (`history-start`'s `members`), if it did.
pub(crate) fn recorded_members(ops: &[Op]) -> Option<Vec<String>> {
    let start = ops.iter().find(|o| o.process.is_harness() && o.f == "history-start")?;
    serde_json::from_value(start.value.get("members")?.clone()).ok()
}

/// The longest gap allowed between observations of the stability window: two observer
/// intervals (as the run's start recorded it, else the median gap between rounds), and never
/// less than one interval plus a status query's 300 ms time-out.
fn coverage_gap_ns(events: &Events) -> u64 {
    let recorded = events
        .harness("history-start")
        .and_then(|(_, o)| o.value.get("observe_interval_ms")?.as_u64())
        .map(|v| v * 1_000_000);
    let interval = recorded.unwrap_or_else(|| {
        let mut gaps: Vec<u64> = events.rounds.windows(2).map(|w| w[1].0.saturating_sub(w[0].0)).collect();
        gaps.sort_unstable();
        gaps.get(gaps.len() / 2).copied().unwrap_or(100_000_000)
    });
    (2 * interval).max(interval + 300_000_000)
}

/// How long after the last fault is undone a split brain may still be seen before it counts as
/// one self-monitoring failed to end: ten detector periods of the default timers (300 ms each).
/// A run's `history-start` may give its system's own bound as `heal_bound_ms`.
pub const SELF_HEAL_BOUND_MS: u64 = 3_000;

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// The stretches of the workload (before the final phase) with no fault in force: from the undo
/// that left none active to the next fault, in ns.
fn fault_free_spans(events: &Events) -> Vec<(u64, u64)> {
    let end = events.harness("final-phase").map_or(u64::MAX, |(_, o)| o.time);
    let mut active: BTreeMap<&str, u32> = BTreeMap::new();
    let mut spans = Vec::new();
    let mut free_since = None;
    for &(time, f) in events.faults.iter().filter(|(time, _)| *time < end) {
        let (fault, start) = match crate::history::undoes(f) {
            Some(undone) => (undone, false),
            None => (f, true),
        };
        let count = active.entry(fault).or_default();
        if start {
            if let Some(since) = free_since.take() {
                spans.push((since, time));
            }
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
            if active.values().all(|c| *c == 0) {
                free_since = Some(time);
            }
        }
    }
    if let (Some(since), true) = (free_since, end != u64::MAX) {
        spans.push((since, end));
    }
    spans
}

/// The first round that shows two masters [`SELF_HEAL_BOUND_MS`] or more into a fault-free
/// stretch, with the stretch's start (ms).
fn outlived_heal(events: &Events, bound_ms: u64) -> Option<(u64, u64, Vec<String>)> {
    let spans = fault_free_spans(events);
    events.rounds.iter().find_map(|(t, r)| {
        // Two masters at least.
        r.masters().nth(1)?;
        let span = spans.iter().find(|(from, to)| t >= from && t < to)?;
        (ms(*t) >= ms(span.0) + bound_ms).then(|| (ms(*t), ms(span.0), r.masters().cloned().collect()))
    })
}

/// Checks the history.
pub fn check(ops: &[Op]) -> MastershipResult {
    let events = Events::of(ops);
    let rounds = &events.rounds;
    let mut result = MastershipResult {
        valid: Verdict::Unknown,
        summary: String::new(),
        master: None,
        persisted_masters: Vec::new(),
        violation_ms: None,
        convergence_ms: None,
        window_rounds: 0,
        split_brain_windows: windows(rounds, |n| n >= 2),
        leaderless_windows: windows(rounds, |n| n == 0),
        failovers: failovers(&events),
        self_terminations: events.self_terminations.clone(),
        elections: 0,
        election_messages: 0,
        messages_per_election: None,
    };
    (result.elections, result.election_messages) = election_counts(rounds);
    if result.elections > 0 {
        result.messages_per_election = Some(result.election_messages as f64 / result.elections as f64);
    }
    let (Some((start, start_op)), Some((end, end_op))) =
        (events.harness("stability-start"), events.harness("stability-end"))
    else {
        result.summary = "the history has no stability window: the run did not reach its final phase".into();
        return result;
    };
    if end < start {
        result.summary = format!(
            "the stability window's marks are out of order (its end at history line {}, its start at line {})",
            end + 1,
            start + 1
        );
        return result;
    }
    // The window is what was recorded between its two marks, in the history's order; a member
    // of the group (as the history's start records it) missing from a round was not seen.
    let members = events.members().unwrap_or_default();
    let inside = |p: &usize| (start..end).contains(p);
    let from = events.positions.partition_point(|p| *p < start);
    let to = events.positions.partition_point(|p| *p < end);
    let window: Vec<(u64, Cow<Round>)> = rounds[from..to]
        .iter()
        .map(|(t, r)| {
            if members.iter().all(|m| r.nodes.contains_key(m)) {
                return (*t, Cow::Borrowed(r));
            }
            let mut r = r.clone();
            for m in &members {
                r.nodes.entry(m.clone()).or_insert(None);
            }
            (*t, Cow::Owned(r))
        })
        .collect();
    let unreadable: Vec<u64> =
        events.unreadable.iter().filter(|(p, _)| inside(p)).map(|(_, index)| index + 1).collect();
    let (start_ns, end_ns) = (start_op.time, end_op.time);
    let start = start_ns;
    result.window_rounds = window.len();
    let Some((_, last)) = window.last() else {
        result.summary = "no observation in the stability window".into();
        return result;
    };
    let mut kept: Option<&String> = None;
    for (time, round) in &window {
        match round.the_master(true) {
            Ok(m) if kept.is_none_or(|k| k == m) => kept = Some(m),
            Ok(m) => {
                result.valid = Verdict::Invalid;
                result.violation_ms = Some(ms(*time));
                result.summary = format!(
                    "mastership changed from {} to {m} at {} ms, inside the stability window",
                    kept.map_or("", |k| k.as_str()),
                    ms(*time)
                );
                result.persisted_masters = last.masters().cloned().collect();
                return result;
            }
            Err(why) => {
                result.valid = Verdict::Invalid;
                result.violation_ms = Some(ms(*time));
                result.persisted_masters = last.masters().cloned().collect();
                result.summary = format!(
                    "no single master at {} ms in the stability window: {why}; masters at its end: [{}]",
                    ms(*time),
                    result.persisted_masters.join(", ")
                );
                return result;
            }
        }
    }
    let master = kept.expect("the window has a round").clone();
    if !unreadable.is_empty() {
        result.summary = format!(
            "{} observer round(s) of the stability window cannot be read (history lines {:?}): \
             the window is not fully judged",
            unreadable.len(),
            unreadable
        );
        return result;
    }
    let times: Vec<u64> =
        std::iter::once(start_ns).chain(window.iter().map(|(t, _)| *t)).chain([end_ns]).collect();
    let allowed = coverage_gap_ns(&events);
    if let Some(w) = times.windows(2).find(|w| w[1].saturating_sub(w[0]) > allowed) {
        result.summary = format!(
            "the stability window is not covered: no observation from {} ms to {} ms (at most {} ms apart)",
            ms(w[0]),
            ms(w[1]),
            ms(allowed)
        );
        return result;
    }
    let bound_ms = events.heal_bound_ms().unwrap_or(SELF_HEAL_BOUND_MS);
    if let Some((at, healed, masters)) = outlived_heal(&events, bound_ms) {
        result.valid = Verdict::Invalid;
        result.violation_ms = Some(at);
        result.persisted_masters = masters.clone();
        result.summary = format!(
            "split brain outlived a heal: {} still said Master at {at} ms, {} ms after every fault was undone \
             at {healed} ms (one master must be restored within {bound_ms} ms of a heal)",
            masters.join(", "),
            at - healed
        );
        return result;
    }
    result.valid = Verdict::Valid;
    result.convergence_ms = events.harness("final-phase").map(|(_, final_phase)| {
        let final_phase = final_phase.time;
        let converged = rounds
            .iter()
            .rev()
            .take_while(|(t, r)| *t >= final_phase && r.the_master(true).is_ok_and(|m| *m == master))
            .last()
            .map_or(start, |(t, _)| *t);
        ms(converged.saturating_sub(final_phase))
    });
    result.summary = format!(
        "exactly one master, {master}, persisted through {} rounds of the stability window",
        window.len()
    );
    result.master = Some(master);
    result
}

/// The stretches of consecutive answered rounds whose count of masters is `bad`.
pub(crate) fn windows(rounds: &[(u64, Round)], bad: impl Fn(usize) -> bool) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    let mut open = false;
    for (time, round) in rounds {
        let answered = round.nodes.values().any(Option::is_some);
        if answered && bad(round.masters().count()) {
            let masters: Vec<String> = round.masters().cloned().collect();
            match out.last_mut() {
                Some(w) if open => {
                    w.end_ms = ms(*time);
                    for m in masters {
                        if !w.masters.contains(&m) {
                            w.masters.push(m);
                        }
                    }
                }
                _ => out.push(Window { start_ms: ms(*time), end_ms: ms(*time), masters }),
            }
            open = true;
        } else {
            open = false;
        }
    }
    out
}

fn failovers(events: &Events) -> Vec<Failover> {
    let rounds = &events.rounds;
    let kills: Vec<(u64, Vec<String>)> = events
        .kills
        .iter()
        .map(|o| {
            let hosts =
                o.value.get("hosts").and_then(|h| serde_json::from_value(h.clone()).ok()).unwrap_or_default();
            (o.time, hosts)
        })
        .collect();
    let mut out = Vec::new();
    for (i, (at, hosts)) in kills.iter().enumerate() {
        let before = rounds.iter().rev().find(|(t, _)| t < at).and_then(|(_, r)| r.single_master(false).ok());
        let Some(killed) = before.filter(|m| hosts.contains(m)) else { continue };
        let until = kills.get(i + 1).map_or(u64::MAX, |(t, _)| *t);
        let next = rounds
            .iter()
            .filter(|(t, _)| t > at && *t < until)
            .find_map(|(t, r)| r.single_master(false).ok().filter(|m| *m != killed).map(|m| (*t, m)));
        out.push(Failover {
            killed,
            at_ms: ms(*at),
            after_ms: next.as_ref().map(|(t, _)| ms(t - at)),
            new_master: next.map(|(_, m)| m),
        });
    }
    out
}

/// (times a node became Master, election messages sent), counting across restarts.
fn election_counts(rounds: &[(u64, Round)]) -> (u64, u64) {
    let mut last: BTreeMap<&str, (bool, u64)> = BTreeMap::new();
    let mut banked = 0;
    let mut elections = 0;
    for (_, round) in rounds {
        for (name, view) in &round.nodes {
            let Some(v) = view else { continue };
            let is_master = v.role == "Master";
            let (was_master, messages) = last.get(name.as_str()).copied().unwrap_or((false, 0));
            if v.election_messages < messages {
                banked += messages;
            }
            if is_master && !was_master {
                elections += 1;
            }
            last.insert(name, (is_master, v.election_messages));
        }
    }
    (elections, banked + last.values().map(|(_, m)| m).sum::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpType, Process};

    fn view(id: u32, role: &str, master: u32) -> Option<NodeView> {
        Some(NodeView {
            id,
            role: role.into(),
            master: Some(master),
            applied: 0,
            election_messages: 0,
            started_unix_ms: 0,
            digest: None,
        })
    }

    fn observe(time_ms: u64, nodes: [Option<NodeView>; 3], registrations: &[u32]) -> Op {
        let nodes = ["n1", "n2", "n3"].iter().map(|n| n.to_string()).zip(nodes).collect();
        let round = Round { nodes, registrations: Some(registrations.to_vec()) };
        event(time_ms, Process::observer(), "observe", serde_json::to_value(round).unwrap())
    }

    fn event(time_ms: u64, process: Process, f: &str, value: serde_json::Value) -> Op {
        Op::new(time_ms * 1_000_000, process, OpType::Info, f).with_value(value)
    }

    fn healthy(t: u64, m: u32) -> Op {
        let role = |i| if i == m { "Master" } else { "Backup" };
        observe(t, [view(0, role(0), m), view(1, role(1), m), view(2, role(2), m)], &[m])
    }

    fn with_window(mut ops: Vec<Op>, start: u64, end: u64) -> Vec<Op> {
        ops.push(event(start - 100, Process::harness(), "final-phase", serde_json::Value::Null));
        ops.push(event(start, Process::harness(), "stability-start", serde_json::Value::Null));
        ops.push(event(end, Process::harness(), "stability-end", serde_json::Value::Null));
        ops.sort_by_key(|o| o.time);
        ops
    }

    #[test]
    fn one_unchanging_master_through_the_window_is_valid() {
        let ops = with_window((0..10).map(|i| healthy(1000 + i * 100, 1)).collect(), 1200, 1900);
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Valid, "{}", r.summary);
        assert_eq!(r.master.as_deref(), Some("n2"));
        assert_eq!(r.elections, 1);
    }

    /// Rounds every 500 ms from `from` to `to` showing two masters, after a partition healed at
    /// 1000 ms, then a healthy stability window at 20 s.
    fn split_after_heal(from: u64, to: u64, next_fault: Option<u64>) -> Vec<Op> {
        let split = |t| observe(t, [view(0, "Master", 0), view(1, "Master", 1), view(2, "Backup", 1)], &[0]);
        let mut ops = vec![
            event(500, Process::nemesis(), "partition", serde_json::Value::Null),
            event(1000, Process::nemesis(), "heal", serde_json::Value::Null),
        ];
        ops.iter_mut().for_each(|o| o.kind = OpType::Invoke);
        if let Some(t) = next_fault {
            let mut kill = event(t, Process::nemesis(), "kill", serde_json::Value::Null);
            kill.kind = OpType::Invoke;
            ops.push(kill);
        }
        ops.extend((from..=to).step_by(500).map(split));
        ops.extend((0..5).map(|i| healthy(20_000 + i * 100, 0)));
        with_window(ops, 20_050, 20_500)
    }

    #[test]
    fn a_split_brain_that_outlives_a_heal_is_invalid_even_if_the_end_is_healthy() {
        let r = check(&split_after_heal(1500, 5000, None));
        assert_eq!(r.valid, Verdict::Invalid, "{}", r.summary);
        assert!(r.summary.contains("outlived a heal") && r.summary.contains("4000 ms"), "{}", r.summary);
        assert_eq!(r.violation_ms, Some(4000));
    }

    #[test]
    fn a_split_brain_that_outlives_the_heal_of_a_packet_fault_is_invalid_too() {
        let mut ops = split_after_heal(1500, 5000, None);
        for op in ops.iter_mut().filter(|o| o.process.is_nemesis()) {
            op.f = if op.f == "partition" { "packet".into() } else { "heal-packet".into() };
        }
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid, "{}", r.summary);
        assert_eq!(r.violation_ms, Some(4000));
    }

    #[test]
    fn a_system_may_give_its_own_heal_bound_in_the_history_start() {
        let start = |bound: u64| {
            event(0, Process::harness(), "history-start", serde_json::json!({"heal_bound_ms": bound}))
        };
        let mut ops = split_after_heal(1500, 5000, None);
        ops.insert(0, start(15_000));
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Valid, "4 s after the heal is within 15 s: {}", r.summary);
        ops[0] = start(2_000);
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid, "{}", r.summary);
        assert!(r.summary.contains("within 2000 ms"), "{}", r.summary);
    }

    #[test]
    fn a_split_brain_ended_within_the_bound_or_cut_short_by_a_new_fault_is_not_held_against_the_group() {
        let r = check(&split_after_heal(1500, 3500, None));
        assert_eq!(r.valid, Verdict::Valid, "ended 2.5 s after the heal: {}", r.summary);
        let r = check(&split_after_heal(1500, 9000, Some(2500)));
        assert_eq!(r.valid, Verdict::Valid, "a new fault started 1.5 s after the heal: {}", r.summary);
    }

    #[test]
    fn an_unreadable_round_or_an_unwatched_stretch_of_the_window_is_unknown_not_valid() {
        let mut ops: Vec<Op> = (0..10).map(|i| healthy(1000 + i * 100, 1)).collect();
        ops.push(event(1450, Process::observer(), "observe", serde_json::json!({"nodes": "garbage"})));
        let mut ops = with_window(ops, 1200, 1900);
        ops.iter_mut().enumerate().for_each(|(i, o)| o.index = i as u64);
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Unknown, "{}", r.summary);
        assert!(r.summary.contains("cannot be read"), "{}", r.summary);
        // One observation 1 ms into a 5 s window.
        let ops = with_window(vec![healthy(1001, 1)], 1000, 6000);
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Unknown, "{}", r.summary);
        assert!(
            r.summary.contains("not covered") && r.summary.contains("from 1001 ms to 6000 ms"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn membership_comes_from_the_run_not_from_each_round() {
        let only_master = |t| {
            let nodes = [("n2".to_string(), view(1, "Master", 1))].into_iter().collect();
            event(
                t,
                Process::observer(),
                "observe",
                serde_json::to_value(Round { nodes, registrations: Some(vec![1]) }).unwrap(),
            )
        };
        let start = event(
            0,
            Process::harness(),
            "history-start",
            serde_json::json!({"members": ["n1", "n2", "n3"], "observe_interval_ms": 100}),
        );
        let ops = with_window(vec![start, only_master(1200), only_master(1300)], 1150, 1350);
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid, "{}", r.summary);
        assert!(r.summary.contains("n1 did not answer"), "{}", r.summary);
    }

    #[test]
    fn two_masters_in_the_window_are_invalid_and_named() {
        let split = observe(1500, [view(0, "Master", 0), view(1, "Master", 1), view(2, "Backup", 1)], &[0]);
        let ops = with_window(vec![healthy(1200, 0), split], 1100, 1900);
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid);
        assert_eq!(r.persisted_masters, ["n1", "n2"]);
        assert!(r.summary.contains("masters n1, n2"), "{}", r.summary);
        assert_eq!(
            r.split_brain_windows,
            [Window { start_ms: 1500, end_ms: 1500, masters: vec!["n1".into(), "n2".into()] }]
        );
    }

    #[test]
    fn a_stale_name_server_registration_is_invalid() {
        let stale =
            observe(1500, [view(0, "Master", 0), view(1, "Backup", 0), view(2, "Backup", 0)], &[0, 2]);
        let r = check(&with_window(vec![stale], 1100, 1900));
        assert_eq!(r.valid, Verdict::Invalid);
        assert!(r.summary.contains("the registry names [n1, n3]"), "{}", r.summary);
    }

    #[test]
    fn a_silent_node_or_a_changed_master_in_the_window_is_invalid() {
        let silent = observe(1500, [view(0, "Master", 0), None, view(2, "Backup", 0)], &[0]);
        assert_eq!(check(&with_window(vec![silent], 1100, 1900)).valid, Verdict::Invalid);
        let changed = with_window(vec![healthy(1200, 0), healthy(1300, 1)], 1100, 1900);
        assert!(check(&changed).summary.contains("changed from n1 to n2"));
    }

    #[test]
    fn without_a_window_or_rounds_in_it_the_verdict_is_unknown() {
        assert_eq!(check(&[healthy(100, 0)]).valid, Verdict::Unknown);
        assert_eq!(check(&with_window(vec![healthy(100, 0)], 1100, 1900)).valid, Verdict::Unknown);
    }

    #[test]
    fn failover_time_is_measured_from_the_kill_of_the_master() {
        let mut kill = event(1050, Process::nemesis(), "kill", serde_json::json!({"hosts": ["n1"]}));
        kill.kind = OpType::Info;
        let down = observe(1100, [None, view(1, "WaitElection", 0), view(2, "Backup", 0)], &[0]);
        let ops = vec![healthy(1000, 0), kill, down, healthy(1400, 1)];
        let r = check(&ops);
        assert_eq!(
            r.failovers,
            [Failover {
                killed: "n1".into(),
                at_ms: 1050,
                new_master: Some("n2".into()),
                after_ms: Some(350)
            }]
        );
        assert_eq!(r.leaderless_windows.len(), 1);
    }
}
