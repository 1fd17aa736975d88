//! The delayer's I/O: a netlink socket bound to one NFQUEUE, a raw socket for duplicates, and
//! the loop that takes packets, holds them and gives their verdicts when they are due.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, SockaddrIn, bind, recv, send,
    sendto, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeSpec;

use crate::hold::{Behaviour, Holder};
use crate::netlink::{self, Copy, Received};

/// What the delayer is told on its command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The NFQUEUE number to bind.
    pub queue: u16,
    /// What to do to each packet.
    pub behaviour: Behaviour,
    /// The seed of every draw.
    pub seed: u64,
    /// The firewall mark of the duplicates it sends, which the rules let pass unqueued.
    pub mark: u32,
}

/// How many packets the kernel holds for us at most (beyond it they pass: fail open).
const MAX_QUEUED: u32 = 65_536;
/// The socket's receive buffer: room for a burst of queued packets' messages.
const RECEIVE_BUFFER: usize = 16 << 20;

/// An NFQUEUE bound to this process.
pub struct Queue {
    fd: OwnedFd,
    queue: u16,
    seq: u32,
}

fn io(e: Errno) -> io::Error {
    io::Error::from(e)
}

impl Queue {
    /// Binds `queue`, copying each packet's bytes when `copy` says so; fails (EBUSY) when another
    /// process has it.
    pub fn bind(queue: u16, copy: Copy) -> io::Result<Queue> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(io)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(io)?;
        setsockopt(&fd, sockopt::RcvBufForce, &RECEIVE_BUFFER).map_err(io)?;
        let mut q = Queue { fd, queue, seq: 0 };
        q.request(|seq| netlink::bind(queue, seq))?;
        q.request(|seq| netlink::copy(queue, copy, seq))?;
        q.request(|seq| netlink::limits(queue, MAX_QUEUED, seq))?;
        Ok(q)
    }

    /// Sends a request and waits for its acknowledgement; packets that come first are not
    /// expected (nothing is queued before the rules go in) and are let go.
    fn request(&mut self, make: impl FnOnce(u32) -> Vec<u8>) -> io::Result<()> {
        self.seq += 1;
        send(self.fd.as_raw_fd(), &make(self.seq), MsgFlags::empty()).map_err(io)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(io)?;
            for m in netlink::parse(&buf[..n]) {
                match m {
                    Received::Ack { seq, error } if seq == self.seq => {
                        return if error == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-error)) };
                    }
                    Received::Packet { id, .. } => self.accept(id)?,
                    Received::Ack { .. } => {}
                }
            }
        }
    }

    /// Lets packet `id` go on.
    pub fn accept(&self, id: u32) -> io::Result<()> {
        send(self.fd.as_raw_fd(), &netlink::verdict(self.queue, id, netlink::ACCEPT), MsgFlags::empty())
            .map(drop)
            .map_err(io)
    }

    /// The packets waiting now, without blocking.
    fn take_waiting(&self, buf: &mut [u8]) -> io::Result<Vec<(u32, Option<Vec<u8>>)>> {
        let mut out = Vec::new();
        loop {
            match recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => out.extend(netlink::parse(&buf[..n]).into_iter().filter_map(|m| match m {
                    Received::Packet { id, payload } => Some((id, payload)),
                    Received::Ack { .. } => None,
                })),
                Err(Errno::EAGAIN) => return Ok(out),
                // The kernel could not hand us some packets; fail-open let them pass.
                Err(Errno::ENOBUFS) | Err(Errno::EINTR) => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
}

/// A raw IPv4 socket that sends whole packets (their own headers) with our mark.
struct Duplicator(OwnedFd);

impl Duplicator {
    fn open(mark: u32) -> io::Result<Self> {
        let fd = socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Raw)
            .map_err(io)?;
        setsockopt(&fd, sockopt::Mark, &mark).map_err(io)?;
        Ok(Duplicator(fd))
    }

    /// Sends `packet` again, when it is IPv4 (an IPv6 packet is not duplicated).
    fn send(&self, packet: &[u8]) {
        if packet.len() < 20 || packet[0] >> 4 != 4 {
            return;
        }
        let to = SockaddrIn::new(packet[16], packet[17], packet[18], packet[19], 0);
        // A duplicate that cannot be sent is a duplicate lost, as on a network.
        let _ = sendto(self.0.as_raw_fd(), packet, &to, MsgFlags::empty());
    }
}

/// Runs the delayer on `queue` until `stop` is set (by a signal), then lets every held packet
/// go and returns.
pub fn run(config: &Config, queue: Queue, stop: &AtomicBool) -> io::Result<()> {
    let duplicator = (config.behaviour.duplicate > 0.0).then(|| Duplicator::open(config.mark)).transpose()?;
    let mut holder = Holder::new(config.behaviour, config.seed);
    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 17];
    let release = |holder: &mut Holder, now: Duration| -> io::Result<()> {
        for r in holder.due(now) {
            queue.accept(r.id)?;
            if let (Some(d), Some(bytes)) = (&duplicator, &r.duplicate) {
                d.send(bytes);
            }
        }
        Ok(())
    };
    while !stop.load(Ordering::SeqCst) {
        let now = start.elapsed();
        let wait = holder.next_due().map_or(Duration::from_millis(200), |at| at.saturating_sub(now));
        let mut fds = [PollFd::new(queue.fd.as_fd(), PollFlags::POLLIN)];
        match ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(io(e)),
        }
        let now = start.elapsed();
        for (id, payload) in queue.take_waiting(&mut buf)? {
            holder.take(now, id, payload);
        }
        release(&mut holder, start.elapsed())?;
    }
    for r in holder.all() {
        queue.accept(r.id)?;
    }
    Ok(())
}
