//! The store's runs in memory, as the index page shows them: scanned once when `serve` starts,
//! then brought up to date in the background by re-reading only the runs whose results changed,
//! so a page of a store of ten thousand runs is a filter over memory, not ten thousand reads.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use checkers::results::Checker;
use checkers::verdict::Verdict;

/// What the index shows of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The test's name (the run folder's parent).
    pub test: String,
    /// The run folder's name: its start time, `2026-01-02T030405Z`.
    pub stamp: String,
    /// The system under test, from `test.yaml`, with the replicas' ack setting and deliberate
    /// bugs when it has them: `seeds-group (ack async; bug stale-reads)`.
    pub system: Option<String>,
    /// The seed, from `test.yaml`.
    pub seed: Option<u64>,
    /// The nemesis' fault kinds, from `test.yaml` (empty: none).
    pub nemesis: Vec<String>,
    /// From the run's start to the last write of its history (not its results, which
    /// `splitbrain analyze` may rewrite much later).
    pub duration: Option<Duration>,
    /// The overall verdict; `None` while the run has no results (running, or crashed).
    pub verdict: Option<Verdict>,
    /// Each checker that ran, with its verdict, in [`Checker::ALL`]'s order.
    pub checkers: Vec<(String, Verdict)>,
}

/// The runs of a store, newest first, kept up to date by [`Index::refresh`].
pub struct Index {
    root: PathBuf,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// Newest first; shared with the pages being rendered.
    runs: Arc<Vec<Entry>>,
    /// Per run folder, the modification time and size of its `results.json` when last read.
    seen: HashMap<PathBuf, Option<(SystemTime, u64)>>,
}

impl Index {
    /// The index of the store at `root` (canonical), scanned now.
    pub fn scan(root: PathBuf) -> Index {
        let index = Index { root, state: RwLock::new(State::default()) };
        index.refresh();
        index
    }

    /// The runs, newest first, as of the last refresh.
    pub fn runs(&self) -> Arc<Vec<Entry>> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).runs.clone()
    }

    /// Re-reads the runs that are new or whose `results.json` changed, and forgets the runs that
    /// are gone.
    pub fn refresh(&self) {
        let (mut entries, seen): (HashMap<PathBuf, Entry>, _) = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            let entries =
                state.runs.iter().map(|e| (self.root.join(&e.test).join(&e.stamp), e.clone())).collect();
            (entries, state.seen.clone())
        };
        let mut now_seen = HashMap::with_capacity(seen.len());
        for dir in run_dirs(&self.root) {
            let stamp =
                std::fs::metadata(dir.join("results.json")).and_then(|m| Ok((m.modified()?, m.len()))).ok();
            if seen.get(&dir) != Some(&stamp) || !entries.contains_key(&dir) {
                match read_entry(&dir) {
                    Some(entry) => {
                        entries.insert(dir.clone(), entry);
                    }
                    None => {
                        entries.remove(&dir);
                    }
                }
            }
            now_seen.insert(dir, stamp);
        }
        entries.retain(|dir, _| now_seen.contains_key(dir));
        let mut runs: Vec<Entry> = entries.into_values().collect();
        runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.test.cmp(&b.test)));
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        *state = State { runs: Arc::new(runs), seen: now_seen };
    }
}

/// Every `<root>/<test>/<run>` folder (symbolic links, such as `latest`, are not followed).
fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let folders = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    };
    folders(root).iter().flat_map(|test| folders(test)).collect()
}

/// The entry of the run in `dir`, or `None` when it is not a run (it has neither a plan nor
/// results).
fn read_entry(dir: &Path) -> Option<Entry> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let plan = std::fs::read_to_string(dir.join("test.yaml")).ok();
    let results = std::fs::read_to_string(dir.join("results.json")).ok();
    if plan.is_none() && results.is_none() {
        return None;
    }
    let plan: StoredPlan = plan.and_then(|t| serde_yaml::from_str(&t).ok()).unwrap_or_default();
    // Results that do not parse are shown as unknown rather than hidden.
    let results =
        results.map(|t| serde_json::from_str::<StoredResults>(&t).unwrap_or(StoredResults::UNREADABLE));
    let stamp = name(dir)?;
    let history = std::fs::metadata(dir.join("history.jsonl")).and_then(|m| m.modified()).ok();
    let duration = started(&stamp).zip(history).and_then(|(s, e)| e.duration_since(s).ok());
    Some(Entry {
        test: name(dir.parent()?)?,
        stamp,
        system: plan.system_words(),
        seed: plan.seed,
        nemesis: plan.nemesis,
        duration,
        verdict: results.as_ref().map(|r| r.valid),
        checkers: results.map(StoredResults::verdicts).unwrap_or_default(),
    })
}

