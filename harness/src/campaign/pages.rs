//! What a campaign leaves for people and CI: `campaign.html`, `junit.xml` (a test case per
//! run), `campaign.json` and `summary.txt`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use maud::{DOCTYPE, html};

use checkers::results::Results;
use checkers::verdict::Verdict;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::outcome::{Outcome, Row, counts, summary};
use crate::error::Error;

/// The campaign page's style sheet, inline so the page opens offline.
const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em}td,th{border:1px solid #ccc;padding:2px 8px}\
table{border-collapse:collapse}.valid{background:#c8e6c9}.INVALID{background:#ffcdd2}.unknown{background:#ffe0b2}\
.harness-failed,.not-run,.missing{background:#e0e0e0}";

/// A campaign's outcome as its pages show it: the rows, and the shards that left nothing.
pub struct Pages<'a> {
    /// The campaign's name.
    pub name: &'a str,
    /// A row per run.
    pub rows: &'a [Row],
    /// Shards of which no output was found (merged campaigns only), e.g. `3/4`.
    pub missing_shards: &'a [String],
}

impl Pages<'_> {
    /// Writes `campaign.html`, `junit.xml`, `campaign.json` and `summary.txt` into `dir`; the
    /// rows' folders are linked relative to it.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let write = |file: &str, text: String| {
            let path = dir.join(file);
            std::fs::write(&path, text).map_err(|e| Error::file(&path, e))
        };
        write("campaign.html", self.html(dir))?;
        write("junit.xml", self.junit())?;
        write("summary.txt", self.summary() + "\n")?;
        write_rows(dir, self.rows)
    }

    /// The console summary, the missing shards last.
    pub fn summary(&self) -> String {
        let mut text = summary(self.rows);
        for shard in self.missing_shards {
            let _ = write!(text, "\nshard {shard}: missing: no output of it was found");
        }
        text
    }

    fn html(&self, dir: &Path) -> String {
        let title = format!("campaign {}", self.name);
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (title) }
                    style { (STYLE) }
                }
                body {
                    h1 { (title) }
                    p { (counts(self.rows)) }
                    @for shard in self.missing_shards {
                        p class="missing" { "shard " (shard) ": missing: no output of it was found" }
                    }
                    table {
                        tr { th { "outcome" } th { "test" } th { "seed" } th { "seconds" } th { "report" } }
                        @for row in self.rows {
                            tr class=(row.word()) {
                                td { (row.word()) }
                                td { (row.name) }
                                td { (row.seed) }
                                td { @if let Some(s) = row.seconds { (format!("{s:.1}")) } }
                                td {
                                    @match (&row.dir, &row.outcome) {
                                        (_, Outcome::HarnessFailed(why) | Outcome::NotRun(why)) => (why),
                                        (Some(run), _) => a href=(href(dir, run)) { "report" },
                                        (None, _) => {},
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        page.into_string() + "\n"
    }

    fn junit(&self) -> String {
        let mut suite = TestSuite::new(format!("splitbrain campaign {}", self.name));
        for row in self.rows {
            let failed = |kind: NonSuccessKind, message: String| {
                let mut status = TestCaseStatus::non_success(kind);
                status.set_message(message);
                status
            };
            let status = match &row.outcome {
                Outcome::Verdict(Verdict::Valid) => TestCaseStatus::success(),
                Outcome::Verdict(Verdict::Invalid) => failed(NonSuccessKind::Failure, findings(row)),
                Outcome::Verdict(Verdict::Unknown) => {
                    failed(NonSuccessKind::Error, format!("unknown: {}", findings(row)))
                }
                Outcome::HarnessFailed(why) => {
                    failed(NonSuccessKind::Error, format!("harness failed: {why}"))
                }
                Outcome::NotRun(why) => failed(NonSuccessKind::Error, format!("not run: {why}")),
                Outcome::Interrupted => {
                    let mut status = TestCaseStatus::skipped();
                    status.set_description("interrupted by Ctrl-C: the verdict covers a shortened test");
                    status
                }
            };
            let mut case = TestCase::new(format!("seed {}", row.seed), status);
            case.set_classname(row.name.clone());
            if let Some(seconds) = row.seconds {
                case.set_time(std::time::Duration::from_secs_f64(seconds.max(0.0)));
            }
            suite.add_test_case(case);
        }
        for shard in self.missing_shards {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message("missing: no output of this shard was found");
            let mut case = TestCase::new(format!("shard {shard}"), status);
            case.set_classname("splitbrain.shards");
            suite.add_test_case(case);
        }
        let mut report = Report::new(format!("splitbrain campaign {}", self.name));
        report.add_test_suite(suite);
        report.to_string().expect("a report of strings serializes")
    }
}

/// Writes `campaign.json` (the rows) into `dir` by a rename, so a reader (or a later merge)
/// never finds half of it, even when the machine dies while it is written.
pub(super) fn write_rows(dir: &Path, rows: &[Row]) -> Result<(), Error> {
    let path = dir.join("campaign.json");
    let tmp = dir.join(".campaign.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(rows).expect("rows serialize"))
        .map_err(|e| Error::file(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::file(&path, e))
}

/// What the run's checkers found, from its `results.json`: each checker that did not pass,
/// with its summary.
fn findings(row: &Row) -> String {
    let read = row.dir.as_ref().and_then(|dir| std::fs::read(dir.join("results.json")).ok());
    let Some(results) = read.and_then(|bytes| serde_json::from_slice::<Results>(&bytes).ok()) else {
        return format!("{} (no results.json to say more)", row.word());
    };
    let each = results.checkers.each();
    let failing: Vec<String> = each
        .iter()
        .filter(|(_, r)| r.verdict() != Verdict::Valid)
        .map(|(checker, r)| format!("{}: {}", checker.name(), r.summary()))
        .collect();
    if failing.is_empty() { row.word().to_string() } else { failing.join("; ") }
}

/// The link from the page in `page_dir` to the report of the run in `run`: relative when both
/// are in one store (so the pages work when the store moves, and under `serve`).
fn href(page_dir: &Path, run: &Path) -> String {
    let absolute = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (absolute(page_dir), absolute(run));
    let common = from.components().zip(to.components()).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return format!("file://{}/report.html", to.display());
    }
    let mut rel = PathBuf::new();
    for _ in from.components().skip(common) {
        rel.push("..");
    }
    rel.extend(to.components().skip(common));
    format!("{}/report.html", rel.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_between_folders_of_one_store_are_relative() {
        let dir = tempfile::tempdir().unwrap();
        let (page, run) = (dir.path().join("nightly/t1"), dir.path().join("nightly-kill/t2"));
        std::fs::create_dir_all(&page).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        assert_eq!(href(&page, &run), "../../nightly-kill/t2/report.html");
        assert_eq!(href(&page, &page.join("a")), "a/report.html");
    }

    #[test]
    fn the_page_escapes_what_it_shows_and_links_each_report() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("t/1");
        std::fs::create_dir_all(&run).unwrap();
        let rows = [
            Row {
                name: "<script>x</script>".into(),
                seed: 1,
                outcome: Outcome::Verdict(Verdict::Valid),
                dir: Some(run),
                seconds: Some(2.0),
            },
            Row {
                name: "b".into(),
                seed: 2,
                outcome: Outcome::HarnessFailed("a \"quote\" & <tag>".into()),
                dir: None,
                seconds: None,
            },
        ];
        let page_dir = dir.path().join("c/1");
        std::fs::create_dir_all(&page_dir).unwrap();
        let html = Pages { name: "c&d", rows: &rows, missing_shards: &["2/2".into()] }.html(&page_dir);
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains("a &quot;quote&quot; &amp; &lt;tag&gt;") && html.contains("campaign c&amp;d"),
            "{html}"
        );
        assert!(
            html.contains("href=\"../../t/1/report.html\"") && html.contains("shard 2/2: missing"),
            "{html}"
        );
        assert!(html.contains("<tr class=\"harness-failed\">"), "{html}");
    }

    #[test]
    fn junit_has_a_case_per_run_and_per_missing_shard_and_counts_failures() {
        let row = |seed, outcome| Row { name: "c-kill".into(), seed, outcome, dir: None, seconds: Some(1.5) };
        let rows = [
            row(1, Outcome::Verdict(Verdict::Valid)),
            row(2, Outcome::Verdict(Verdict::Invalid)),
            row(3, Outcome::NotRun("shard 2/2 stopped first".into())),
        ];
        let xml = Pages { name: "c", rows: &rows, missing_shards: &["3/3".into()] }.junit();
        assert!(
            xml.contains("tests=\"4\"") && xml.contains("failures=\"1\"") && xml.contains("errors=\"2\""),
            "{xml}"
        );
        assert!(xml.contains("classname=\"c-kill\"") && xml.contains("name=\"seed 2\""), "{xml}");
        assert!(xml.contains("name=\"shard 3/3\""), "{xml}");
    }
}
