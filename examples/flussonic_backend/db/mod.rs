//! The SQLite database: one writer thread (all writes, group-committed), a pool of
//! readers, and a WAL checkpointer.

pub mod checkpoint;
pub mod logs;
pub mod query;
pub mod reader;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod writer;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use self::{
    checkpoint::Checkpointer,
    reader::ReadPool,
    writer::{Call, Message, WriterStats},
};

/// Queued writes before senders wait (backpressure instead of unbounded memory).
const QUEUE: usize = 4096;
/// How often the checkpointer runs.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// A database failure: the backend cannot decide.
#[derive(Debug)]
pub enum DbError {
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
    /// The database is closed (shutting down).
    Closed,
    /// The database could not be opened.
    Open(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "database error: {e}"),
            DbError::Closed => f.write_str("database closed"),
            DbError::Open(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

/// Counts a write as pending for as long as its caller waits (also when the caller
/// is dropped mid-way).
struct Pending<'a>(&'a AtomicU64);

impl<'a> Pending<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The database handle shared by the app (cheap to clone).
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    tx: mpsc::Sender<Message>,
    readers: Arc<ReadPool>,
    checkpointer: Mutex<Option<Checkpointer>>,
    stats: Arc<WriterStats>,
}

impl Db {
    /// Opens (creating it and its directory if needed) the database at `path`,
    /// migrates it, and starts the writer and checkpointer threads.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Open(format!("cannot create the directory {}: {e}", dir.display())))?;
        }
        let open_error = |e: rusqlite::Error| DbError::Open(format!("cannot open {}: {e}", path.display()));
        let conn = schema::open(path, schema::Role::Writer).map_err(open_error)?;
        schema::migrate(&conn).map_err(|m| DbError::Open(format!("{}: {m}", path.display())))?;

        let wanted = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(WriterStats::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let (writer_wanted, writer_stats) = (Arc::clone(&wanted), Arc::clone(&stats));
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run(conn, rx, writer_wanted, writer_stats))
            .map_err(|e| DbError::Open(format!("cannot start the writer thread: {e}")))?;
        let checkpointer = Checkpointer::spawn(path, CHECKPOINT_INTERVAL, wanted)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                tx,
                readers: Arc::new(ReadPool::new(path.to_owned())),
                checkpointer: Mutex::new(Some(checkpointer)),
                stats,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on the writer, inside a transaction shared with other requests'
    /// work; the result arrives after the commit. `work` must not begin or end
    /// transactions, and may run twice (see [`writer::Job`]).
    pub async fn write<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job = Box::new(Call::new(work, reply));
        let _pending = Pending::new(&self.inner.stats.pending);
        self.inner
            .tx
            .send(Message::Job(job))
            .await
            .map_err(|_| DbError::Closed)?;
        result.await.map_err(|_| DbError::Closed)?
    }

    /// Runs `work` on a read-only connection.
    pub async fn read<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.run(work).await
    }

    /// Writer counters.
    pub fn stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// Finishes queued writes, checkpoints the WAL into the database file and closes
    /// every connection. Later calls fail with [`DbError::Closed`].
    pub async fn close(&self) {
        let checkpointer = self.inner.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some(checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        self.inner.readers.close();
        let (done, closed) = oneshot::channel();
        if self.inner.tx.send(Message::Shutdown(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}
