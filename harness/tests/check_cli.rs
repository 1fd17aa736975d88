//! `splitbrain check` on shared public histories: verdicts, JSON lines, exit codes.

use std::path::PathBuf;
use std::process::Command;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/linearizability").join(path)
}

fn check(args: &[&str], files: &[PathBuf]) -> (Option<i32>, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_splitbrain")).arg("check").args(args).args(files).output().unwrap();
    (
        out.status.code(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn json_lines_per_file_and_the_exit_code_follows_the_worst_verdict() {
    let good = data("knossos/cas-register/good/cas-register-bug.edn");
    let bad = data("knossos/cas-register/bad/rethink-fail-minimal.edn");
    let (code, out) = check(&["--model", "cas-register", "--format", "edn", "--json"], &[good.clone(), bad]);
    assert_eq!(code, Some(1), "{out}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["valid"], &lines[1]["valid"]),
        (&serde_json::json!(true), &serde_json::json!(false))
    );
    assert!(lines[0]["ms"].is_number());
    let (code, _) = check(&["--model", "cas-register", "--format", "edn"], &[good]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_counterexample_names_the_operation_and_the_last_consistent_state() {
    let (code, out) = check(
        &["--model", "cas-register", "--format", "edn"],
        &[data("knossos/cas-register/bad/bad-analysis.edn")],
    );
    assert_eq!(code, Some(1));
    assert!(out.contains("cannot linearize read -> 2 (process 21") && out.contains("in state 1"), "{out}");
}

#[test]
fn unreadable_histories_exit_254_naming_file_and_line() {
    let file = std::env::temp_dir().join(format!("broken-{}.edn", std::process::id()));
    std::fs::write(&file, "[{:process 0 :type :invoke :f :read}\n").unwrap();
    let (code, out) = check(&["--model", "kv", "--format", "edn"], std::slice::from_ref(&file));
    assert_eq!(code, Some(254));
    assert!(out.contains("broken-") && out.contains(":1:"), "{out}");
    let (code, out) = check(&["--model", "queue", "--format", "edn"], std::slice::from_ref(&file));
    assert_eq!(code, Some(254), "{out}");
    std::fs::remove_file(file).unwrap();
}
