//! The client library the harness's workers use: look the master up at the name server, send
//! requests to it, follow redirects, and report every failure as either certain (the request had
//! no effect) or unknown (it may have taken effect).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::error::Error;
use crate::protocol::ReplicaId;
use crate::protocol::kv::Op;
use crate::protocol::message::{Message, NsReply, NsRequest, OpOutput, Registration, ReplyError};
use crate::runtime::config::GroupConfig;
use crate::runtime::frame::{codec, decode, encode};

/// Redirects followed by one request before it fails.
const MAX_HOPS: usize = 4;

/// How long a client trusts the master it knows before it asks the name server again, as a
/// client resolving a name with a time-to-live does. Without it a client would follow a deposed
/// master for as long as that master answers, and never meet the one the name server registered.
pub const MASTER_TTL: Duration = Duration::from_secs(1);

/// Where a client finds the group.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The group's name.
    pub group: String,
    /// The name server's address.
    pub nameserver: SocketAddr,
    /// Member `i`'s address at index `i`.
    pub members: Vec<SocketAddr>,
    /// The time-out of one whole request, redirects included.
    pub timeout: Duration,
    /// How long a known master is used before the name server is asked again.
    pub master_ttl: Duration,
}

impl ClientConfig {
    /// The addresses of `config`, with a per-request `timeout`.
    pub fn from_group(config: &GroupConfig, timeout: Duration) -> Self {
        ClientConfig {
            group: config.params.group.clone(),
            nameserver: config.nameserver.address,
            members: config.members.iter().map(|m| m.address).collect(),
            timeout,
            master_ttl: MASTER_TTL,
        }
    }
}

/// A request that did not complete.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The request certainly had no effect.
    #[error("failed (no effect) at {}: {reason}", show(.node))]
    Failed {
        /// The replica the request went to, if it got that far.
        node: Option<ReplicaId>,
        /// Why it failed.
        reason: String,
    },
    /// The request may or may not have taken effect, now or later.
    #[error("outcome unknown at {}: {reason}", show(.node))]
    Unknown {
        /// The replica the request went to, if it got that far.
        node: Option<ReplicaId>,
        /// Why its outcome is unknown.
        reason: String,
    },
}

fn show(node: &Option<ReplicaId>) -> String {
    node.map_or_else(|| "the group".to_string(), |n| format!("replica {n}"))
}

impl RequestError {
    /// The replica the request went to, when it got that far.
    pub fn node(&self) -> Option<ReplicaId> {
        match self {
            RequestError::Failed { node, .. } | RequestError::Unknown { node, .. } => *node,
        }
    }

    /// True when the request certainly had no effect.
    pub fn is_definite(&self) -> bool {
        matches!(self, RequestError::Failed { .. })
    }
}

/// A completed request.
#[derive(Clone, Debug, PartialEq)]
pub struct Completed {
    /// The replica that answered.
    pub node: ReplicaId,
    /// What it answered.
    pub output: OpOutput,
}

type Conn = Framed<TcpStream, LengthDelimitedCodec>;

/// A client of one group; not shared between tasks (make one per worker).
pub struct Client {
    config: ClientConfig,
    /// The master this client believes in, and since when.
    master: Option<(ReplicaId, Instant)>,
    conns: HashMap<ReplicaId, Conn>,
    nameserver: Option<Conn>,
    next_id: u64,
}

impl Client {
    /// A client that has not connected yet.
    pub fn new(config: ClientConfig) -> Self {
        Client { config, master: None, conns: HashMap::new(), nameserver: None, next_id: 0 }
    }

    /// Runs `op` on the master: looked up at the name server when unknown or known for longer
    /// than [`ClientConfig::master_ttl`], redirects followed.
    pub async fn execute(&mut self, op: Op) -> Result<Completed, RequestError> {
        let deadline = Instant::now() + self.config.timeout;
        for _ in 0..MAX_HOPS {
            let target = match self.master {
                Some((m, since)) if since.elapsed() < self.config.master_ttl => m,
                Some((m, _)) => self.lookup_master(deadline).await.unwrap_or(m),
                None => self.lookup_master(deadline).await?,
            };
            match self.send(target, &op, deadline).await {
                Err(RequestError::Failed { .. }) if self.master.is_none() && Instant::now() < deadline => {
                    continue;
                }
                Err(e) => return Err(e),
                Ok(Ok(output)) => return Ok(Completed { node: target, output }),
                Ok(Err(ReplyError::NotMaster { master })) => {
                    self.master = master.filter(|&m| m != target).map(|m| (m, Instant::now()));
                }
                Ok(Err(e)) => return Err(reply_error(target, e)),
            }
        }
        Err(RequestError::Failed {
            node: None,
            reason: format!("redirected {MAX_HOPS} times without reaching the master"),
        })
    }

    /// The registrations the name server holds for the group, oldest first.
    pub async fn registrations(&mut self) -> Result<Vec<Registration>, Error> {
        let deadline = Instant::now() + self.config.timeout;
        self.lookup(deadline).await
    }

    async fn lookup_master(&mut self, deadline: Instant) -> Result<ReplicaId, RequestError> {
        let failed = |reason: String| RequestError::Failed { node: None, reason };
        let registrations =
            self.lookup(deadline).await.map_err(|e| failed(format!("name server look-up: {e}")))?;
        let master =
            registrations.first().map(|r| r.id).ok_or_else(|| failed("no master registered".into()))?;
        self.master = Some((master, Instant::now()));
        Ok(master)
    }

