//! `splitbrain cluster up|down|status`: the local cluster by hand, with what it made printed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::control::cluster::local::{self, LocalSpec};
use crate::error::Error;

/// Makes the cluster of `spec` (removing any earlier one first) and prints its hosts; on Ctrl-C,
/// removes what was made and fails with [`Error::Interrupted`].
pub async fn up(spec: LocalSpec) -> Result<(), Error> {
    let cancel = Arc::new(AtomicBool::new(false));
    let building = tokio::task::spawn_blocking({
        let (spec, cancel) = (spec.clone(), cancel.clone());
        move || local::up(&spec, &cancel)
    });
    tokio::pin!(building);
    let built = tokio::select! {
        built = &mut building => built,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: removing what was made");
            cancel.store(true, Ordering::SeqCst);
            let _ = building.await;
            local::down(&spec.state_dir, &spec.prefix)?;
            return Err(Error::Interrupted);
        }
    };
    let file = built.map_err(|e| Error::Local { command: "cluster up".into(), cause: e.into() })??;
    println!("local cluster up: {} replica hosts and a name-server host", file.replicas.len());
    for node in file.all() {
        println!("  {:<4} {}", node.name, node.address);
    }
    println!("nodes file: {}", spec.nodes_file_path().display());
    Ok(())
}

/// Removes everything the cluster of `prefix` made (idempotent).
pub fn down(state_dir: &Path, prefix: &str) -> Result<(), Error> {
    local::down(state_dir, prefix)?;
    println!("local cluster removed");
    Ok(())
}

/// Prints what exists of the cluster of `prefix`.
pub fn status(state_dir: &Path, prefix: &str) -> Result<(), Error> {
    let status = local::status(state_dir, prefix)?;
    if status.is_empty() {
        println!("no local cluster");
        return Ok(());
    }
    println!("namespaces: {}", status.namespaces.join(" "));
    println!("links: {}", status.links.join(" "));
    println!("host process trees (pids): {:?}", status.host_pids);
    if let Some(path) = status.nodes_file {
        println!("nodes file: {}", path.display());
    }
    Ok(())
}
