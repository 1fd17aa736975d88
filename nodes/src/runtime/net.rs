//! Connections: accepted ones (peers and clients talking to us) and outbound links (to each
//! peer and to the name server) that reconnect by themselves and drop what they cannot send,
//! so the protocol sees a lossy network rather than a stalled one. Every connection, accepted or
//! opened, breaks when its data stays unacknowledged for [`USER_TIMEOUT`].

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tracing::{debug, warn};

use super::frame::{codec, decode, encode};
use super::tcp::{CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, QUEUE, USER_TIMEOUT};
use crate::protocol::ClientId;
use crate::protocol::message::Message;

/// What connections hand to the driver loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A connection opened; `tx` reaches its writer.
    Opened { conn: ClientId, tx: mpsc::Sender<Message> },
    /// A message arrived on `conn`.
    Message { conn: ClientId, msg: Message },
    /// A connection closed.
    Closed { conn: ClientId },
}

/// Hands out connection numbers.
#[derive(Clone, Default)]
pub(crate) struct ConnIds(Arc<AtomicU64>);

impl ConnIds {
    pub(crate) fn next(&self) -> ClientId {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Accepts connections on `listener` forever, reporting each to `inbox`.
pub(crate) async fn accept_loop(listener: TcpListener, inbox: mpsc::Sender<Inbound>, ids: ConnIds) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let conn = ids.next();
                tokio::spawn(serve(stream, peer, conn, inbox.clone()));
            }
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, conn: ClientId, inbox: mpsc::Sender<Inbound>) {
    tune(&stream);
    let (tx, mut rx) = mpsc::channel(QUEUE);
    if inbox.send(Inbound::Opened { conn, tx }).await.is_err() {
        return;
    }
    let mut framed = Framed::new(stream, codec());
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(msg) => if framed.send(encode(&msg)).await.is_err() { break },
                None => break,
            },
            frame = framed.next() => match frame {
                Some(Ok(body)) => match decode(&body) {
                    Ok(msg) => if inbox.send(Inbound::Message { conn, msg }).await.is_err() { break },
                    Err(e) => {
                        warn!("closing connection from {peer}: {e}");
                        break;
                    }
                },
                Some(Err(e)) => {
                    warn!("closing connection from {peer}: bad frame: {e}");
                    break;
                }
                None => break,
            },
        }
    }
    let _ = inbox.send(Inbound::Closed { conn }).await;
}

/// An outbound link to `addr`: messages sent on the returned channel go out when connected and
/// are dropped while not; whatever comes back is handed to `inbox` as connection `conn`.
pub(crate) fn spawn_link(
    addr: SocketAddr,
    conn: ClientId,
    inbox: mpsc::Sender<Inbound>,
) -> mpsc::Sender<Message> {
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    backoff = MIN_BACKOFF;
                    if !run_link(stream, addr, conn, &mut rx, &inbox).await {
                        return;
                    }
                    // The connection broke: reconnect at once, keeping what is queued.
                    continue;
                }
                Ok(Err(e)) => debug!("link to {addr}: {e}"),
                Err(_) => debug!("link to {addr}: connect timed out"),
            }
            while let Ok(dropped) = rx.try_recv() {
                debug!("link to {addr} down: dropped {}", dropped.kind());
            }
            if rx.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    tx
}

/// Runs one connection of a link; false when the link itself is finished.
async fn run_link(
    stream: TcpStream,
    addr: SocketAddr,
    conn: ClientId,
    rx: &mut mpsc::Receiver<Message>,
    inbox: &mpsc::Sender<Inbound>,
) -> bool {
    tune(&stream);
    let mut framed = Framed::new(stream, codec());
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(msg) => if let Err(e) = framed.send(encode(&msg)).await {
                    debug!("link to {addr} broke: {e}");
                    return true;
                },
                None => return false,
            },
            frame = framed.next() => match frame {
                Some(Ok(body)) => match decode(&body) {
                    Ok(msg) => if inbox.send(Inbound::Message { conn, msg }).await.is_err() { return false },
                    Err(e) => {
                        warn!("link to {addr}: {e}");
                        return true;
                    }
                },
                _ => return true,
            },
        }
    }
}

/// No Nagle delay, and [`USER_TIMEOUT`]: the name server answers a replica on the connection the
/// replica opened, so an accepted connection's answers must not wait out TCP's backoff either.
fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = nix::sys::socket::setsockopt(
        &stream.as_fd(),
        nix::sys::socket::sockopt::TcpUserTimeout,
        &(USER_TIMEOUT.as_millis() as u32),
    );
}
