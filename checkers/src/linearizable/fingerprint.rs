//! 128-bit fingerprints of the search's configurations (a set of linearized operations and a
//! model state), so that its memo holds 16 bytes per configuration instead of a copied bitset
//! and state.
//!
//! A set's fingerprint is the XOR of its operations' (Zobrist hashing), so linearizing or
//! backtracking one operation updates it in O(1); a state's is a 128-bit hash of its value. A
//! string's is a polynomial hash modulo 2^61 - 1 in two random bases, so that appending to it
//! costs the length of what is appended, not of the string.
//! Two different configurations share a fingerprint with probability about 2^-128 per pair
//! (below 2^-60 for the 2^34 configurations a search could ever hold), two different values
//! about 2^-120. What the search concludes from fingerprints is checked on the real values
//! before it is reported (see the search), so a collision could at worst turn a linearizable
//! history into a reported violation or into "unknown", never a violation into "valid".

use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::model::Val;

/// A configuration's fingerprint.
pub type Fingerprint = u128;

/// The fingerprint of each of `n` operations, for Zobrist hashing of sets of them.
pub fn operation_keys(n: usize) -> Vec<Fingerprint> {
    (0..n as u64).map(|i| (u128::from(splitmix(2 * i)) << 64) | u128::from(splitmix(2 * i + 1))).collect()
}

/// The fingerprint of a model state.
pub fn state(v: &Val) -> Fingerprint {
    if let Val::Str(s) = v {
        return poly(s).fingerprint();
    }
    let mut h = Lanes { a: 0x243F_6A88_85A3_08D3, b: 0x1319_8A2E_0370_7344 };
    v.hash(&mut h);
    (u128::from(splitmix(h.a)) << 64) | u128::from(splitmix(h.b ^ 0x9E37_79B9))
}

/// What appending a string does to a string state's fingerprint.
#[derive(Clone, Copy, Debug)]
pub struct Append {
    /// Each base to the power of the appended length.
    shift: [u64; 2],
    /// The appended string's polynomial hash in each base.
    add: [u64; 2],
}

impl Append {
    /// The effect of appending `x`.
    pub fn of(x: &str) -> Append {
        let p = poly(x);
        Append { shift: p.power, add: p.hash }
    }

    /// The fingerprint of `s + x`, from that of the string state `s`.
    pub fn apply(self, s: Fingerprint) -> Fingerprint {
        let lanes = [(s >> 64) as u64, s as u64];
        let lane = |i: usize| add_mod(mul_mod(lanes[i], self.shift[i]), self.add[i]);
        (u128::from(lane(0)) << 64) | u128::from(lane(1))
    }
}

/// The Mersenne prime 2^61 - 1.
const MODULUS: u64 = (1 << 61) - 1;
/// The two bases: fixed, arbitrary, below the modulus.
const BASES: [u64; 2] = [0x0A3F_27D9_1C5B_4E61, 0x1E83_6B2F_90D4_C2A7];

/// A string's polynomial hash in each base, and each base to the power of its length.
struct Poly {
    hash: [u64; 2],
    power: [u64; 2],
}

impl Poly {
    fn fingerprint(&self) -> Fingerprint {
        (u128::from(self.hash[0]) << 64) | u128::from(self.hash[1])
    }
}

/// Each base to the powers 0 to 8.
const POWERS: [[u64; 9]; 2] = [powers(BASES[0]), powers(BASES[1])];

const fn powers(base: u64) -> [u64; 9] {
    let mut p = [1u64; 9];
    let mut i = 1;
    while i < 9 {
        p[i] = mul_mod(p[i - 1], base);
        i += 1;
    }
    p
}

/// Horner's rule on eight bytes at a time: `hash * B^8 + sum of c_k * B^(7-k)`, whose eight
/// products are independent of one another, reduced once. The same hash, byte by byte, would
/// wait for one multiplication per byte.
fn poly(s: &str) -> Poly {
    let chunks = s.as_bytes().chunks_exact(8);
    let rest = chunks.remainder();
    let mut p = Poly { hash: [0, 0], power: [1, 1] };
    for chunk in chunks {
        for (lane, powers) in POWERS.iter().enumerate() {
            let mut sum = u128::from(p.hash[lane]) * u128::from(powers[8]);
            for (k, &b) in chunk.iter().enumerate() {
                sum += u128::from(u64::from(b) + 1) * u128::from(powers[7 - k]);
            }
            p.hash[lane] = reduce(sum);
            p.power[lane] = mul_mod(p.power[lane], powers[8]);
        }
    }
    for &b in rest {
        for ((hash, power), base) in p.hash.iter_mut().zip(p.power.iter_mut()).zip(BASES) {
            *hash = add_mod(mul_mod(*hash, base), u64::from(b) + 1);
            *power = mul_mod(*power, base);
        }
    }
    p
}

