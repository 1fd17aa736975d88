//! Fault operations and their inverses.

use serde::{Deserialize, Serialize};

use crate::Host;
use crate::packet::{Behaviour, Links};
use crate::partition::Grudge;

/// One fault, with its targets resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Drop packets as the grudge says.
    Partition {
        /// Who drops whose packets.
        grudge: Grudge,
    },
    /// Restore every link.
    Heal,
    /// SIGKILL the replica processes of these hosts.
    Kill {
        /// The hosts.
        hosts: Vec<Host>,
    },
    /// Start the replica processes of these hosts again.
    Start {
        /// The hosts.
        hosts: Vec<Host>,
    },
    /// SIGSTOP the replica processes of these hosts.
    Pause {
        /// The hosts.
        hosts: Vec<Host>,
    },
    /// SIGCONT the replica processes of these hosts.
    Resume {
        /// The hosts.
        hosts: Vec<Host>,
    },
    /// Run the replica processes' clocks (and timers) at `rate` times real time. With libfaketime
    /// the change also makes the clock jump (fake time is the process start plus the elapsed time
    /// times the rate), forward when speeding up, back when the rate is reset.
    ClockRate {
        /// The hosts.
        hosts: Vec<Host>,
        /// Fake seconds per real second.
        rate: f64,
    },
    /// Set those clocks back to real time.
    ResetClock {
        /// The hosts.
        hosts: Vec<Host>,
    },
    /// Degrade the packets of these links as `behaviour` says, in place of any packet fault in
    /// force.
    Packet {
        /// The links.
        links: Links,
        /// What happens to their packets.
        behaviour: Behaviour,
        /// The seed of the delayer's draws (which packets are delayed how long, duplicated,
        /// reordered).
        seed: u64,
    },
    /// Restore every link's packets.
    HealPacket,
}

impl Fault {
    /// The operation that undoes this one (`None` for the undoing operations themselves).
    pub fn inverse(&self) -> Option<Fault> {
        match self {
            Fault::Partition { .. } => Some(Fault::Heal),
            Fault::Kill { hosts } => Some(Fault::Start { hosts: hosts.clone() }),
            Fault::Pause { hosts } => Some(Fault::Resume { hosts: hosts.clone() }),
            Fault::ClockRate { hosts, .. } => Some(Fault::ResetClock { hosts: hosts.clone() }),
            Fault::Packet { .. } => Some(Fault::HealPacket),
            Fault::Heal
            | Fault::Start { .. }
            | Fault::Resume { .. }
            | Fault::ResetClock { .. }
            | Fault::HealPacket => None,
        }
    }

    /// True for a fault that would change nothing: a partition that cuts no link, a packet
    /// fault on no link, a kill, pause or clock change of no host (a plan's shape or target can
    /// come out empty on a group too small for it). The nemesis skips such a fault rather than
    /// record a window in which nothing happened.
    pub fn affects_nothing(&self) -> bool {
        match self {
            Fault::Partition { grudge } => grudge.is_empty(),
            Fault::Packet { links, .. } => links.is_empty(),
            Fault::Kill { hosts } | Fault::Pause { hosts } | Fault::ClockRate { hosts, .. } => {
                hosts.is_empty()
            }
            Fault::Heal
            | Fault::Start { .. }
            | Fault::Resume { .. }
            | Fault::ResetClock { .. }
            | Fault::HealPacket => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_has_an_inverse_and_inverses_have_none() {
        let hosts = vec!["n1".to_string()];
        let faults = [
            Fault::Partition { grudge: Grudge::default() },
            Fault::Kill { hosts: hosts.clone() },
            Fault::Pause { hosts: hosts.clone() },
            Fault::ClockRate { hosts: hosts.clone(), rate: 2.0 },
            Fault::Packet { links: Links::all(&hosts), behaviour: Behaviour::jepsen_defaults(), seed: 1 },
        ];
        for f in faults {
            let inverse = f.inverse().expect("a fault has an inverse");
            assert_eq!(inverse.inverse(), None);
        }
        assert_eq!(Fault::Kill { hosts: hosts.clone() }.inverse(), Some(Fault::Start { hosts }));
    }

    #[test]
    fn a_fault_on_no_link_or_no_host_affects_nothing_and_one_on_some_does() {
        let one = vec!["n1".to_string()];
        let two = vec!["n1".to_string(), "n2".to_string()];
        let packet = |links| Fault::Packet { links, behaviour: Behaviour::jepsen_defaults(), seed: 1 };
        assert!(packet(Links::all(&one)).affects_nothing(), "one host has no link");
        assert!(!packet(Links::all(&two)).affects_nothing());
        assert!(Fault::Partition { grudge: Grudge::default() }.affects_nothing());
        assert!(
            !Fault::Partition {
                grudge: Grudge::between_blocks(&[vec![two[0].clone()], vec![two[1].clone()]])
            }
            .affects_nothing()
        );
        assert!(
            Fault::Kill { hosts: vec![] }.affects_nothing() && !Fault::Kill { hosts: one }.affects_nothing()
        );
        assert!(!Fault::HealPacket.affects_nothing(), "a heal always runs");
    }
}
