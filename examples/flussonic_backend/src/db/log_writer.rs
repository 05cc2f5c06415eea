//! The access log's writer: its own database file, thread and connection.
//!
//! Why: every `/auth` decision is logged. Written in the decision's transaction, the
//! rows (and their three indexes) made most of the pages each commit appended to the
//! WAL, and so most of the checkpoints, which stall the writer `/auth` waits for. Here a
//! decision's row is queued after the decision committed and written a few
//! milliseconds later with many others in one transaction, on a file whose checkpoints
//! delay nobody's answer.
//!
//! What that costs: a row still queued when the process is killed is lost (a clean
//! shutdown writes them all), and a row that finds the queue full is dropped. Neither
//! is silent: dropped and failed rows are counted in the metrics
//! (`flussonic_auth_access_logs_dropped_total`, `…_failed_total`) and logged.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    error::DbError,
    logs::{self, Entry},
};

/// Rows one transaction takes at most.
const MAX_BATCH: usize = 4096;
/// Fewer rows than this wait [`LINGER`] for company before they are written, so that
/// one commit carries many rows (fewer WAL pages per row, less CPU per row).
const MIN_BATCH: usize = 256;
/// How long a small batch waits.
const LINGER: Duration = Duration::from_millis(10);
/// How often a full queue is reported in the log (each dropped row is counted).
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// One decision, as queued for the access log.
#[derive(Debug, Clone)]
pub struct LogRow {
    /// When the decision was taken (RFC 3339 UTC).
    pub timestamp: String,
    /// The token presented, if any.
    pub token: Option<String>,
    /// The token's user, if the token was known.
    pub user_id: Option<String>,
    /// Stream name.
    pub stream_name: Option<String>,
    /// Viewer address.
    pub client_ip: Option<String>,
    /// Protocol.
    pub protocol: Option<String>,
    /// `allowed` or `denied`.
    pub result: &'static str,
    /// The reason code.
    pub reason: &'static str,
    /// Flussonic's session id, if sent.
    pub session_id: Option<String>,
}

impl LogRow {
    fn entry(&self) -> Entry<'_> {
        Entry {
            timestamp: &self.timestamp,
            token: self.token.as_deref(),
            user_id: self.user_id.as_deref(),
            stream_name: self.stream_name.as_deref(),
            client_ip: self.client_ip.as_deref(),
            protocol: self.protocol.as_deref(),
            result: self.result,
            reason: self.reason,
            session_id: self.session_id.as_deref(),
        }
    }
}

/// Work run on the log writer's connection, inside a transaction of its own; what it
/// returns delivers its result once the transaction has ended (with the commit's
/// failure, if any), so that no caller hears of work that is not committed.
type Work = Box<dyn FnOnce(&Connection) -> Deliver + Send>;
/// Sends a [`Work`]'s result, or the commit's failure.
type Deliver = Box<dyn FnOnce(Option<DbError>) + Send>;

/// What the log writer thread receives.
pub enum LogMessage {
    /// A row to write.
    Row(LogRow),
    /// Other work (the retention cleanup).
    Call(Work),
    /// Write what is queued, checkpoint, close, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Rows committed.
    pub written: AtomicU64,
    /// Rows dropped because the queue was full (or the log closed).
    pub dropped: AtomicU64,
    /// Rows lost to a failed write.
    pub failed: AtomicU64,
    /// Rows queued (not yet written).
    pub queued: AtomicU64,
}

/// The handle the app holds.
pub struct LogWriter {
    tx: mpsc::Sender<LogMessage>,
    stats: Arc<LogStats>,
    /// Rows handed to [`LogWriter::push`] so far.
    pushed: AtomicU64,
    /// Rows settled so far (written, failed or dropped): what [`LogWriter::settled`] waits on.
    settled: Arc<watch::Sender<u64>>,
    last_drop_warning: Mutex<Option<Instant>>,
}

impl LogWriter {
    /// Starts the thread that owns `conn` (the log database's writer connection),
    /// with room for `queue` rows.
    pub fn spawn(conn: Connection, queue: usize) -> Result<Self, DbError> {
        let (tx, rx) = mpsc::channel(queue);
        let stats = Arc::new(LogStats::default());
        let settled = Arc::new(watch::Sender::new(0));
        let (thread_stats, thread_settled) = (Arc::clone(&stats), Arc::clone(&settled));
        std::thread::Builder::new()
            .name("sqlite-log-writer".into())
            .spawn(move || run(conn, rx, &thread_stats, &thread_settled))
            .map_err(|e| DbError::Open(format!("cannot start the access-log writer thread: {e}")))?;
        Ok(Self {
            tx,
            stats,
            pushed: AtomicU64::new(0),
            settled,
            last_drop_warning: Mutex::new(None),
        })
    }

