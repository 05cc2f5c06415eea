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
//!
//! After each pass that copied pages, it also syncs the database file itself
//! (`fdatasync`). SQLite syncs the database file only at the end of a checkpoint that
//! copied the whole WAL, so without this the writer's checkpoint at the limit waited for
//! every page the background passes had copied since the previous one to reach the
//! disk: 8 to 28 ms, four times a second under a load of new sessions, which made the
//! p99 of new sessions (issue 17). The writer's checkpoint now syncs only what it copied
//! itself, and it asks for a pass first and runs right after it ends ([`Waker::passes`]),
//! so that this is little.

use std::{
    fs::File,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use rusqlite::Connection;

use super::{
    error::DbError,
    schema::{self, Role},
};

/// WAL size (in pages of 4 KiB) at which the writer checkpoints.
pub const LARGE_WAL_PAGES: i64 = 8192;
/// WAL growth (in pages) after which the writer wakes the checkpointer. A pass lasts
/// about as long as the pages it copies take, and the writer's own checkpoint, right
/// after a pass, has what was written during that pass left to copy and sync.
pub const WAKE_PAGES: i64 = 512;

enum Signal {
    Run,
    Stop,
}

/// The running checkpointer.
pub struct Checkpointer {
    signal: mpsc::SyncSender<Signal>,
    passes: Arc<AtomicU64>,
    handle: thread::JoinHandle<File>,
}

/// What the writer holds to wake the checkpointer.
#[derive(Clone)]
pub struct Waker {
    signal: mpsc::SyncSender<Signal>,
    passes: Arc<AtomicU64>,
}

impl Waker {
    /// Asks for a checkpoint now; never waits (one already asked for is enough).
    pub fn wake(&self) {
        let _ = self.signal.try_send(Signal::Run);
    }

    /// How many passes (each with its sync of the database file) have ended so far.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Acquire)
    }
}

impl Checkpointer {
    /// Starts checkpointing `path` every `interval` and when woken.
    pub fn spawn(path: &Path, interval: Duration) -> Result<Self, DbError> {
        let conn = schema::open(path, Role::Checkpointer)?;
        // Only for fdatasync. Kept open until every connection of this process to the file
        // is closed ([`Checkpointer::stop`] hands it back): closing a descriptor of a file
        // drops the POSIX locks the process holds on it, SQLite's included.
        let file = File::open(path)
            .map_err(|e| DbError::Open(format!("cannot open {} to sync it: {e}", path.display())))?;
        // Room for one wake-up and the stop signal.
        let (signal, signals) = mpsc::sync_channel::<Signal>(2);
        let passes = Arc::new(AtomicU64::new(0));
        let ended = Arc::clone(&passes);
        let handle = thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut synced = (0, 0);
                while let Ok(Signal::Run) | Err(mpsc::RecvTimeoutError::Timeout) =
                    signals.recv_timeout(interval)
                {
                    if let Some(state) = pass(&conn, &file, synced) {
                        synced = state;
                    }
                    ended.fetch_add(1, Ordering::Release);
                }
                drop(conn);
                file
            })
            .map_err(|e| DbError::Open(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            signal,
            passes,
            handle,
        })
    }

    /// The writer's handle for waking this thread.
    pub fn waker(&self) -> Waker {
        Waker {
            signal: self.signal.clone(),
            passes: Arc::clone(&self.passes),
        }
    }

    /// Stops the thread and closes its connection; returns the database file it synced,
    /// for the caller to close once the other connections are closed.
    pub fn stop(self) -> Option<File> {
        let _ = self.signal.send(Signal::Stop);
        self.handle.join().ok()
    }
}

/// One passive checkpoint, then a sync of the database file if it copied pages since
/// the latest sync (`synced`: the WAL's size and the pages copied, as the latest pass
/// that synced saw them). Returns what this pass saw if it synced.
fn pass(conn: &Connection, file: &File, synced: (i64, i64)) -> Option<(i64, i64)> {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match result {
        // Busy (the writer is checkpointing) is no error but a row, of -1s when nothing
        // was copied: nothing to sync; next time.
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            None
        }
        Ok(state @ (_, copied)) if copied > 0 && state != synced => {
            if let Err(e) = file.sync_data() {
                tracing::warn!(error = %e, "syncing the database file after a WAL checkpoint failed");
                return None;
            }
            Some(state)
        }
        Ok(_) => None,
    }
}
