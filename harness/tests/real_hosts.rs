//! Real hosts: the harness drives hosts it did not make, reached only through a nodes file that
//! names them by alias and a `~/.ssh/config` that says where each alias is, with ssh-agent
//! authentication; and through `--node`, `--username` and `--ssh-private-key`. A local cluster
//! under its own prefix, subnet and state directory stands in for the foreign hosts: the test
//! takes from it only what an operator of real hosts would have (the hosts' addresses, their
//! host keys, a private key they accept). Needs root, as every end-to-end test does.
//!
//! One cluster serves every case, one run at a time, to keep the file short: two valid runs
//! and four runs that must be refused (no credentials, an agent without keys, a wrong user, an
//! unknown host key).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use harness::control::cluster::local::{self, LocalSpec};
use harness::control::cluster::nodes_file::NodesFile;

/// The aliases the operator's `~/.ssh/config` gives the hosts: the name server's, then the
/// replicas'.
const ALIASES: [&str; 4] = ["names", "alpha", "beta", "gamma"];
const PREFIX: &str = "sbr-";
const STATE_DIR: &str = "/var/lib/splitbrain/e2e-real-hosts";

/// A short plan with partitions and kills, in the safe setting.
const PLAN: [&str; 14] = [
    "--time-limit",
    "8",
    "--nemesis",
    "partition,kill",
    "--nemesis-interval",
    "3",
    "--stability-window",
    "2",
    "--ack",
    "every-member",
    "--seed",
    "14",
    "--name",
    "real-hosts",
];

/// The stand-in cluster, removed when dropped (also when an assertion failed).
struct Cluster {
    spec: LocalSpec,
    file: NodesFile,
}

impl Cluster {
    fn up() -> Self {
        let spec = LocalSpec {
            nodes: 3,
            state_dir: PathBuf::from(STATE_DIR),
            subnet: [10, 213, 83],
            prefix: PREFIX.into(),
        };
        let file = local::up(&spec, &AtomicBool::new(false)).expect("cluster up");
        Cluster { spec, file }
    }

    /// The addresses of the hosts, in [`ALIASES`] order.
    fn addresses(&self) -> Vec<String> {
        self.file.all().map(|n| n.address.clone()).collect()
    }

    /// The private key the hosts accept.
    fn key(&self) -> PathBuf {
        self.file.private_key.clone().expect("the cluster's key")
    }

    /// The hosts' keys, keyed by address, as the cluster wrote them.
    fn known_hosts(&self) -> String {
        fs::read_to_string(self.file.known_hosts.as_ref().expect("the cluster's known_hosts")).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = local::down(&self.spec.state_dir, &self.spec.prefix) {
            eprintln!("cluster down failed: {e:#}");
        }
    }
}

/// An ssh-agent of our own, in the foreground, on a socket of its own; killed by its pid.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Self {
        fs::create_dir_all(dir).unwrap();
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent (Debian: openssh-client)");
        let agent = Agent { child, socket };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !agent.socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent made no socket at {}", agent.socket.display());
            std::thread::sleep(Duration::from_millis(10));
        }
        agent
    }

    fn add(&self, key: &Path) {
        let out = Command::new("ssh-add").arg(key).env("SSH_AUTH_SOCK", &self.socket).output().unwrap();
        assert!(out.status.success(), "ssh-add: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh HOME at `dir` whose `~/.ssh/config` gives each host its alias (and says where it
/// is and who to log in as, no more), and whose
/// `~/.ssh/known_hosts` is `known_hosts`.
fn home(dir: &Path, addresses: &[String], known_hosts: &str) -> PathBuf {
    let ssh = dir.join(".ssh");
    fs::create_dir_all(&ssh).unwrap();
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700)).unwrap();
    // Options before the first Host apply to every host, as in many an operator's config.
    let defaults = "# defaults\nServerAliveInterval 30\n\n";
    let hosts: String = ALIASES
        .iter()
        .zip(addresses)
        .map(|(alias, address)| format!("Host {alias}\n    HostName {address}\n    User root\n\n"))
        .collect();
    let config = format!("{defaults}{hosts}");
    fs::write(ssh.join("config"), config).unwrap();
    fs::write(ssh.join("known_hosts"), known_hosts).unwrap();
    for file in ["config", "known_hosts"] {
        fs::set_permissions(ssh.join(file), fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir.to_path_buf()
}

/// What one `splitbrain test` did.
struct Run {
    code: Option<i32>,
    output: String,
    dir: PathBuf,
}

/// Runs `splitbrain test args` with `HOME` at `home` and the agent at `agent` (none: no
/// `SSH_AUTH_SOCK` at all).
fn splitbrain(home: &Path, agent: Option<&Path>, args: &[&str], store: &Path) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    command.arg("test").args(args).arg("--store").arg(store).env("HOME", home).env_remove("SSH_AUTH_SOCK");
    if let Some(socket) = agent {
        command.env("SSH_AUTH_SOCK", socket);
    }
    let started = Instant::now();
    let out = command.output().unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("--- splitbrain test {} ({:.1?})\n{output}", args.join(" "), started.elapsed());
    Run { code: out.status.code(), output, dir: store.join("latest") }
}

/// A run that worked: exit 0, a valid verdict, and every host driven: its process answered
/// the observer, and its log was collected over SSH.
fn assert_valid(run: &Run, names: &[&str]) {
    assert_eq!(run.code, Some(0), "{}", run.output);
    let results: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["valid"], true, "the verdict: {results}");
    for checker in ["mastership", "linearizable"] {
        assert_eq!(results["checkers"][checker]["valid"], true, "{checker}: {results}");
    }
    let history = fs::read_to_string(run.dir.join("history.jsonl")).unwrap();
    let ops: Vec<serde_json::Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let answered = |host: &str| ops.iter().any(|op| op["type"] == "ok" && op["node"] == host);
    assert!(names[1..].iter().any(|h| answered(h)), "client operations were answered: {history}");
    // The observer's rounds hold every replica's view (null when it did not answer) and the
    // name server's registrations.
    let rounds: Vec<&serde_json::Value> =
        ops.iter().filter(|op| op["f"] == "observe").map(|op| &op["value"]).collect();
    for host in &names[1..] {
        assert!(rounds.iter().any(|r| r["nodes"][host].is_object()), "the replica on {host} answered");
    }
    assert!(rounds.iter().any(|r| r["registrations"].is_array()), "the name server on {} answered", names[0]);
    let faults: Vec<&str> = ops.iter().filter_map(|op| op["f"].as_str()).collect();
    assert!(faults.iter().any(|f| *f == "partition" || *f == "kill"), "faults were injected");
    assert!(run.dir.join(names[0]).join("nameserver.log").exists(), "the name server's log is stored");
    for host in &names[1..] {
        assert!(run.dir.join(host).join("replica.log").exists(), "{host}'s replica log is stored");
    }
}