    /// Queues `row` without waiting; when the queue is full the row is dropped and counted.
    pub fn push(&self, row: LogRow) {
        self.pushed.fetch_add(1, Ordering::AcqRel);
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(LogMessage::Row(row)).is_err() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            self.settled.send_modify(|n| *n = n.saturating_add(1));
            self.warn_dropped();
        }
    }

    fn warn_dropped(&self) {
        let Ok(mut last) = self.last_drop_warning.lock() else {
            return;
        };
        if last.is_none_or(|at| at.elapsed() >= DROP_WARNING_INTERVAL) {
            *last = Some(Instant::now());
            tracing::warn!(
                dropped_total = self.stats.dropped.load(Ordering::Relaxed),
                "access-log queue full (or closed): rows dropped; see flussonic_auth_access_logs_dropped_total"
            );
        }
    }

    /// Waits (at most `limit`) until every row pushed before this call is written (or
    /// counted as lost), so that a listing shows the decisions answered before it.
    pub async fn settled(&self, limit: Duration) {
        let target = self.pushed.load(Ordering::Acquire);
        let mut progress = self.settled.subscribe();
        let _ = tokio::time::timeout(limit, progress.wait_for(|n| *n >= target)).await;
    }

    /// Runs `work` on the log writer's connection, in a transaction of its own.
    pub async fn call<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Work = Box::new(move |conn| {
            let output = work(conn).map_err(DbError::from);
            Box::new(move |commit_failure: Option<DbError>| {
                let _ = reply.send(match commit_failure {
                    Some(failure) => Err(failure),
                    None => output,
                });
            })
        });
        self.tx
            .send(LogMessage::Call(job))
            .await
            .map_err(|_| DbError::Closed)?;
        result.await.map_err(|_| DbError::Closed)?
    }

    /// The counters.
    pub fn stats(&self) -> &LogStats {
        &self.stats
    }

    /// Writes the queued rows, checkpoints and closes the log database.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.tx.send(LogMessage::Shutdown(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<LogMessage>, stats: &LogStats, settled: &watch::Sender<u64>) {
    let mut rows: Vec<LogRow> = Vec::with_capacity(MAX_BATCH);
    let mut shutdown = None;
    while shutdown.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        let mut lingered = false;
        loop {
            match next.take() {
                Some(LogMessage::Row(row)) => rows.push(row),
                Some(LogMessage::Call(work)) => {
                    // Rows queued before the call are written before it runs.
                    write(&conn, &mut rows, stats, settled);
                    call(&conn, work);
                }
                Some(LogMessage::Shutdown(done)) => {
                    shutdown = Some(done);
                    break;
                }
                None => {}
            }
            if rows.len() >= MAX_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(message) => next = Some(message),
                Err(_) if !lingered && !rows.is_empty() && rows.len() < MIN_BATCH => {
                    lingered = true;
                    std::thread::sleep(LINGER);
                }
                Err(_) => break,
            }
        }
        write(&conn, &mut rows, stats, settled);
    }
    // Rows that arrived with or after the shutdown request are still written.
    rx.close();
    while let Ok(message) = rx.try_recv() {
        match message {
            LogMessage::Row(row) => {
                rows.push(row);
                if rows.len() >= MAX_BATCH {
                    write(&conn, &mut rows, stats, settled);
                }
            }
            LogMessage::Call(work) => call(&conn, work),
            LogMessage::Shutdown(done) => {
                let _ = done.send(());
            }
        }
    }
    write(&conn, &mut rows, stats, settled);
    super::writer::close(conn);
    if let Some(done) = shutdown {
        let _ = done.send(());
    }
}

/// Writes `rows` in one transaction and empties it.
fn write(conn: &Connection, rows: &mut Vec<LogRow>, stats: &LogStats, settled: &watch::Sender<u64>) {
    if rows.is_empty() {
        return;
    }
    let count = rows.len() as u64;
    let result = conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
        for row in rows.iter() {
            logs::insert(conn, &row.entry())?;
        }
        conn.execute_batch("COMMIT")
    });
    rows.clear();
    stats.queued.fetch_sub(count, Ordering::Relaxed);
    match result {
        Ok(()) => {
            stats.written.fetch_add(count, Ordering::Relaxed);
        }
        Err(error) => {
            super::writer::rollback(conn);
            stats.failed.fetch_add(count, Ordering::Relaxed);
            tracing::error!(%error, rows = count, "access-log rows lost: the write failed");
        }
    }
    settled.send_modify(|n| *n = n.saturating_add(count));
}

fn call(conn: &Connection, work: Work) {
    if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
        // The work still runs (its statements then commit one by one) and reports its own errors.
        tracing::warn!(%error, "access-log database: cannot begin a transaction");
    }
    let deliver = work(conn);
    // A failed statement has already been undone by SQLite; what succeeded is kept.
    let mut failure = None;
    if !conn.is_autocommit()
        && let Err(error) = conn.execute_batch("COMMIT")
    {
        tracing::warn!(%error, "access-log database: COMMIT failed");
        super::writer::rollback(conn);
        failure = Some(DbError::from(error));
    }
    deliver(failure);
}
