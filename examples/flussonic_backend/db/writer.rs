//! The single writer: one thread owns the only connection that writes, and runs the
//! work it is sent in batches, one `BEGIN IMMEDIATE … COMMIT` per batch.
//!
//! Why: every `/auth` decision writes (a session opened or extended, an access-log
//! row), and SQLite has one writer at a time anyway. Funnelling all writes through one
//! thread serialises them without lock contention, so "count the user's sessions, then
//! insert one" can never interleave with another request (two first requests cannot
//! both take the last slot), and group commit turns a burst of N requests into one
//! commit instead of N. Replies are sent only after the commit.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::DbError;

/// The most jobs one transaction takes: bounds the latency a batch adds.
const MAX_BATCH: usize = 256;

/// A unit of work for the writer. It runs inside the batch's transaction and may run
/// a second time (alone) if another job of its batch failed, so it must not have
/// effects outside the database.
pub trait Job: Send {
    /// Runs the work, keeping its output.
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()>;
    /// Delivers the output, or the failure.
    fn finish(self: Box<Self>, failure: Option<DbError>);
}

/// A closure and the channel its result goes back on.
pub struct Call<F, T> {
    work: F,
    output: Option<T>,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<F, T> Call<F, T> {
    /// Wraps `work`; its result is sent on `reply`.
    pub fn new(work: F, reply: oneshot::Sender<Result<T, DbError>>) -> Self {
        Self {
            work,
            output: None,
            reply,
        }
    }
}

impl<F, T> Job for Call<F, T>
where
    F: Fn(&Connection) -> rusqlite::Result<T> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.output = Some((self.work)(conn)?);
        Ok(())
    }

    fn finish(self: Box<Self>, failure: Option<DbError>) {
        let result = match (failure, self.output) {
            (Some(e), _) => Err(e),
            (None, Some(output)) => Ok(output),
            (None, None) => Err(DbError::Closed),
        };
        // The requester may have gone away (client disconnected): nothing to do.
        let _ = self.reply.send(result);
    }
}

/// What the writer thread receives.
pub enum Message {
    /// Work to run.
    Job(Box<dyn Job>),
    /// Finish the queued work, checkpoint, close, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed or attempted.
    pub batches: AtomicU64,
    /// Jobs run.
    pub jobs: AtomicU64,
    /// Jobs that failed with a database error.
    pub failures: AtomicU64,
    /// Writes waiting in the queue or running now.
    pub pending: AtomicU64,
}

/// The writer thread's loop. `checkpoint_wanted` is raised by the checkpointer when
/// the WAL has grown large: a checkpoint run here, between two batches, cannot be
/// overtaken by new commits, so it completes and the WAL starts over.
pub fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Message>,
    checkpoint_wanted: Arc<AtomicBool>,
    stats: Arc<WriterStats>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut shutdown = None;
    while shutdown.is_none() {
        match rx.blocking_recv() {
            None => break,
            Some(Message::Shutdown(done)) => shutdown = Some(done),
            Some(Message::Job(job)) => batch.push(job),
        }
        while batch.len() < MAX_BATCH && shutdown.is_none() {
            match rx.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Shutdown(done)) => shutdown = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            execute(&conn, &mut batch, &stats);
        }
        if checkpoint_wanted.swap(false, Ordering::Relaxed)
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
    // Whatever arrived after the shutdown request is refused, not lost silently.
    rx.close();
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Job(job) => job.finish(Some(DbError::Closed)),
            Message::Shutdown(done) => {
                let _ = done.send(());
            }
        }
    }
    close(conn);
    if let Some(done) = shutdown {
        let _ = done.send(());
    }
}

fn execute(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, stats: &WriterStats) {
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
    let result = conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
        for job in batch.iter_mut() {
            job.run(conn)?;
        }
        conn.execute_batch("COMMIT")
    });
    match result {
        Ok(()) => batch.drain(..).for_each(|job| job.finish(None)),
        Err(error) => {
            rollback(conn);
            if batch.len() == 1 {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "database write failed");
                if let Some(job) = batch.pop() {
                    job.finish(Some(DbError::from(error)));
                }
                return;
            }
            // One failing job must not fail the others: run each in its own transaction.
            for mut job in batch.drain(..) {
                let single = conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
                    job.run(conn)?;
                    conn.execute_batch("COMMIT")
                });
                match single {
                    Ok(()) => job.finish(None),
                    Err(error) => {
                        rollback(conn);
                        stats.failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(%error, "database write failed");
                        job.finish(Some(DbError::from(error)));
                    }
                }
            }
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "ROLLBACK failed");
    }
}

/// A clean close: the WAL is checkpointed into the database file and truncated, so
/// the file is complete on its own.
fn close(conn: Connection) {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => {}
        Ok(_) => tracing::warn!("final WAL checkpoint incomplete (a reader was still open)"),
        Err(e) => tracing::warn!(error = %e, "final WAL checkpoint failed"),
    }
    let _ = conn.execute_batch("PRAGMA optimize;");
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the database failed");
    }
}
