//! The local cluster: test hosts on this machine, each a Linux network namespace with its own
//! address on a bridge, its own UTS, PID and mount namespaces (hostname, process tree, a clean
//! `/root` and a private `/var/lib/splitbrain-node`), and its own `sshd` on port 22 with a host
//! key made here. The controller gets a key pair and a known_hosts file; `up` writes a nodes
//! file so that tests run unchanged against real hosts.
//!
//! Everything made is named with the cluster's prefix or lives under the state directory, and each host's
//! process tree is stopped through the pid of its `unshare` (recorded in a pidfile before
//! anything else happens), so `down` also cleans after a run that was SIGKILLed.

use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::nodes_file::{NodeEntry, NodesFile};
use crate::error::Error;

/// The default prefix of every namespace and link the local cluster makes.
pub const DEFAULT_PREFIX: &str = "sb-";
/// Where each host sees its own private data directory.
pub const NODE_DATA: &str = "/var/lib/splitbrain-node";
/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/splitbrain/local";
/// The default /24 of the hosts, as its first three octets.
pub const DEFAULT_SUBNET: [u8; 3] = [10, 213, 77];

/// What `up` makes.
#[derive(Clone, Debug)]
pub struct LocalSpec {
    /// Number of replica hosts (`n1`..`nN`); one name-server host `ns` comes on top.
    pub nodes: u32,
    /// Where keys, configs, pidfiles and the nodes file live (root-owned, 0700).
    pub state_dir: PathBuf,
    /// The first three octets of the /24 the hosts live in; the controller is `.1`, `ns` is
    /// `.10`, `n<i>` is `.(10+i)`.
    pub subnet: [u8; 3],
    /// Prefix of every namespace and link name (at most 4 characters, so that link names fit
    /// the kernel's 15); clusters with different prefixes, state directories and subnets can
    /// coexist.
    pub prefix: String,
}

impl LocalSpec {
    /// A cluster of `nodes` replica hosts with the default state directory, subnet and prefix:
    /// the one `splitbrain test` and campaigns make.
    pub fn default_of(nodes: u32) -> Self {
        LocalSpec {
            nodes,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            subnet: DEFAULT_SUBNET,
            prefix: DEFAULT_PREFIX.into(),
        }
    }

    /// The nodes file `up` writes.
    pub fn nodes_file_path(&self) -> PathBuf {
        self.state_dir.join("nodes.yaml")
    }

    fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    fn address(&self, host: u8) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, host)
    }

    fn hosts(&self) -> Vec<(String, Ipv4Addr)> {
        std::iter::once(("ns".to_string(), self.address(10)))
            .chain((1..=self.nodes).map(|i| (format!("n{i}"), self.address(10 + i as u8))))
            .collect()
    }
}

/// Tools the local cluster needs, with the Debian packages that ship them.
const TOOLS: [(&str, &str); 5] = [
    ("ip", "iproute2"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("iptables", "iptables"),
    ("unshare", "util-linux"),
];

/// Fails, naming the Debian packages, when a tool is missing.
pub fn check_tools() -> Result<(), Error> {
    let missing: Vec<_> = TOOLS.iter().filter(|(tool, _)| which(tool).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::MissingTools {
        tools: missing.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "),
        packages: missing.iter().map(|(_, p)| *p).collect::<Vec<_>>().join(" "),
    })
}

fn which(tool: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.exists())
}

/// Makes the cluster: first removes whatever an earlier cluster left, then builds every host.
/// On an error, or when `cancel` is set (SIGINT), it removes what it made and fails.
pub fn up(spec: &LocalSpec, cancel: &AtomicBool) -> Result<NodesFile, Error> {
    check_tools()?;
    if spec.prefix.is_empty() || spec.prefix.len() > 4 {
        return Err(Error::Local {
            command: "cluster up".into(),
            cause: "the prefix must be 1 to 4 characters".into(),
        });
    }
    down(&spec.state_dir, &spec.prefix)?;
    match build(spec, cancel) {
        Ok(file) => Ok(file),
        Err(e) => {
            down(&spec.state_dir, &spec.prefix)?;
            Err(e)
        }
    }
}

