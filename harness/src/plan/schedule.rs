//! A fault schedule as data: each fault with its resolved targets, at its time from the start of
//! the workload. Every run writes the schedule it applied (`schedule.yaml` in its folder);
//! `--schedule FILE` and `--replay RUN_DIR` run one again instead of drawing faults from the seed,
//! on hosts or in the simulator.
//!
//! ```yaml
//! faults:
//!   - { at_ms: 5000, fault: { fault: partition, grudge: { n1: [n2, n3, ns], n2: [n1], n3: [n1], ns: [n1] } } }
//!   - { at_ms: 10000, fault: { fault: heal } }
//! ```

use std::path::Path;
use std::time::Duration;

use checkers::history::{Op, OpType};
use faults::fault::Fault;
use serde::{Deserialize, Serialize};

use crate::plan::PlanError;

/// The history event that marks the start of the workload, from which schedules are timed.
pub const WORKLOAD_START: &str = "workload-start";
/// The history event that marks the end of the workload, before the final phase heals.
pub const WORKLOAD_END: &str = "workload-end";

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timed {
    /// Milliseconds after the workload's start.
    pub at_ms: u64,
    /// The fault, its targets resolved.
    pub fault: Fault,
}

/// The faults of a run, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The faults.
    pub faults: Vec<Timed>,
}

impl Schedule {
    /// Reads a schedule file; errors name the file and line, or the fault whose packet
    /// behaviour is out of range (as `--packet-*` flags would be).
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let schedule: Schedule = crate::plan::load_yaml(path)?;
        for (i, timed) in schedule.faults.iter().enumerate() {
            if let Fault::Packet { behaviour, .. } = &timed.fault
                && let Err(bad) = behaviour.validate()
            {
                return Err(PlanError {
                    origin: format!("{}: faults[{i}] (at_ms {})", path.display(), timed.at_ms),
                    problem: format!("behaviour.{}: {}", bad.field, bad.problem),
                });
            }
        }
        Ok(schedule)
    }

    /// The schedule as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a schedule serializes")
    }

    /// The faults a history's nemesis applied during the workload (not those of the final
    /// phase), timed from its workload's start.
    pub fn of_history(ops: &[Op]) -> Schedule {
        let start = ops.iter().find(|o| o.process.is_harness() && o.f == WORKLOAD_START).map(|o| o.time);
        let Some(start) = start else { return Schedule::default() };
        let faults = ops
            .iter()
            .skip_while(|o| o.time < start)
            .take_while(|o| !(o.process.is_harness() && o.f == WORKLOAD_END))
            .filter(|o| o.process.is_nemesis() && o.kind == OpType::Invoke)
            .filter_map(|o| {
                let fault = serde_json::from_value(o.value.clone()).ok()?;
                Some(Timed { at_ms: (o.time - start) / 1_000_000, fault })
            })
            .collect();
        Schedule { faults }
    }

    /// The faults that start something (not the heals, restarts and resumes that undo one).
    pub fn starts(&self) -> usize {
        self.faults.iter().filter(|t| t.fault.inverse().is_some()).count()
    }

    /// How long from the first fault to the last.
    pub fn span(&self) -> Duration {
        match (self.faults.first(), self.faults.last()) {
            (Some(a), Some(b)) => Duration::from_millis(b.at_ms - a.at_ms),
            _ => Duration::ZERO,
        }
    }

    /// "2 faults over 4.1 s", for reports and the console ("…, the last until the final phase"
    /// when one is never undone during the workload).
    pub fn summary(&self) -> String {
        let n = self.starts();
        let open = self.windows().iter().any(|(_, end)| end.is_none());
        format!(
            "{n} fault{} over {:.1} s{}",
            if n == 1 { "" } else { "s" },
            self.span().as_secs_f64(),
            if open { ", the last until the final phase" } else { "" }
        )
    }

    /// The fault windows: each fault that starts something with the one that undoes it next
    /// (a fault still running at the end has none).
    pub fn windows(&self) -> Vec<(Timed, Option<Timed>)> {
        let mut windows = Vec::new();
        let mut open: Option<Timed> = None;
        for timed in &self.faults {
            if timed.fault.inverse().is_some() {
                if let Some(start) = open.take() {
                    windows.push((start, None));
                }
                open = Some(timed.clone());
            } else if let Some(start) = open.take() {
                windows.push((start, Some(timed.clone())));
            }
        }
        windows.extend(open.map(|start| (start, None)));
        windows
    }

    /// The schedule of `windows`, in time order.
    pub fn of_windows(windows: &[(Timed, Option<Timed>)]) -> Schedule {
        let mut faults: Vec<Timed> = windows
            .iter()
            .flat_map(|(start, end)| std::iter::once(start.clone()).chain(end.clone()))
            .collect();
        faults.sort_by_key(|t| t.at_ms);
        Schedule { faults }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64, fault: Fault) -> Timed {
        Timed { at_ms, fault }
    }

    #[test]
    fn windows_pair_each_fault_with_its_undoing_and_rebuild_the_schedule() {
        let hosts = vec!["n1".to_string()];
        let schedule = Schedule {
            faults: vec![
                at(1000, Fault::Kill { hosts: hosts.clone() }),
                at(3000, Fault::Start { hosts: hosts.clone() }),
                at(5000, Fault::Pause { hosts: hosts.clone() }),
            ],
        };
        let windows = schedule.windows();
        assert_eq!(windows.len(), 2);
        assert!(windows[0].1.is_some() && windows[1].1.is_none());
        assert_eq!(Schedule::of_windows(&windows), schedule);
        assert_eq!(schedule.summary(), "2 faults over 4.0 s, the last until the final phase");
        let text = schedule.to_yaml();
        assert_eq!(serde_yaml::from_str::<Schedule>(&text).unwrap(), schedule, "{text}");
    }

    #[test]
    fn a_schedule_file_with_a_packet_fault_out_of_range_is_refused_naming_the_fault_and_field() {
        let dir = std::env::temp_dir().join(format!("schedule-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("schedule.yaml");
        let write = |delay_ms: u32| {
            let behaviour = faults::packet::Behaviour { delay_ms, ..Default::default() };
            let links = faults::packet::Links::all(&["n1".to_string(), "n2".to_string()]);
            let schedule = Schedule {
                faults: vec![at(1000, Fault::Heal), at(2000, Fault::Packet { links, behaviour, seed: 1 })],
            };
            std::fs::write(&path, schedule.to_yaml()).unwrap();
        };
        write(50);
        assert!(Schedule::load(&path).is_ok(), "the control: 50 ms loads");
        write(4_000_000_000);
        let err = Schedule::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("schedule.yaml: faults[1] (at_ms 2000)") && err.contains("behaviour.delay_ms"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
