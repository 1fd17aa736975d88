//! The shell commands that apply faults on a node, as strings for the harness to run.
//!
//! * Partitions: DROP rules in a chain of our own, [`CHAIN`], jumped to from INPUT. The chain and
//!   its jump are made once ([`prepare_chain`]). Faults only ever insert at the top of the chain:
//!   a partition inserts a RETURN and above it its DROP rules, a heal inserts a RETURN; the newest
//!   RETURN shadows every older rule. Nothing is deleted on the hot path, since removing rules
//!   costs about 20 ms per nf_tables transaction where adding one costs about 2 ms; teardown
//!   removes the chain with everything in it.
//! * Packet faults ([`packet`]), each effect where it acts as the network would: loss as
//!   `statistic` DROP rules on the receiver's INPUT, per source, in [`LOSS_CHAIN`] (a drop on
//!   OUTPUT would fail the sender's `sendto` and `connect` with EPERM instead of losing the
//!   packet); delay, duplication and reordering by our packet delayer, fed by an NFQUEUE rule per
//!   destination on the sender's OUTPUT in [`DELAY_CHAIN`] (`--queue-bypass`: with no delayer
//!   bound, packets pass); rates by an HTB qdisc on the sender's device, whose rate-limited class
//!   takes only the links' destinations. Both chains are healed as partitions are, by a RETURN
//!   at their top; the delayer is stopped by its pidfile and the qdisc deleted.
//! * Signals: by the pid in a pidfile, after checking that the pid is alive.
//! * Clock rates: libfaketime's timestamp file, which every replica process reads.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::Host;
use crate::packet::{Behaviour, Links};
use crate::partition::Grudge;

/// The iptables chain of partitions, jumped to from INPUT.
pub const CHAIN: &str = "SPLITBRAIN";
/// The iptables chain of packet loss, jumped to from INPUT.
pub const LOSS_CHAIN: &str = "SPLITBRAIN-LOSS";
/// The iptables chain that hands packets to the delayer, jumped to from OUTPUT.
pub const DELAY_CHAIN: &str = "SPLITBRAIN-DELAY";
/// Our chains and the built-in chains that jump to them.
const CHAINS: [(&str, &str); 3] = [(CHAIN, "INPUT"), (LOSS_CHAIN, "INPUT"), (DELAY_CHAIN, "OUTPUT")];
/// The NFQUEUE number the delayer reads.
pub const QUEUE: u16 = 5301;
/// The firewall mark of the delayer's duplicates, which [`DELAY_CHAIN`] lets pass unqueued.
pub const DUPLICATE_MARK: u32 = 0x5b1;
/// The handle of our root qdisc (an HTB) on a device that carries a rate limit.
pub const QDISC: &str = "5b01:";

/// Where the packet delayer lives on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delayer {
    /// Its binary.
    pub binary: String,
    /// Its pidfile.
    pub pidfile: String,
    /// Its log.
    pub log: String,
    /// The file it creates once it has bound its queue.
    pub ready: String,
}

impl Delayer {
    /// The delayer installed as `dir/bin/delayer`, with its pidfile, log and ready file in
    /// `dir/run` and `dir/log`.
    pub fn in_dir(dir: &str) -> Self {
        Delayer {
            binary: format!("{dir}/bin/delayer"),
            pidfile: format!("{dir}/run/delayer.pid"),
            log: format!("{dir}/log/delayer.log"),
            ready: format!("{dir}/run/delayer.ready"),
        }
    }
}

/// Per host, the command that installs its part of `grudge` in the prepared chain (flushing what
/// was there). `addr` gives each host's address; hosts without a grudge get a plain flush.
pub fn partition(
    grudge: &Grudge,
    hosts: &[Host],
    addr: impl Fn(&str) -> Option<IpAddr>,
) -> BTreeMap<Host, String> {
    hosts
        .iter()
        .map(|host| {
            let sources: Vec<String> = grudge
                .0
                .get(host)
                .into_iter()
                .flatten()
                .filter_map(|h| addr(h))
                .map(|a| a.to_string())
                .collect();
            let script = if sources.is_empty() {
                heal()
            } else {
                format!("{} && iptables -I {CHAIN} 1 -s {} -j DROP", heal(), sources.join(","))
            };
            (host.clone(), script)
        })
        .collect()
}

