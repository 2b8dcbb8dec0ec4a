//! The background cleaner: applies a retention policy every interval until it is stopped
//! (`StartPendingSegmentCleaner`). Unlike the original's, the predicate really holds a segment
//! back (nothing is deleted before it agrees, SPEC §13.19), a segment a reader holds is kept for
//! a later round, and dropping the handle stops the thread.

use std::thread::JoinHandle;
use std::time::Duration;

use walfs_core::SegmentId;
use walfs_core::wal::RetentionPolicy;

use crate::sync::{Arc, Condvar, Mutex, lock, wait_timeout};
use crate::wal::{Shared, Wal};

/// A running cleaner; dropping it (or [`Cleaner::stop`]) stops the thread.
#[derive(Debug)]
pub struct Cleaner {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Cleaner {
    /// Stops the cleaner and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Wal {
    /// Starts a thread that applies `policy` every `interval` (at least 1 ms), removing the
    /// segments it allows for which `can_remove` agrees ([`Wal::apply_retention`]). Errors are
    /// not retried into the void: the cleaner stops at the first one, which `on_error` receives.
    pub fn start_cleaner(
        &self,
        interval: Duration,
        policy: RetentionPolicy,
        can_remove: impl Fn(SegmentId) -> bool + Send + 'static,
        on_error: impl FnOnce(crate::Error) + Send + 'static,
    ) -> Cleaner {
        let interval = interval.max(Duration::from_millis(1));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let shared: Arc<Shared> = Arc::clone(self.shared());
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (flag, condvar) = &*thread_stop;
            loop {
                {
                    let stopped = wait_timeout(condvar, lock(flag), interval);
                    if *stopped {
                        return;
                    }
                }
                if let Err(error) = shared.apply_retention(&policy, &can_remove) {
                    on_error(error);
                    return;
                }
            }
        });
        Cleaner {
            stop,
            thread: Some(thread),
        }
    }
}
