//! Drives the [`NameServer`] core over TCP.

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::ProcessInfo;
use super::admin::serve_admin;
use super::config::GroupConfig;
use super::net::{ConnIds, Inbound, accept_loop};
use crate::error::Error;
use crate::protocol::bugs::Bugs;
use crate::protocol::message::{Message, NsRequest};
use crate::protocol::nameserver::{NameServer, NsDest, NsStatus};
use crate::protocol::{ClientId, ReplicaId};

/// The JSON the name server's admin port answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NameServerReport {
    /// The protocol's view.
    #[serde(flatten)]
    pub status: NsStatus,
    /// The process's view.
    #[serde(flatten)]
    pub process: ProcessInfo,
}

/// Runs the name server of `config` until `shutdown` completes.
pub async fn run_nameserver(
    config: GroupConfig,
    bugs: Bugs,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let addrs = config.nameserver;
    let listener = TcpListener::bind(addrs.address)
        .await
        .map_err(|e| Error::net(format!("bind {}", addrs.address), e))?;
    let admin = TcpListener::bind(addrs.admin)
        .await
        .map_err(|e| Error::net(format!("bind admin {}", addrs.admin), e))?;
    for bug in bugs.iter() {
        warn!("DELIBERATE BUG ENABLED: {bug} — this name server is broken on purpose");
    }
    info!(
        "name server starting: address {} admin {} lease_ttl {:?}",
        addrs.address, addrs.admin, config.ns.lease_ttl
    );

    let (inbox_tx, mut inbox) = mpsc::channel(8192);
    tokio::spawn(accept_loop(listener, inbox_tx, ConnIds::default()));
    let (status_tx, mut status_rx) = mpsc::channel(64);
    tokio::spawn(serve_admin(admin, status_tx));

    let start = Instant::now();
    let process = ProcessInfo::now();
    let mut core = NameServer::new(config.ns.clone(), bugs, start.elapsed());
    let mut clients: HashMap<ClientId, mpsc::Sender<Message>> = HashMap::new();
    let mut routes: HashMap<(String, ReplicaId), ClientId> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        while let Some(send) = core.poll_send() {
            let conn = match &send.to {
                NsDest::Replica { group, id } => routes.get(&(group.clone(), *id)).copied(),
                NsDest::Client(c) => Some(*c),
            };
            if let Some(link) = conn.and_then(|c| clients.get(&c)) {
                let _ = link.try_send(send.msg);
            }
        }
        tokio::select! {
            () = &mut shutdown => {
                info!("shutdown requested: clean exit");
                return Ok(());
            }
            Some(event) = inbox.recv() => match event {
                Inbound::Opened { conn, tx } => { clients.insert(conn, tx); }
                Inbound::Closed { conn } => { clients.remove(&conn); }
                Inbound::Message { conn, msg: Message::ToNs(request) } => {
                    if let NsRequest::Register { group, id } | NsRequest::Lookup { group, id: Some(id), .. } = &request {
                        routes.insert((group.clone(), *id), conn);
                    }
                    core.handle(start.elapsed(), conn, request);
                }
                Inbound::Message { msg, .. } => warn!("ignoring a {} message: not for a name server", msg.kind()),
            },
            Some(reply) = status_rx.recv() => {
                let report = NameServerReport { status: core.status(start.elapsed()), process: process.clone() };
                let _ = reply.send(serde_json::to_string(&report).expect("status serializes"));
            }
        }
    }
}
