//! Systems we did not write under the harness, end to end on a local cluster (needs root and
//! Debian's `redis-server`, `redis-sentinel` and `etcd-server`, which `./scripts/test.sh`
//! installs). Redis Sentinel's asynchronous replication loses the writes a partitioned primary
//! acknowledged, and the set checker and the report say so; etcd stays valid under partitions,
//! kills and pauses. Both end with one master.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use harness::control::cluster::local::{self, LocalSpec};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `splitbrain test` with `args` on a local cluster made for it, then removes the cluster
/// and checks that none of the system's daemons survived; the output and the run's store.
fn run_on_cluster(name: &str, args: &[&str]) -> (Output, String, PathBuf) {
    let spec = LocalSpec {
        nodes: 5,
        state_dir: PathBuf::from("/var/lib/splitbrain/e2e-third-party"),
        subnet: [10, 213, 82],
        prefix: "sbt-".into(),
    };
    local::up(&spec, &AtomicBool::new(false)).unwrap();
    let store = std::env::temp_dir().join(format!("splitbrain-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("test")
        .args(args)
        .arg("--nodes-file")
        .arg(spec.nodes_file_path())
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    // Before the cluster goes (which would stop every process of its hosts): the run's own
    // teardown stopped its daemons by their pids. Redis names its processes by address
    // ("redis-server 10.213.82.3:6379"); etcd's flags carry its addresses.
    let ps = String::from_utf8_lossy(&Command::new("ps").args(["-eo", "args"]).output().unwrap().stdout)
        .into_owned();
    local::down(&spec.state_dir, &spec.prefix).unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!ps.contains("10.213.82."), "a daemon of the cluster survived the run's teardown: {ps}");
    (out, output, store)
}

#[test]
fn a_partitioned_redis_primary_loses_acknowledged_writes_and_the_report_says_which_and_by_whom() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // The primary is cut off from 6 s to 12 s: the sentinels of the majority call it down after
    // 2 s and promote a replica, while every client (each asks the sentinel of its own host)
    // keeps writing to it until then, and the client whose sentinel is the primary's even after.
    let (out, output, store) = run_on_cluster(
        "redis",
        &[
            "--system",
            "redis-sentinel",
            "--workload",
            "set",
            "--nemesis",
            "partition",
            "--partition-shapes",
            "isolate-master",
            "--time-limit",
            "18",
            "--nemesis-interval",
            "6",
            "--stability-window",
            "3",
            "--seed",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{output}");
    let dir = store.join("latest");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let set = &results["checkers"]["set"];
    assert_eq!(set["valid"], false, "{set}");
    let lost = set["lost"].as_array().expect("lost elements are listed");
    assert!(!lost.is_empty(), "{set}");
    let primary = lost[0]["node"].as_str().expect("each lost element names who acknowledged it");
    assert!(
        output.contains(&format!("the lost were acknowledged by {primary} (")),
        "the console says who acknowledged the lost writes: {output}"
    );
    let words = set["deposed_masters"][0]["words"].as_str().unwrap_or_default();
    assert!(
        words.contains(&format!("{primary} served as master")) && words.contains("discarded"),
        "the deposed primary's writes are explained in words: {set}"
    );
    assert!(words.contains("the sentinels"), "the sentinels are who named the master: {words}");
    assert_eq!(results["checkers"]["mastership"]["valid"], true, "one master after recovery: {output}");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains(&lost[0]["element"].to_string()), "the report lists the lost elements");
    let _ = std::fs::remove_dir_all(store);
}

#[test]
fn etcd_under_partitions_kills_and_pauses_is_valid() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (out, output, store) = run_on_cluster(
        "etcd",
        &[
            "--system",
            "etcd",
            "--nemesis",
            "partition,kill,pause",
            "--time-limit",
            "16",
            "--nemesis-interval",
            "4",
            "--stability-window",
            "3",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{output}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("latest").join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["checkers"]["mastership"]["valid"], true, "{output}");
    let l = &results["checkers"]["linearizable"];
    assert_eq!(l["valid"], true, "{l}");
    assert!(l["ops"].as_u64().unwrap_or(0) > 100, "the clients ran: {l}");
    let _ = std::fs::remove_dir_all(store);
}
