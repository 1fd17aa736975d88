//! Packet faults on a real local cluster (needs root; CI runs as root): each effect applied
//! through the System seam and measured by counting datagrams between two hosts, with a control
//! that has none; the heal restores the links; teardown, and `cluster down` after a delayer was
//! left running, leave no chain, qdisc or delayer; and `splitbrain test --nemesis packet` comes
//! out valid in the safe setting, its report showing the packet-fault windows.

#[path = "support/packet_probe.rs"]
mod probe;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use faults::packet::{Behaviour, Links};
use harness::control::cluster::local::{self, LocalSpec};
use harness::control::cluster::nodes_file::NodesFile;
use harness::control::group::Binaries;
use harness::control::remote::ssh::{HostKeyPolicy, SshNode};
use harness::control::remote::{Cmd, Remote};
use harness::control::system::System;
use harness::control::system::seeds_group::SeedsGroup;
use nodes::protocol::bugs::Bugs;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const PREFIX: &str = "sbp-";
const SUBNET: [u8; 3] = [10, 213, 84];
const N: u32 = 10_000;

fn spec() -> LocalSpec {
    LocalSpec {
        nodes: 3,
        state_dir: PathBuf::from("/var/lib/splitbrain/packet-cluster"),
        subnet: SUBNET,
        prefix: PREFIX.into(),
    }
}

fn ip(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], host)
}

/// A cluster removed when dropped, and the guard that keeps the other test waiting.
struct Cluster {
    spec: LocalSpec,
    file: NodesFile,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    fn up() -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        assert!(nix::unistd::Uid::effective().is_root(), "the packet-fault tests need root");
        let spec = spec();
        let file = local::up(&spec, &AtomicBool::new(false)).expect("cluster up");
        Cluster { spec, file, _turn: turn }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        local::down(&self.spec.state_dir, PREFIX).expect("cluster down");
    }
}

fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_splitbrain")).parent().unwrap().to_path_buf();
    for binary in ["replica", "delayer"] {
        assert!(dir.join(binary).exists(), "build the node binaries first: cargo build -p nodes -p delayer");
    }
    dir
}

/// 10 000 datagrams from n1 to n2.
fn burst(port: u16) -> probe::Burst {
    probe::udp_burst("sbp-n1", ip(11), "sbp-n2", SocketAddr::from((ip(12), port)), N)
}

/// Pids of delayers of this cluster's hosts, seen from here.
fn delayers() -> Vec<String> {
    let ps = Command::new("ps").args(["-eo", "pid,args"]).output().unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains("/var/lib/splitbrain-node/bin/delayer --queue"))
        .map(String::from)
        .collect()
}

