//! The background WAL checkpointer: copies committed pages from the WAL into the
//! database file on its own thread and connection, so that most of that copying, and
//! the fsyncs of the WAL and of the database file, happen outside the writer (which
//! runs with `wal_autocheckpoint = 0`).
//!
//! It runs every `interval`, and whenever the writer reports another
//! [`WAKE_PAGES`] pages in the WAL, so that little is left to write back when the
//! writer runs the last, short checkpoint itself at the WAL's limit (see `writer.rs`):
//! a checkpoint running beside a busy writer rarely catches up with the WAL's end, and
//! the WAL only starts over once a checkpoint has.

use std::{path::Path, sync::mpsc, thread, time::Duration};

use super::{
    error::DbError,
    schema::{self, Role},
};

/// WAL size (in pages of 4 KiB) at which the writer checkpoints.
pub const LARGE_WAL_PAGES: i64 = 8192;
/// WAL growth (in pages) after which the writer wakes the checkpointer.
pub const WAKE_PAGES: i64 = 1024;

enum Signal {
    Run,
    Stop,
}

/// The running checkpointer.
pub struct Checkpointer {
    signal: mpsc::SyncSender<Signal>,
    handle: thread::JoinHandle<()>,
}

/// What the writer holds to wake the checkpointer.
#[derive(Clone)]
pub struct Waker(mpsc::SyncSender<Signal>);

impl Waker {
    /// Asks for a checkpoint now; never waits (one already asked for is enough).
    pub fn wake(&self) {
        let _ = self.0.try_send(Signal::Run);
    }
}

impl Checkpointer {
    /// Starts checkpointing `path` every `interval` and when woken.
    pub fn spawn(path: &Path, interval: Duration) -> Result<Self, DbError> {
        let conn = schema::open(path, Role::Checkpointer)?;
        // Room for one wake-up and the stop signal.
        let (signal, signals) = mpsc::sync_channel::<Signal>(2);
        let handle = thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Ok(Signal::Run) | Err(mpsc::RecvTimeoutError::Timeout) =
                    signals.recv_timeout(interval)
                {
                    // Busy (the writer is checkpointing) is not a failure: next time.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
                drop(conn);
            })
            .map_err(|e| DbError::Open(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { signal, handle })
    }

    /// The writer's handle for waking this thread.
    pub fn waker(&self) -> Waker {
        Waker(self.signal.clone())
    }

    /// Stops the thread and closes its connection.
    pub fn stop(self) {
        let _ = self.signal.send(Signal::Stop);
        let _ = self.handle.join();
    }
}
