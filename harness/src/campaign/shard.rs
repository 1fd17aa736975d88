//! Shards: a stable split of a campaign's runs over machines, and the `shard.json` each
//! campaign run leaves so that `campaign merge` can tell a missing or unfinished shard.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::plan::Plan;

/// The name of the file a campaign run writes first, beside its `campaign.json`.
pub(super) const MANIFEST: &str = "shard.json";

/// Shard `k` of `n` (`K/N` on the command line, 1 ≤ K ≤ N): the runs whose identity (test
/// name and seed) hashes to it, a split that stays put when runs are added or removed (as
/// `cargo nextest --partition hash:K/N` splits tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    /// Which shard, from 1.
    pub k: u32,
    /// How many shards.
    pub n: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?}: give K/N with 1 <= K <= N, for example 2/4");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if k == 0 || k > n { Err(bad()) } else { Ok(Shard { k, n }) }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Shard {
    /// The whole campaign as one shard.
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };

    /// True when `plan` is one of this shard's runs.
    pub fn holds(&self, plan: &Plan) -> bool {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(identity(&plan.name, plan.seed).as_bytes());
        let hash = u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"));
        hash % u64::from(self.n) == u64::from(self.k - 1)
    }
}

/// What names a run across shards and machines: its test name and seed.
pub fn identity(name: &str, seed: u64) -> String {
    format!("{name} seed {seed}")
}

/// `shard.json`: which campaign and shard a campaign run is, and the runs it set out to do,
/// written before the first of them starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The campaign's name.
    pub campaign: String,
    /// The campaign file, as it was given.
    pub file: PathBuf,
    /// Which shard (`1/1` for a whole campaign).
    pub shard: Shard,
    /// The identities of the runs it was to do, in order.
    pub runs: Vec<String>,
}

impl Manifest {
    /// Writes the manifest into the campaign folder `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(MANIFEST);
        std::fs::write(&path, serde_json::to_string_pretty(self).expect("a manifest serializes"))
            .map_err(|e| Error::file(&path, e))
    }
}
