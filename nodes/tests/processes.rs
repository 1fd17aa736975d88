//! Real replica and name-server processes on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nodes::local::LocalGroup;
use nodes::protocol::ReplicaId;
use nodes::protocol::bugs::Bugs;
use nodes::protocol::kv::{Op, Value};
use nodes::protocol::message::OpOutput;
use nodes::protocol::params::{AckMode, Params};
use nodes::runtime::config::GroupFile;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Scheduling slack on a loaded 2-core machine, added to protocol bounds measured from outside
/// (status polling every 20 ms, process wake-ups).
const SLACK: Duration = Duration::from_millis(300);

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_replica")).parent().unwrap().to_path_buf()
}

/// A started group and the master it converged on (S_0 unless S_0's process started late).
async fn group(file: GroupFile) -> (LocalGroup, ReplicaId) {
    let group = LocalGroup::start(&bin_dir(), file, Bugs::default()).await.expect("group starts");
    let first = group.wait_for_single_master(Duration::from_secs(10)).await;
    let first = first.unwrap_or_else(|| panic!("cold start converges; log of 0:\n{}", group.log(Some(0))));
    (group, first)
}

#[tokio::test]
async fn killing_the_master_gives_exactly_one_new_master_within_the_bound() {
    let (mut group, old) = group(LocalGroup::group_file(5).unwrap()).await;
    let heir = (0..5).find(|&i| i != old).unwrap();
    let p = &group.config().params;
    let bound = p.detect_interval + p.inquiry_timeout + p.election_delay(heir) + SLACK;
    let killed = Instant::now();
    group.kill(old).unwrap();
    let new = group.wait_for_single_master(Duration::from_secs(5)).await;
    let took = killed.elapsed();
    assert_eq!(new, Some(heir), "S_{heir} takes over; its log:\n{}", group.log(Some(heir)));
    assert!(took <= bound, "one new master after {took:?}, bound {bound:?}");
    let log = group.log(Some(heir));
    assert!(log.contains("role Backup->WaitElection cause=inquiry-timeout"), "{log}");
    assert!(log.contains("role WaitElection->Master cause=election-timer"), "{log}");
}

#[tokio::test]
async fn with_ack_all_writes_acknowledged_before_the_kill_are_read_back_from_the_new_master() {
    let mut file = LocalGroup::group_file(5).unwrap();
    file.ack = AckMode::All;
    let (mut group, old) = group(file).await;
    tokio::time::sleep(Params::default().reach_window()).await;
    let mut client = group.client(Duration::from_secs(2));
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let key = format!("k{i}");
        if let Ok(done) = client.execute(Op::Write { key: key.clone(), value: Value::Int(i) }).await {
            assert_eq!(done.node, old);
            acknowledged.push((key, i));
        }
    }
    assert_eq!(acknowledged.len(), 50, "a healthy group acknowledges every write");
    group.kill(old).unwrap();
    let new = group.wait_for_single_master(Duration::from_secs(5)).await.expect("a new master");
    for (key, value) in acknowledged {
        let read = client.execute(Op::Read { key: key.clone() }).await.expect("read succeeds");
        assert_eq!(read.node, new);
        assert_eq!(read.output, OpOutput::Value(Some(Value::Int(value))), "{key} survived the failover");
    }
}

#[tokio::test]
async fn a_frame_that_is_not_a_message_is_logged_and_the_replica_keeps_serving() {
    let (group, master) = group(LocalGroup::group_file(3).unwrap()).await;
    let addr = group.config().members[1].address;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).await.unwrap();
    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(group.log(Some(1)).contains("frame is not a message"), "{}", group.log(Some(1)));
    assert_eq!(group.single_master().await, Some(master));
}

#[test]
fn random_bytes_on_every_port_never_crash_a_replica_or_the_name_server() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (group, master) = rt.block_on(group(LocalGroup::group_file(3).unwrap()));
    let c = group.config();
    let ports = [
        c.nameserver.address,
        c.nameserver.admin,
        c.members[0].address,
        c.members[0].admin,
        c.members[1].address,
        c.members[1].admin,
    ];
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    let result = runner.run(&proptest::collection::vec(any::<u8>(), 0..600), |bytes| {
        let alive = rt.block_on(async {
            for addr in ports {
                if let Ok(mut stream) = TcpStream::connect(addr).await {
                    let _ = stream.write_all(&bytes).await;
                }
            }
            let mut alive = group.nameserver_status().await.is_ok();
            for id in 0..3 {
                alive &= group.status(id).await.is_ok();
            }
            alive
        });
        prop_assert!(alive, "a process stopped answering after {} random bytes", bytes.len());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\nreplica 0:\n{}\nname server:\n{}", group.log(Some(0)), group.log(None));
    }
    assert_eq!(rt.block_on(group.wait_for_single_master(Duration::from_secs(3))), Some(master));
}

#[tokio::test]
async fn sigterm_is_a_clean_exit_that_the_log_records() {
    let (mut group, master) = group(LocalGroup::group_file(3).unwrap()).await;
    let follower = (master + 1) % 3;
    let status = group.terminate(follower).unwrap().expect("it was running");
    assert_eq!(status.code(), Some(0));
    assert!(group.log(Some(follower)).contains("shutdown requested: clean exit"));
}

fn run_replica(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_replica")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_config_files_and_arguments_exit_254_with_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.yaml");
    let good = serde_yaml::to_string(&LocalGroup::group_file(3).unwrap()).unwrap();
    let path_str = path.to_str().unwrap();

    std::fs::write(&path, good.replace("index: 2", "index: 9")).unwrap();
    let (code, err) = run_replica(&["--config", path_str, "--id", "0"]);
    assert_eq!(code, 254);
    assert!(err.contains("group.yaml") && err.contains("members[2].index"), "{err}");

    std::fs::write(&path, "group: g\nmembers: [\n").unwrap();
    let (code, err) = run_replica(&["--config", path_str, "--id", "0"]);
    assert_eq!(code, 254);
    assert!(err.contains("group.yaml") && err.contains("line"), "{err}");

    std::fs::write(&path, &good).unwrap();
    let (code, err) = run_replica(&["--config", path_str, "--id", "7"]);
    assert_eq!(code, 254);
    assert!(err.contains("unknown member index 7"), "{err}");

    let (code, err) = run_replica(&["--config", path_str, "--id", "0", "--bug", "nope"]);
    assert_eq!(code, 254);
    assert!(err.contains("unknown bug \"nope\""), "{err}");

    let (code, err) = run_replica(&["--config", "/nonexistent/group.yaml", "--id", "0"]);
    assert_eq!(code, 254);
    assert!(err.contains("/nonexistent/group.yaml"), "{err}");
}
