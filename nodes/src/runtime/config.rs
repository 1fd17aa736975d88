//! The group's config file: YAML shared by the name server and every replica, validated into the
//! parameters of the protocol core.
//!
//! ```yaml
//! group: g
//! nameserver: { address: 127.0.0.1:7000, admin: 127.0.0.1:7100, lease_ttl_ms: 150, keep: lowest-id }
//! members:
//!   - { index: 0, address: 127.0.0.1:7001, admin: 127.0.0.1:7101 }
//!   - { index: 1, address: 127.0.0.1:7002, admin: 127.0.0.1:7102 }
//! timers: { detect_interval_ms: 100, inquiry_timeout_ms: 100, monitor_tick_ms: 3,
//!           monitor_count: 100, lease_renew_ms: 50, ack_timeout_ms: 500 }
//! election: { scheme: integral, t_ms: 150, delay_ms: 20 }   # or delays_ms: [[0, 20], [20, 0]]
//! recovery: backup        # or priority
//! ack: async              # or all, or every-member (the safe setting)
//! ```
//!
//! Every section but `group`, `nameserver` and `members` may be left out; the defaults are
//! those of [`Params::default`]. The lease must expire before any backup can take over
//! (`lease_ttl_ms < inquiry_timeout_ms + min D_i`), or a crashed master's registration would
//! outlive it and win the next conflict.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::protocol::ReplicaId;
use crate::protocol::nameserver::{KeepRule, NsParams};
use crate::protocol::params::{AckMode, ElectionScheme, Params, RecoveryMode, uniform_delays};

/// The config file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    /// The group's name.
    pub group: String,
    /// Where the name server listens, and its lease settings.
    pub nameserver: NameServerFile,
    /// Every replica, with its index.
    pub members: Vec<MemberFile>,
    /// Timers; each field may be left out.
    #[serde(default)]
    pub timers: TimersFile,
    /// The election delay scheme.
    #[serde(default)]
    pub election: ElectionFile,
    /// What a recovered server becomes.
    #[serde(default = "default_recovery")]
    pub recovery: RecoveryMode,
    /// When updates are acknowledged.
    #[serde(default = "default_ack")]
    pub ack: AckMode,
}

/// The `nameserver` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameServerFile {
    /// Address for replicas and clients.
    pub address: String,
    /// Address of the status query.
    pub admin: String,
    /// Lease length in ms.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_ms: u64,
    /// Which registration a conflict keeps.
    #[serde(default)]
    pub keep: KeepRule,
}

/// One entry of `members`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    /// The server's index (its rank).
    pub index: ReplicaId,
    /// Address for peers and clients.
    pub address: String,
    /// Address of the status query.
    pub admin: String,
}

/// The `timers` section, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersFile {
    /// E1 inquiry period.
    pub detect_interval_ms: u64,
    /// E1 reply time-out, and the time-out of look-ups and downloads.
    pub inquiry_timeout_ms: u64,
    /// M1 tick.
    pub monitor_tick_ms: u64,
    /// M1 ticks per detector run.
    pub monitor_count: u32,
    /// M4 lease renewal period.
    pub lease_renew_ms: u64,
    /// `ack = all` time-out.
    pub ack_timeout_ms: u64,
}

/// The `election` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectionFile {
    /// `integral` or `equal`.
    pub scheme: SchemeName,
    /// `T` (equal) or `T1` (integral), in ms.
    pub t_ms: u64,
    /// A uniform communication delay `C` in ms (integral).
    pub delay_ms: Option<u64>,
    /// The full delay matrix `C[j][k]` in ms (integral); overrides `delay_ms`.
    pub delays_ms: Option<Vec<Vec<u64>>>,
}

/// The election scheme's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeName {
    /// `D_i = T1 + Σ δ_j`.
    Integral,
    /// `D_i = T`.
    Equal,
}

fn default_recovery() -> RecoveryMode {
    RecoveryMode::Backup
}

fn default_ack() -> AckMode {
    AckMode::Async
}

fn default_lease_ttl() -> u64 {
    NsParams::default().lease_ttl.as_millis() as u64
}

impl Default for TimersFile {
    fn default() -> Self {
        let p = Params::default();
        let ms = |d: Duration| d.as_millis() as u64;
        TimersFile {
            detect_interval_ms: ms(p.detect_interval),
            inquiry_timeout_ms: ms(p.inquiry_timeout),
            monitor_tick_ms: ms(p.monitor_tick),
            monitor_count: p.monitor_count,
            lease_renew_ms: ms(p.lease_renew),
            ack_timeout_ms: ms(p.ack_timeout),
        }
    }
}

