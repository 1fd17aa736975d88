//! The control plane on a real local cluster: test hosts in network namespaces with their own
//! sshd, reached over SSH. Needs root (CI runs as root). The tests share one name prefix, so they
//! take turns; each removes its cluster even when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Bytes;
use faults::fault::Fault;
use faults::partition::{Shape, grudge};
use harness::control::cluster::local::{self, LocalSpec};
use harness::control::cluster::nodes_file::NodesFile;
use harness::control::group::{Binaries, Group, Process};
use harness::control::nemesis;
use harness::control::remote::ssh::{HostKeyPolicy, SshNode};
use harness::control::remote::{Cmd, Remote};
use harness::control::system::System;
use harness::control::system::seeds_group::SeedsGroup;
use harness::error::Error;
use nodes::protocol::bugs::Bugs;
use rand::SeedableRng;
use rand::rngs::StdRng;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const PREFIX: &str = "sbt-";

fn spec(nodes: u32) -> LocalSpec {
    LocalSpec {
        nodes,
        state_dir: PathBuf::from("/var/lib/splitbrain/test-cluster"),
        subnet: [10, 213, 78],
        prefix: PREFIX.into(),
    }
}

/// A cluster that is removed when dropped, and the guard that keeps other tests waiting.
struct Cluster {
    spec: LocalSpec,
    file: NodesFile,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    fn up(nodes: u32) -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        assert!(nix::unistd::Uid::effective().is_root(), "the local-cluster tests need root");
        let spec = spec(nodes);
        let file = local::up(&spec, &AtomicBool::new(false)).expect("cluster up");
        Cluster { spec, file, _turn: turn }
    }

    fn node(&self, i: usize) -> SshNode {
        SshNode::new(self.file.target(&self.file.replicas[i], HostKeyPolicy::Strict))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        local::down(&self.spec.state_dir, PREFIX).expect("cluster down");
    }
}

fn binaries() -> Binaries {
    let dir = Path::new(env!("CARGO_BIN_EXE_splitbrain")).parent().unwrap().to_path_buf();
    let binaries = Binaries::in_dir(&dir);
    assert!(binaries.replica.exists(), "build the nodes binaries first: cargo build -p nodes");
    binaries
}

fn assert_nothing_left(spec: &LocalSpec) {
    let status = local::status(&spec.state_dir, PREFIX).unwrap();
    assert!(status.is_empty(), "left behind: {status:?}");
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&netns.stdout).contains(PREFIX));
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let marker = spec.state_dir.to_str().unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(marker), "a host process survived");
}

async fn deployed(cluster: &Cluster) -> SeedsGroup<SshNode> {
    deployed_with(cluster, false).await
}

async fn deployed_with(cluster: &Cluster, clock_faults: bool) -> SeedsGroup<SshNode> {
    let seeds = SeedsGroup::over_ssh(
        &cluster.file,
        HostKeyPolicy::Strict,
        |_| {},
        Bugs::default(),
        clock_faults,
        binaries(),
    )
    .unwrap();
    let group = seeds.group();
    group.teardown().await.unwrap();
    let first = group.install(&binaries()).await.unwrap();
    assert_eq!(first.skipped, 0, "a fresh cluster has none of the files");
    let again = group.install(&binaries()).await.unwrap();
    assert_eq!(
        (again.uploaded, again.skipped),
        (0, first.uploaded),
        "identical files are not uploaded again"
    );
    seeds.start_all().await.unwrap();
    seeds
}

async fn pids(group: &Group<SshNode>) -> Vec<Option<u32>> {
    futures::future::try_join_all(group.processes().map(|p| group.pid(p))).await.unwrap()
}

