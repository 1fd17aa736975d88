//! The shell commands that apply faults on a node, as strings for the harness to run.
//!
//! * Partitions: DROP rules in a chain of our own, [`CHAIN`], jumped to from INPUT. The chain and
//!   its jump are made once ([`prepare_chain`]). Faults only ever insert at the top of the chain:
//!   a partition inserts a RETURN and above it its DROP rules, a heal inserts a RETURN; the newest
//!   RETURN shadows every older rule. Nothing is deleted on the hot path, since removing rules
//!   costs about 20 ms per nf_tables transaction where adding one costs about 2 ms; teardown
//!   removes the chain with everything in it.
//! * Signals: by the pid in a pidfile, after checking that the pid is alive.
//! * Clock rates: libfaketime's timestamp file, which every replica process reads.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::Host;
use crate::partition::Grudge;

/// The iptables chain that holds every rule the harness adds.
pub const CHAIN: &str = "SPLITBRAIN";

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

/// Shadows every rule of the chain with a RETURN at its top: nothing is dropped any more. On a
/// host without the chain there is nothing to heal.
pub fn heal() -> String {
    format!("{{ iptables -I {CHAIN} 1 -j RETURN 2>/dev/null || ! iptables -n -L {CHAIN} >/dev/null 2>&1; }}")
}

/// Makes the chain and its jump from INPUT, unless they exist.
pub fn prepare_chain() -> String {
    format!(
        "(iptables -n -L {CHAIN} >/dev/null 2>&1 || iptables -N {CHAIN}) && \
         (iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN})"
    )
}

/// Removes the chain and its jump: what teardown runs.
pub fn remove_chain() -> String {
    format!(
        "while iptables -D INPUT -j {CHAIN} 2>/dev/null; do :; done; \
         if iptables -n -L {CHAIN} >/dev/null 2>&1; then iptables -F {CHAIN} && iptables -X {CHAIN}; fi"
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

    #[test]
    fn signal_commands_quote_the_pidfile() {
        let cmd = signal("/var/run/my replica.pid", "STOP");
        assert!(cmd.contains("'/var/run/my replica.pid'"), "{cmd}");
        assert!(cmd.contains("kill -s STOP"));
    }
}
