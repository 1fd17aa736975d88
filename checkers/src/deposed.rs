//! What a master did after another had taken over, in words: the data anomalies that the seeds'
//! design allows (PROTOCOL.md, "What the seeds' design loses"), explained from the history.
//!
//! For every split-brain window the mastership checker found, the master that gave way at its
//! end (the deposed one) went on serving the clients that reached it. The writes it acknowledged
//! from the moment a rival said Master until it stepped down were applied to a state that its
//! recovery then replaced with the rival's, so they are lost unless the rival applied them too;
//! the reads it answered in that time may be stale. This module lists both, with their history
//! lines, and says so in one sentence. It judges nothing: the linearizability and set checkers
//! give the verdict; this explains it.

use serde::{Deserialize, Serialize};

use crate::history::{Op, OpType, Process};
use crate::mastership::{Round, Window};

/// A client operation as the explanation cites it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitedOp {
    /// Its completion's position in the history (the line is `index + 1`).
    pub index: u64,
    /// When it completed, ms since the history began.
    pub at_ms: u64,
    /// The client process.
    pub process: u64,
    /// What it did, e.g. `write r1 = 3`, `read r0 -> 2`, `append set 7`.
    pub op: String,
}

/// One deposed master and what it did while a rival served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeposedMaster {
    /// The master that gave way.
    pub node: String,
    /// The other masters of the window.
    pub rivals: Vec<String>,
    /// When a rival first said Master beside it.
    pub from_ms: u64,
    /// When it was first seen no longer Master (its state then replaced by its new master's), if
    /// it was.
    pub stepped_down_ms: Option<u64>,
    /// Whom the registry (the name server, or the sentinels) named master when the window began.
    pub registered: Vec<String>,
    /// Updates (writes, compare-and-sets, appends) it acknowledged in that time.
    pub acknowledged: Vec<CitedOp>,
    /// Reads it answered in that time.
    pub reads: Vec<CitedOp>,
    /// The explanation in one sentence.
    pub words: String,
}

/// Explains every stretch of `ops` in which two servers were master at once and the one that
/// gave way served clients meanwhile.
pub fn explain(ops: &[Op]) -> Vec<DeposedMaster> {
    let mut deeds = Deeds::new(ops);
    ops.iter().for_each(|op| deeds.push(op));
    deeds.finish()
}

/// [`explain`] as a fold: the deposed masters are found in the observer rounds first (any part
/// of the history that holds them will do, such as its operations other than the clients'), then
/// what each of them served is gathered from the client operations as they come.
pub struct Deeds {
    registrar: String,
    suspects: Vec<Suspect>,
}

/// A master that gave way at the end of a split-brain window, and what it served until then.
struct Suspect {
    node: String,
    rivals: Vec<String>,
    from_ms: u64,
    stepped_down_ms: Option<u64>,
    registered: Vec<String>,
    acknowledged: Vec<CitedOp>,
    reads: Vec<CitedOp>,
}

impl Deeds {
    /// The deposed masters that `ops`' observer rounds show, with nothing served yet.
    pub fn new(ops: &[Op]) -> Deeds {
        let registrar = ops
            .iter()
            .find(|o| o.f == "history-start")
            .and_then(|o| o.value.get("registrar")?.as_str())
            .unwrap_or("the name server")
            .to_string();
        let mut rounds: Vec<(u64, Round)> = ops
            .iter()
            .filter(|o| o.process.is_observer() && o.f == "observe")
            .filter_map(|o| serde_json::from_value(o.value.clone()).ok().map(|r| (o.time, r)))
            .collect();
        let windows = rivalries(&mut rounds);
        let rounds: Vec<(u64, Round)> = rounds.into_iter().map(|(t, r)| (ms(t), r)).collect();
        let mut suspects = Vec::new();
        for window in &windows {
            let after = rounds.iter().find(|(t, r)| *t > window.end_ms && r.single_master(false).is_ok());
            let survivor = after.and_then(|(_, r)| r.single_master(false).ok());
            for node in window.masters.iter().filter(|m| Some(*m) != survivor.as_ref()) {
                let stepped_down_ms = rounds
                    .iter()
                    .filter(|(t, _)| *t > window.start_ms)
                    .find(|(_, r)| {
                        r.nodes.get(node).is_some_and(|v| v.as_ref().is_none_or(|v| v.role != "Master"))
                    })
                    .map(|(t, _)| *t);
                let registered: Vec<String> = rounds
                    .iter()
                    .find(|(t, _)| *t >= window.start_ms)
                    .and_then(|(_, r)| {
                        let ids = r.registrations.as_ref()?;
                        Some(ids.iter().map(|id| name_of(r, *id)).collect())
                    })
                    .unwrap_or_default();
                suspects.push(Suspect {
                    node: node.clone(),
                    rivals: window.masters.iter().filter(|m| *m != node).cloned().collect(),
                    from_ms: window.start_ms,
                    stepped_down_ms,
                    registered,
                    acknowledged: Vec::new(),
                    reads: Vec::new(),
                });
            }
        }
        Deeds { registrar, suspects }
    }