#[tokio::test]
async fn up_exec_on_every_node_in_parallel_upload_and_down_leave_nothing_behind() {
    let cluster = Cluster::up(5);
    let nodes: Vec<SshNode> = (0..5).map(|i| cluster.node(i)).collect();
    let hostname = Cmd::shell("hostname");
    let outs = futures::future::try_join_all(nodes.iter().map(|n| n.run(&hostname))).await.unwrap();
    let names: Vec<String> = outs.iter().map(|o| o.stdout_text().trim().to_string()).collect();
    assert_eq!(names, ["n1", "n2", "n3", "n4", "n5"]);

    let data = Bytes::from((0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let path = "/var/lib/splitbrain-node/probe/data.bin";
    nodes[0].upload(data.clone(), path, 0o600).await.unwrap();
    assert_eq!(nodes[0].download(path).await.unwrap(), data.to_vec());
    let elsewhere = nodes[1].exec(&Cmd::new("test", ["-e", path])).await.unwrap();
    assert!(!elsewhere.success(), "each host has its own data directory");

    let stdin = nodes[2].run(&Cmd::new("wc", ["-c"]).stdin(Bytes::from_static(b"12345"))).await.unwrap();
    assert_eq!(stdin.stdout_text().trim(), "5");
    let spec = cluster.spec.clone();
    drop(cluster);
    assert_nothing_left(&spec);
    local::down(&spec.state_dir, PREFIX).expect("down is idempotent");
}

#[tokio::test]
async fn a_failing_command_names_host_command_and_stderr() {
    let cluster = Cluster::up(1);
    let err = cluster.node(0).run(&Cmd::new("ls", ["/no/such/dir"])).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Command { .. }), "{text}");
    assert!(
        text.contains("n1") && text.contains("ls /no/such/dir") && text.contains("No such file"),
        "{text}"
    );
    let err =
        cluster.node(0).run(&Cmd::new("sleep", ["5"]).timeout(Duration::from_millis(200))).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn a_host_key_mismatch_or_an_unknown_host_is_refused_clearly() {
    let cluster = Cluster::up(2);
    let known = std::fs::read_to_string(cluster.file.known_hosts.as_ref().unwrap()).unwrap();
    let n1 = &cluster.file.replicas[0].address;
    let n2_line = known.lines().find(|l| l.starts_with(&cluster.file.replicas[1].address)).unwrap();
    let n2_key = n2_line.split_once(' ').unwrap().1;
    let forged = cluster.spec.state_dir.join("forged_known_hosts");
    std::fs::write(&forged, format!("{n1} {n2_key}\n")).unwrap();
    let mut target = cluster.file.target(&cluster.file.replicas[0], HostKeyPolicy::Strict);
    target.known_hosts = forged;
    let err = SshNode::new(target.clone()).connect().await.unwrap_err();
    let text = harness::error::chain(&err);
    assert!(matches!(err, Error::HostKey { .. }) && text.contains("HOST KEY MISMATCH"), "{text}");

    let empty = cluster.spec.state_dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    target.known_hosts = empty.clone();
    let err = SshNode::new(target.clone()).connect().await.unwrap_err();
    let text = harness::error::chain(&err);
    assert!(text.contains("is not in"), "{text}");
    target.policy = HostKeyPolicy::AcceptNew;
    SshNode::new(target).connect().await.expect("accept-new learns the key");
    assert!(std::fs::read_to_string(&empty).unwrap().contains("ssh-ed25519"));
}

#[tokio::test]
async fn a_partition_cuts_replica_traffic_and_heal_restores_it() {
    let cluster = Cluster::up(5);
    let seeds = deployed(&cluster).await;
    let (group, hosts) = (seeds.group(), seeds.hosts());
    let all = [0, 1, 2, 3, 4];
    let old = seeds.wait_for_single_master(&all, Duration::from_secs(10)).await.expect("a first master");
    let old_host = hosts.of(Process::Replica(old)).unwrap().clone();
    let ns_host = hosts.of(Process::NameServer).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let cut = grudge(Shape::IsolateMaster, &hosts.replicas(), ns_host, Some(&old_host), &mut rng).unwrap();
    nemesis::apply(&seeds, &Fault::Partition { grudge: cut }).await.unwrap();
    let rules =
        group.run_on(Process::Replica(old), "iptables -S SPLITBRAIN".into()).await.unwrap().stdout_text();
    assert_eq!(rules.matches("-j DROP").count(), 5, "{rules}");

    let majority: Vec<_> = all.iter().copied().filter(|&i| i != old).collect();
    let new = seeds.wait_for_single_master(&majority, Duration::from_secs(10)).await;
    assert!(new.is_some_and(|m| m != old), "the majority side elected a new master: {new:?}");

    nemesis::apply(&seeds, &Fault::Heal).await.unwrap();
    let healed = seeds.wait_for_single_master(&all, Duration::from_secs(10)).await;
    assert!(healed.is_some(), "one master after heal");
    group.teardown().await.unwrap();
    let chain = group.node(Process::Replica(old)).exec(&Cmd::shell("iptables -S SPLITBRAIN")).await.unwrap();
    assert!(!chain.success(), "teardown removed our chain");
}

#[tokio::test]
async fn kill_restart_pause_and_resume_act_on_the_right_process_only() {
    let cluster = Cluster::up(3);
    let seeds = deployed(&cluster).await;
    let (group, hosts) = (seeds.group(), seeds.hosts());
    let before = pids(group).await;
    assert!(before.iter().all(Option::is_some), "{before:?}");
    let n2 = hosts.of(Process::Replica(1)).unwrap().clone();

    nemesis::apply(&seeds, &Fault::Kill { hosts: vec![n2.clone()] }).await.unwrap();
    let after_kill = pids(group).await;
    assert_eq!(after_kill[2], None, "replica 1 is gone");
    assert_eq!(
        [after_kill[0], after_kill[1], after_kill[3]],
        [before[0], before[1], before[3]],
        "the others are untouched"
    );

    nemesis::apply(&seeds, &Fault::Start { hosts: vec![n2.clone()] }).await.unwrap();
    let restarted = pids(group).await;
    assert!(restarted[2].is_some() && restarted[2] != before[2], "a new process: {restarted:?}");

    let state = async |p: Process| {
        let script = format!("grep State /proc/$(cat {})/status", p.pidfile());
        group.run_on(p, script).await.unwrap().stdout_text()
    };
    nemesis::apply(&seeds, &Fault::Pause { hosts: vec![n2.clone()] }).await.unwrap();
    assert!(state(Process::Replica(1)).await.contains("stopped"), "paused");
    assert!(!state(Process::Replica(0)).await.contains("stopped"), "others run");
    nemesis::apply(&seeds, &Fault::Resume { hosts: vec![n2] }).await.unwrap();
    assert!(!state(Process::Replica(1)).await.contains("stopped"), "resumed");
    assert_eq!(pids(group).await[0], before[0], "the name server never moved");
}

#[test]
fn sigint_during_cluster_up_leaves_nothing_behind() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let spec = spec(30);
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["cluster", "up", "--nodes", "30", "--subnet", "10.213.78", "--prefix", PREFIX])
        .arg("--state-dir")
        .arg(&spec.state_dir)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
        .unwrap();
    let status = child.wait().unwrap();
    let built = local::status(&spec.state_dir, PREFIX).unwrap();
    local::down(&spec.state_dir, PREFIX).unwrap();
    assert_eq!(status.code(), Some(130), "interrupted, not finished (raise --nodes if up got faster)");
    assert!(built.is_empty(), "left behind: {built:?}");
}

