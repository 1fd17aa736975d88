//! `junit.xml`: one test case per checker, so CI systems show each verdict. A failure carries
//! the checker's summary; an unknown verdict is an error (it must not pass silently).

use std::fmt::Write as _;

use checkers::results::Results;
use checkers::verdict::Verdict;

use crate::report::markup::escape;

/// The JUnit XML of `results` for the test named `name`.
pub fn junit(name: &str, results: &Results) -> String {
    let each = results.checkers.each();
    let count = |v: Verdict| each.iter().filter(|(_, r)| r.verdict() == v).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"splitbrain {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
        escape(name),
        each.len(),
        count(Verdict::Invalid),
        count(Verdict::Unknown),
    );
    for (checker, result) in &each {
        let summary = escape(&result.summary());
        let verdict = result.verdict();
        let _ = match verdict {
            Verdict::Valid => writeln!(out, "  <testcase classname=\"splitbrain\" name=\"{checker}\"/>"),
            Verdict::Invalid => writeln!(
                out,
                "  <testcase classname=\"splitbrain\" name=\"{checker}\">\n    <failure message=\"{summary}\">{summary}</failure>\n  </testcase>"
            ),
            Verdict::Unknown => writeln!(
                out,
                "  <testcase classname=\"splitbrain\" name=\"{checker}\">\n    <error message=\"{verdict}: {summary}\">{summary}</error>\n  </testcase>"
            ),
        };
    }
    out.push_str("</testsuite>\n");
    out
}
