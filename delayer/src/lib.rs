//! The packet delayer: the part of packet faults that netem would do where there is no netem.
//! An NFQUEUE rule on a host's OUTPUT hands it the packets of the faulted links; it holds each
//! for a delay drawn around a median, lets some go at once (which reorders them) and sends some
//! twice, through a raw socket with a mark that the rules let pass. Its draws come from a seed
//! on its command line. SIGTERM makes it let every held packet go and exit; if it dies, the
//! rule's `--queue-bypass` lets packets pass.
//!
//! * [`netlink`]: the nfnetlink_queue messages, as bytes.
//! * [`hold`]: which packet is held how long, and which is duplicated (seeded, no clock).
//! * [`queue`]: the sockets and the loop.

pub mod hold;
pub mod netlink;
pub mod queue;