/// What of ours is on a host: our chains' rules and our qdiscs.
async fn ours(node: &SshNode) -> String {
    let script = "iptables -S | grep SPLITBRAIN; tc qdisc show | grep 5b01; true";
    node.run(&Cmd::shell(script)).await.unwrap().stdout_text()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_packet_effect_shows_in_the_counts_the_heal_restores_and_nothing_is_left() {
    let cluster = Cluster::up();
    let dir = bin_dir();
    let seeds = SeedsGroup::over_ssh(
        &cluster.file,
        HostKeyPolicy::Strict,
        |_| {},
        Bugs::default(),
        false,
        Binaries::in_dir(&dir).with_delayer(&dir),
    )
    .unwrap();
    seeds.setup().await.unwrap();
    let n1_to_n2 = {
        let mut links = Links::default();
        links.add("n1", "n2");
        links
    };
    let apply = |behaviour: Behaviour| {
        let (seeds, links) = (&seeds, &n1_to_n2);
        async move { seeds.packet(links, &behaviour, 7).await.unwrap() }
    };

    let control = burst(9001);
    assert!(control.loss_pct() < 0.5, "no fault, no loss: {control:?}");
    assert_eq!(
        (control.duplicate_pct(), control.out_of_order),
        (0.0, 0),
        "no fault, no duplicates or reordering"
    );

    apply(Behaviour { loss_pct: 30.0, ..Behaviour::default() }).await;
    let lossy = burst(9002);
    assert!((lossy.loss_pct() - 30.0).abs() <= 5.0, "30 % configured, {:.2} % lost", lossy.loss_pct());

    apply(Behaviour { delay_ms: 20, jitter_ms: 5, ..Behaviour::default() }).await;
    let delayed = burst(9003);
    assert!(delayed.loss_pct() < 0.5, "a delay loses nothing: {:.2} %", delayed.loss_pct());
    let floor = std::time::Duration::from_millis(15);
    assert!(
        delayed.delays[0] >= floor,
        "every datagram held at least 20 - 5 ms: {:?} (median {:?})",
        delayed.delays[0],
        delayed.median()
    );
    assert!(delayed.out_of_order > 0, "a jitter reorders");

    apply(Behaviour { delay_ms: 5, duplicate_pct: 40.0, reorder_pct: 30.0, ..Behaviour::default() }).await;
    let doubled = burst(9004);
    assert!(
        (doubled.duplicate_pct() - 40.0).abs() <= 5.0,
        "40 % configured, {:.2} % sent twice",
        doubled.duplicate_pct()
    );
    let at_once = doubled.delays.iter().filter(|d| **d < std::time::Duration::from_millis(5)).count();
    assert!(at_once > 0 && doubled.out_of_order > 0, "some let go at once, ahead of the delayed");

    apply(Behaviour { rate_kbit: Some(1000), ..Behaviour::default() }).await;
    let n1 = SshNode::new(cluster.file.target(&cluster.file.replicas[0], HostKeyPolicy::Strict));
    let classes = n1.run(&Cmd::shell("tc class show dev eth0")).await.unwrap().stdout_text();
    assert!(classes.contains("rate 1Mbit"), "{classes}");
    let sent = probe::tcp_transfer("sbp-n1", "sbp-n2", SocketAddr::from((ip(12), 9005)), 250_000);
    assert!(
        sent.took >= std::time::Duration::from_millis(1500),
        "250 kB at 1 Mbit/s take 2 s, not {:?} ({:.0} kbit/s)",
        sent.took,
        sent.steady_kbit
    );

    apply(Behaviour { loss_pct: 50.0, delay_ms: 10, ..Behaviour::default() }).await;
    assert_eq!(delayers().len(), 1, "one delayer, on n1: {:?}", delayers());
    seeds.heal_packets().await.unwrap();
    assert!(delayers().is_empty(), "the heal stops the delayer: {:?}", delayers());
    let healed = burst(9006);
    assert!(healed.loss_pct() < 0.5 && healed.out_of_order == 0, "healed: {healed:?}");
    assert!(!ours(&n1).await.contains("5b01"), "the heal deletes the qdisc");

    apply(Behaviour { delay_ms: 10, ..Behaviour::default() }).await;
    let running = delayers();
    assert_eq!(running.len(), 1, "{running:?}");
    let pid = running[0].split_whitespace().next().unwrap().to_string();
    // Each host has its own pid namespace: the error names the pid that n1 sees.
    let pid_on_n1 = n1.run(&Cmd::shell("cat /var/lib/splitbrain-node/run/delayer.pid")).await.unwrap();
    let pid_on_n1 = pid_on_n1.stdout_text().trim().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let died = seeds.heal_packets().await.expect_err("a delayer that died mid-fault is reported");
    let said = harness::error::chain(&died);
    assert!(said.contains(&format!("the packet delayer (pid {pid_on_n1}) exited before")), "{said}");
    assert!(burst(9007).loss_pct() < 0.5, "the heal still healed");
    seeds.heal_packets().await.expect("the control: a heal after a heal finds nothing amiss");

    apply(Behaviour { rate_kbit: Some(500), delay_ms: 10, loss_pct: 10.0, ..Behaviour::default() }).await;
    assert!(ours(&n1).await.contains("5b01") && delayers().len() == 1);
    seeds.teardown().await.unwrap();
    for i in 0..3 {
        let node = SshNode::new(cluster.file.target(&cluster.file.replicas[i], HostKeyPolicy::Strict));
        assert_eq!(ours(&node).await, "", "teardown leaves nothing of ours on n{}", i + 1);
    }
    assert!(delayers().is_empty(), "teardown stops the delayer");

    seeds.setup().await.unwrap();
    apply(Behaviour { delay_ms: 10, ..Behaviour::default() }).await;
    assert_eq!(delayers().len(), 1, "a delayer left running, as after a SIGKILLed controller");
    seeds.setup().await.unwrap();
    let left = ours(&n1).await;
    assert!(delayers().is_empty(), "the next run's setup stops what a crashed run left: {:?}", delayers());
    assert!(!left.contains("5b01") && !left.contains("NFQUEUE") && !left.contains("statistic"), "{left}");
    apply(Behaviour { delay_ms: 10, ..Behaviour::default() }).await;
    assert_eq!(delayers().len(), 1, "left running again, for cluster down");
    drop(seeds);
    drop(cluster);
    assert!(delayers().is_empty(), "cluster down takes the delayer with its host: {:?}", delayers());
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&netns.stdout).contains(PREFIX));
}

#[test]
fn a_test_under_packet_faults_is_valid_in_the_safe_setting_and_its_report_shows_them() {
    let cluster = Cluster::up();
    let store = std::env::temp_dir().join(format!("splitbrain-packet-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    bin_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["test", "--nodes-file"])
        .arg(cluster.spec.nodes_file_path())
        .args(["--time-limit", "16", "--nemesis", "packet", "--nemesis-interval", "4", "--seed", "5"])
        .args(["--ack", "every-member", "--stability-window", "3", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "valid: {output}");
    let dir = store.join("latest");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let invoked =
        |f: &str| history.lines().filter(|l| l.contains(&format!(r#""type":"invoke","f":"{f}""#))).count();
    assert_eq!((invoked("packet"), invoked("heal-packet")), (2, 2), "two packet faults, each healed");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.matches("class=\"packet\"").count() >= 2, "the report shades the packet-fault windows");
    assert!(delayers().is_empty(), "no delayer outlives the run");
    std::fs::remove_dir_all(store).unwrap();
}
