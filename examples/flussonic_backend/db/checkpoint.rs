//! The WAL checkpointer: copies committed pages from the WAL into the database file on
//! its own thread and connection, so that the file's fsync never sits inside a commit
//! (the writer runs with `wal_autocheckpoint = 0`).
//!
//! A checkpoint running beside a busy writer rarely catches up with the WAL's end, and
//! the WAL only starts over once a checkpoint has. When the WAL grows past
//! [`LARGE_WAL_PAGES`], the checkpointer asks the writer to run one between two batches,
//! where nothing can overtake it; most pages are already copied by then, so that costs
//! little more than one fsync.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use super::{
    DbError,
    schema::{self, Role},
};

/// WAL size (in pages) above which the writer is asked to checkpoint.
pub const LARGE_WAL_PAGES: i64 = 8192;

/// The running checkpointer.
pub struct Checkpointer {
    stop: mpsc::Sender<()>,
    handle: thread::JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing `path` every `interval`.
    pub fn spawn(path: &Path, interval: Duration, writer_wanted: Arc<AtomicBool>) -> Result<Self, DbError> {
        let conn = schema::open(path, Role::Checkpointer)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    });
                    match result {
                        Ok((wal_pages, _copied)) if wal_pages >= LARGE_WAL_PAGES => {
                            writer_wanted.store(true, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    }
                }
                drop(conn);
            })
            .map_err(|e| DbError::Open(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop, handle })
    }

    /// Stops the thread and closes its connection.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}