/// `x` modulo 2^61 - 1, for `x` below 2^125.
const fn reduce(x: u128) -> u64 {
    let folded = (x & MODULUS as u128) + (x >> 61);
    let folded = (folded as u64 & MODULUS) + (folded >> 61) as u64;
    if folded >= MODULUS { folded - MODULUS } else { folded }
}

const fn mul_mod(a: u64, b: u64) -> u64 {
    reduce(a as u128 * b as u128)
}

/// `a + b` modulo 2^61 - 1, for `a` and `b` below 2^62.
fn add_mod(a: u64, b: u64) -> u64 {
    let sum = a + b;
    let sum = (sum & MODULUS) + (sum >> 61);
    if sum >= MODULUS { sum - MODULUS } else { sum }
}

/// A memo keyed by fingerprints, which are already uniformly spread: hashing them again would
/// only cost time.
pub type Memo = std::collections::HashSet<Fingerprint, BuildHasherDefault<Spread>>;

/// The hasher of [`Memo`]: a fingerprint's two halves folded together.
#[derive(Default)]
pub struct Spread(u64);

impl Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = splitmix(self.0 ^ u64::from_le_bytes(word));
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}

/// Two independent 64-bit lanes over the bytes of a value.
struct Lanes {
    a: u64,
    b: u64,
}

impl Hasher for Lanes {
    fn finish(&self) -> u64 {
        self.a
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let w = u64::from_le_bytes(word) ^ ((chunk.len() as u64) << 59);
            self.a = (self.a ^ w).wrapping_mul(0x9FB2_1C65_1E98_DF25).rotate_left(29);
            self.b = (self.b ^ w.rotate_left(32)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(31);
        }
    }
}

/// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_values_and_sets_get_different_fingerprints() {
        let values = [
            Val::Nil,
            Val::Int(0),
            Val::Int(1),
            Val::Str("".into()),
            Val::Str("1".into()),
            Val::Keyword("1".into()),
            Val::List(vec![Val::Int(1)]),
            Val::List(vec![Val::Int(1), Val::Nil]),
            Val::Str("x 0 0 y".into()),
            Val::Str("x 0 0 yx 1 0 y".into()),
        ];
        let mut seen: Vec<Fingerprint> = values.iter().map(state).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), values.len());
        let keys = operation_keys(1000);
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        keys_sorted.dedup();
        assert_eq!(keys_sorted.len(), 1000);
        assert_eq!(keys[3] ^ keys[5] ^ keys[3], keys[5], "a set's fingerprint undoes in O(1)");
        let s = |x: &str| Val::Str(x.into());
        let joined = Append::of(" 1 0 y").apply(Append::of("x 0 0 y").apply(state(&s(""))));
        assert_eq!(joined, state(&s("x 0 0 y 1 0 y")), "appending updates a string's fingerprint");
        assert_ne!(state(&s("ab")), state(&s("ba")));
        assert_ne!(state(&s("a")), state(&s("a\0")));
    }

    #[test]
    fn eight_bytes_at_a_time_is_horners_rule_byte_by_byte() {
        let text: String = (0..200u32).map(|i| char::from(b' ' + (i * 37 % 90) as u8)).collect();
        let m = u128::from(MODULUS);
        for len in 0..text.len() {
            let x = &text[..len];
            let (mut hash, mut power) = ([0u64; 2], [1u64; 2]);
            for b in x.bytes() {
                for lane in 0..2 {
                    let base = u128::from(BASES[lane]);
                    hash[lane] = ((u128::from(hash[lane]) * base + u128::from(b) + 1) % m) as u64;
                    power[lane] = (u128::from(power[lane]) * base % m) as u64;
                }
            }
            let got = poly(x);
            assert_eq!((got.hash, got.power), (hash, power), "length {len}");
        }
    }
}
