//! `junit.xml`: one test case per checker, so CI systems show each verdict. A failure carries
//! the checker's summary; an unknown verdict is an error (it must not pass silently).

use std::fmt::Write as _;

use checkers::verdict::Results;

use crate::analyze::{checker_summary, escape, verdict_word};

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
        let summary = escape(&checker_summary(checker, result));
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