    /// Takes the next operation into account: a client operation that a deposed master
    /// acknowledged while a rival served is cited.
    pub fn push(&mut self, o: &Op) {
        let Process::Client(process) = o.process else { return };
        if o.kind != OpType::Ok || self.suspects.is_empty() {
            return;
        }
        let Some(node) = o.node.as_deref() else { return };
        let at_ms = ms(o.time);
        for s in self.suspects.iter_mut().filter(|s| s.node == node) {
            if !(s.from_ms..s.stepped_down_ms.unwrap_or(u64::MAX)).contains(&at_ms) {
                continue;
            }
            let cited = CitedOp { index: o.index, at_ms, process, op: describe(o) };
            if o.f == "read" { s.reads.push(cited) } else { s.acknowledged.push(cited) }
        }
    }

    /// Every deposed master that served clients, explained.
    pub fn finish(self) -> Vec<DeposedMaster> {
        let registrar = self.registrar;
        self.suspects
            .into_iter()
            .filter(|s| !(s.acknowledged.is_empty() && s.reads.is_empty()))
            .map(|s| {
                let words = words(
                    &s.node,
                    &s.rivals,
                    s.from_ms,
                    s.stepped_down_ms,
                    (&registrar, &s.registered),
                    &s.acknowledged,
                    &s.reads,
                );
                DeposedMaster {
                    node: s.node,
                    rivals: s.rivals,
                    from_ms: s.from_ms,
                    stepped_down_ms: s.stepped_down_ms,
                    registered: s.registered,
                    acknowledged: s.acknowledged,
                    reads: s.reads,
                    words,
                }
            })
            .collect()
    }
}

/// The stretches with two or more masters, where a node that did not answer a round (paused,
/// or too slow) keeps the role it last showed: a paused master is still a master, and serves
/// again when it resumes. Rewrites `rounds` with those carried-forward views.
fn rivalries(rounds: &mut [(u64, Round)]) -> Vec<Window> {
    let mut last: std::collections::BTreeMap<String, crate::mastership::NodeView> = Default::default();
    for (_, round) in rounds.iter_mut() {
        for (name, view) in round.nodes.iter_mut() {
            match view {
                Some(v) => {
                    last.insert(name.clone(), v.clone());
                }
                None => *view = last.get(name).cloned(),
            }
        }
    }
    crate::mastership::windows(rounds, |masters| masters >= 2)
}

fn words(
    node: &str,
    rivals: &[String],
    from_ms: u64,
    stepped_down_ms: Option<u64>,
    (registrar, registered): (&str, &[String]),
    acknowledged: &[CitedOp],
    reads: &[CitedOp],
) -> String {
    let secs = |t: u64| format!("{:.1} s", t as f64 / 1000.0);
    let registered = if registered.is_empty() { "nobody".to_string() } else { registered.join(", ") };
    let until = stepped_down_ms.map_or("the end of the test".to_string(), secs);
    let sample = |ops: &[CitedOp]| {
        let shown: Vec<String> =
            ops.iter().take(3).map(|o| format!("{} at {}", o.op, secs(o.at_ms))).collect();
        let more = ops.len().saturating_sub(3);
        if more > 0 { format!("{}, and {more} more", shown.join(", ")) } else { shown.join(", ") }
    };
    let mut text = format!(
        "{node} served as master from {} to {until} while {} said Master too ({registrar} registered {registered})",
        secs(from_ms),
        rivals.join(", "),
    );
    if !acknowledged.is_empty() {
        let fate = match stepped_down_ms {
            Some(t) => {
                format!("were discarded at {} when it stepped down and took its new master's state", secs(t))
            }
            None => "stood only in its own state".to_string(),
        };
        text += &format!(
            "; the {} update(s) it acknowledged in that time ({}) {fate}, unless a rival applied them too",
            acknowledged.len(),
            sample(acknowledged)
        );
    }
    if !reads.is_empty() {
        text += &format!(
            "; the {} read(s) it answered ({}) came from a state its rivals may have moved past (stale)",
            reads.len(),
            sample(reads)
        );
    }
    text + "."
}

