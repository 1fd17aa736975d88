//! `splitbrain test` end to end on real local clusters (needs root; CI runs as root). The tests
//! drive the binary as a user would and read its exit code, console and stored results.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use harness::control::cluster::local::{self, LocalSpec};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Run {
    code: Option<i32>,
    output: String,
    results: serde_json::Value,
    report: String,
    dir: PathBuf,
}

fn splitbrain(args: &[&str], store: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("test")
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let dir = store.join("latest");
    let results = std::fs::read_to_string(dir.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap_or_default();
    Run { code: out.status.code(), output, results, report, dir }
}

fn store(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splitbrain-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn assert_nothing_left(state_dir: &Path, prefix: &str) {
    let status = local::status(state_dir, prefix).unwrap();
    assert!(status.is_empty(), "left behind: {status:?}");
    let netns = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout)
        .into_owned();
    assert!(!netns.contains(prefix), "namespaces left: {netns}");
    let ps = String::from_utf8_lossy(&Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout)
        .into_owned();
    assert!(!ps.contains(state_dir.to_str().unwrap()), "a host process survived");
}

#[test]
fn a_five_node_test_with_partitions_and_kills_is_valid_and_leaves_nothing_behind() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = store("valid");
    let run = splitbrain(
        &[
            "--nodes",
            "5",
            "--time-limit",
            "30",
            "--nemesis",
            "partition,kill",
            "--nemesis-interval",
            "5",
            "--seed",
            "11",
            "--ack",
            "every-member",
        ],
        &store,
    );
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert_eq!(run.results["checkers"]["mastership"]["valid"], true, "{}", run.results);
    assert_eq!(
        run.results["checkers"]["linearizable"]["valid"], true,
        "the data is checked: {}",
        run.results
    );
    assert!(run.output.contains("seed: 11"), "the seed is printed");
    let history = std::fs::read_to_string(run.dir.join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"partition""#) || history.contains(r#""f":"kill""#),
        "faults were injected"
    );
    for file in ["test.yaml", "results.json", "harness.log", "n1/replica.log", "ns/nameserver.log"] {
        assert!(run.dir.join(file).exists(), "{file} is stored");
    }
    assert_nothing_left(Path::new(local::DEFAULT_STATE_DIR), local::DEFAULT_PREFIX);

    let again = Command::new(env!("CARGO_BIN_EXE_splitbrain")).arg("analyze").arg(&run.dir).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "analyze gives the same verdict");
    std::fs::remove_dir_all(store).unwrap();
}

fn e2e_cluster() -> LocalSpec {
    let spec = LocalSpec {
        nodes: 5,
        state_dir: PathBuf::from("/var/lib/splitbrain/e2e-cluster"),
        subnet: [10, 213, 81],
        prefix: "sbe-".into(),
    };
    local::up(&spec, &AtomicBool::new(false)).unwrap();
    spec
}

/// Runs a short partition test against a local cluster made for it, with `bug` on.
fn run_with_bug(bug: &str) -> Run {
    run_on_e2e_cluster(bug, &["--bug", bug, "--nemesis", "partition", "--partition-shapes", "isolate-master"])
}

/// Runs a 12 s test with `args` against a local cluster made for it.
fn run_on_e2e_cluster(name: &str, args: &[&str]) -> Run {
    let spec = e2e_cluster();
    let store = store(name);
    let nodes_file = spec.nodes_file_path();
    let mut all = vec![
        "--nodes-file",
        nodes_file.to_str().unwrap(),
        "--time-limit",
        "12",
        "--nemesis-interval",
        "4",
        "--recovery-time",
        "5",
        "--stability-window",
        "3",
        "--seed",
        "5",
    ];
    all.extend_from_slice(args);
    let run = splitbrain(&all, &store);
    local::down(&spec.state_dir, &spec.prefix).unwrap();
    assert_nothing_left(&spec.state_dir, &spec.prefix);
    let _ = std::fs::remove_dir_all(store);
    run
}

