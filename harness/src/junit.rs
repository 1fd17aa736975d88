//! `junit.xml`: one test case per checker, so CI systems show each verdict. A failure carries
//! the checker's summary; an unknown verdict is an error (it must not pass silently).

use std::fmt::Write as _;

use checkers::verdict::Results;

use crate::analyze::{escape, verdict_word};

/// The JUnit XML of `results` for the test named `name`.
pub fn junit(name: &str, results: &Results) -> String {
    let failures = results.checkers.values().filter(|c| verdict_word(c) == "invalid").count();
    let errors = results.checkers.values().filter(|c| verdict_word(c) == "unknown").count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"splitbrain {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">",
        escape(name),
        results.checkers.len()
    );
    for (checker, result) in &results.checkers {
        let summary = escape(&summary(checker, result));
        let _ = match verdict_word(result) {
            "valid" => writeln!(out, "  <testcase classname=\"splitbrain\" name=\"{checker}\"/>"),
            "invalid" => writeln!(
                out,
                "  <testcase classname=\"splitbrain\" name=\"{checker}\">\n    <failure message=\"{summary}\">{summary}</failure>\n  </testcase>"
            ),
            _ => writeln!(
                out,
                "  <testcase classname=\"splitbrain\" name=\"{checker}\">\n    <error message=\"unknown: {summary}\">{summary}</error>\n  </testcase>"
            ),
        };
    }
    out.push_str("</testsuite>\n");
    out
}

/// One line saying what a checker found.
fn summary(checker: &str, r: &serde_json::Value) -> String {
    let count = |k: &str| r[k].as_array().map_or(0, Vec::len);
    match checker {
        "mastership" | "convergence" => r["summary"].as_str().unwrap_or_default().to_string(),
        "linearizable" => match (&r["counterexample"]["blocking"]["op"], r["reason"].as_str()) {
            (serde_json::Value::String(op), _) => format!(
                "key {}: no order of the operations explains {op} (history line {})",
                r["counterexample"]["key"].as_str().unwrap_or("-"),
                r["counterexample"]["blocking"]["lines"][1]
            ),
            (_, Some(reason)) => reason.to_string(),
            _ => format!("{} operations over {} keys", r["ops"], r["keys"]),
        },
        "stats" => {
            format!("ok {}, fail {}, info {}", r["total"]["ok"], r["total"]["fail"], r["total"]["info"])
        }
        "set" => format!(
            "{} acknowledged, {} read back; lost {}, unexpected {}, duplicated {}",
            r["acknowledged"],
            r["read"],
            count("lost"),
            count("unexpected"),
            count("duplicated")
        ),
        _ => String::new(),
    }
}