impl Default for ElectionFile {
    fn default() -> Self {
        ElectionFile { scheme: SchemeName::Integral, t_ms: 150, delay_ms: Some(20), delays_ms: None }
    }
}

/// Addresses of one replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberAddrs {
    /// Peers and clients.
    pub address: SocketAddr,
    /// Status query.
    pub admin: SocketAddr,
}

/// A validated config: everything the runtimes need.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The file's content.
    pub file: GroupFile,
    /// Protocol parameters of every replica.
    pub params: Params,
    /// Name-server parameters.
    pub ns: NsParams,
    /// The name server's addresses.
    pub nameserver: MemberAddrs,
    /// Addresses of member `i` at index `i`.
    pub members: Vec<MemberAddrs>,
}

impl GroupConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::ConfigRead { path: path.into(), source })?;
        Self::parse(path, &text)
    }

    /// Validates `text`, reporting errors against `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let file: GroupFile = serde_yaml::from_str(text)
            .map_err(|e| Error::ConfigSyntax { path: path.into(), detail: e.to_string() })?;
        file.validate(path)
    }

    /// The addresses of member `id`, or an error naming the file when it is not a member.
    pub fn member(&self, id: ReplicaId) -> Result<MemberAddrs, Error> {
        self.members.get(id as usize).copied().ok_or(Error::UnknownMember {
            path: self.path.clone(),
            id,
            members: self.params.members,
        })
    }
}

impl GroupFile {
    /// Checks every field and derives the protocol parameters.
    pub fn validate(self, path: &Path) -> Result<GroupConfig, Error> {
        let bad = |field: &str, problem: String| Error::ConfigField {
            path: path.into(),
            field: field.to_string(),
            problem,
        };
        if self.group.trim().is_empty() {
            return Err(bad("group", "must not be empty".into()));
        }
        let n = self.members.len();
        if n == 0 {
            return Err(bad("members", "must list at least one replica".into()));
        }
        let mut members: Vec<Option<MemberAddrs>> = vec![None; n];
        for (pos, m) in self.members.iter().enumerate() {
            let field = |f: &str| format!("members[{pos}].{f}");
            let slot = members.get_mut(m.index as usize).ok_or_else(|| {
                bad(
                    &field("index"),
                    format!("{} is out of range: indices must be 0..{n}, each once", m.index),
                )
            })?;
            if slot.is_some() {
                return Err(bad(&field("index"), format!("{} appears twice", m.index)));
            }
            *slot = Some(MemberAddrs {
                address: parse_addr(&m.address).map_err(|p| bad(&field("address"), p))?,
                admin: parse_addr(&m.admin).map_err(|p| bad(&field("admin"), p))?,
            });
        }
        let members: Vec<MemberAddrs> = members.into_iter().flatten().collect();
        let nameserver = MemberAddrs {
            address: parse_addr(&self.nameserver.address).map_err(|p| bad("nameserver.address", p))?,
            admin: parse_addr(&self.nameserver.admin).map_err(|p| bad("nameserver.admin", p))?,
        };
        let t = &self.timers;
        for (name, value) in [
            ("timers.detect_interval_ms", t.detect_interval_ms),
            ("timers.inquiry_timeout_ms", t.inquiry_timeout_ms),
            ("timers.monitor_tick_ms", t.monitor_tick_ms),
            ("timers.monitor_count", u64::from(t.monitor_count)),
            ("timers.lease_renew_ms", t.lease_renew_ms),
            ("timers.ack_timeout_ms", t.ack_timeout_ms),
            ("election.t_ms", self.election.t_ms),
            ("nameserver.lease_ttl_ms", self.nameserver.lease_ttl_ms),
        ] {
            if value == 0 {
                return Err(bad(name, "must be greater than 0".into()));
            }
        }
        let election = self.election_scheme(n as u32).map_err(|(f, p)| bad(f, p))?;
        let ms = Duration::from_millis;
        let params = Params {
            group: self.group.clone(),
            members: n as u32,
            detect_interval: ms(t.detect_interval_ms),
            inquiry_timeout: ms(t.inquiry_timeout_ms),
            election,
            monitor_tick: ms(t.monitor_tick_ms),
            monitor_count: t.monitor_count,
            recovery: self.recovery,
            ack: self.ack,
            ack_timeout: ms(t.ack_timeout_ms),
            lease_renew: ms(t.lease_renew_ms),
        };
        let ns = NsParams { lease_ttl: ms(self.nameserver.lease_ttl_ms), keep: self.nameserver.keep };
        if params.lease_renew >= ns.lease_ttl {
            return Err(bad(
                "timers.lease_renew_ms",
                format!(
                    "{} ms must be shorter than nameserver.lease_ttl_ms ({} ms)",
                    t.lease_renew_ms, self.nameserver.lease_ttl_ms
                ),
            ));
        }
        let takeover = params.inquiry_timeout + params.min_election_delay();
        if ns.lease_ttl >= takeover {
            return Err(bad(
                "nameserver.lease_ttl_ms",
                format!(
                    "{} ms must be shorter than the earliest take-over (inquiry_timeout_ms + min D_i = {} ms), \
                     or a crashed master's lease outlives it",
                    self.nameserver.lease_ttl_ms,
                    takeover.as_millis()
                ),
            ));
        }
        Ok(GroupConfig { path: path.into(), file: self, params, ns, nameserver, members })
    }

