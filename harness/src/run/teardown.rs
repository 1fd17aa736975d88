//! After the test: collect the nodes' logs, record the self-terminations they tell of, stop
//! every process and remove what the run left on the nodes.

use checkers::history::{OpType, Process};

use crate::control::system::System;
use crate::error::Error;
use crate::run::Run;

/// Collects, records, stops and cleans; every step runs even when an earlier one failed.
pub async fn teardown<S: System>(run: &Run<'_, S>) -> Result<(), Error> {
    let collected = run.system.collect(run.dir.as_deref()).await;
    let recorded = match &collected {
        Ok(found) => found.iter().try_for_each(|t| {
            let value = serde_json::json!({"replica": t.replica, "log": t.line});
            let mut op = run.recorder.record(Process::harness(), OpType::Info, "self-terminated", value);
            op.node = Some(t.host.clone());
            run.recorder.write(op)
        }),
        Err(_) => Ok(()),
    };
    let flushed = run.recorder.flush();
    let torn = run.system.teardown().await;
    match &torn {
        Ok(()) => run.log.say("group stopped and torn down"),
        Err(e) => run.log.say(&format!("teardown failed: {}", crate::error::chain(e))),
    }
    collected.map(drop).and(recorded).and(flushed).and(torn)
}
