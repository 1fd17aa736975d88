//! Grudges and partition shapes.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::Host;

/// Who drops whose packets: `grudge[a]` holds the hosts whose packets `a` drops.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grudge(pub BTreeMap<Host, BTreeSet<Host>>);

impl Grudge {
    /// Cuts every link between hosts of different blocks, both ways.
    pub fn between_blocks(blocks: &[Vec<Host>]) -> Self {
        let mut grudge = Grudge::default();
        for (i, a) in blocks.iter().enumerate() {
            for b in &blocks[i + 1..] {
                for x in a {
                    for y in b {
                        grudge.cut(x, y);
                    }
                }
            }
        }
        grudge
    }

    /// Makes `a` drop `b`'s packets and `b` drop `a`'s.
    pub fn cut(&mut self, a: &str, b: &str) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Makes `to` drop packets from `from`.
    pub fn cut_one_way(&mut self, from: &str, to: &str) {
        self.0.entry(to.to_string()).or_default().insert(from.to_string());
    }

    /// True when `to` drops packets from `from`.
    pub fn drops(&self, to: &str, from: &str) -> bool {
        self.0.get(to).is_some_and(|s| s.contains(from))
    }

    /// True when nothing is cut.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeSet::is_empty)
    }
}

/// A partition shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The replicas in index order, split in two halves; the name server stays with the larger.
    Halves,
    /// As `Halves`, after shuffling the replicas.
    RandomHalves,
    /// One random replica cut from everyone else.
    One,
    /// The current master cut from everyone, the name server included.
    IsolateMaster,
    /// The name server cut from every replica.
    IsolateNameServer,
    /// Replicas in a random ring, each seeing only its nearest neighbours: every replica sees a
    /// majority, no two see the same one. The name server sees everyone.
    MajoritiesRing,
    /// Two halves joined by one replica that sees both; the name server sees everyone.
    Bridge,
    /// A random half stops receiving from the other half (one-way); the other half still hears it.
    OneWay,
}

impl Shape {
    /// Every shape, in a stable order.
    pub const ALL: [Shape; 8] = [
        Shape::Halves,
        Shape::RandomHalves,
        Shape::One,
        Shape::IsolateMaster,
        Shape::IsolateNameServer,
        Shape::MajoritiesRing,
        Shape::Bridge,
        Shape::OneWay,
    ];
}

/// Why a shape cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// `isolate-master` needs a known master.
    NoMaster,
    /// The shape needs more replicas than there are.
    TooFewReplicas {
        /// The shape.
        shape: Shape,
        /// The replicas it needs at least.
        needed: usize,
    },
}