    async fn lookup(&mut self, deadline: Instant) -> Result<Vec<Registration>, Error> {
        let addr = self.config.nameserver;
        let ns_err = |problem: &str| Error::Status { addr: addr.to_string(), problem: problem.to_string() };
        if self.nameserver.is_none() {
            self.nameserver = Some(connect(addr, deadline).await?);
        }
        self.next_id += 1;
        let nonce = self.next_id;
        let request = Message::ToNs(NsRequest::Lookup { group: self.config.group.clone(), id: None, nonce });
        let conn = self.nameserver.as_mut().expect("connected above");
        let answer = tokio::time::timeout_at(deadline, async {
            conn.send(encode(&request))
                .await
                .map_err(|e| Error::net(format!("send to name server {addr}"), e))?;
            while let Some(frame) = conn.next().await {
                let body = frame.map_err(|e| Error::net(format!("read from name server {addr}"), e))?;
                if let Message::FromNs(NsReply::LookupReply { nonce: n, registrations }) = decode(&body)?
                    && n == nonce
                {
                    return Ok(registrations);
                }
            }
            Err(ns_err("connection closed"))
        })
        .await;
        let result = answer.unwrap_or_else(|_| Err(ns_err("no answer in time")));
        if result.is_err() {
            self.nameserver = None;
        }
        result
    }

    /// Sends `op` to `node`: the outer error is the transport's, the inner the replica's answer.
    async fn send(
        &mut self,
        node: ReplicaId,
        op: &Op,
        deadline: Instant,
    ) -> Result<Result<OpOutput, ReplyError>, RequestError> {
        let addr = *self.config.members.get(node as usize).ok_or_else(|| RequestError::Failed {
            node: Some(node),
            reason: format!("replica {node} is not a member"),
        })?;
        self.drop_if_closed(node);
        if !self.conns.contains_key(&node) {
            let conn = connect(addr, deadline).await.map_err(|e| {
                self.master = None;
                RequestError::Failed { node: Some(node), reason: e.to_string() }
            })?;
            self.conns.insert(node, conn);
        }
        self.next_id += 1;
        let id = self.next_id;
        let conn = self.conns.get_mut(&node).expect("connected above");
        let unknown = |reason: String| RequestError::Unknown { node: Some(node), reason };
        let outcome = tokio::time::timeout_at(deadline, async {
            conn.send(encode(&Message::Request { id, op: op.clone() }))
                .await
                .map_err(|e| unknown(format!("sending to {addr}: {e}")))?;
            while let Some(frame) = conn.next().await {
                let body = frame.map_err(|e| unknown(format!("reading from {addr}: {e}")))?;
                match decode(&body) {
                    Ok(Message::Response { id: r, result }) if r == id => return Ok(result),
                    Ok(_) => continue,
                    Err(e) => return Err(unknown(e.to_string())),
                }
            }
            Err(unknown(format!("{addr} closed the connection")))
        })
        .await
        .unwrap_or_else(|_| Err(unknown("timed out".to_string())));
        if outcome.is_err() {
            self.conns.remove(&node);
            self.master = None;
        }
        outcome
    }
}

impl Client {
    /// Forgets the connection to `node` when the peer already closed it (a killed or restarted
    /// replica), so that the request goes out on a fresh one instead of into a dead socket.
    fn drop_if_closed(&mut self, node: ReplicaId) {
        let Some(conn) = self.conns.get_mut(&node) else { return };
        while let Some(pending) = conn.next().now_or_never() {
            match pending {
                Some(Ok(_stale)) => continue,
                None | Some(Err(_)) => {
                    self.conns.remove(&node);
                    return;
                }
            }
        }
    }
}

fn reply_error(node: ReplicaId, e: ReplyError) -> RequestError {
    if e.is_definite() {
        RequestError::Failed { node: Some(node), reason: e.to_string() }
    } else {
        RequestError::Unknown { node: Some(node), reason: e.to_string() }
    }
}

async fn connect(addr: SocketAddr, deadline: Instant) -> Result<Conn, Error> {
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::net(format!("connect to {addr}"), std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| Error::net(format!("connect to {addr}"), e))?;
    let _ = stream.set_nodelay(true);
    Ok(Framed::new(stream, codec()))
}

/// Queries the status of the node whose admin port is `admin`.
pub async fn status<T: DeserializeOwned>(admin: SocketAddr, timeout: Duration) -> Result<T, Error> {
    let failed = |problem: String| Error::Status { addr: admin.to_string(), problem };
    let body = tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(admin).await.map_err(|e| failed(e.to_string()))?;
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.map_err(|e| failed(e.to_string()))?;
        let (head, body) =
            response.split_once("\r\n\r\n").ok_or_else(|| failed("malformed HTTP answer".into()))?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(failed(head.lines().next().unwrap_or_default().to_string()));
        }
        Ok(body.to_string())
    })
    .await
    .map_err(|_| failed("no answer in time".into()))??;
    serde_json::from_str(&body).map_err(|e| failed(format!("bad status JSON: {e}")))
}

/// `Some(m)` when, right now, exactly one master persists among the `running` replicas of
/// `config` (see [`single_master`](crate::protocol::replica::single_master)), judged from their
/// status queries and the name server's; a running replica that does not answer counts against it.
pub async fn observe_single_master(
    config: &GroupConfig,
    running: impl IntoIterator<Item = ReplicaId>,
    timeout: Duration,
) -> Option<ReplicaId> {
    let mut servers = Vec::new();
    for id in running {
        let report: crate::runtime::ReplicaReport =
            status(config.member(id).ok()?.admin, timeout).await.ok()?;
        servers.push((id, report.status.role, report.status.master));
    }
    let ns: crate::runtime::NameServerReport = status(config.nameserver.admin, timeout).await.ok()?;
    let registered: Vec<_> = ns
        .status
        .groups
        .get(&config.params.group)
        .map(|g| g.registrations.iter().map(|r| r.id).collect())
        .unwrap_or_default();
    crate::protocol::replica::single_master(servers, &registered)
}
