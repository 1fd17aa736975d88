//! Packet faults: what happens to each packet on a set of links (loss, delay with jitter,
//! duplication, reordering, a rate limit), and which links.
//!
//! A link is directed: `a -> b` carries the packets `a` sends to `b`. A packet fault names its
//! links as [`Links`] (the ones a partition shape would cut, one host's every link, or every
//! link) and its [`Behaviour`]; how it is applied on a node is in [`crate::commands`].

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::Host;
use crate::partition::Grudge;

/// Directed links: `links.0[a]` holds the hosts whose packets from `a` are affected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links(pub BTreeMap<Host, BTreeSet<Host>>);

impl Links {
    /// The links a grudge cuts: `from -> to` for every `to` that drops `from`'s packets.
    pub fn of_grudge(grudge: &Grudge) -> Self {
        let mut links = Links::default();
        for (to, froms) in &grudge.0 {
            for from in froms {
                links.add(from, to);
            }
        }
        links
    }

    /// Every link of `host` to and from the other `hosts`, both ways.
    pub fn around(host: &str, hosts: &[Host]) -> Self {
        let mut links = Links::default();
        for other in hosts.iter().filter(|h| *h != host) {
            links.add(host, other);
            links.add(other, host);
        }
        links
    }

    /// Every link between two different `hosts`.
    pub fn all(hosts: &[Host]) -> Self {
        let mut links = Links::default();
        for a in hosts {
            for b in hosts.iter().filter(|b| *b != a) {
                links.add(a, b);
            }
        }
        links
    }

    /// Adds the link `from -> to`.
    pub fn add(&mut self, from: &str, to: &str) {
        self.0.entry(from.to_string()).or_default().insert(to.to_string());
    }

    /// The hosts `from` sends affected packets to.
    pub fn from(&self, from: &str) -> impl Iterator<Item = &Host> {
        self.0.get(from).into_iter().flatten()
    }

    /// The hosts whose packets to `to` are affected.
    pub fn into_host<'a>(&'a self, to: &'a str) -> impl Iterator<Item = &'a Host> + 'a {
        self.0.iter().filter(move |(_, tos)| tos.contains(to)).map(|(from, _)| from)
    }

    /// True when `from -> to` is one of the links.
    pub fn contains(&self, from: &str, to: &str) -> bool {
        self.0.get(from).is_some_and(|s| s.contains(to))
    }

    /// The number of links.
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeSet::len).sum()
    }

    /// True when there is no link.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which links a packet fault takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PacketTarget {
    /// Every link of one host (the master, when the nemesis goes for it), both ways.
    One,
    /// Every link between the hosts.
    All,
    /// The links a partition of one of the plan's shapes would cut.
    Links,
}

impl PacketTarget {
    /// Every target, in a stable order.
    pub const ALL: [PacketTarget; 3] = [PacketTarget::One, PacketTarget::All, PacketTarget::Links];
}

/// What a packet fault does to each packet of its links; a zero (or absent rate) is no effect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Percent of packets dropped, at random.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loss_pct: f64,
    /// The median of the added one-way delay, in ms.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub delay_ms: u32,
    /// The added delay is drawn uniformly from `delay_ms ± jitter_ms`.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub jitter_ms: u32,
    /// Percent of packets sent twice.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate_pct: f64,
    /// Percent of packets sent at once, without the delay, so ahead of the delayed ones sent
    /// before them (as netem's reorder).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reorder_pct: f64,
    /// A limit on each host's rate to the links' other ends, in kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_kbit: Option<u64>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// The highest delay median or jitter a behaviour may have, in ms.
pub const MAX_DELAY_MS: u32 = 10_000;
/// The lowest and highest rate limit, in kbit/s.
pub const RATE_KBIT: (u64, u64) = (8, 10_000_000);

