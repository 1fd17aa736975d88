//! The pages `serve` writes: the index of runs (filtered and paginated) and a run's files.

use maud::{DOCTYPE, Markup, html};

use checkers::verdict::Verdict;

use super::files::Listed;
use super::index::Entry;

/// What a URL's path segment or query value spells as is: letters, digits and `-._~`.
const PLAIN: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `text` as one segment of a URL's path or a query's value.
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, PLAIN).to_string()
}

/// Runs on one index page.
pub const PAGE_SIZE: usize = 100;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em}td,th{border:1px solid #ccc;padding:2px 8px}\
table{border-collapse:collapse}td.n{text-align:right}.valid{background:#c8e6c9}.INVALID{background:#ffcdd2}\
.unknown{background:#ffe0b2}.running{background:#e0e0e0}form{margin:0 0 1em}nav{margin:1em 0}";

/// What the index page is asked to show: `?verdict=…&test=…&page=…`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filter {
    /// `valid`, `invalid`, `unknown` or `running` (no results yet); empty: all.
    #[serde(default)]
    pub verdict: String,
    /// A test's name; empty: all.
    #[serde(default)]
    pub test: String,
    /// From 1.
    pub page: Option<usize>,
}

/// The verdict words the filter takes, each with what it keeps.
const VERDICTS: [(&str, Option<Verdict>); 4] = [
    ("valid", Some(Verdict::Valid)),
    ("invalid", Some(Verdict::Invalid)),
    ("unknown", Some(Verdict::Unknown)),
    ("running", None),
];

impl Filter {
    /// Checks the filter's words, saying what is wrong with the first that is not one.
    pub fn validate(&self) -> Result<(), String> {
        if !self.verdict.is_empty() && !VERDICTS.iter().any(|(word, _)| *word == self.verdict) {
            return Err(format!("verdict={:?}: use valid, invalid, unknown or running", self.verdict));
        }
        if self.page == Some(0) {
            return Err("page=0: pages count from 1".into());
        }
        Ok(())
    }

    fn keeps(&self, entry: &Entry) -> bool {
        let verdict = VERDICTS.iter().find(|(word, _)| *word == self.verdict).map(|(_, v)| *v);
        (self.test.is_empty() || entry.test == self.test) && verdict.is_none_or(|v| entry.verdict == v)
    }

    /// The query string of this filter on page `page`.
    fn query(&self, page: usize) -> String {
        let mut query = format!("?page={page}");
        for (key, value) in [("verdict", &self.verdict), ("test", &self.test)] {
            if !value.is_empty() {
                query.push_str(&format!("&{key}={}", encode(value)));
            }
        }
        query
    }
}

/// The index page: the runs `filter` keeps (newest first), one page of them; a link to the
/// store's `campaign.html` when it is a merged campaign's.
pub fn index(runs: &[Entry], filter: &Filter, campaign: bool) -> String {
    let kept: Vec<&Entry> = runs.iter().filter(|e| filter.keeps(e)).collect();
    let pages = kept.len().div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.unwrap_or(1).min(pages);
    let shown = &kept[((page - 1) * PAGE_SIZE).min(kept.len())..(page * PAGE_SIZE).min(kept.len())];
    let mut tests: Vec<&str> = runs.iter().map(|e| e.test.as_str()).collect();
    tests.sort_unstable();
    tests.dedup();
    let checkers = checker_columns(shown);
    let first = (page - 1) * PAGE_SIZE + usize::from(!shown.is_empty());
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "splitbrain store" } style { (STYLE) } }
            body {
                h1 { "Runs" }
                @if campaign { p { a href="/campaign.html" { "the campaign's report" } } }
                form method="get" action="/" {
                    label { "verdict " select name="verdict" {
                        option value="" { "all" }
                        @for (word, _) in VERDICTS {
                            option value=(word) selected[filter.verdict == word] { (word) }
                        }
                    } }
                    " "
                    label { "test " select name="test" {
                        option value="" { "all" }
                        @for test in &tests {
                            option value=(test) selected[filter.test == *test] { (test) }
                        }
                    } }
                    " " button { "show" }
                }
                p { "runs " (first) "–" (first + shown.len() - usize::from(!shown.is_empty())) " of " (kept.len())
                    @if kept.len() != runs.len() { " (" (runs.len()) " in the store)" } }
                table {
                    tr {
                        th { "time" } th { "test" } th { "system" } th { "seed" } th { "duration" }
                        th { "nemesis" } th { "verdict" }
                        @for checker in &checkers { th { (checker) } }
                        th {}
                    }
                    @for entry in shown { (row(entry, &checkers)) }
                }
                (navigation(filter, page, pages))
            }
        }
    };
    page.into_string() + "\n"
}

/// The checkers that ran in any of `shown`, in the order the runs list them.
fn checker_columns(shown: &[&Entry]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for (name, _) in shown.iter().flat_map(|e| &e.checkers) {
        if !columns.contains(name) {
            columns.push(name.clone());
        }
    }
    columns
}

fn row(entry: &Entry, checkers: &[String]) -> Markup {
    let word = entry.verdict.map_or("running", Verdict::word);
    let run = format!("/run/{}/{}/", encode(&entry.test), encode(&entry.stamp));
    html! {
        tr {
            td { a href=(run) { (entry.stamp) } }
            td { (entry.test) }
            td { (entry.system.as_deref().unwrap_or("-")) }
            td.n { @if let Some(seed) = entry.seed { (seed) } @else { "-" } }
            td.n { @if let Some(d) = entry.duration { (format!("{:.0} s", d.as_secs_f64())) } @else { "-" } }
            td { @if entry.nemesis.is_empty() { "none" } @else { (entry.nemesis.join(", ")) } }
            td class=(word) { (word) }
            @for checker in checkers {
                @match entry.checkers.iter().find(|(name, _)| name == checker) {
                    Some((_, verdict)) => td class=(verdict.word()) { (verdict.word()) },
                    None => td {},
                }
            }
            td {
                a href={ (run) "report.html" } { "report" } " "
                a href=(format!("/zip/{}/{}", encode(&entry.test), encode(&entry.stamp))) { "zip" }
            }
        }
    }
}

fn navigation(filter: &Filter, page: usize, pages: usize) -> Markup {
    html! {
        nav {
            @if page > 1 { a href={ "/" (filter.query(1)) } { "first" } " " a href={ "/" (filter.query(page - 1)) } { "previous" } " " }
            "page " (page) " of " (pages)
            @if page < pages { " " a href={ "/" (filter.query(page + 1)) } { "next" } " " a href={ "/" (filter.query(pages)) } { "last" } }
        }
    }
}

/// A run's page: its files with their sizes, its report and its zip.
pub fn run(test: &str, stamp: &str, files: &[Listed]) -> String {
    let title = format!("{test} {stamp}");
    let base = format!("/run/{}/{}/", encode(test), encode(stamp));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) } style { (STYLE) } }
            body {
                h1 { (title) }
                p {
                    a href="/" { "all runs" } " · "
                    a href={ (base) "report.html" } { "report" } " · "
                    a href=(format!("/zip/{}/{}", encode(test), encode(stamp))) { "download as zip" }
                }
                table {
                    tr { th { "file" } th { "bytes" } }
                    @for file in files {
                        tr {
                            td { a href={ (base) (file.name.split('/').map(encode).collect::<Vec<_>>().join("/")) } { (file.name) } }
                            td.n { (file.size) }
                        }
                    }
                }
            }
        }
    };
    page.into_string() + "\n"
}