#[tokio::test]
async fn a_clock_rate_fault_speeds_up_one_replica_clock_and_reset_restores_it() {
    let cluster = Cluster::up(2);
    let seeds = deployed_with(&cluster, true).await;
    let (group, hosts) = (seeds.group(), seeds.hosts());
    let n1 = hosts.of(Process::Replica(0)).unwrap().clone();
    // A skewed process's own time-outs jump with its clock, so it may drop a status query at the
    // moment of a rate change; ask again, as the observer's next round would.
    let uptime = |i: u32| {
        let admin = group.config().members[i as usize].admin;
        async move {
            for _ in 0..20 {
                if let Ok(report) =
                    nodes::client::status::<nodes::runtime::ReplicaReport>(admin, Duration::from_secs(1))
                        .await
                {
                    return report.status.uptime_ms;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("replica {i} never answered its status query");
        }
    };
    // Rates are read from libfaketime's timestamp file at most once a second.
    nemesis::apply(&seeds, &Fault::ClockRate { hosts: vec![n1.clone()], rate: 4.0 }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (fast0, steady0) = (uptime(0).await, uptime(1).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (fast, steady) = (uptime(0).await - fast0, uptime(1).await - steady0);
    assert!(fast > 3 * steady, "the skewed clock ran {fast} ms while the other ran {steady} ms");
    assert!((1500..3000).contains(&steady), "the other replica's clock is untouched: {steady} ms");

    // Back at x1 the clock jumps back by the skew it gained (libfaketime computes fake time from
    // the process start), a second or two after the file changed; measure after that.
    nemesis::apply(&seeds, &Fault::ResetClock { hosts: vec![n1] }).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = uptime(0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rate_back = uptime(0).await.saturating_sub(before);
    assert!((1500..3000).contains(&rate_back), "real time again: {rate_back} ms in 2 s");
}