fn build(spec: &LocalSpec, cancel: &AtomicBool) -> Result<NodesFile, Error> {
    let checkpoint = || if cancel.load(Ordering::SeqCst) { Err(Error::Interrupted) } else { Ok(()) };
    let dir = &spec.state_dir;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir.join("hosts"))
        .map_err(|e| Error::file(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| Error::file(dir, e))?;
    for shared in ["/run/sshd", NODE_DATA] {
        fs::create_dir_all(shared).map_err(|e| Error::file(shared, e))?;
    }
    let key = dir.join("id_ed25519");
    keygen(&key)?;
    let controller = spec.address(1);
    let bridge = spec.bridge();
    sh(&["ip", "link", "add", &bridge, "type", "bridge"])?;
    sh(&["ip", "addr", "add", &format!("{controller}/24"), "dev", &bridge])?;
    sh(&["ip", "link", "set", &bridge, "up"])?;
    let authorized = fs::read_to_string(key.with_extension("pub")).map_err(|e| Error::file(&key, e))?;
    let mut known_hosts = String::new();
    for (name, address) in spec.hosts() {
        checkpoint()?;
        let host_dir = make_host(spec, &name, address, &authorized)?;
        let host_key = fs::read_to_string(host_dir.join("ssh_host_ed25519_key.pub"))
            .map_err(|e| Error::file(&host_dir, e))?;
        let mut parts = host_key.split_whitespace();
        let (kind, body) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        known_hosts.push_str(&format!("{address} {kind} {body}\n"));
    }
    checkpoint()?;
    let known_hosts_path = dir.join("known_hosts");
    fs::write(&known_hosts_path, known_hosts).map_err(|e| Error::file(&known_hosts_path, e))?;
    for (name, address) in spec.hosts() {
        wait_for_port(SocketAddr::from((address, 22)), Duration::from_secs(10), cancel)
            .map_err(|problem| Error::Local { command: format!("sshd of {name}"), cause: problem.into() })?;
    }
    let entry = |(name, address): (String, Ipv4Addr)| NodeEntry {
        name,
        address: address.to_string(),
        port: Some(22),
    };
    let mut hosts = spec.hosts().into_iter().map(entry);
    let file = NodesFile {
        user: Some("root".into()),
        private_key: Some(key),
        known_hosts: Some(known_hosts_path),
        nameserver: hosts.next().expect("the name-server host"),
        replicas: hosts.collect(),
    };
    file.save(&spec.nodes_file_path())?;
    Ok(file)
}

/// Makes one host: namespace, veth on the bridge, keys, sshd config, and its sshd.
fn make_host(spec: &LocalSpec, name: &str, address: Ipv4Addr, authorized: &str) -> Result<PathBuf, Error> {
    let netns = format!("{}{name}", spec.prefix);
    let veth = format!("{}v-{name}", spec.prefix);
    let host_dir = spec.state_dir.join("hosts").join(name);
    let home = host_dir.join("home");
    let data = host_dir.join("data");
    for d in [home.join(".ssh"), data.clone()] {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&d).map_err(|e| Error::file(&d, e))?;
    }
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).map_err(|e| Error::file(&home, e))?;
    let authorized_keys = home.join(".ssh/authorized_keys");
    fs::write(&authorized_keys, authorized).map_err(|e| Error::file(&authorized_keys, e))?;
    fs::set_permissions(&authorized_keys, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::file(&authorized_keys, e))?;
    let host_key = host_dir.join("ssh_host_ed25519_key");
    keygen(&host_key)?;
    let config = host_dir.join("sshd_config");
    let sshd_config = format!(
        "ListenAddress {address}:22\nHostKey {}\nPidFile none\nPermitRootLogin prohibit-password\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nUseDNS no\nPrintMotd no\n\
         MaxStartups 100:30:200\nMaxSessions 10\n",
        host_key.display()
    );
    fs::write(&config, sshd_config).map_err(|e| Error::file(&config, e))?;

    sh(&["ip", "netns", "add", &netns])?;
    sh(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns])?;
    sh(&["ip", "link", "set", &veth, "master", &spec.bridge(), "up"])?;
    sh(&["ip", "-n", &netns, "addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
    sh(&["ip", "-n", &netns, "link", "set", "eth0", "up"])?;
    sh(&["ip", "-n", &netns, "link", "set", "lo", "up"])?;

    let script = format!(
        "hostname {name} && mount --bind {home} /root && mount --bind {data} {NODE_DATA} && exec /usr/sbin/sshd -D -e -f {config}",
        home = home.display(),
        data = data.display(),
        config = config.display()
    );
    let log_path = host_dir.join("sshd.log");
    let log = fs::File::create(&log_path).map_err(|e| Error::file(&log_path, e))?;
    let err_log = log.try_clone().map_err(|e| Error::file(&log_path, e))?;
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns,
            "unshare",
            "--pid",
            "--mount",
            "--uts",
            "--fork",
            "--kill-child",
            "--mount-proc",
        ])
        .args(["--", "/bin/sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Local { command: format!("start the sshd of {name}"), cause: e.into() })?;
    let pidfile = host_dir.join("host.pid");
    let mut f = fs::File::create(&pidfile).map_err(|e| Error::file(&pidfile, e))?;
    writeln!(f, "{}", child.id()).map_err(|e| Error::file(&pidfile, e))?;
    Ok(host_dir)
}

/// Removes everything a local cluster made, idempotently: each host's process tree (by the pid
/// in its pidfile, checked against the process's command line), every namespace and link named
/// with `prefix`, and the state directory.
pub fn down(state_dir: &Path, prefix: &str) -> Result<(), Error> {
    for pid in host_pids(state_dir) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let marker = state_dir.join("hosts").display().to_string();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let survivors = pids_naming(&marker);
        if survivors.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in survivors {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for netns in our_namespaces(prefix)? {
        sh(&["ip", "netns", "del", &netns])?;
    }
    for link in our_links(prefix)? {
        if let Err(e) = sh(&["ip", "link", "del", &link]) {
            // A namespace's deletion takes its veth with it, asynchronously.
            if our_links(prefix)?.contains(&link) {
                return Err(e);
            }
        }
    }
    if state_dir.exists() {
        fs::remove_dir_all(state_dir).map_err(|e| Error::file(state_dir, e))?;
    }
    Ok(())
}

/// What exists of a local cluster right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Our network namespaces.
    pub namespaces: Vec<String>,
    /// Our links (the bridge and host-side veths).
    pub links: Vec<String>,
    /// Live host process trees, by pid.
    pub host_pids: Vec<i32>,
    /// The nodes file, when one was written.
    pub nodes_file: Option<PathBuf>,
}

impl Status {
    /// True when nothing of a local cluster exists.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.links.is_empty()
            && self.host_pids.is_empty()
            && self.nodes_file.is_none()
    }
}