/// The grudge of `shape` over `replicas` (in index order) and the name server.
pub fn grudge<R: Rng + ?Sized>(
    shape: Shape,
    replicas: &[Host],
    nameserver: &Host,
    master: Option<&Host>,
    rng: &mut R,
) -> Result<Grudge, ShapeError> {
    let needed = match shape {
        Shape::MajoritiesRing => 3,
        Shape::Bridge => 3,
        Shape::IsolateNameServer | Shape::IsolateMaster => 1,
        _ => 2,
    };
    if replicas.len() < needed {
        return Err(ShapeError::TooFewReplicas { shape, needed });
    }
    let mut shuffled = replicas.to_vec();
    shuffled.shuffle(rng);
    let with_ns = |mut v: Vec<Host>| {
        v.push(nameserver.clone());
        v
    };
    Ok(match shape {
        Shape::Halves | Shape::RandomHalves => {
            let order = if shape == Shape::Halves { replicas.to_vec() } else { shuffled };
            let (small, large) = order.split_at(order.len() / 2);
            Grudge::between_blocks(&[small.to_vec(), with_ns(large.to_vec())])
        }
        Shape::One => {
            let (one, rest) = shuffled.split_at(1);
            Grudge::between_blocks(&[one.to_vec(), with_ns(rest.to_vec())])
        }
        Shape::IsolateMaster => {
            let master = master.ok_or(ShapeError::NoMaster)?.clone();
            let rest = replicas.iter().filter(|r| **r != master).cloned().collect();
            Grudge::between_blocks(&[vec![master], with_ns(rest)])
        }
        Shape::IsolateNameServer => Grudge::between_blocks(&[vec![nameserver.clone()], replicas.to_vec()]),
        Shape::MajoritiesRing => {
            let n = shuffled.len();
            let reach = (n / 2).div_ceil(2).max(1);
            let mut grudge = Grudge::default();
            for i in 0..n {
                for j in 0..n {
                    let distance = (i + n - j) % n;
                    let distance = distance.min(n - distance);
                    if distance > reach {
                        grudge.cut_one_way(&shuffled[j], &shuffled[i]);
                    }
                }
            }
            grudge
        }
        Shape::Bridge => {
            let half = shuffled.len() / 2;
            let (left, rest) = shuffled.split_at(half);
            let right = &rest[1..];
            Grudge::between_blocks(&[left.to_vec(), right.to_vec()])
        }
        Shape::OneWay => {
            let (deaf, rest) = shuffled.split_at(shuffled.len() / 2);
            let mut grudge = Grudge::default();
            for d in deaf {
                for r in rest.iter().chain(std::iter::once(nameserver)) {
                    grudge.cut_one_way(r, d);
                }
            }
            grudge
        }
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn hosts() -> (Vec<Host>, Host) {
        ((1..=5).map(|i| format!("n{i}")).collect(), "ns".to_string())
    }

    fn make(shape: Shape, seed: u64) -> Grudge {
        let (replicas, ns) = hosts();
        grudge(shape, &replicas, &ns, Some(&"n3".to_string()), &mut StdRng::seed_from_u64(seed)).unwrap()
    }

    /// Hosts `a` can exchange packets with, both ways.
    fn sees(g: &Grudge, a: &str) -> BTreeSet<String> {
        let (replicas, ns) = hosts();
        replicas.into_iter().chain([ns]).filter(|b| b != a && !g.drops(a, b) && !g.drops(b, a)).collect()
    }

    #[test]
    fn halves_cut_both_ways_and_keep_the_name_server_with_the_majority() {
        let g = make(Shape::Halves, 0);
        assert!(g.drops("n1", "n3") && g.drops("n3", "n1"));
        assert!(!g.drops("n1", "n2"));
        assert!(g.drops("ns", "n1") && !g.drops("ns", "n5"));
    }

    #[test]
    fn isolate_master_cuts_it_from_everyone_including_the_name_server() {
        let g = make(Shape::IsolateMaster, 0);
        assert!(sees(&g, "n3").is_empty());
        assert_eq!(sees(&g, "n1").len(), 4);
    }

    #[test]
    fn majorities_ring_gives_every_replica_a_distinct_majority() {
        for seed in 0..10 {
            let g = make(Shape::MajoritiesRing, seed);
            let views: BTreeSet<BTreeSet<String>> = (1..=5)
                .map(|i| {
                    let me = format!("n{i}");
                    let mut v: BTreeSet<_> = sees(&g, &me).into_iter().filter(|h| h != "ns").collect();
                    v.insert(me);
                    assert_eq!(v.len(), 3, "a majority of 5");
                    v
                })
                .collect();
            assert_eq!(views.len(), 5, "no two replicas see the same majority");
        }
    }

    #[test]
    fn bridge_has_one_replica_seeing_both_sides() {
        let g = make(Shape::Bridge, 3);
        let full: Vec<_> = (1..=5).map(|i| format!("n{i}")).filter(|h| sees(&g, h).len() == 5).collect();
        assert_eq!(full.len(), 1, "exactly one bridge node");
    }

    #[test]
    fn one_way_drops_in_one_direction_only() {
        let g = make(Shape::OneWay, 1);
        let deaf: Vec<_> = g.0.iter().filter(|(_, s)| !s.is_empty()).map(|(h, _)| h.clone()).collect();
        assert_eq!(deaf.len(), 2);
        for d in &deaf {
            for (from, _) in g.0.iter().filter(|(h, _)| !deaf.contains(h)) {
                assert!(!g.drops(from, d), "{from} still hears {d}");
            }
        }
    }

    #[test]
    fn a_seed_gives_one_grudge_and_too_few_replicas_is_an_error() {
        assert_eq!(make(Shape::RandomHalves, 7), make(Shape::RandomHalves, 7));
        let err = grudge(Shape::Bridge, &["n1".into()], &"ns".into(), None, &mut StdRng::seed_from_u64(0));
        assert_eq!(err, Err(ShapeError::TooFewReplicas { shape: Shape::Bridge, needed: 3 }));
        let err = grudge(Shape::IsolateMaster, &hosts().0, &"ns".into(), None, &mut StdRng::seed_from_u64(0));
        assert_eq!(err, Err(ShapeError::NoMaster));
    }
}
