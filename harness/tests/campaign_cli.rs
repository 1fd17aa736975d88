//! `splitbrain campaign --list`, `--shard K/N` and `campaign merge` as CI jobs call them: the
//! shards' lists cover the campaign's runs once each; the merge of a campaign's shards (run in
//! the simulator) says what the whole campaign run at once says, reports a missing or unfinished
//! shard as a failure, and refuses what is not a campaign's output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn campaign(args: &[&str]) -> (Option<i32>, String) {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../campaigns/nightly.yaml");
    let out =
        Command::new(env!("CARGO_BIN_EXE_splitbrain")).arg("campaign").arg(file).args(args).output().unwrap();
    (
        out.status.code(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn three_shards_list_every_run_of_the_campaign_once() {
    let (code, all) = campaign(&["--list"]);
    assert_eq!(code, Some(0), "{all}");
    let all: Vec<&str> = all.lines().collect();
    assert_eq!(all.len(), 96, "the nightly matrix");
    let mut seen = BTreeSet::new();
    for k in 1..=3 {
        let (code, listed) = campaign(&["--list", "--shard", &format!("{k}/3")]);
        assert_eq!(code, Some(0), "{listed}");
        for run in listed.lines() {
            assert!(all.contains(&run), "{run} is a run of the campaign");
            assert!(seen.insert(run.to_string()), "{run} is in two shards");
        }
    }
    assert_eq!(seen.len(), all.len(), "every run is in a shard");
}

#[test]
fn a_shard_outside_one_to_n_is_bad_input() {
    for bad in ["0/3", "4/3", "3"] {
        let (code, output) = campaign(&["--list", "--shard", bad]);
        assert_eq!(code, Some(254), "{bad}: {output}");
        assert!(output.contains("--shard") && output.contains("K/N"), "{output}");
    }
}

/// A small campaign of the seeds' group, with and without a deliberate bug: valid and invalid
/// runs, two of the same test in the same second.
const TINY: &str = include_str!("fixtures/tiny-campaign.yaml");

fn splitbrain(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain")).args(args).output().unwrap();
    (
        out.status.code(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

/// Runs the tiny campaign in the simulator into the store `store`, as shard `shard` if given.
fn run_tiny(dir: &Path, store: &str, shard: Option<&str>) -> Option<i32> {
    let file = dir.join("tiny.yaml");
    std::fs::write(&file, TINY).unwrap();
    let store = dir.join(store);
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"campaign", &file, &"--sim", &"--store"];
    args.push(&store);
    let shard = shard.map(|s| ["--shard", s]);
    if let Some(shard) = &shard {
        args.extend(shard.iter().map(|s| s as &dyn AsRef<std::ffi::OsStr>));
    }
    let (code, output) = splitbrain(&args);
    assert!(matches!(code, Some(0 | 1)), "{output}");
    code
}

/// Each run's outcome word, by its identity, from a campaign's summary lines.
fn outcomes(summary: &str) -> BTreeMap<String, String> {
    summary
        .lines()
        .filter(|l| l.contains(" seed "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (format!("{} seed {}", words[1], words[3]), words[0].to_string())
        })
        .collect()
}

fn merge(dir: &Path, inputs: &[&str], out: &str) -> (Option<i32>, String) {
    let inputs: Vec<PathBuf> = inputs.iter().map(|i| dir.join(i)).collect();
    let out = dir.join(out);
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"campaign", &"merge"];
    args.extend(inputs.iter().map(|i| i as &dyn AsRef<std::ffi::OsStr>));
    args.extend([&"--out" as &dyn AsRef<std::ffi::OsStr>, &out]);
    splitbrain(&args)
}

fn only_campaign_dir(store: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> =
        std::fs::read_dir(store.join("tiny")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn merged_shards_say_what_the_whole_campaign_says_and_make_a_store_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let whole_code = run_tiny(dir.path(), "whole", None);
    let whole =
        std::fs::read_to_string(only_campaign_dir(&dir.path().join("whole")).join("summary.txt")).unwrap();
    for k in 1..=3 {
        run_tiny(dir.path(), &format!("shard-{k}"), Some(&format!("{k}/3")));
    }
    let (code, output) = merge(dir.path(), &["shard-1", "shard-2", "shard-3"], "merged");
    assert_eq!(code, whole_code, "{output}");
    assert_eq!(whole_code, Some(1), "the bug is caught: {whole}");
    let (whole, merged) = (outcomes(&whole), outcomes(&output));
    assert_eq!(merged.len(), 12, "{output}");
    assert_eq!(merged, whole, "the merge of the shards is the whole campaign");
    assert!(merged.values().any(|w| w == "valid") && merged.values().any(|w| w == "INVALID"), "{merged:?}");

    let out = dir.path().join("merged");
    let page = std::fs::read_to_string(out.join("campaign.html")).unwrap();
    let links: Vec<&str> = page.split("href=\"").skip(1).map(|l| &l[..l.find('"').unwrap()]).collect();
    assert_eq!(links.len(), 12, "{page}");
    for link in links {
        assert!(!link.starts_with('/') && !link.starts_with("file:"), "{link} is relative");
        assert!(out.join(link).is_file(), "{link} is a report in the merged folder");
        assert!(
            out.join(link).with_file_name("history.jsonl").is_file(),
            "{link}: the run's history came along"
        );
    }
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let failing = merged.values().filter(|w| *w == "INVALID").count();
    assert!(junit.contains(&format!("tests=\"12\" failures=\"{failing}\" errors=\"0\"")), "{junit}");
}

#[test]
fn a_missing_shard_and_an_unfinished_one_fail_the_merge_and_say_which() {
    let dir = tempfile::tempdir().unwrap();
    for k in 1..=3 {
        run_tiny(dir.path(), &format!("shard-{k}"), Some(&format!("{k}/3")));
    }
    let (code, output) = merge(dir.path(), &["shard-1", "shard-3"], "two-of-three");
    assert_eq!(code, Some(255), "{output}");
    assert!(output.contains("shard 2/3: missing"), "{output}");
    let junit = std::fs::read_to_string(dir.path().join("two-of-three/junit.xml")).unwrap();
    assert!(junit.contains("name=\"shard 2/3\"") && junit.contains("<error"), "{junit}");

    // Shard 2's machine died after its first run: its campaign.json has one row.
    let rows_path = only_campaign_dir(&dir.path().join("shard-2")).join("campaign.json");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&rows_path).unwrap()).unwrap();
    assert!(rows.len() > 1, "the test needs a shard of several runs");
    std::fs::write(&rows_path, serde_json::to_string(&rows[..1]).unwrap()).unwrap();
    let (code, output) = merge(dir.path(), &["shard-1", "shard-2", "shard-3"], "unfinished");
    assert_eq!(code, Some(255), "{output}");
    let not_run = output.lines().filter(|l| l.starts_with("not-run")).count();
    assert_eq!(not_run, rows.len() - 1, "{output}");
    assert!(output.contains(&format!("shard 2/3 stopped after 1 of its {} runs", rows.len())), "{output}");
}

#[test]
fn merge_refuses_what_is_not_one_campaign_s_shards() {
    let dir = tempfile::tempdir().unwrap();
    run_tiny(dir.path(), "a", Some("1/2"));
    run_tiny(dir.path(), "b", Some("1/3"));
    run_tiny(dir.path(), "c", Some("1/2"));
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    std::fs::write(dir.path().join("full"), "").unwrap();
    let cases: [(&[&str], &str, &str); 5] = [
        (&["a", "b"], "new", "does not belong with shard 1/2"),
        (&["a", "c"], "new", "shard 1/2 appears twice"),
        (&["empty"], "new", "no shard.json found"),
        (&["nowhere"], "new", "nowhere: no such folder"),
        (&["a"], "a", "--out names a folder that is not empty"),
    ];
    for (inputs, out, says) in cases {
        let (code, output) = merge(dir.path(), inputs, out);
        assert_eq!(code, Some(254), "{inputs:?}: {output}");
        assert!(output.contains(says), "{inputs:?}: {output}");
        assert!(!dir.path().join("new").exists(), "nothing is written for bad input");
    }
    let rows = only_campaign_dir(&dir.path().join("a")).join("campaign.json");
    std::fs::write(&rows, "[{\"name\": 1").unwrap();
    let (code, output) = merge(dir.path(), &["a"], "new");
    assert_eq!(code, Some(254), "{output}");
    assert!(
        output.contains(&rows.display().to_string()) && output.contains("not a campaign's output"),
        "{output}"
    );
}