fn describe(o: &Op) -> String {
    let key = o.key.as_deref().unwrap_or("-");
    match o.f.as_str() {
        "read" => format!("read {key} -> {}", o.value),
        "write" => format!("write {key} = {}", o.value),
        "cas" => format!("cas {key} {}", o.value),
        f => format!("{f} {key} {}", o.value),
    }
}

fn name_of(round: &Round, id: u32) -> String {
    round
        .nodes
        .iter()
        .find(|(_, v)| v.as_ref().is_some_and(|v| v.id == id))
        .map_or_else(|| format!("#{id}"), |(n, _)| n.clone())
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mastership::NodeView;

    fn round(t_ms: u64, roles: &[(&str, u32, &str, u32)], registered: &[u32]) -> Op {
        let nodes = roles
            .iter()
            .map(|(name, id, role, master)| {
                let view = NodeView {
                    id: *id,
                    role: role.to_string(),
                    master: Some(*master),
                    applied: 0,
                    election_messages: 0,
                    started_unix_ms: 0,
                    digest: None,
                };
                (name.to_string(), Some(view))
            })
            .collect();
        let round = Round { nodes, registrations: Some(registered.to_vec()) };
        Op::new(t_ms * 1_000_000, Process::observer(), OpType::Info, "observe")
            .with_value(serde_json::to_value(round).unwrap())
    }

    fn client(t_ms: u64, f: &str, key: &str, value: i64, node: &str) -> Op {
        let mut op = Op::new(t_ms * 1_000_000, Process::Client(3), OpType::Ok, f).with_value(value.into());
        op.key = Some(key.into());
        op.node = Some(node.into());
        op
    }

    #[test]
    fn a_deposed_masters_acknowledged_writes_and_reads_are_cited_with_their_fate() {
        let mut ops = vec![
            round(1000, &[("n1", 0, "Master", 0), ("n2", 1, "Master", 1)], &[1]),
            client(1100, "write", "r0", 3, "n1"),
            client(1200, "read", "r0", 3, "n1"),
            client(1250, "write", "r0", 4, "n2"),
            round(1300, &[("n1", 0, "Backup", 1), ("n2", 1, "Master", 1)], &[1]),
            client(1400, "write", "r0", 5, "n1"),
        ];
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        let explained = explain(&ops);
        assert_eq!(explained.len(), 1, "only n1 gave way");
        let d = &explained[0];
        assert_eq!(
            (d.node.as_str(), d.stepped_down_ms, d.registered.clone()),
            ("n1", Some(1300), vec!["n2".into()])
        );
        assert_eq!(
            d.acknowledged.iter().map(|o| o.index).collect::<Vec<_>>(),
            vec![1],
            "not n2's, not after"
        );
        assert_eq!(d.reads.iter().map(|o| o.op.as_str()).collect::<Vec<_>>(), vec!["read r0 -> 3"]);
        assert!(d.words.contains("write r0 = 3 at 1.1 s"), "{}", d.words);
        assert!(d.words.contains("discarded at 1.3 s"), "{}", d.words);
        assert!(d.words.contains("registered n2"), "{}", d.words);
    }

    #[test]
    fn a_paused_master_that_did_not_answer_is_still_a_master_when_it_serves_again() {
        let mut paused = round(1000, &[("n1", 0, "Master", 0), ("n2", 1, "Master", 1)], &[1]);
        paused.value["nodes"]["n1"] = serde_json::Value::Null;
        let mut ops = vec![
            round(900, &[("n1", 0, "Master", 0), ("n2", 1, "Backup", 0)], &[0]),
            paused,
            client(1100, "write", "r0", 4, "n2"),
            client(1200, "write", "r0", 3, "n1"),
            round(1300, &[("n1", 0, "Backup", 1), ("n2", 1, "Master", 1)], &[1]),
        ];
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
        let explained = explain(&ops);
        assert_eq!(explained.len(), 1, "{explained:?}");
        assert_eq!(explained[0].node, "n1");
        assert_eq!(explained[0].acknowledged.iter().map(|o| o.index).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn no_split_brain_explains_nothing() {
        let ops = vec![round(1000, &[("n1", 0, "Master", 0), ("n2", 1, "Backup", 0)], &[0])];
        assert!(explain(&ops).is_empty());
    }
}
