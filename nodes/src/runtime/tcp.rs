//! The timing of the runtime's TCP links between servers, which the simulator's links model
//! (`sim::link`) with the same values.

use std::time::Duration;

/// Data unacknowledged for this long breaks a connection (TCP_USER_TIMEOUT, set on both ends of
/// every connection): a link stalled by a partition or by packet loss reconnects with a fresh
/// retransmission time-out instead of waiting out TCP's exponential backoff, after the heal too.
pub const USER_TIMEOUT: Duration = Duration::from_millis(1000);
/// A connection attempt that has not completed in this long is given up (a lost SYN or SYN-ACK
/// is sent again only after TCP's initial time-out of 1 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// The first pause after a failed connection attempt: short, so that a restarted peer is reached
/// again within a few milliseconds (a lost reply to its first inquiry would start an election).
pub const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// The pause after failed attempts doubles up to this.
pub const MAX_BACKOFF: Duration = Duration::from_millis(50);
/// Messages a link holds while it is not connected; more are dropped, and what it holds is
/// dropped when an attempt to connect fails.
pub const QUEUE: usize = 4096;
