//! The three-valued verdict and the combined results of every checker.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A checker's verdict; serialized as `true`, `false` or `"unknown"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// The property held.
    Valid,
    /// The checker could not decide.
    Unknown,
    /// The property was violated.
    Invalid,
}

impl Verdict {
    /// The worse of two verdicts (invalid beats unknown beats valid).
    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The exit code of a run with this verdict: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "unknown",
        })
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Verdict::Valid => s.serialize_bool(true),
            Verdict::Invalid => s.serialize_bool(false),
            Verdict::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Verdict::Valid),
            serde_json::Value::Bool(false) => Ok(Verdict::Invalid),
            serde_json::Value::String(s) if s == "unknown" => Ok(Verdict::Unknown),
            other => Err(serde::de::Error::custom(format!("not a verdict: {other}"))),
        }
    }
}

/// `results.json`: the overall verdict (the worst of the checkers') and each checker's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The worst verdict of all checkers.
    pub valid: Verdict,
    /// Each checker's result, by name; every one has a `valid` field.
    pub checkers: BTreeMap<String, serde_json::Value>,
}

impl Results {
    /// Combines `(name, verdict, result)` triples.
    pub fn combine(parts: impl IntoIterator<Item = (String, Verdict, serde_json::Value)>) -> Self {
        let mut valid = Verdict::Valid;
        let mut checkers = BTreeMap::new();
        for (name, verdict, result) in parts {
            valid = valid.worst(verdict);
            checkers.insert(name, result);
        }
        Results { valid, checkers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_serialize_as_jepsen_does_and_combine_to_the_worst() {
        assert_eq!(
            serde_json::to_string(&[Verdict::Valid, Verdict::Invalid, Verdict::Unknown]).unwrap(),
            r#"[true,false,"unknown"]"#
        );
        let back: Vec<Verdict> = serde_json::from_str(r#"[true,false,"unknown"]"#).unwrap();
        assert_eq!(back, [Verdict::Valid, Verdict::Invalid, Verdict::Unknown]);
        assert_eq!(Verdict::Valid.worst(Verdict::Unknown), Verdict::Unknown);
        assert_eq!(Verdict::Unknown.worst(Verdict::Invalid), Verdict::Invalid);
        let r = Results::combine([
            ("a".into(), Verdict::Valid, serde_json::json!({"valid": true})),
            ("b".into(), Verdict::Unknown, serde_json::json!({"valid": "unknown"})),
        ]);
        assert_eq!(r.valid, Verdict::Unknown);
    }
}
