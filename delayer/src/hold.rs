//! Which packets are held how long, and which are sent twice: the delayer's decisions, drawn
//! from a seeded generator, as data (no I/O, no clock: times are given).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What the delayer does to each packet.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Behaviour {
    /// The median of the added delay.
    pub delay: Duration,
    /// The added delay is drawn uniformly within this of the median.
    pub jitter: Duration,
    /// The chance that a packet is sent twice.
    pub duplicate: f64,
    /// The chance that a packet is let go at once, ahead of the delayed ones before it.
    pub reorder: f64,
}

/// A packet whose time has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// Its id in the queue.
    pub id: u32,
    /// Its bytes, to be sent again as a duplicate, when it is duplicated.
    pub duplicate: Option<Vec<u8>>,
}

/// The packets held, each until its time.
pub struct Holder {
    behaviour: Behaviour,
    rng: ChaCha8Rng,
    due: BinaryHeap<Reverse<(Duration, u64, u32)>>,
    duplicates: HashMap<u32, Vec<u8>>,
    order: u64,
}

impl Holder {
    /// An empty holder, its draws seeded with `seed`.
    pub fn new(behaviour: Behaviour, seed: u64) -> Self {
        Holder {
            behaviour,
            rng: ChaCha8Rng::seed_from_u64(seed),
            due: BinaryHeap::new(),
            duplicates: HashMap::new(),
            order: 0,
        }
    }

    /// Takes packet `id` (with its bytes, when copied) at time `now`: draws whether it is
    /// reordered (let go at once) or else its delay, and whether it is duplicated.
    pub fn take(&mut self, now: Duration, id: u32, payload: Option<Vec<u8>>) {
        let b = self.behaviour;
        let at = if b.reorder > 0.0 && self.rng.random_bool(b.reorder) {
            now
        } else {
            let (median, spread) = (b.delay.as_micros() as u64, b.jitter.as_micros() as u64);
            now + Duration::from_micros(self.rng.random_range(median - spread.min(median)..=median + spread))
        };
        if b.duplicate > 0.0 && self.rng.random_bool(b.duplicate) {
            if let Some(bytes) = payload {
                self.duplicates.insert(id, bytes);
            }
        }
        self.order += 1;
        self.due.push(Reverse((at, self.order, id)));
    }

    /// When the next held packet is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.due.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The packets due by `now`, earliest first, no longer held.
    pub fn due(&mut self, now: Duration) -> Vec<Release> {
        let mut out = Vec::new();
        while let Some(&Reverse((at, _, id))) = self.due.peek() {
            if at > now {
                break;
            }
            self.due.pop();
            out.push(Release { id, duplicate: self.duplicates.remove(&id) });
        }
        out
    }

    /// Every packet held, in the order they are due.
    pub fn all(&mut self) -> Vec<Release> {
        self.due(Duration::MAX)
    }

    /// How many packets are held.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn holder(delay: u32, jitter: u32, duplicate: f64, reorder: f64, seed: u64) -> Holder {
        Holder::new(Behaviour { delay: delay * MS, jitter: jitter * MS, duplicate, reorder }, seed)
    }

    /// Takes `n` packets 1 ms apart; returns each one's delay, in release order.
    fn delays(h: &mut Holder, n: u32) -> Vec<(u32, Duration)> {
        for id in 0..n {
            h.take(id * MS, id, Some(vec![id as u8]));
        }
        let mut out = Vec::new();
        let mut now = Duration::ZERO;
        while let Some(next) = h.next_due() {
            now = now.max(next);
            out.extend(h.due(now).into_iter().map(|r| (r.id, now - r.id * MS)));
        }
        out
    }

    #[test]
    fn delays_stay_within_the_jitter_of_the_median_and_a_seed_gives_one_run() {
        let got = delays(&mut holder(50, 10, 0.0, 0.0, 1), 2000);
        assert_eq!(got.len(), 2000);
        assert!(got.iter().all(|(_, d)| *d >= 40 * MS && *d <= 60 * MS), "within 50 ± 10 ms");
        let mut sorted: Vec<Duration> = got.iter().map(|(_, d)| *d).collect();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        assert!(median > 48 * MS && median < 52 * MS, "median {median:?}");
        assert_eq!(got, delays(&mut holder(50, 10, 0.0, 0.0, 1), 2000));
        assert_ne!(got, delays(&mut holder(50, 10, 0.0, 0.0, 2), 2000));
    }

    #[test]
    fn without_jitter_or_reorder_packets_keep_their_order_and_reorder_breaks_it() {
        let in_order = |got: &[(u32, Duration)]| got.windows(2).all(|w| w[0].0 < w[1].0);
        assert!(in_order(&delays(&mut holder(20, 0, 0.0, 0.0, 3), 500)));
        let reordered = delays(&mut holder(20, 0, 0.0, 0.3, 3), 500);
        assert!(!in_order(&reordered));
        let at_once = reordered.iter().filter(|(_, d)| d.is_zero()).count();
        assert!((100..200).contains(&at_once), "about 30 % let go at once: {at_once}");
    }

    #[test]
    fn duplicates_carry_the_packets_bytes_at_about_their_rate() {
        let mut h = holder(5, 0, 0.2, 0.0, 4);
        for id in 0..1000 {
            h.take(Duration::ZERO, id, Some(vec![id as u8, 1]));
        }
        assert_eq!(h.len(), 1000);
        let released = h.all();
        assert!(h.is_empty());
        let copies: Vec<_> =
            released.iter().filter_map(|r| r.duplicate.as_ref().map(|d| (r.id, d))).collect();
        assert!((150..250).contains(&copies.len()), "about 20 %: {}", copies.len());
        assert!(copies.iter().all(|(id, d)| **d == vec![*id as u8, 1]));
    }
}