/// A behaviour that cannot be applied, naming the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadBehaviour {
    /// The field (`loss_pct`, `delay_ms`, …), or `effects` when no field gives an effect.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Behaviour {
    /// Jepsen's packet nemesis defaults (`tc netem`): each effect at the strength Jepsen gives it.
    pub fn jepsen_defaults() -> Behaviour {
        Behaviour {
            loss_pct: 20.0,
            delay_ms: 50,
            jitter_ms: 10,
            duplicate_pct: 20.0,
            reorder_pct: 20.0,
            rate_kbit: Some(1000),
        }
    }

    /// Draws a behaviour: one to three effects (a reorder always with a delay), each at a
    /// strength within the ranges around Jepsen's defaults: loss 5-30 %, delay 10-100 ms with a
    /// jitter of up to a fifth, duplication 5-30 %, reorder 10-30 %, rate 100 kbit/s-10 Mbit/s.
    pub fn draw<R: Rng + ?Sized>(rng: &mut R) -> Behaviour {
        let mut b = Behaviour::default();
        let effects = rng.random_range(1..=3);
        for _ in 0..effects {
            match rng.random_range(0..5) {
                0 => b.loss_pct = rng.random_range(5..=30) as f64,
                1 => b.set_delay(rng),
                2 => b.duplicate_pct = rng.random_range(5..=30) as f64,
                3 => {
                    b.reorder_pct = rng.random_range(10..=30) as f64;
                    if b.delay_ms == 0 {
                        b.set_delay(rng);
                    }
                }
                _ => b.rate_kbit = Some([100, 300, 1_000, 3_000, 10_000][rng.random_range(0..5)]),
            }
        }
        b
    }

    fn set_delay<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.delay_ms = rng.random_range(10..=100);
        self.jitter_ms = rng.random_range(0..=self.delay_ms / 5);
    }

    /// True when the delayer has something to do (delay, duplication or reordering).
    pub fn needs_delayer(&self) -> bool {
        self.delay_ms > 0 || self.duplicate_pct > 0.0 || self.reorder_pct > 0.0
    }

    /// True when it does nothing at all.
    pub fn is_empty(&self) -> bool {
        self.loss_pct == 0.0 && !self.needs_delayer() && self.rate_kbit.is_none()
    }

    /// Checks every field's range; the error names the first field out of it.
    pub fn validate(&self) -> Result<(), BadBehaviour> {
        let bad = |field, problem: String| Err(BadBehaviour { field, problem });
        for (field, pct) in [
            ("loss_pct", self.loss_pct),
            ("duplicate_pct", self.duplicate_pct),
            ("reorder_pct", self.reorder_pct),
        ] {
            if !(0.0..=100.0).contains(&pct) {
                return bad(field, format!("{pct} %: use a percentage from 0 to 100"));
            }
        }
        if self.delay_ms > MAX_DELAY_MS {
            return bad("delay_ms", format!("{} ms: use at most {MAX_DELAY_MS} ms", self.delay_ms));
        }
        if self.jitter_ms > self.delay_ms {
            return bad(
                "jitter_ms",
                format!(
                    "{} ms of jitter around a {} ms delay: use at most the delay",
                    self.jitter_ms, self.delay_ms
                ),
            );
        }
        if self.reorder_pct > 0.0 && self.delay_ms == 0 {
            return bad(
                "reorder_pct",
                "a reorder sends some packets ahead of delayed ones: give a delay too".into(),
            );
        }
        if let Some(rate) = self.rate_kbit
            && !(RATE_KBIT.0..=RATE_KBIT.1).contains(&rate)
        {
            return bad("rate_kbit", format!("{rate} kbit/s: use {} to {}", RATE_KBIT.0, RATE_KBIT.1));
        }
        if self.is_empty() {
            return bad("effects", "a packet fault that does nothing: give at least one effect".into());
        }
        Ok(())
    }

    /// "loss 20 %, delay 50 ± 10 ms, rate 1000 kbit/s", for reports and logs.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.loss_pct > 0.0 {
            parts.push(format!("loss {} %", self.loss_pct));
        }
        if self.delay_ms > 0 {
            parts.push(format!("delay {} ± {} ms", self.delay_ms, self.jitter_ms));
        }
        if self.duplicate_pct > 0.0 {
            parts.push(format!("duplicate {} %", self.duplicate_pct));
        }
        if self.reorder_pct > 0.0 {
            parts.push(format!("reorder {} %", self.reorder_pct));
        }
        if let Some(rate) = self.rate_kbit {
            parts.push(format!("rate {rate} kbit/s"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn hosts() -> Vec<Host> {
        ["n1", "n2", "n3", "ns"].map(String::from).to_vec()
    }

    #[test]
    fn links_of_a_grudge_run_from_the_dropped_sender_to_the_dropping_receiver() {
        let mut g = Grudge::default();
        g.cut_one_way("n2", "n1");
        let links = Links::of_grudge(&g);
        assert!(links.contains("n2", "n1") && !links.contains("n1", "n2"));
        assert_eq!(links.into_host("n1").collect::<Vec<_>>(), ["n2"]);
        assert_eq!(links.from("n2").collect::<Vec<_>>(), ["n1"]);
    }

    #[test]
    fn around_and_all_cover_the_right_links() {
        let around = Links::around("n2", &hosts());
        assert_eq!(around.len(), 6, "3 peers, both ways");
        assert!(around.contains("n2", "ns") && around.contains("ns", "n2") && !around.contains("n1", "n3"));
        assert_eq!(Links::all(&hosts()).len(), 12);
        assert!(Links::default().is_empty());
    }

    #[test]
    fn drawn_behaviours_are_valid_and_a_seed_gives_one_behaviour() {
        for seed in 0..500 {
            let b = Behaviour::draw(&mut StdRng::seed_from_u64(seed));
            assert_eq!(b.validate(), Ok(()), "{b:?}");
            assert_eq!(b, Behaviour::draw(&mut StdRng::seed_from_u64(seed)));
        }
        assert_eq!(Behaviour::jepsen_defaults().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let field = |b: Behaviour| b.validate().unwrap_err().field;
        assert_eq!(field(Behaviour { loss_pct: 120.0, ..Behaviour::default() }), "loss_pct");
        assert_eq!(field(Behaviour { delay_ms: 5, jitter_ms: 6, ..Behaviour::default() }), "jitter_ms");
        assert_eq!(field(Behaviour { reorder_pct: 10.0, ..Behaviour::default() }), "reorder_pct");
        assert_eq!(field(Behaviour { rate_kbit: Some(1), ..Behaviour::default() }), "rate_kbit");
        assert_eq!(field(Behaviour { delay_ms: 20_000, ..Behaviour::default() }), "delay_ms");
        assert_eq!(field(Behaviour::default()), "effects", "one that does nothing");
    }

    #[test]
    fn a_behaviour_reads_back_as_written_and_sums_up_in_words() {
        let b = Behaviour { loss_pct: 20.0, delay_ms: 50, jitter_ms: 10, ..Behaviour::default() };
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(text, r#"{"loss_pct":20.0,"delay_ms":50,"jitter_ms":10}"#);
        assert_eq!(serde_json::from_str::<Behaviour>(&text).unwrap(), b);
        assert_eq!(b.summary(), "loss 20 %, delay 50 ± 10 ms");
    }
}