    fn election_scheme(&self, n: u32) -> Result<ElectionScheme, (&'static str, String)> {
        let e = &self.election;
        let t = Duration::from_millis(e.t_ms);
        match e.scheme {
            SchemeName::Equal => Ok(ElectionScheme::Equal { t }),
            SchemeName::Integral => {
                let delays = match (&e.delays_ms, e.delay_ms) {
                    (Some(matrix), _) => {
                        if matrix.len() != n as usize || matrix.iter().any(|row| row.len() != n as usize) {
                            return Err((
                                "election.delays_ms",
                                format!("must be a {n}x{n} matrix, one row per member"),
                            ));
                        }
                        matrix
                            .iter()
                            .map(|row| row.iter().map(|&v| Duration::from_millis(v)).collect())
                            .collect()
                    }
                    (None, Some(d)) => uniform_delays(n, Duration::from_millis(d)),
                    (None, None) => {
                        return Err(("election", "integral scheme needs delay_ms or delays_ms".to_string()));
                    }
                };
                Ok(ElectionScheme::Integral { t1: t, delays })
            }
        }
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("{text:?} is not an IP:port address (for example 10.0.0.1:7000)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "group: g
nameserver: { address: 127.0.0.1:7000, admin: 127.0.0.1:7100 }
members:
  - { index: 1, address: 127.0.0.1:7002, admin: 127.0.0.1:7102 }
  - { index: 0, address: 127.0.0.1:7001, admin: 127.0.0.1:7101 }
";

    fn parse(text: &str) -> Result<GroupConfig, Error> {
        GroupConfig::parse(Path::new("group.yaml"), text)
    }

    #[test]
    fn a_minimal_file_gets_the_default_timers_and_members_by_index() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.params.members, 2);
        assert_eq!(c.members[1].address, "127.0.0.1:7002".parse().unwrap());
        assert_eq!(c.params.detect_interval, Params::default().detect_interval);
        assert!(c.member(2).unwrap_err().to_string().contains("unknown member index 2"));
    }

    #[test]
    fn malformed_yaml_names_the_file_and_the_line() {
        let err = parse("group: g\nmembers: [\n").unwrap_err().to_string();
        assert!(err.starts_with("group.yaml:"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = parse("group: g\nmembers: []\n").unwrap_err().to_string();
        assert!(err.contains("missing field `nameserver`"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = parse(&format!("{GOOD}timers: {{ detect_ms: 5 }}\n")).unwrap_err().to_string();
        assert!(err.contains("unknown field `detect_ms`"), "{err}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (GOOD.replace("index: 1", "index: 7"), "members[0].index"),
            (GOOD.replace("index: 1", "index: 0"), "members[1].index"),
            (GOOD.replace("127.0.0.1:7002", "nowhere"), "members[0].address"),
            (format!("{GOOD}timers: {{ detect_interval_ms: 0 }}\n"), "timers.detect_interval_ms"),
            (
                format!("{GOOD}election: {{ scheme: integral, t_ms: 100, delays_ms: [[0]] }}\n"),
                "election.delays_ms",
            ),
            (
                GOOD.replace("admin: 127.0.0.1:7100", "admin: 127.0.0.1:7100, lease_ttl_ms: 900"),
                "nameserver.lease_ttl_ms",
            ),
        ];
        for (text, field) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("field `{field}`")), "{field}: {err}");
        }
    }
}