/// Shadows every rule of the partitions' chain with a RETURN at its top: nothing is dropped any
/// more. On a host without the chain there is nothing to heal.
pub fn heal() -> String {
    shadow(CHAIN)
}

fn shadow(chain: &str) -> String {
    format!("{{ iptables -I {chain} 1 -j RETURN 2>/dev/null || ! iptables -n -L {chain} >/dev/null 2>&1; }}")
}

/// Makes our chains and their jumps (from INPUT, and from OUTPUT for the delayer's), unless they
/// exist.
pub fn prepare_chain() -> String {
    let steps: Vec<String> = CHAINS
        .iter()
        .map(|(chain, hook)| {
            format!(
                "(iptables -n -L {chain} >/dev/null 2>&1 || iptables -N {chain}) && \
                 (iptables -C {hook} -j {chain} 2>/dev/null || iptables -I {hook} -j {chain})"
            )
        })
        .collect();
    steps.join(" && ")
}

/// Removes our chains and their jumps, and our qdiscs: what teardown runs (the delayer is
/// stopped by its pidfile, see [`stop_delayer`]).
pub fn remove_chain() -> String {
    let mut steps: Vec<String> = CHAINS
        .iter()
        .map(|(chain, hook)| {
            format!(
                "while iptables -D {hook} -j {chain} 2>/dev/null; do :; done; \
                 if iptables -n -L {chain} >/dev/null 2>&1; then iptables -F {chain} && iptables -X {chain}; fi"
            )
        })
        .collect();
    steps.push(remove_qdiscs());
    steps.join("; ")
}

/// Deletes our root qdisc from every device that has it.
fn remove_qdiscs() -> String {
    format!(
        "for dev in $(ls /sys/class/net); do \
           if tc qdisc show dev \"$dev\" root 2>/dev/null | grep -q '^qdisc htb {QDISC} '; then \
             tc qdisc del dev \"$dev\" root; fi; done"
    )
}

/// A shell condition that holds when `$pid` names a live process of `delayer`'s binary: a pid
/// reused by another process since the delayer exited is not ours to signal.
fn delayer_alive(delayer: &Delayer) -> String {
    let binary = shell_escape::escape(delayer.binary.as_str().into());
    format!(
        "{{ {ALIVE} && [ \"$(tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null | head -n 1)\" = {binary} ]; }}"
    )
}

/// Stops the delayer of its pidfile: SIGTERM (it lets every packet it holds go, then exits),
/// SIGKILL after 2 s; its pidfile removed. Succeeds when none runs; signals nothing when the
/// pidfile's process is not the delayer.
pub fn stop_delayer(delayer: &Delayer) -> String {
    let pidfile = shell_escape::escape(delayer.pidfile.as_str().into());
    let ours = delayer_alive(delayer);
    format!(
        "if [ -f {pidfile} ]; then pid=$(cat {pidfile}); if {ours}; then kill -s TERM \"$pid\"; \
           for i in $(seq 200); do {ours} || break; sleep 0.01; done; \
           if {ours}; then kill -s KILL \"$pid\"; fi; fi; rm -f {pidfile}; fi"
    )
}

/// Like [`stop_delayer`], but fails, saying so, when a delayer was started and has exited
/// before it was stopped: the packet fault's delay, duplication and reordering then ended early
/// (its NFQUEUE rule lets packets pass unqueued), so the run did not get the fault its history
/// records.
fn stop_delayer_checked(delayer: &Delayer) -> String {
    let q = |s: &str| shell_escape::escape(s.into()).into_owned();
    let (pidfile, log) = (q(&delayer.pidfile), q(&delayer.log));
    let ours = delayer_alive(delayer);
    format!(
        "exited=; if [ -f {pidfile} ]; then pid=$(cat {pidfile}); {ours} || exited=\"$pid\"; fi; \
         {}; \
         [ -z \"$exited\" ] || {{ echo \"the packet delayer (pid $exited) exited before the packet fault was healed, \
           so its delay, duplication and reordering ended early; its log: $(tail -n 3 {log} 2>/dev/null)\" >&2; false; }}",
        stop_delayer(delayer)
    )
}

/// Restores every link's packets on a node: shadows the loss and delay rules with a RETURN,
/// stops the delayer, deletes our qdiscs. On a node without our chains there is nothing to heal.
/// Fails after healing when the delayer had exited on its own (see [`stop_delayer_checked`]).
pub fn heal_packets(delayer: &Delayer) -> String {
    format!(
        "{} && {} && {{ {}; stopped=$?; {}; }} && [ \"$stopped\" = 0 ]",
        shadow(LOSS_CHAIN),
        shadow(DELAY_CHAIN),
        stop_delayer_checked(delayer),
        remove_qdiscs()
    )
}