#[test]
fn no_self_monitoring_is_caught_and_the_persisting_masters_are_named() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = run_with_bug("no-self-monitoring");
    assert_eq!(run.code, Some(1), "{}", run.output);
    let m = &run.results["checkers"]["mastership"];
    assert_eq!(m["valid"], false);
    assert_eq!(m["persisted_masters"].as_array().map(Vec::len), Some(2), "{m}");
    assert!(run.output.contains("masters at its end"), "{}", run.output);
    assert!(
        run.report.contains("History line") && run.report.contains("history.jsonl#:~:text="),
        "the report links the history line"
    );
    assert!(
        run.report.contains("/replica.log#:~:text="),
        "the report links the masters' log lines around the violation"
    );
}

#[test]
fn no_forward_on_the_safe_setting_is_caught_by_the_linearizability_checker() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = run_on_e2e_cluster(
        "no-forward",
        &["--bug", "no-forward", "--ack", "every-member", "--nemesis", "kill", "--targets", "master"],
    );
    assert_eq!(run.code, Some(1), "{}", run.output);
    let l = &run.results["checkers"]["linearizable"];
    assert_eq!(l["valid"], false, "{l}");
    assert!(l["counterexample"]["blocking"]["op"].is_string(), "a counterexample names the operation: {l}");
    assert!(run.output.contains("no order explains"), "{}", run.output);
}

#[test]
fn the_seeds_ack_async_loses_acknowledged_writes_and_the_report_says_so() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = run_on_e2e_cluster(
        "async-loss",
        &[
            "--ack",
            "async",
            "--nemesis",
            "pause",
            "--targets",
            "master",
            "--time-limit",
            "30",
            "--nemesis-interval",
            "3",
            "--seed",
            "1",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.output);
    let l = &run.results["checkers"]["linearizable"];
    assert_eq!(l["valid"], false, "{l}");
    let words = l["deposed_masters"][0]["words"].as_str().unwrap_or_default();
    assert!(words.contains("acknowledged") && words.contains("discarded"), "explained in words: {l}");
}

#[test]
fn bad_input_exits_254_naming_the_flag_or_the_file_line() {
    let store = store("bad");
    let run = splitbrain(&["--concurrency", "lots"], &store);
    assert_eq!(run.code, Some(254));
    assert!(run.output.contains("--concurrency"), "{}", run.output);

    let file = std::env::temp_dir().join(format!("bad-test-{}.yaml", std::process::id()));
    std::fs::write(&file, "name: x\ntime_limit: 5\nnemesys: [kill]\n").unwrap();
    let run = splitbrain(&["--config", file.to_str().unwrap()], &store);
    assert_eq!(run.code, Some(254));
    assert!(run.output.contains(":3") && run.output.contains("nemesys"), "{}", run.output);
    let run = splitbrain(&["--nemesis", "flood"], &store);
    assert_eq!(run.code, Some(254));
    assert!(run.output.contains("unknown nemesis \"flood\""), "{}", run.output);
    assert!(!store.exists(), "nothing was stored for a plan that did not validate");
    std::fs::remove_file(file).unwrap();
}

