//! The replicated service: a key-value map with read, write, compare-and-set and append.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ReplicaId;
use super::message::{OpOutput, ReplyError};

/// A stored value: an integer, a string, or (after `append`) a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// The elements appended to a key, in order.
    List(Vec<Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A client operation on the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read the value of `key`.
    Read {
        /// The key.
        key: String,
    },
    /// Set `key` to `value`.
    Write {
        /// The key.
        key: String,
        /// The value written.
        value: Value,
    },
    /// Set `key` to `new` if it currently holds `old`.
    Cas {
        /// The key.
        key: String,
        /// The value expected.
        old: Value,
        /// The value set when the expectation holds.
        new: Value,
    },
    /// Append `value` to the list at `key` (a missing key is an empty list).
    Append {
        /// The key.
        key: String,
        /// The element appended.
        value: Value,
    },
}

impl Op {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } | Op::Append { key, .. } => key,
        }
    }

    /// True when the operation can change the map (everything but a read).
    pub fn is_update(&self) -> bool {
        !matches!(self, Op::Read { .. })
    }
}

/// The map itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    entries: BTreeMap<String, Value>,
}

impl Kv {
    /// Runs `op`; a failed cas leaves the map unchanged.
    pub fn apply(&mut self, op: &Op) -> Result<OpOutput, ReplyError> {
        match op {
            Op::Read { key } => Ok(OpOutput::Value(self.entries.get(key).cloned())),
            Op::Write { key, value } => {
                self.entries.insert(key.clone(), value.clone());
                Ok(OpOutput::Done)
            }
            Op::Cas { key, old, new } => match self.entries.get_mut(key) {
                Some(current) if current == old => {
                    *current = new.clone();
                    Ok(OpOutput::Done)
                }
                current => Err(ReplyError::CasMismatch { current: current.cloned() }),
            },
            Op::Append { key, value } => {
                let entry = self.entries.entry(key.clone()).or_insert_with(|| Value::List(Vec::new()));
                match entry {
                    Value::List(items) => items.push(value.clone()),
                    other => *other = Value::List(vec![other.clone(), value.clone()]),
                }
                Ok(OpOutput::Done)
            }
        }
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// A 64-bit FNV-1a digest of every key and value in key order: equal maps have equal
    /// digests, and a differing one differs but with a chance of 2^-64.
    pub fn digest(&self) -> u64 {
        let bytes = postcard::to_allocvec(&self.entries).expect("a map serializes");
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    }

    /// True when no key was ever written.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The mastership under which a state's requests were numbered (`ack = every-member` only; the
/// seeds' settings keep the default): a master that starts serving takes a counter above every
/// one it gathered, so two masters never share an epoch and a later one orders above an earlier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch {
    /// Increases with every master that starts serving.
    pub counter: u64,
    /// The master that started it.
    pub master: ReplicaId,
}

/// A replica's whole application state, as downloaded in recovery and at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The epoch whose master numbered the requests up to `applied`.
    pub epoch: Epoch,
    /// The sequence number of the last request applied.
    pub applied: u64,
    /// The map.
    pub kv: Kv,
}

impl Snapshot {
    /// The order in which a new master picks the state to serve from: the latest epoch first,
    /// then the most requests applied in it.
    pub fn recency(&self) -> (Epoch, u64) {
        (self.epoch, self.applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        "k".to_string()
    }

    #[test]
    fn cas_succeeds_only_on_the_current_value() {
        let mut kv = Kv::default();
        kv.apply(&Op::Write { key: key(), value: Value::Int(1) }).unwrap();
        let miss = kv.apply(&Op::Cas { key: key(), old: Value::Int(2), new: Value::Int(3) });
        assert_eq!(miss, Err(ReplyError::CasMismatch { current: Some(Value::Int(1)) }));
        kv.apply(&Op::Cas { key: key(), old: Value::Int(1), new: Value::Int(3) }).unwrap();
        assert_eq!(kv.get("k"), Some(&Value::Int(3)));
    }

    #[test]
    fn equal_maps_have_equal_digests_and_a_change_changes_it() {
        let mut a = Kv::default();
        let mut b = Kv::default();
        for (k, v) in [("x", 1), ("y", 2)] {
            a.apply(&Op::Write { key: k.into(), value: Value::Int(v) }).unwrap();
        }
        for (k, v) in [("y", 2), ("x", 1)] {
            b.apply(&Op::Write { key: k.into(), value: Value::Int(v) }).unwrap();
        }
        assert_eq!(a.digest(), b.digest(), "order of writes does not matter, content does");
        b.apply(&Op::Write { key: "x".into(), value: Value::Int(3) }).unwrap();
        assert_ne!(a.digest(), b.digest());
        assert_ne!(Kv::default().digest(), a.digest());
    }

    #[test]
    fn append_builds_a_list_in_order() {
        let mut kv = Kv::default();
        for i in 0..3 {
            kv.apply(&Op::Append { key: key(), value: Value::Int(i) }).unwrap();
        }
        assert_eq!(kv.get("k"), Some(&Value::List(vec![Value::Int(0), Value::Int(1), Value::Int(2)])));
        assert_eq!(kv.apply(&Op::Read { key: "none".into() }), Ok(OpOutput::Value(None)));
    }
}
