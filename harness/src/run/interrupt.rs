//! Ctrl-C as a run sees it: the first SIGINT ends the workload early (the run then heals, tears
//! down and analyses what it recorded) and marks the whole command as interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Listens for SIGINT for as long as it lives.
pub struct Interrupt {
    notify: Arc<Notify>,
    fired: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
}

impl Interrupt {
    /// Starts listening; must be called within a tokio runtime.
    pub fn on_ctrl_c() -> Self {
        let notify = Arc::new(Notify::new());
        let fired = Arc::new(AtomicBool::new(false));
        let listener = tokio::spawn({
            let (notify, fired) = (notify.clone(), fired.clone());
            async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    fired.store(true, Ordering::SeqCst);
                    notify.notify_one();
                }
            }
        });
        Interrupt { notify, fired, listener }
    }

    /// What a run waits on: notified once, at the first SIGINT.
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// True once SIGINT arrived.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.listener.abort();
    }
}
