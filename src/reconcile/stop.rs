//! A request to stop, shared by the watch loop and its signal handler: the
//! step under way finishes, then the lease is released.

use std::sync::Arc;
use std::time::Duration;

/// A request to stop, shared by the watch loop and its signal handler.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    requested: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn request(&self) {
        self.0.requested.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn requested(&self) -> bool {
        self.0.requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sleeps for `duration`, or less if a stop is requested meanwhile.
    pub async fn sleep(&self, duration: Duration) {
        let notified = self.0.notify.notified();
        if self.requested() {
            return;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(duration) => {}
        }
    }
}
