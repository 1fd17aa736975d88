//! Deliberate bugs that break one mechanism each, to prove that the harness's checkers fail
//! when they should.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// M1-M3 never run: a split brain persists after a partition heals.
    NoSelfMonitoring,
    /// The name server keeps every registration (no duplicate removal, no lease expiry) and
    /// never notifies the group.
    NoNsDedup,
    /// A master never gives up mastership: it ignores `DeclareMaster`, `RevokeMaster` and the
    /// detector's verdict.
    NeverYield,
    /// The master never forwards `Apply` to backups (nor tells them in its inquiry replies how
    /// far it has got), and takes every update as acknowledged by every backup (under `ack = all`
    /// and `every-member` too), so acknowledged writes exist on the master alone and vanish at the
    /// next fail-over.
    NoForward,
}

impl Bug {
    /// Every bug, in a stable order.
    pub const ALL: [Bug; 4] = [Bug::NoSelfMonitoring, Bug::NoNsDedup, Bug::NeverYield, Bug::NoForward];

    /// The flag's spelling, as in `--bug never-yield`.
    pub fn name(self) -> &'static str {
        match self {
            Bug::NoSelfMonitoring => "no-self-monitoring",
            Bug::NoNsDedup => "no-ns-dedup",
            Bug::NeverYield => "never-yield",
            Bug::NoForward => "no-forward",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown bug name.
#[derive(Debug, thiserror::Error)]
#[error("unknown bug {0:?}; known bugs: no-self-monitoring, no-ns-dedup, never-yield, no-forward")]
pub struct UnknownBug(pub String);

impl FromStr for Bug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// The set of bugs a process runs with (empty in a correct group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bugs(Vec<Bug>);

impl Bugs {
    /// A set holding `bugs`.
    pub fn new(bugs: impl IntoIterator<Item = Bug>) -> Self {
        let mut list: Vec<Bug> = bugs.into_iter().collect();
        list.sort();
        list.dedup();
        Bugs(list)
    }

    /// True when `bug` is switched on.
    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }

    /// The bugs switched on.
    pub fn iter(&self) -> impl Iterator<Item = Bug> + '_ {
        self.0.iter().copied()
    }

    /// True when no bug is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>().unwrap(), bug);
        }
        let err = "no-such".parse::<Bug>().unwrap_err();
        assert!(err.to_string().contains("never-yield"));
    }
}
