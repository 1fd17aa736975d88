//! The three-valued verdict: the one vocabulary of verdict words and exit codes.

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

    /// The verdict's word, as the console, junit.xml, report.html and campaigns print it:
    /// `valid`, `INVALID` (loud, as it should be) or `unknown`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "unknown",
        }
    }

    /// The verdict whose [`word`](Verdict::word) is `word`.
    pub fn parse_word(word: &str) -> Option<Verdict> {
        [Verdict::Valid, Verdict::Invalid, Verdict::Unknown].into_iter().find(|v| v.word() == word)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
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
        assert_eq!(Verdict::parse_word("INVALID"), Some(Verdict::Invalid));
        for v in [Verdict::Valid, Verdict::Invalid, Verdict::Unknown] {
            assert_eq!(Verdict::parse_word(v.word()), Some(v));
        }
    }
}