/// A run that was refused before the workload: the harness's failure, and `words` in its
/// error.
fn assert_refused(run: &Run, words: &[&str]) {
    assert_eq!(run.code, Some(255), "refused as a harness failure: {}", run.output);
    let error = run.output.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
    for word in words {
        assert!(error.contains(word), "the error names {word:?}: {}", run.output);
    }
    assert!(!run.output.contains("torn down"), "no teardown is claimed: {}", run.output);
}

#[test]
fn foreign_hosts_through_ssh_config_and_an_agent_or_node_flags_and_strict_refusals() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the real-hosts test makes a local cluster to stand in for real hosts: it needs root"
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_splitbrain")).parent().unwrap().to_path_buf();
    assert!(bin.join("replica").exists(), "build the nodes binaries first: cargo build -p nodes");
    let started = Instant::now();
    let cluster = Cluster::up();
    let tmp = tempfile::tempdir().unwrap();
    let addresses = cluster.addresses();
    let key = cluster.key();

    // The operator's side: a HOME with the aliases and the host keys (hashed, as Debian's
    // HashKnownHosts writes them), and a nodes file naming the hosts by alias only.
    let operator = home(&tmp.path().join("home"), &addresses, &cluster.known_hosts());
    let hashed =
        Command::new("ssh-keygen").arg("-H").arg("-f").arg(operator.join(".ssh/known_hosts")).output();
    assert!(hashed.unwrap().status.success(), "ssh-keygen -H");
    let nodes_file = tmp.path().join("nodes.yaml");
    fs::write(&nodes_file, format!("nameserver: {}\nreplicas: [{}]\n", ALIASES[0], ALIASES[1..].join(", ")))
        .unwrap();
    let nodes_file = nodes_file.to_str().unwrap();
    let agent = Agent::start(tmp.path());
    agent.add(&key);

    // 1. The nodes file by alias, authenticated by the agent.
    let with_file = [&["--nodes-file", nodes_file][..], &PLAN[..]].concat();
    let run = splitbrain(&operator, Some(&agent.socket), &with_file, &tmp.path().join("store-agent"));
    assert_valid(&run, &ALIASES);

    // 2. --node hosts by address, --username and --ssh-private-key, no agent.
    let node_flags: Vec<&str> = addresses.iter().flat_map(|a| ["--node", a.as_str()]).collect();
    let key_text = key.to_str().unwrap();
    let with_nodes = |user: &'static str| {
        [&node_flags[..], &["--username", user, "--ssh-private-key", key_text], &PLAN[..]].concat()
    };
    let run = splitbrain(&operator, None, &with_nodes("root"), &tmp.path().join("store-key"));
    assert_valid(&run, &["ns", "n1", "n2", "n3"]);

    // 3. No agent and no key: nothing to authenticate with.
    let run = splitbrain(&operator, None, &with_file, &tmp.path().join("store-nothing"));
    assert_refused(&run, &["authentication: no key", "no ssh-agent ($SSH_AUTH_SOCK)"]);
    assert!(ALIASES.iter().any(|a| run.output.contains(&format!("error: ssh {a}: "))), "names the host");
    // An agent that holds no keys.
    let empty = Agent::start(&tmp.path().join("empty-agent"));
    let run = splitbrain(&operator, Some(&empty.socket), &with_file, &tmp.path().join("store-empty"));
    assert_refused(&run, &["authentication: the ssh-agent ($SSH_AUTH_SOCK) holds no keys"]);
    assert!(ALIASES.iter().any(|a| run.output.contains(&format!("error: ssh {a}: "))), "names the host");
    drop(empty);

    // 4. A user the hosts do not know.
    let run = splitbrain(&operator, None, &with_nodes("mallory"), &tmp.path().join("store-user"));
    assert_refused(&run, &["ssh n", "authentication as mallory refused"]);

    // 5. beta's key recorded under its alias only: OpenSSH looks host keys up by HostName, so
    // beta's address is not in known_hosts, and strict checking refuses it.
    let keyed_by_alias = cluster.known_hosts().replace(&format!("{} ", addresses[2]), "beta ");
    let stranger = home(&tmp.path().join("home-stranger"), &addresses, &keyed_by_alias);
    let run = splitbrain(&stranger, Some(&agent.socket), &with_file, &tmp.path().join("store-stranger"));
    assert_refused(&run, &["ssh beta: host key refused", &format!("{} is not in", addresses[2])]);

    drop(agent);
    drop(cluster);
    let left = local::status(Path::new(STATE_DIR), PREFIX).unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    println!("real hosts: {:.1?} in all", started.elapsed());
}