/// Starts a long test against a fresh e2e cluster and returns once its workload is running.
#[expect(clippy::zombie_processes, reason = "the caller signals the child and waits for it")]
fn start_long_test(store: &Path) -> (std::process::Child, PathBuf, LocalSpec) {
    let spec = e2e_cluster();
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args([
            "test",
            "--name",
            "long",
            "--time-limit",
            "120",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "3",
        ])
        .arg("--nodes-file")
        .arg(spec.nodes_file_path())
        .arg("--store")
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let run = std::fs::read_dir(store.join("long"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.path());
        if let Some(run) = run {
            let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
            if history.contains(r#""f":"partition""#) {
                return (child, run, spec);
            }
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the test never reached its first fault");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn signal(child: &std::process::Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

#[test]
fn after_a_sigkill_of_the_controller_analyze_reads_the_stored_history() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = store("sigkill");
    let (mut child, run, spec) = start_long_test(&store);
    signal(&child, nix::sys::signal::Signal::SIGKILL);
    child.wait().unwrap();
    let analyzed = Command::new(env!("CARGO_BIN_EXE_splitbrain")).arg("analyze").arg(&run).output().unwrap();
    let output = String::from_utf8_lossy(&analyzed.stdout).into_owned();
    assert_eq!(analyzed.status.code(), Some(2), "unknown: the run never reached its final phase\n{output}");
    assert!(output.contains("no stability window"), "{output}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert!(
        results["checkers"]["stats"]["total"]["ok"].as_u64().unwrap_or(0) > 0,
        "the prefix holds completed operations"
    );
    local::down(&spec.state_dir, &spec.prefix).unwrap();
    assert_nothing_left(&spec.state_dir, &spec.prefix);
    std::fs::remove_dir_all(store).unwrap();
}

#[test]
fn sigint_stops_the_workload_heals_tears_down_and_writes_results() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = store("sigint");
    let (mut child, run, spec) = start_long_test(&store);
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "verdict unknown: no stability window was observed");
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(history.contains(r#""f":"heal""#) && history.contains(r#""f":"final-phase""#), "it healed");
    assert!(run.join("results.json").exists() && run.join("n1/replica.log").exists());
    let ps = String::from_utf8_lossy(&Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout)
        .into_owned();
    assert!(!ps.contains("bin/replica --config"), "the group was stopped");
    local::down(&spec.state_dir, &spec.prefix).unwrap();
    assert_nothing_left(&spec.state_dir, &spec.prefix);
    std::fs::remove_dir_all(store).unwrap();
}

#[test]
fn a_campaign_of_three_short_runs_sums_up_and_exits_by_the_worst_outcome() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = store("campaign");
    let file = store.with_extension("yaml");
    let text = format!(
        "name: short\nbase: {{ time_limit: 6, nemesis_interval: 2, recovery_time: 5, stability_window: 2, \
         partition_shapes: [isolate-master], nodes: 3, store: {} }}\n\
         matrix:\n  nemesis: [none, partition, kill]\n  replica: [{{ ack: every-member }}]\nseeds: [1]\n",
        store.display()
    );
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain")).arg("campaign").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3 runs: 3 valid, 0 invalid, 0 unknown, 0 harness-failed"), "{stdout}");

    let buggy = text.replace("stability_window: 2,", "stability_window: 2, bugs: [no-self-monitoring],");
    std::fs::write(&file, buggy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["campaign", "--fail-fast"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "the worst outcome is invalid\n{stdout}");
    assert!(
        stdout.contains("2 runs: 1 valid, 1 invalid"),
        "fail-fast stopped after the first invalid run\n{stdout}"
    );
    let campaigns: Vec<_> = std::fs::read_dir(store.join("short")).unwrap().flatten().collect();
    assert!(campaigns.iter().any(|d| d.path().join("campaign.html").exists()), "campaign.html is written");
    assert_nothing_left(Path::new(local::DEFAULT_STATE_DIR), local::DEFAULT_PREFIX);

    std::fs::write(&file, "name: x\nmatrix:\n  nemesis: [flood]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain")).arg("campaign").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(254), "a bad matrix is refused before anything runs");
    std::fs::remove_dir_all(store).unwrap();
    std::fs::remove_file(file).unwrap();
}

/// The history files of the runs under `store` (`<store>/<test>/<timestamp>/history.jsonl`; the
/// `latest` links left out).
fn histories(store: &Path) -> Vec<PathBuf> {
    let dirs = |d: &Path| {
        let entries = std::fs::read_dir(d).into_iter().flatten().flatten().map(|e| e.path());
        entries.filter(|p| !p.ends_with("latest")).collect::<Vec<_>>()
    };
    dirs(store).iter().flat_map(|t| dirs(t)).map(|r| r.join("history.jsonl")).filter(|h| h.exists()).collect()
}

