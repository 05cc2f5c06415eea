//! The SQLite databases: for tokens and sessions, one writer thread (all writes,
//! group-committed), a pool of readers and a WAL checkpointer; for the access log, a
//! file of its own with its own writer thread and readers.

pub mod checkpoint;
mod error;
pub mod log_writer;
pub mod logs;
pub mod query;
pub mod reader;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod user_sessions;
pub mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use self::error::DbError;
use self::{
    checkpoint::{Checkpointer, LARGE_WAL_PAGES},
    log_writer::{LogRow, LogStats, LogWriter},
    reader::ReadPool,
    writer::{Call, Message, WriterStats},
};

/// Queued writes before senders wait (backpressure instead of unbounded memory).
const QUEUE: usize = 4096;
/// Access-log rows queued before new rows are dropped (and counted): about a second
/// of full load, a few MiB.
const LOG_QUEUE: usize = 65536;
/// How long a listing of the access log waits for the rows queued before it.
const LOG_SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// Limits that tests set lower than the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// WAL size (pages) at which the writer checkpoints.
    pub wal_pages: i64,
    /// How often the background checkpointer runs.
    pub checkpoint_interval: Duration,
    /// Access-log rows queued before rows are dropped.
    pub log_queue: usize,
    /// Whether the writer asks the background checkpointer for passes as the WAL grows,
    /// and for one before its own checkpoint at the limit. Tests of the writer's own
    /// checkpoints turn it off (the checkpointer then runs only every `checkpoint_interval`).
    pub background_passes: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            wal_pages: LARGE_WAL_PAGES,
            checkpoint_interval: Duration::from_millis(500),
            log_queue: LOG_QUEUE,
            background_passes: true,
        }
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
    log_path: PathBuf,
    log: LogWriter,
    log_readers: Arc<ReadPool>,
}

impl Db {
    /// Opens (creating them and their directories if needed) the database at `path`
    /// and the access-log database at `log_path`, migrates them, and starts the writer,
    /// log writer and checkpointer threads.
    pub fn open(path: &Path, log_path: &Path, tuning: Tuning) -> Result<Self, DbError> {
        let (conn, log_conn) = open_connections(path, log_path)?;
        let log = LogWriter::spawn(log_conn, tuning.log_queue)?;

        let checkpointer = Checkpointer::spawn(path, tuning.checkpoint_interval)?;
        let stats = Arc::new(WriterStats::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let waker = tuning.background_passes.then(|| checkpointer.waker());
        let writer_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run(conn, rx, tuning.wal_pages, waker, writer_stats))
            .map_err(|e| DbError::Open(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                tx,
                readers: Arc::new(ReadPool::new(path.to_owned())),
                checkpointer: Mutex::new(Some(checkpointer)),
                stats,
                log_path: log_path.to_owned(),
                log,
                log_readers: Arc::new(ReadPool::new(log_path.to_owned())),
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

    /// The access-log database file.
    pub fn log_path(&self) -> &Path {
        &self.inner.log_path
    }

    /// Queues an access-log row (never waits; see [`log_writer`]).
    pub fn log(&self, row: LogRow) {
        self.inner.log.push(row);
    }

    /// Runs `work` on a read-only connection to the access log, once the rows queued
    /// before this call are written.
    pub async fn read_logs<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.log.settled(LOG_SETTLE_LIMIT).await;
        self.inner.log_readers.run(work).await
    }

    /// Runs `work` on the access log's writer, in a transaction of its own.
    pub async fn write_logs<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.log.call(work).await
    }

    /// Access-log counters.
    pub fn log_stats(&self) -> &LogStats {
        self.inner.log.stats()
    }

    /// Finishes queued writes, checkpoints the WAL into the database file and closes
    /// every connection. Later calls fail with [`DbError::Closed`].
    pub async fn close(&self) {
        let checkpointer = self.inner.checkpointer.lock().ok().and_then(|mut c| c.take());
        // The checkpointer's descriptor of the database file, closed last (see `checkpoint.rs`).
        let mut synced_file = None;
        if let Some(checkpointer) = checkpointer {
            synced_file = tokio::task::spawn_blocking(move || checkpointer.stop())
                .await
                .ok()
                .flatten();
        }
        self.inner.readers.close();
        let (done, closed) = oneshot::channel();
        if self.inner.tx.send(Message::Shutdown(done)).await.is_ok() {
            let _ = closed.await;
        }
        self.inner.log_readers.close();
        self.inner.log.close().await;
        drop(synced_file);
    }
}

/// Opens (creating them and their directories if needed) the database at `path` and the
/// access-log database at `log_path`, and migrates them: the writer's connection to
/// each, as [`Db::open`] starts with. The Python backend's database is refused before
/// anything is written to either.
pub fn open_connections(path: &Path, log_path: &Path) -> Result<(Connection, Connection), DbError> {
    let refused = |variable: &str, file: &Path| {
        schema::refuse_python(file, variable).map_err(|m| DbError::Open(format!("{}: {m}", file.display())))
    };
    refused("DATABASE_URL", path)?;
    refused("ACCESS_LOG_DATABASE_URL", log_path)?;
    let log_conn = open_migrated(log_path, schema::Role::LogWriter, schema::migrate_logs)?;
    let conn = open_migrated(path, schema::Role::Writer, |conn| schema::migrate(conn, log_path))?;
    Ok((conn, log_conn))
}

/// Closes a connection of [`open_connections`] that no [`Db`] took over: its WAL is
/// checkpointed into the file and truncated.
pub fn close_connection(conn: Connection) {
    writer::close(conn);
}

/// Opens `path` (creating its directory) for `role` and migrates it.
fn open_migrated(
    path: &Path,
    role: schema::Role,
    migrate: impl FnOnce(&Connection) -> Result<(), String>,
) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Open(format!("cannot create the directory {}: {e}", dir.display())))?;
    }
    let conn = schema::open(path, role)
        .map_err(|e| DbError::Open(format!("cannot open {}: {e}", path.display())))?;
    migrate(&conn).map_err(|m| DbError::Open(format!("{}: {m}", path.display())))?;
    Ok(conn)
}