/// The start time a run folder's name gives (`2026-01-02T030405Z`, maybe with `-N` after it).
fn started(stamp: &str) -> Option<SystemTime> {
    let base = stamp.get(..18)?;
    let (date, time) = base.split_once('T')?;
    let time = time.strip_suffix('Z')?;
    let spelled = format!("{date}T{}:{}:{}Z", time.get(..2)?, time.get(2..4)?, time.get(4..6)?);
    humantime::parse_rfc3339(&spelled).ok()
}

/// What the index reads of `test.yaml`; anything else in it, or a file that does not parse, is
/// left alone.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct StoredPlan {
    system: Option<String>,
    seed: Option<u64>,
    nemesis: Vec<String>,
    bugs: Vec<String>,
    replica: StoredReplica,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct StoredReplica {
    ack: Option<String>,
}

impl StoredPlan {
    fn system_words(&self) -> Option<String> {
        let mut settings: Vec<String> = self.replica.ack.iter().map(|a| format!("ack {a}")).collect();
        settings.extend(self.bugs.iter().map(|b| format!("bug {b}")));
        let system = self.system.clone()?;
        Some(if settings.is_empty() { system } else { format!("{system} ({})", settings.join("; ")) })
    }
}

/// What the index reads of `results.json`: the verdicts, not the checkers' findings.
#[derive(serde::Deserialize)]
struct StoredResults {
    valid: Verdict,
    #[serde(default)]
    checkers: BTreeMap<String, StoredChecker>,
}

#[derive(serde::Deserialize)]
struct StoredChecker {
    valid: Option<Verdict>,
}

impl StoredResults {
    const UNREADABLE: StoredResults = StoredResults { valid: Verdict::Unknown, checkers: BTreeMap::new() };

    /// Each checker's verdict, in [`Checker::ALL`]'s order (names we do not know last).
    fn verdicts(self) -> Vec<(String, Verdict)> {
        let rank =
            |name: &str| Checker::ALL.iter().position(|c| c.name() == name).unwrap_or(Checker::ALL.len());
        let mut verdicts: Vec<_> =
            self.checkers.into_iter().map(|(name, c)| (name, c.valid.unwrap_or(Verdict::Unknown))).collect();
        verdicts.sort_by_key(|(name, _)| rank(name));
        verdicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_name_gives_its_start_time() {
        let at = |s: &str| started(s).map(|t| humantime::format_rfc3339_seconds(t).to_string());
        assert_eq!(at("2026-01-02T030405Z").as_deref(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(at("2026-01-02T030405Z-3").as_deref(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(at("latest"), None);
        assert_eq!(at("2026-01-02T03:04:05Z"), None);
    }

    #[test]
    fn runs_appear_change_and_go_with_the_store_and_unreadable_results_are_unknown() {
        let store = tempfile::tempdir().unwrap();
        let root = store.path().canonicalize().unwrap();
        let run = root.join("t/2026-01-02T030405Z");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("test.yaml"), "system: seeds-group\nseed: 7\nnemesis: [partition, kill]\nbugs: [stale-reads]\nreplica:\n  ack: async\n").unwrap();
        let index = Index::scan(root.clone());
        let only = |index: &Index| index.runs().first().cloned().unwrap();
        let entry = only(&index);
        assert_eq!(entry.verdict, None, "no results yet: running");
        assert_eq!(entry.system.as_deref(), Some("seeds-group (ack async; bug stale-reads)"));
        assert_eq!(
            (entry.seed, entry.nemesis.clone()),
            (Some(7), vec!["partition".to_string(), "kill".to_string()])
        );

        std::fs::write(
            run.join("results.json"),
            r#"{"valid": false, "checkers": {"stats": {"valid": true}, "mastership": {"valid": false}}}"#,
        )
        .unwrap();
        index.refresh();
        let entry = only(&index);
        assert_eq!(entry.verdict, Some(Verdict::Invalid));
        assert_eq!(
            entry.checkers,
            vec![("mastership".into(), Verdict::Invalid), ("stats".into(), Verdict::Valid)]
        );
        assert_eq!(entry.duration, None, "no history: no duration");
        std::fs::write(run.join("history.jsonl"), "").unwrap();
        index.refresh();
        assert_eq!(only(&index).duration, None, "the history is read again only with new results");

        std::fs::write(run.join("results.json"), "{not json").unwrap();
        index.refresh();
        assert_eq!(
            only(&index).verdict,
            Some(Verdict::Unknown),
            "unreadable results are unknown, not hidden"
        );

        std::fs::remove_dir_all(&run).unwrap();
        index.refresh();
        assert!(index.runs().is_empty(), "a removed run leaves the index");
    }
}
