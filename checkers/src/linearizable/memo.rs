//! The search's memo: the set of configurations tried, by fingerprint.

use super::fingerprint::Fingerprint;

/// A set of fingerprints: open addressing with linear probing in a table of any size (so that
/// a memo sized for an allowance takes no more than it needs), at most seven eighths full.
/// Fingerprints are uniformly spread already, so their low half places them.
///
/// An empty slot holds 0, so the fingerprint 0 is kept as 1: those two configurations are
/// taken for one, a collision as likely as any other (2^-128).
pub struct Memo {
    slots: Vec<Fingerprint>,
    len: usize,
}

impl Memo {
    /// A memo that holds `n` fingerprints before it grows.
    pub fn with_capacity(n: usize) -> Memo {
        Memo { slots: vec![0; slots_for(n)], len: 0 }
    }

    /// Adds `f`; false when it was there already.
    pub fn insert(&mut self, f: Fingerprint) -> bool {
        let f = f.max(1);
        if 8 * (self.len + 1) > 7 * self.slots.len() {
            self.grow();
        }
        let mut i = place(f, self.slots.len());
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = f;
                    self.len += 1;
                    return true;
                }
                s if s == f => return false,
                _ => i = if i + 1 == self.slots.len() { 0 } else { i + 1 },
            }
        }
    }

    /// Fingerprints held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of its table.
    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Fingerprint>()
    }

    fn grow(&mut self) {
        let bigger = vec![0; 2 * self.slots.len()];
        let old = std::mem::replace(&mut self.slots, bigger);
        self.len = 0;
        for f in old.into_iter().filter(|&f| f != 0) {
            self.insert(f);
        }
    }
}

/// Slots for `n` fingerprints at most seven eighths full.
fn slots_for(n: usize) -> usize {
    ((8 * n + 14) / 7).max(8)
}

/// The slot where `f` goes first in a table of `n`: its low half scaled to `n`.
fn place(f: Fingerprint, n: usize) -> usize {
    ((u128::from(f as u64) * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_it_was_given_once_and_grows_past_its_capacity() {
        let mut memo = Memo::with_capacity(3);
        let keys: Vec<Fingerprint> =
            (0..1000u128).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)).collect();
        for &k in &keys {
            assert!(memo.insert(k), "{k} is new");
        }
        assert!(keys.iter().all(|&k| !memo.insert(k)), "and then known");
        assert_eq!(memo.len(), 1000);
        assert!(memo.bytes() >= 1000 * 16 * 8 / 7);
        let exact = Memo::with_capacity(4096);
        assert_eq!(exact.bytes(), slots_for(4096) * 16);
        assert!(8 * 4097 <= 7 * slots_for(4096), "an allowance and the one beyond it fit");
    }
}
