//! Traffic between two hosts of a local cluster, measured from this process: a socket made in
//! a host's network namespace (by a thread that enters it) stays there, so one process sends
//! from one host and receives on another, on one clock. Shared by the packet-fault tests and the
//! packet bench.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// Runs `make` in a thread inside the network namespace `netns`.
pub(crate) fn in_netns<T: Send>(netns: &str, make: impl FnOnce() -> std::io::Result<T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = File::open(format!("/run/netns/{netns}"))?;
            setns(ns, CloneFlags::CLONE_NEWNET)?;
            make()
        })
        .join()
        .expect("the namespace thread")
    })
    .unwrap_or_else(|e| panic!("in {netns}: {e}"))
}

/// What a burst of datagrams did.
#[derive(Debug)]
pub(crate) struct Burst {
    /// Datagrams sent.
    pub(crate) sent: u32,
    /// Datagrams received, duplicates included.
    pub(crate) received: u32,
    /// Distinct datagrams received.
    pub(crate) distinct: u32,
    /// Times a datagram arrived after one sent later.
    pub(crate) out_of_order: u32,
    /// Each received datagram's one-way delay, sorted.
    pub(crate) delays: Vec<Duration>,
}

impl Burst {
    /// The share of datagrams lost, in percent.
    pub(crate) fn loss_pct(&self) -> f64 {
        100.0 * (self.sent - self.distinct) as f64 / self.sent as f64
    }

    /// The share of datagrams received twice, in percent.
    pub(crate) fn duplicate_pct(&self) -> f64 {
        100.0 * (self.received - self.distinct) as f64 / self.sent as f64
    }

    /// The median one-way delay.
    pub(crate) fn median(&self) -> Duration {
        self.delays.get(self.delays.len() / 2).copied().unwrap_or_default()
    }
}

/// Sends `n` datagrams from `from` (in netns `from_ns`) to `to` (in netns `to_ns`), paced at
/// about 20 000 a second, each carrying its number and send time; receives until nothing has
/// come for a second.
pub(crate) fn udp_burst(from_ns: &str, from: Ipv4Addr, to_ns: &str, to: SocketAddr, n: u32) -> Burst {
    let rx = in_netns(to_ns, || {
        let s = UdpSocket::bind(to)?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        Ok(s)
    });
    nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::RcvBufForce, &(32 << 20)).unwrap();
    let tx = in_netns(from_ns, || UdpSocket::bind((from, 0)));
    let epoch = Instant::now();
    let receiver = std::thread::spawn(move || {
        let (mut seen, mut got, mut last, mut ooo) = (vec![false; n as usize], Vec::new(), None, 0);
        let mut buf = [0u8; 64];
        while let Ok(len) = rx.recv(&mut buf) {
            if len < 12 {
                continue;
            }
            let seq = u32::from_be_bytes(buf[0..4].try_into().unwrap());
            let sent = Duration::from_nanos(u64::from_be_bytes(buf[4..12].try_into().unwrap()));
            got.push(epoch.elapsed().saturating_sub(sent));
            if last.is_some_and(|l| seq < l) {
                ooo += 1;
            }
            last = Some(seq);
            if let Some(s) = seen.get_mut(seq as usize) {
                *s = true;
            }
        }
        (got, seen.iter().filter(|s| **s).count() as u32, ooo)
    });
    for seq in 0..n {
        let mut packet = seq.to_be_bytes().to_vec();
        packet.extend_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
        packet.extend_from_slice(&[0; 20]);
        tx.send_to(&packet, to).expect("send a datagram");
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (mut delays, distinct, out_of_order) = receiver.join().unwrap();
    delays.sort();
    Burst { sent: n, received: delays.len() as u32, distinct, out_of_order, delays }
}

/// What a TCP transfer took.
pub(crate) struct Transfer {
    /// From accepting the connection to the last byte.
    pub(crate) took: Duration,
    /// The receiving rate between 20 % and 80 % of the bytes (past slow start, before the last
    /// segments that a token bucket lets through on credit), in kbit/s.
    pub(crate) steady_kbit: f64,
}

/// Sends `bytes` over TCP from host netns `from_ns` to `to` (in `to_ns`).
pub(crate) fn tcp_transfer(from_ns: &str, to_ns: &str, to: SocketAddr, bytes: usize) -> Transfer {
    let listener = in_netns(to_ns, || TcpListener::bind(to));
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let accepted = Instant::now();
        let mut buf = vec![0u8; 1 << 16];
        let (mut got, mut marks) = (0, Vec::new());
        while got < bytes {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the sender closed early");
            got += n;
            for (i, share) in [0.2, 0.8].into_iter().enumerate() {
                if marks.len() == i && got as f64 >= share * bytes as f64 {
                    marks.push((got, Instant::now()));
                }
            }
        }
        let ((a, ta), (b, tb)) = (marks[0], marks[1]);
        let steady_kbit = (b - a) as f64 * 8.0 / (tb - ta).as_secs_f64().max(1e-9) / 1000.0;
        Transfer { took: accepted.elapsed(), steady_kbit }
    });
    let mut conn = in_netns(from_ns, || TcpStream::connect(to));
    conn.write_all(&vec![7u8; bytes]).unwrap();
    receiver.join().unwrap()
}
