//! `splitbrain campaign --list` and `--shard K/N` as a CI job calls them: the shards' lists
//! cover the campaign's runs once each, and a bad shard is bad input.

use std::collections::BTreeSet;
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
