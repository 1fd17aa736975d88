//! Replicas agree after recovery: exactly one master is not all PROTOCOL.md asks; every backup
//! must follow it *and hold the same data*. A backup whose data silently differs from the
//! master's is a loss waiting for the next fail-over.
//!
//! Reads the last observer round of the stability window (the workload has stopped, the group
//! has settled): every backup's digest of its replicated data must equal the master's. Invalid
//! when one differs (named, with how many requests it has applied against the master's);
//! unknown when the window has no round with a single master, a node did not answer, or the
//! nodes report no digest.

use serde::{Deserialize, Serialize};

use crate::history::Op;
use crate::mastership::Round;
use crate::verdict::Verdict;

/// A backup whose data differs from the master's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergent {
    /// The backup.
    pub node: String,
    /// Requests it has applied.
    pub applied: u64,
    /// Requests the master has applied.
    pub master_applied: u64,
}

/// The checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceResult {
    /// The verdict.
    pub valid: Verdict,
    /// One sentence saying why.
    pub summary: String,
    /// The master whose data the backups were compared with.
    pub master: Option<String>,
    /// The backups whose data differs.
    pub divergent: Vec<Divergent>,
}

/// Checks the history.
pub fn check(ops: &[Op]) -> ConvergenceResult {
    let unknown = |summary: String| ConvergenceResult {
        valid: Verdict::Unknown,
        summary,
        master: None,
        divergent: Vec::new(),
    };
    let mark = |f: &str| ops.iter().position(|o| o.process.is_harness() && o.f == f);
    let (Some(start), Some(end)) = (mark("stability-start"), mark("stability-end")) else {
        return unknown("the history has no stability window".into());
    };
    if end < start {
        return unknown("the stability window's marks are out of order".into());
    }
    let last = ops[start..end]
        .iter()
        .rev()
        .filter(|o| o.process.is_observer() && o.f == "observe")
        .find_map(|o| serde_json::from_value::<Round>(o.value.clone()).ok());
    let Some(mut round) = last else { return unknown("no observation in the stability window".into()) };
    for m in crate::mastership::recorded_members(ops).into_iter().flatten() {
        round.nodes.entry(m).or_insert(None);
    }
    let Ok(master) = round.single_master(true) else {
        return unknown("the stability window's last round shows no single master (see mastership)".into());
    };
    let views: Vec<(&String, &crate::mastership::NodeView)> =
        round.nodes.iter().filter_map(|(n, v)| Some((n, v.as_ref()?))).collect();
    let Some(reference) = views.iter().find(|(n, _)| **n == master).map(|(_, v)| *v) else {
        return unknown(format!("master {master} is not in the round"));
    };
    if views.iter().any(|(_, v)| v.digest.is_none()) {
        return unknown("not every node reports a digest of its data".into());
    }
    let digest = reference.digest.expect("checked above");
    let divergent: Vec<Divergent> = views
        .iter()
        .filter(|(n, v)| **n != master && v.digest != Some(digest))
        .map(|(n, v)| Divergent { node: (*n).clone(), applied: v.applied, master_applied: reference.applied })
        .collect();
    let summary = if divergent.is_empty() {
        format!("every backup holds the data of master {master}")
    } else {
        let each: Vec<String> = divergent
            .iter()
            .map(|d| match d.master_applied.cmp(&d.applied) {
                std::cmp::Ordering::Greater => {
                    format!("{} ({} requests behind)", d.node, d.master_applied - d.applied)
                }
                std::cmp::Ordering::Less => {
                    format!("{} ({} requests ahead)", d.node, d.applied - d.master_applied)
                }
                std::cmp::Ordering::Equal => format!("{} (as many requests, other data)", d.node),
            })
            .collect();
        format!("after recovery, data differs from master {master}'s on {}", each.join(", "))
    };
    let valid = if divergent.is_empty() { Verdict::Valid } else { Verdict::Invalid };
    ConvergenceResult { valid, summary, master: Some(master), divergent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType;
    use crate::history::Process;
    use crate::mastership::NodeView;

    fn round(views: &[(&str, u32, &str, u64, Option<u64>)]) -> Op {
        let nodes = views
            .iter()
            .map(|(name, id, role, applied, digest)| {
                let view = NodeView {
                    id: *id,
                    role: role.to_string(),
                    master: Some(0),
                    applied: *applied,
                    election_messages: 0,
                    started_unix_ms: 0,
                    digest: *digest,
                };
                (name.to_string(), Some(view))
            })
            .collect();
        Op::new(2, Process::observer(), OpType::Info, "observe")
            .with_value(serde_json::to_value(Round { nodes, registrations: Some(vec![0]) }).unwrap())
    }

    fn window(last: Op) -> Vec<Op> {
        let mark = |f| Op::new(1, Process::harness(), OpType::Info, f);
        vec![mark("stability-start"), last, mark("stability-end")]
    }

    #[test]
    fn a_backup_whose_data_differs_from_the_masters_is_invalid_and_named() {
        let ops = window(round(&[
            ("n1", 0, "Master", 10, Some(7)),
            ("n2", 1, "Backup", 10, Some(7)),
            ("n3", 2, "Backup", 8, Some(5)),
        ]));
        let r = check(&ops);
        assert_eq!(r.valid, Verdict::Invalid, "{}", r.summary);
        assert_eq!(r.divergent, vec![Divergent { node: "n3".into(), applied: 8, master_applied: 10 }]);
        assert!(r.summary.contains("n3 (2 requests behind)"), "{}", r.summary);
    }

    #[test]
    fn a_member_left_out_of_the_round_or_reversed_marks_are_unknown_not_valid() {
        let start = Op::new(0, Process::harness(), OpType::Info, "history-start")
            .with_value(serde_json::json!({"members": ["n1", "n2", "n3"]}));
        let mut ops = window(round(&[("n1", 0, "Master", 10, Some(7)), ("n2", 1, "Backup", 10, Some(7))]));
        ops.insert(0, start);
        assert_eq!(check(&ops).valid, Verdict::Unknown, "n3 was never compared");
        let reversed: Vec<Op> = window(round(&[("n1", 0, "Master", 1, Some(7))])).into_iter().rev().collect();
        assert_eq!(check(&reversed).valid, Verdict::Unknown);
        assert_eq!(crate::mastership::check(&reversed).valid, Verdict::Unknown, "no panic either");
    }

    #[test]
    fn equal_digests_are_valid_and_missing_digests_unknown() {
        let same = window(round(&[("n1", 0, "Master", 10, Some(7)), ("n2", 1, "Backup", 10, Some(7))]));
        assert_eq!(check(&same).valid, Verdict::Valid);
        let none = window(round(&[("n1", 0, "Master", 10, None), ("n2", 1, "Backup", 10, None)]));
        assert_eq!(check(&none).valid, Verdict::Unknown);
    }
}
