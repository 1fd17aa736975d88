//! The group's tunables as the protocol core sees them, and the election delays they imply.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ReplicaId;

/// How long each server waits in `WaitElection` before declaring itself master [004 Figs. 7a/7b].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ElectionScheme {
    /// `D_i = T` for every server.
    Equal {
        /// The delay of every server.
        t: Duration,
    },
    /// `D_i = T1 + Σ_{j<i} δ_j` with `δ_j = max_{k>j} C_{j,k}`; `delays[j][k]` is `C_{j,k}`.
    Integral {
        /// The first server's delay.
        t1: Duration,
        /// `delays[j][k]` is `C_{j,k}`, the delay from server `j` to server `k`.
        delays: Vec<Vec<Duration>>,
    },
}

/// What a server becomes after a successful recovery (M3 step 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryMode {
    /// Always a backup of the registered master.
    Backup,
    /// Master when this server has the highest priority of the group (the lowest index of all
    /// members, and lower than the registered master's); otherwise a backup.
    Priority,
}

/// When the master answers a client's update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckMode {
    /// After applying it locally, as the seeds describe.
    Async,
    /// After every backup it can reach has acknowledged it, or an error after `ack_timeout`.
    All,
    /// The safe setting, not in the seeds: a master serves only once it holds the latest state
    /// of every member; an update is applied only while every member is reachable and answered
    /// once every member acknowledged it; a read is answered only when every member holds all the
    /// master applied. Anything else is refused with a definite error (see
    /// [`crate::protocol::replica`]).
    EveryMember,
}

/// Every tunable of a replica. All members of a group share one `Params`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The group's name, as registered at the name server.
    pub group: String,
    /// Number of members; their indices are `0..members`.
    pub members: u32,
    /// E1: how often a backup inquires its master.
    pub detect_interval: Duration,
    /// E1: how long a backup waits for the master's reply; also the time-out of every other
    /// request a replica makes (look-ups, state downloads).
    pub inquiry_timeout: Duration,
    /// E2: the election delay scheme.
    pub election: ElectionScheme,
    /// M1: length of one self-monitoring tick.
    pub monitor_tick: Duration,
    /// M1: ticks between two detector runs.
    pub monitor_count: u32,
    /// M3: what a recovered server becomes.
    pub recovery: RecoveryMode,
    /// Replication: when updates are acknowledged to clients.
    pub ack: AckMode,
    /// `ack = all` and `every-member`: how long the master waits for backups before answering
    /// `Unacknowledged`.
    pub ack_timeout: Duration,
    /// M4: how often a master renews its name-server registration.
    pub lease_renew: Duration,
}

impl Params {
    /// M1-M2: how long between two detector runs (`monitor_count` ticks of `monitor_tick`).
    pub fn monitor_period(&self) -> Duration {
        self.monitor_tick * self.monitor_count
    }

    /// The election delay `D_i` of server `i`.
    pub fn election_delay(&self, i: ReplicaId) -> Duration {
        match &self.election {
            ElectionScheme::Equal { t } => *t,
            ElectionScheme::Integral { t1, delays } => {
                *t1 + (0..i as usize).map(|j| max_delay_after(delays, j)).sum::<Duration>()
            }
        }
    }

    /// The shortest election delay of any member: the earliest a backup can become master after
    /// its inquiry times out.
    pub fn min_election_delay(&self) -> Duration {
        (0..self.members).map(|i| self.election_delay(i)).min().unwrap_or_default()
    }

    /// How recently a backup must have inquired for the master to count it as reachable
    /// (`ack = all`): two inquiry periods plus one time-out.
    pub fn reach_window(&self) -> Duration {
        self.detect_interval * 2 + self.inquiry_timeout
    }

    /// The indices of every member.
    pub fn member_ids(&self) -> impl Iterator<Item = ReplicaId> {
        0..self.members
    }
}

/// `δ_j = max_{k>j} C_{j,k}`: zero for the last server.
fn max_delay_after(delays: &[Vec<Duration>], j: usize) -> Duration {
    delays[j].iter().skip(j + 1).copied().max().unwrap_or_default()
}

impl Default for Params {
    /// A five-server group with the timings used throughout the docs: 100 ms inquiries,
    /// integral election with `T1` = 150 ms and a uniform 20 ms link delay, self-monitoring
    /// every 300 ms (100 ticks of 3 ms), 50 ms lease renewals.
    fn default() -> Self {
        let members = 5;
        Params {
            group: "g".to_string(),
            members,
            detect_interval: Duration::from_millis(100),
            inquiry_timeout: Duration::from_millis(100),
            election: ElectionScheme::Integral {
                t1: Duration::from_millis(150),
                delays: uniform_delays(members, Duration::from_millis(20)),
            },
            monitor_tick: Duration::from_millis(3),
            monitor_count: 100,
            recovery: RecoveryMode::Backup,
            ack: AckMode::Async,
            ack_timeout: Duration::from_millis(500),
            lease_renew: Duration::from_millis(50),
        }
    }
}

/// A delay matrix with `delay` on every link.
pub fn uniform_delays(members: u32, delay: Duration) -> Vec<Vec<Duration>> {
    let n = members as usize;
    (0..n).map(|j| (0..n).map(|k| if j == k { Duration::ZERO } else { delay }).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// The 5-server matrix of the integral-delay test: C[j][k] in ms.
    fn matrix() -> Vec<Vec<Duration>> {
        [[0, 4, 7, 3, 5], [4, 0, 2, 9, 1], [7, 2, 0, 6, 8], [3, 9, 6, 0, 2], [5, 1, 8, 2, 0]]
            .iter()
            .map(|row| row.iter().map(|&v| ms(v)).collect())
            .collect()
    }

    #[test]
    fn integral_delays_match_a_hand_computed_table() {
        let params = Params {
            election: ElectionScheme::Integral { t1: ms(100), delays: matrix() },
            ..Params::default()
        };
        // δ_0 = max(4,7,3,5) = 7; δ_1 = max(2,9,1) = 9; δ_2 = max(6,8) = 8; δ_3 = max(2) = 2.
        // D_0 = 100, D_1 = 107, D_2 = 116, D_3 = 124, D_4 = 126.
        let expected = [100, 107, 116, 124, 126].map(ms);
        let computed: Vec<_> = (0..5).map(|i| params.election_delay(i)).collect();
        assert_eq!(computed, expected);
        assert_eq!(params.min_election_delay(), ms(100));
    }

    #[test]
    fn equal_delays_are_the_same_for_everyone() {
        let params = Params { election: ElectionScheme::Equal { t: ms(80) }, ..Params::default() };
        assert!((0..5).all(|i| params.election_delay(i) == ms(80)));
    }
}