#[test]
fn sigint_during_a_campaign_stops_the_run_heals_tears_down_and_sums_up_what_ran() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let store = store("campaign-sigint");
    let file = store.with_extension("yaml");
    let text = format!(
        "name: long\nbase: {{ time_limit: 120, nemesis_interval: 2, nodes: 3, store: {} }}\n\
         matrix:\n  nemesis: [partition]\nseeds: [1, 2]\n",
        store.display()
    );
    std::fs::write(&file, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("campaign")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let history = loop {
        let faulted = histories(&store)
            .into_iter()
            .find(|h| std::fs::read_to_string(h).is_ok_and(|t| t.contains(r#""f":"partition""#)));
        if let Some(h) = faulted {
            break h;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the campaign's first run never reached its first fault");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("1 runs:") && stdout.contains("interrupted by Ctrl-C"), "{stdout}");
    let recorded = std::fs::read_to_string(&history).unwrap();
    assert!(recorded.contains(r#""f":"heal""#) && recorded.contains(r#""f":"final-phase""#), "it healed");
    assert!(history.with_file_name("results.json").exists(), "what was recorded is analysed");
    assert_eq!(histories(&store).len(), 1, "the second run never started: {:?}", histories(&store));
    let summary =
        std::fs::read_dir(store.join("long")).unwrap().flatten().map(|d| d.path().join("campaign.json"));
    let rows: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(summary.into_iter().find(|p| p.exists()).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(rows[0]["outcome"], "interrupted", "{rows}");
    let ps = String::from_utf8_lossy(&Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout)
        .into_owned();
    assert!(!ps.contains("bin/replica --config"), "the group was stopped");
    assert_nothing_left(Path::new(local::DEFAULT_STATE_DIR), local::DEFAULT_PREFIX);
    std::fs::remove_dir_all(store).unwrap();
    std::fs::remove_file(file).unwrap();
}

#[test]
fn a_failure_found_in_simulation_fails_again_on_the_local_cluster_for_each_bug() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let spec = e2e_cluster();
    let store = store("replay");
    let mut missed = Vec::new();
    for bug in ["no-self-monitoring", "no-ns-dedup", "never-yield", "no-forward"] {
        let found = store.join("sim").join(bug);
        let explored = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
            .args(["explore", "--seeds", "1..4", "--time-limit", "30", "--nemesis", "partition,kill"])
            .args(["--nemesis-interval", "5", "--ack", "every-member", "--bug", bug, "--store"])
            .arg(&found)
            .output()
            .unwrap();
        assert_eq!(explored.status.code(), Some(1), "{bug} is found in simulation");
        let failure =
            histories(&found).first().expect("a failing run is kept").parent().unwrap().to_path_buf();
        let replayed = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
            .args(["test", "--replay"])
            .arg(&failure)
            .arg("--nodes-file")
            .arg(spec.nodes_file_path())
            .arg("--store")
            .arg(store.join("real"))
            .output()
            .unwrap();
        if replayed.status.code() != Some(1) {
            missed.push((bug, String::from_utf8_lossy(&replayed.stdout).into_owned()));
        }
    }
    local::down(&spec.state_dir, &spec.prefix).unwrap();
    assert_nothing_left(&spec.state_dir, &spec.prefix);
    assert!(missed.is_empty(), "schedules found in simulation that real hosts survived: {missed:#?}");
    std::fs::remove_dir_all(store).unwrap();
}

#[test]
fn a_real_runs_schedule_replayed_in_the_simulator_gives_the_same_mastership_verdict() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let spec = e2e_cluster();
    let store = store("converse");
    let mut verdicts = Vec::new();
    for (seed, bug) in [("1", "no-self-monitoring"), ("2", "none")] {
        let nodes_file = spec.nodes_file_path();
        let mut args = vec!["--nodes-file", nodes_file.to_str().unwrap(), "--concurrency", "5"];
        args.extend(["--time-limit", "20", "--nemesis", "partition,kill", "--nemesis-interval", "5"]);
        args.extend(["--ack", "every-member", "--seed", seed, "--name", "real"]);
        if bug != "none" {
            args.extend(["--bug", bug]);
        }
        let real = splitbrain(&args, &store);
        let dir = std::fs::canonicalize(&real.dir).unwrap();
        let sim = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
            .args(["test", "--sim", "--nodes", "5", "--name", "sim", "--replay"])
            .arg(&dir)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        let sim_results: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(store.join("latest/results.json")).unwrap())
                .unwrap();
        let mastership = |r: &serde_json::Value| r["checkers"]["mastership"]["valid"].clone();
        verdicts.push((bug, mastership(&real.results), mastership(&sim_results), sim.status.code()));
    }
    local::down(&spec.state_dir, &spec.prefix).unwrap();
    assert_nothing_left(&spec.state_dir, &spec.prefix);
    for (bug, real, sim, _) in &verdicts {
        assert_eq!(
            real, sim,
            "{bug}: the simulator judges the real run's schedule as real hosts did: {verdicts:?}"
        );
    }
    assert_eq!(verdicts[0].1, false, "no-self-monitoring is caught on real hosts: {verdicts:?}");
    assert_eq!(verdicts[1].1, true, "the correct group is valid: {verdicts:?}");
    std::fs::remove_dir_all(store).unwrap();
}