/// Lists what exists of the cluster with this state directory and prefix.
pub fn status(state_dir: &Path, prefix: &str) -> Result<Status, Error> {
    let nodes_file = state_dir.join("nodes.yaml");
    Ok(Status {
        namespaces: our_namespaces(prefix)?,
        links: our_links(prefix)?,
        host_pids: host_pids(state_dir),
        nodes_file: nodes_file.exists().then_some(nodes_file),
    })
}

/// Pids of live host process trees whose command line names this state directory.
fn host_pids(state_dir: &Path) -> Vec<i32> {
    let Ok(hosts) = fs::read_dir(state_dir.join("hosts")) else { return Vec::new() };
    let marker = state_dir.display().to_string();
    hosts
        .flatten()
        .filter_map(|host| fs::read_to_string(host.path().join("host.pid")).ok())
        .filter_map(|text| text.trim().parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmd| String::from_utf8_lossy(&cmd).contains(&marker))
                .unwrap_or(false)
        })
        .collect()
}

/// Pids of other processes whose command line contains `marker`: a host's sshd names its own
/// config under the state directory's `hosts/`.
fn pids_naming(marker: &str) -> Vec<i32> {
    let Ok(procs) = fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|&pid| pid != std::process::id() as i32)
        .filter(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !cmd.is_empty() && String::from_utf8_lossy(&cmd).contains(marker)
        })
        .collect()
}

fn our_namespaces(prefix: &str) -> Result<Vec<String>, Error> {
    let out = output(&["ip", "netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect())
}

fn our_links(prefix: &str) -> Result<Vec<String>, Error> {
    let out = output(&["ip", "-o", "link", "show"])?;
    let mut links: Vec<String> = out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect();
    let bridge = format!("{prefix}br");
    links.sort_by_key(|l| *l == bridge);
    Ok(links)
}

fn keygen(path: &Path) -> Result<(), Error> {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(path.with_extension("pub"));
    let path = path.to_str().ok_or_else(|| Error::file(path, "not UTF-8"))?;
    sh(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "splitbrain", "-f", path])
}

fn wait_for_port(addr: SocketAddr, limit: Duration, cancel: &AtomicBool) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{addr} not answering after {limit:?}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn sh(args: &[&str]) -> Result<(), Error> {
    output(args).map(drop)
}

fn output(args: &[&str]) -> Result<String, Error> {
    let command = args.join(" ");
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Local { command: command.clone(), cause: e.into() })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Local { command, cause: format!("{}: {stderr}", out.status).into() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
