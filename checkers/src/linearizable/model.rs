//! The models a history is checked against, and the operations they step through.

use std::fmt;

/// A value in a register or a map, compared exactly and structurally: an integer, a float, a
/// string, a boolean, a keyword and a list are never equal to one another, whatever they print as.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Val {
    /// Absent.
    Nil,
    /// An integer that fits 64 bits.
    Int(i64),
    /// A larger integer, as its canonical decimal digits (`-` first when negative).
    BigInt(String),
    /// A floating-point number, by its bits (`-0.0` as `0.0`; NaN equals only itself).
    Float(u64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// An EDN keyword, without its colon (never equal to the string of the same letters).
    Keyword(String),
    /// A list or vector.
    List(Vec<Val>),
    /// Anything else (a map, a set, a symbol), by its printed form.
    Other(String),
}

impl Val {
    /// A float, by its bits.
    pub fn float(x: f64) -> Val {
        Val::Float(if x == 0.0 { 0f64.to_bits() } else { x.to_bits() })
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Nil => write!(f, "nil"),
            Val::Int(i) => write!(f, "{i}"),
            Val::BigInt(digits) => write!(f, "{digits}N"),
            Val::Float(bits) => write!(f, "{:?}", f64::from_bits(*bits)),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Keyword(k) => write!(f, ":{k}"),
            Val::List(items) => {
                write!(f, "[")?;
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Val::Other(text) => write!(f, "{text}"),
        }
    }
}

/// What an operation asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// Read the register (or `get` the key).
    Read,
    /// Write (or `put`) a value.
    Write(Val),
    /// Compare-and-set.
    Cas(Val, Val),
    /// Append a string to the key's string.
    Append(Val),
}

/// What an operation returned, when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A read's value.
    Value(Val),
    /// A write or an append completed.
    Done,
    /// A compare-and-set's outcome.
    Swapped(bool),
    /// Unknown: any outcome is legal (a crashed operation, a wildcard read).
    Unknown,
}

/// The models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// A register starting absent (`nil`); reads see exactly the value (porcupine's etcd model).
    Register,
    /// A register starting at 0 (knossos's `cas-register`).
    CasRegister,
    /// A map of strings, every key starting as `""`: get, put, append (porcupine's kv model).
    Kv,
}

impl Model {
    /// Parses `register`, `cas-register` or `kv`.
    pub fn parse(name: &str) -> Option<Model> {
        match name {
            "register" => Some(Model::Register),
            "cas-register" => Some(Model::CasRegister),
            "kv" => Some(Model::Kv),
            _ => None,
        }
    }

    /// The state every key starts in.
    pub fn initial(self) -> Val {
        match self {
            Model::Register => Val::Nil,
            Model::CasRegister => Val::Int(0),
            Model::Kv => Val::Str(String::new()),
        }
    }

    /// The state after `call` returned `ret` in `state`, or `None` when that is impossible.
    pub fn step(self, state: &Val, call: &Call, ret: &Ret) -> Option<Val> {
        let mut next = state.clone();
        self.apply(&mut next, call, ret).then_some(next)
    }

    /// Makes `call` returning `ret` take effect on `state`, in place: as [`step`](Model::step),
    /// without copying the state. False, and `state` as it was, when that is impossible.
    pub fn apply(self, state: &mut Val, call: &Call, ret: &Ret) -> bool {
        match (call, ret) {
            (Call::Read, Ret::Value(v)) => v == state,
            (Call::Read, _) => true,
            (Call::Write(v), _) => {
                v.clone_into(state);
                true
            }
            (Call::Cas(old, new), Ret::Swapped(true)) => {
                let legal = old == state;
                if legal {
                    new.clone_into(state);
                }
                legal
            }
            (Call::Cas(old, _), Ret::Swapped(false)) => old != state,
            (Call::Cas(old, new), _) => {
                if old == state {
                    new.clone_into(state);
                }
                true
            }
            (Call::Append(Val::Str(x)), _) => match state {
                Val::Str(s) => {
                    s.push_str(x);
                    true
                }
                _ => false,
            },
            (Call::Append(_), _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_each_model() {
        let r = Model::Register;
        assert_eq!(r.step(&Val::Nil, &Call::Read, &Ret::Value(Val::Nil)), Some(Val::Nil));
        assert_eq!(r.step(&Val::Int(1), &Call::Read, &Ret::Value(Val::Int(2))), None);
        assert_eq!(
            r.step(&Val::Int(1), &Call::Cas(Val::Int(1), Val::Int(3)), &Ret::Swapped(true)),
            Some(Val::Int(3))
        );
        assert_eq!(r.step(&Val::Int(1), &Call::Cas(Val::Int(1), Val::Int(3)), &Ret::Swapped(false)), None);
        assert_eq!(
            r.step(&Val::Int(2), &Call::Cas(Val::Int(1), Val::Int(3)), &Ret::Unknown),
            Some(Val::Int(2))
        );
        assert_ne!(Val::Int(1), Val::float(1.0));
        assert_ne!(Val::Str("1".into()), Val::Int(1));
        assert_ne!(Val::Str("true".into()), Val::Bool(true));
        assert_ne!(Val::Str("[1 2]".into()), Val::List(vec![Val::Int(1), Val::Int(2)]));
        assert_ne!(Val::Keyword("a".into()), Val::Str("a".into()));
        assert_eq!(Val::float(-0.0), Val::float(0.0));
        let kv = Model::Kv;
        let s = |x: &str| Val::Str(x.into());
        assert_eq!(kv.step(&s("a"), &Call::Append(s("b")), &Ret::Done), Some(s("ab")));
        assert_eq!(kv.step(&s("ab"), &Call::Read, &Ret::Value(s("a"))), None);
    }
}
