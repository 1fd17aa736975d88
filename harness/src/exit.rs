//! The exit codes of every `splitbrain` command, in one place.

use checkers::verdict::Verdict;

/// Every checker passed.
pub const VALID: u8 = 0;
/// A checker found an anomaly.
pub const INVALID: u8 = 1;
/// A checker could not decide (and none found an anomaly).
pub const UNKNOWN: u8 = 2;
/// Ctrl-C: the run was torn down and its history kept.
pub const INTERRUPTED: u8 = 130;
/// Bad arguments, a bad test file or an unreadable history: nothing ran.
pub const BAD_INPUT: u8 = nodes::runtime::EXIT_BAD_INPUT;
/// The harness itself failed.
pub const HARNESS_FAILED: u8 = nodes::runtime::EXIT_FAILURE;

/// The exit code of a run whose overall verdict is `verdict`.
pub fn of(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Valid => VALID,
        Verdict::Invalid => INVALID,
        Verdict::Unknown => UNKNOWN,
    }
}