/// Per host, the command that puts the packet fault of `links` and `behaviour` in force (after
/// healing any other); `addr` gives each host's address, `seed` seeds the delayers (each host's
/// its own stream). Hosts without a link get the heal alone.
pub fn packet(
    links: &Links,
    behaviour: &Behaviour,
    seed: u64,
    hosts: &[Host],
    addr: impl Fn(&str) -> Option<IpAddr>,
    delayer: &Delayer,
) -> BTreeMap<Host, String> {
    let addrs = |hs: Vec<&Host>| -> Vec<String> {
        hs.into_iter().filter_map(|h| addr(h)).map(|a| a.to_string()).collect()
    };
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let sources = addrs(links.into_host(host).collect());
            let dests = addrs(links.from(host).collect());
            let mut steps = vec![heal_packets(delayer)];
            if behaviour.loss_pct > 0.0 && !sources.is_empty() {
                steps.push(format!(
                    "iptables -I {LOSS_CHAIN} 1 -s {} -m statistic --mode random --probability {:.6} -j DROP",
                    sources.join(","),
                    behaviour.loss_pct / 100.0
                ));
            }
            if behaviour.needs_delayer() && !dests.is_empty() {
                let host_seed = seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                steps.push(start_delayer(delayer, behaviour, host_seed));
                steps.push(format!(
                    "iptables -I {DELAY_CHAIN} 1 -j RETURN && \
                     iptables -I {DELAY_CHAIN} 1 -d {} -j NFQUEUE --queue-num {QUEUE} --queue-bypass && \
                     iptables -I {DELAY_CHAIN} 1 -m mark --mark {DUPLICATE_MARK:#x} -j RETURN",
                    dests.join(",")
                ));
            }
            if let Some(rate) = behaviour.rate_kbit.filter(|_| !dests.is_empty()) {
                steps.push(rate_limit(&dests, rate));
            }
            // A subshell: the quick path runs scripts in a shell that must survive an `exit`.
            (host.clone(), format!("( {} )", steps.join(" && ")))
        })
        .collect()
}

/// Starts the delayer with `behaviour` and `seed`, and waits (up to 3 s) until it has bound its
/// queue.
fn start_delayer(delayer: &Delayer, behaviour: &Behaviour, seed: u64) -> String {
    let q = |s: &str| shell_escape::escape(s.into()).into_owned();
    let (binary, pidfile, log, ready) =
        (q(&delayer.binary), q(&delayer.pidfile), q(&delayer.log), q(&delayer.ready));
    format!(
        "{{ [ -x {binary} ] || {{ echo 'the packet delayer is not installed at '{binary} >&2; exit 1; }}; }} && \
         mkdir -p \"$(dirname {pidfile})\" \"$(dirname {log})\" && rm -f {ready} && \
         {{ nohup {binary} --queue {QUEUE} --mark {DUPLICATE_MARK} --delay-ms {} --jitter-ms {} \
           --duplicate-pct {} --reorder-pct {} --seed {seed} --ready {ready} >> {log} 2>&1 < /dev/null & \
           echo $! > {pidfile}; }} && pid=$(cat {pidfile}) && \
         for i in $(seq 300); do [ -e {ready} ] && break; {ALIVE} || break; sleep 0.01; done && \
         {{ [ -e {ready} ] || {{ echo \"the packet delayer did not bind its queue: $(tail -n 3 {log})\" >&2; exit 1; }}; }}",
        behaviour.delay_ms, behaviour.jitter_ms, behaviour.duplicate_pct, behaviour.reorder_pct
    )
}

/// An HTB root qdisc on each device toward `dests`: their packets in a class limited to
/// `rate_kbit`, every other packet in a class that is not.
fn rate_limit(dests: &[String], rate_kbit: u64) -> String {
    let dests = dests.join(" ");
    format!(
        "for dev in $(for d in {dests}; do ip -o route get \"$d\" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'; done | sort -u); do \
           tc qdisc replace dev \"$dev\" root handle {QDISC} htb default 1 && \
           tc class add dev \"$dev\" parent {QDISC} classid {QDISC}1 htb rate 10gbit quantum 1514 && \
           tc class add dev \"$dev\" parent {QDISC} classid {QDISC}2 htb rate {rate_kbit}kbit quantum 1514 && \
           for d in {dests}; do \
             tc filter add dev \"$dev\" parent {QDISC} protocol ip u32 match ip dst \"$d\"/32 flowid {QDISC}2 || exit 1; \
           done || exit 1; done"
    )
}

