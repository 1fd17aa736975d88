//! `junit.xml`: one test case per checker, so CI systems show each verdict. A failure carries
//! the checker's summary; an unknown verdict is an error (it must not pass silently). Written
//! by quick-junit, in the Jenkins dialect CI systems parse.

use checkers::results::Results;
use checkers::verdict::Verdict;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// The JUnit XML of `results` for the test named `name`.
pub fn junit(name: &str, results: &Results) -> String {
    let mut suite = TestSuite::new(format!("splitbrain {name}"));
    for (checker, result) in results.checkers.each() {
        let summary = result.summary();
        let status = match result.verdict() {
            Verdict::Valid => TestCaseStatus::success(),
            verdict => {
                let (kind, message) = match verdict {
                    Verdict::Invalid => (NonSuccessKind::Failure, summary.clone()),
                    _ => (NonSuccessKind::Error, format!("{verdict}: {summary}")),
                };
                let mut status = TestCaseStatus::non_success(kind);
                status.set_message(message).set_description(summary);
                status
            }
        };
        let mut case = TestCase::new(checker.name(), status);
        case.set_classname("splitbrain");
        suite.add_test_case(case);
    }
    let mut report = Report::new(format!("splitbrain {name}"));
    report.add_test_suite(suite);
    report.to_string().expect("a report of strings serializes")
}
