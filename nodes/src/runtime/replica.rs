//! Drives a [`Replica`] core over TCP: peer links, client connections, timers, admin port.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::admin::serve_admin;
use super::config::GroupConfig;
use super::net::{ConnIds, Inbound, accept_loop, spawn_link};
use super::{ProcessInfo, sleep_until_opt};
use crate::error::Error;
use crate::protocol::bugs::Bugs;
use crate::protocol::message::Message;
use crate::protocol::replica::{Action, Dest, Replica, ReplicaStatus};
use crate::protocol::{ClientId, ReplicaId};

/// How a replica process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A shutdown signal asked it to stop.
    Shutdown,
    /// It terminated itself (M3 act 1050) for this reason.
    Terminated(String),
}

/// The JSON a replica's admin port answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// The protocol's view.
    #[serde(flatten)]
    pub status: ReplicaStatus,
    /// The process's view.
    #[serde(flatten)]
    pub process: ProcessInfo,
}

/// Runs replica `id` of `config` until `shutdown` completes or it terminates itself.
pub async fn run_replica(
    config: GroupConfig,
    id: ReplicaId,
    bugs: Bugs,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, Error> {
    let me = config.member(id)?;
    let listener =
        TcpListener::bind(me.address).await.map_err(|e| Error::net(format!("bind {}", me.address), e))?;
    let admin =
        TcpListener::bind(me.admin).await.map_err(|e| Error::net(format!("bind admin {}", me.admin), e))?;
    for bug in bugs.iter() {
        warn!("DELIBERATE BUG ENABLED: {bug} — this replica is broken on purpose");
    }
    info!(
        "replica {id} of group {} starting: address {} admin {} nameserver {}",
        config.params.group, me.address, me.admin, config.nameserver.address
    );

    let (inbox_tx, mut inbox) = mpsc::channel(8192);
    let ids = ConnIds::default();
    tokio::spawn(accept_loop(listener, inbox_tx.clone(), ids.clone()));
    let (status_tx, mut status_rx) = mpsc::channel(64);
    tokio::spawn(serve_admin(admin, status_tx));
    let peers: Vec<Option<mpsc::Sender<Message>>> = config
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (i as ReplicaId != id).then(|| spawn_link(m.address, ids.next(), inbox_tx.clone())))
        .collect();
    let nameserver = spawn_link(config.nameserver.address, ids.next(), inbox_tx);
    let mut clients: HashMap<ClientId, mpsc::Sender<Message>> = HashMap::new();

    let start = Instant::now();
    let process = ProcessInfo::now();
    let mut core = Replica::new(id, config.params.clone(), bugs);
    core.start(Duration::ZERO);
    tokio::pin!(shutdown);
    loop {
        while let Some(action) = core.poll_action() {
            match action {
                Action::Send { to, msg } => {
                    let link = match to {
                        Dest::Replica(r) => peers.get(r as usize).and_then(Option::as_ref),
                        Dest::NameServer => Some(&nameserver),
                        Dest::Client(c) => clients.get(&c),
                    };
                    if let Some(link) = link {
                        let _ = link.try_send(msg);
                    }
                }
                Action::RoleChanged(change) => info!("{change}"),
                Action::Terminate { reason } => {
                    error!("self-termination: {reason}");
                    return Ok(Exit::Terminated(reason));
                }
            }
        }
        let deadline = core.poll_timeout().map(|t| start + t);
        tokio::select! {
            () = &mut shutdown => {
                info!("shutdown requested: clean exit");
                return Ok(Exit::Shutdown);
            }
            () = sleep_until_opt(deadline) => core.handle_timeout(start.elapsed()),
            Some(event) = inbox.recv() => match event {
                Inbound::Opened { conn, tx } => { clients.insert(conn, tx); }
                Inbound::Closed { conn } => { clients.remove(&conn); }
                Inbound::Message { conn, msg } => core.handle_message(start.elapsed(), conn, msg),
            },
            Some(reply) = status_rx.recv() => {
                let report = ReplicaReport { status: core.status(start.elapsed()), process: process.clone() };
                let _ = reply.send(serde_json::to_string(&report).expect("status serializes"));
            }
        }
    }
}