/// A shell condition that holds when `$pid` names a live process (a zombie is not alive).
pub const ALIVE: &str =
    "{ [ -n \"$pid\" ] && [ -r /proc/$pid/status ] && ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status; }";

/// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to the pid in `pidfile`; succeeds (doing
/// nothing) when the pidfile is missing or its process is gone. After `KILL` it waits (up to
/// 2 s) until the process is gone.
pub fn signal(pidfile: &str, signal: &str) -> String {
    let pidfile = shell_escape::escape(pidfile.into());
    let wait = if signal == "KILL" {
        format!("; for i in $(seq 200); do {ALIVE} || break; sleep 0.01; done")
    } else {
        String::new()
    };
    format!(
        "if [ -f {pidfile} ]; then pid=$(cat {pidfile}); if {ALIVE}; then kill -s {signal} \"$pid\"{wait}; fi; fi"
    )
}

/// The libfaketime setting for `rate` times real time, as written to the timestamp file.
pub fn faketime_spec(rate: f64) -> String {
    format!("+0 x{rate}")
}

/// Sets the clock rate read from the timestamp file `path`.
pub fn clock_rate(path: &str, rate: f64) -> String {
    format!(
        "printf '%s\\n' {} > {}",
        shell_escape::escape(faketime_spec(rate).into()),
        shell_escape::escape(path.into())
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    #[test]
    fn partition_commands_drop_exactly_the_grudged_sources_in_our_chain() {
        let mut g = Grudge::default();
        g.cut_one_way("n2", "n1");
        g.cut_one_way("n3", "n1");
        let hosts = vec!["n1".to_string(), "n2".to_string(), "n3".to_string()];
        let addr = |h: &str| h[1..].parse::<u8>().ok().map(|i| IpAddr::from([10, 0, 0, i]));
        let cmds = partition(&g, &hosts, addr);
        assert_eq!(
            cmds["n1"],
            format!("{} && iptables -I SPLITBRAIN 1 -s 10.0.0.2,10.0.0.3 -j DROP", heal())
        );
        assert_eq!(cmds["n2"], heal(), "a host with no grudge only shadows the old rules");
    }

    /// A delayer in a fresh directory whose "binary" is a symbolic link to `sleep`, so that a
    /// process started from it has the delayer's path as its first argument. (A copy would be
    /// written through a descriptor that a process forked meanwhile by a test running beside
    /// this one may still hold, and executing it would then fail with "Text file busy".)
    fn fake_delayer(name: &str) -> (Delayer, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sb-delayer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let delayer = Delayer::in_dir(dir.to_str().unwrap());
        let sleep =
            String::from_utf8(Command::new("sh").args(["-c", "command -v sleep"]).output().unwrap().stdout)
                .unwrap();
        std::os::unix::fs::symlink(sleep.trim(), &delayer.binary).unwrap();
        for sub in ["run", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        (delayer, dir)
    }

    fn sh(script: &str) -> std::process::Output {
        Command::new("sh").args(["-c", script]).output().unwrap()
    }

    fn alive(child: &mut std::process::Child) -> bool {
        child.try_wait().unwrap().is_none()
    }

    #[test]
    fn stopping_the_delayer_signals_its_process_and_never_another_that_took_its_pid() {
        let (delayer, dir) = fake_delayer("stop");
        let mut stranger = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::write(&delayer.pidfile, stranger.id().to_string()).unwrap();
        assert!(sh(&stop_delayer(&delayer)).status.success());
        assert!(alive(&mut stranger), "a process that is not the delayer is left alone");
        assert!(!Path::new(&delayer.pidfile).exists(), "the stale pidfile is removed");
        stranger.kill().unwrap();
        stranger.wait().unwrap();

        let mut ours = Command::new(&delayer.binary).arg("30").spawn().unwrap();
        std::fs::write(&delayer.pidfile, ours.id().to_string()).unwrap();
        assert!(sh(&stop_delayer(&delayer)).status.success());
        ours.wait().unwrap();
        assert!(!Path::new(&delayer.pidfile).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_checked_stop_fails_naming_a_delayer_that_exited_before_it() {
        let (delayer, dir) = fake_delayer("checked");
        let mut ours = Command::new(&delayer.binary).arg("30").spawn().unwrap();
        std::fs::write(&delayer.pidfile, ours.id().to_string()).unwrap();
        let running = sh(&stop_delayer_checked(&delayer));
        assert!(running.status.success(), "the control: a running delayer is stopped: {running:?}");
        ours.wait().unwrap();
        assert!(sh(&stop_delayer_checked(&delayer)).status.success(), "none started: nothing amiss");

        let mut gone = Command::new(&delayer.binary).arg("0").spawn().unwrap();
        gone.wait().unwrap();
        std::fs::write(&delayer.pidfile, gone.id().to_string()).unwrap();
        std::fs::write(&delayer.log, "delayer: the queue went away\n").unwrap();
        let exited = sh(&stop_delayer_checked(&delayer));
        let said = String::from_utf8_lossy(&exited.stderr);
        assert!(!exited.status.success(), "{said}");
        assert!(said.contains(&format!("the packet delayer (pid {}) exited before", gone.id())), "{said}");
        assert!(said.contains("the queue went away"), "its log's last lines: {said}");
        assert!(!Path::new(&delayer.pidfile).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn packet_commands_put_each_effect_on_its_side_of_each_link() {
        let mut links = Links::default();
        links.add("n1", "n2");
        let hosts = vec!["n1".to_string(), "n2".to_string(), "n3".to_string()];
        let addr = |h: &str| h[1..].parse::<u8>().ok().map(|i| IpAddr::from([10, 0, 0, i]));
        let behaviour = Behaviour {
            loss_pct: 30.0,
            delay_ms: 50,
            jitter_ms: 10,
            rate_kbit: Some(1000),
            ..Behaviour::default()
        };
        let delayer = Delayer::in_dir("/d");
        let cmds = packet(&links, &behaviour, 7, &hosts, addr, &delayer);
        let heal = heal_packets(&delayer);
        assert!(cmds.values().all(|c| c.starts_with(&format!("( {heal}"))), "every host heals first");
        assert!(
            cmds["n2"].contains(
                "-I SPLITBRAIN-LOSS 1 -s 10.0.0.1 -m statistic --mode random --probability 0.300000 -j DROP"
            ),
            "{}",
            cmds["n2"]
        );
        assert!(
            !cmds["n2"].contains("NFQUEUE") && !cmds["n2"].contains("htb rate"),
            "the receiver only loses"
        );
        assert!(
            cmds["n1"].contains("-d 10.0.0.2 -j NFQUEUE --queue-num 5301 --queue-bypass"),
            "{}",
            cmds["n1"]
        );
        assert!(cmds["n1"].contains("--delay-ms 50 --jitter-ms 10"), "{}", cmds["n1"]);
        assert!(
            cmds["n1"].contains("htb rate 1000kbit") && cmds["n1"].contains("for d in 10.0.0.2;"),
            "{}",
            cmds["n1"]
        );
        assert!(!cmds["n1"].contains("statistic"), "the sender only delays and limits");
        assert_eq!(cmds["n3"], format!("( {heal} )"), "a host off the links only heals");
        assert!(
            heal.contains("-I SPLITBRAIN-LOSS 1 -j RETURN")
                && heal.contains("-I SPLITBRAIN-DELAY 1 -j RETURN")
        );
    }

    #[test]
    fn teardown_removes_every_chain_and_qdisc_of_ours() {
        let remove = remove_chain();
        for chain in ["SPLITBRAIN", "SPLITBRAIN-LOSS", "SPLITBRAIN-DELAY"] {
            assert!(remove.contains(&format!("iptables -X {chain};")), "{remove}");
        }
        assert!(
            remove.contains("-D OUTPUT -j SPLITBRAIN-DELAY")
                && remove.contains("grep -q '^qdisc htb 5b01: '")
        );
        let prepare = prepare_chain();
        assert!(prepare.contains("iptables -I OUTPUT -j SPLITBRAIN-DELAY"), "{prepare}");
    }

    #[test]
    fn signal_commands_quote_the_pidfile() {
        let cmd = signal("/var/run/my replica.pid", "STOP");
        assert!(cmd.contains("'/var/run/my replica.pid'"), "{cmd}");
        assert!(cmd.contains("kill -s STOP"));
    }
}
