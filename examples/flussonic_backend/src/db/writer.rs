//! The single writer: one thread owns the only connection that writes, and runs the
//! work it is sent in batches, one `BEGIN IMMEDIATE … COMMIT` per batch.
//!
//! Why: every `/auth` decision writes (a session opened or extended, an access-log
//! row), and SQLite has one writer at a time anyway. Funnelling all writes through one
//! thread serialises them without lock contention, so "count the user's sessions, then
//! insert one" can never interleave with another request (two first requests cannot
//! both take the last slot), and group commit turns a burst of N requests into one
//! commit instead of N. Replies are sent only after the commit.
//!
//! The writer also keeps the WAL bounded: SQLite reports the WAL's size after every
//! commit (the WAL hook), and past `wal_limit` pages the writer checkpoints between two
//! batches, where no commit can overtake the checkpoint, so it completes and the next
//! commit starts the WAL over. Commits wait for that checkpoint, so it is kept short:
//! at the limit the writer first asks the background checkpointer (`checkpoint.rs`) for
//! a pass, which copies and syncs nearly everything, keeps committing meanwhile, and
//! checkpoints as soon as that pass has ended: what is left to copy and sync is what
//! was written during the pass.

use std::{
    cell::Cell,
    ffi::c_int,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
};

use rusqlite::{Connection, hooks::Wal};
use tokio::sync::{mpsc, oneshot};

use super::{
    checkpoint::{WAKE_PAGES, Waker},
    error::DbError,
};

thread_local! {
    /// Pages in the WAL after this thread's latest commit (set by the WAL hook, which
    /// SQLite calls on the committing thread).
    static WAL_PAGES: Cell<i64> = const { Cell::new(0) };
}

fn record_wal_pages(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(i64::from(pages)));
    Ok(())
}

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
    /// Pages in the WAL that no checkpoint has copied yet (as the writer last saw it).
    pub wal_pages: AtomicI64,
    /// Checkpoints the writer ran because the WAL reached its limit.
    pub checkpoints: AtomicU64,
}

/// The writer thread's loop: batches, and a checkpoint whenever the WAL has reached
/// `wal_limit` pages, right after a pass of the background `checkpointer` (without one,
/// straight away).
pub fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Message>,
    wal_limit: i64,
    checkpointer: Option<Waker>,
    stats: Arc<WriterStats>,
) {
    // Set here, after the pragmas: `wal_autocheckpoint` would replace the hook.
    conn.wal_hook(Some(record_wal_pages));
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut shutdown = None;
    // The WAL size (pages not yet checkpointed) at which to checkpoint next; raised
    // after a checkpoint that could not finish (a reader still used old pages), so that
    // it is retried a little later rather than after every batch.
    let mut checkpoint_at = wal_limit;
    // The WAL size at which to wake the background checkpointer next.
    let mut wake_at = WAKE_PAGES;
    // The WAL size at the latest complete checkpoint, until the WAL starts over.
    let mut copied = 0;
    // At the limit: the background passes ended when one was asked for, and the WAL
    // size then (see `handoff`).
    let mut asked: Option<(u64, i64)> = None;
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
        let pages = WAL_PAGES.with(Cell::get);
        if pages < copied {
            // The WAL has started over.
            copied = 0;
        }
        // A reader still using the WAL keeps it from starting over after a checkpoint:
        // only the pages written since count towards the next one.
        let pending = pages.saturating_sub(copied);
        stats.wal_pages.store(pending, Ordering::Relaxed);
        if pending < wake_at {
            wake_at = wake_at.min(next_wake(pending));
        } else {
            // Not while waiting for the pass asked for: the checkpoint follows it.
            if let Some(checkpointer) = checkpointer.as_ref().filter(|_| asked.is_none()) {
                checkpointer.wake();
            }
            wake_at = next_wake(pending);
        }
        if pending < wal_limit {
            checkpoint_at = wal_limit;
            asked = None;
        } else if pending >= checkpoint_at {
            let ready = match &checkpointer {
                Some(checkpointer) => handoff(&mut asked, checkpointer.passes(), pending, wal_limit),
                None => Handoff::Now,
            };
            match ready {
                Handoff::Ask => {
                    if let Some(checkpointer) = &checkpointer {
                        checkpointer.wake();
                    }
                }
                Handoff::Wait => {}
                Handoff::Now => {
                    stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                    match checkpoint(&conn) {
                        Checkpoint::Complete => {
                            copied = pages;
                            checkpoint_at = wal_limit;
                            stats.wal_pages.store(0, Ordering::Relaxed);
                        }
                        // The background checkpointer was running: right after its pass.
                        Checkpoint::Busy => {
                            if let Some(checkpointer) = &checkpointer {
                                asked = Some((checkpointer.passes(), pending));
                            } else {
                                checkpoint_at = pending.saturating_add((wal_limit / 4).max(1));
                            }
                        }
                        Checkpoint::Incomplete => {
                            checkpoint_at = pending.saturating_add((wal_limit / 4).max(1));
                        }
                    }
                }
            }
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

/// The first multiple of [`WAKE_PAGES`] above `pages`: when to wake the checkpointer next.
fn next_wake(pages: i64) -> i64 {
    (pages / WAKE_PAGES).saturating_add(1).saturating_mul(WAKE_PAGES)
}

/// What the writer does at the WAL's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handoff {
    /// Ask the background checkpointer for a pass, and keep committing.
    Ask,
    /// Keep committing: the pass asked for has not ended.
    Wait,
    /// Checkpoint now.
    Now,
}

/// At the WAL's limit (`pending` pages, the background checkpointer having ended
/// `passes` passes): the first time, ask for a pass; then checkpoint once a pass has
/// ended since (what is then left is what was written during it), or once the WAL has
/// grown by a quarter of its limit meanwhile (the checkpointer is slow, or stopped: the
/// WAL stays bounded all the same). `asked` remembers the passes and the WAL's size
/// when a pass was asked for.
fn handoff(asked: &mut Option<(u64, i64)>, passes: u64, pending: i64, wal_limit: i64) -> Handoff {
    match *asked {
        None => {
            *asked = Some((passes, pending));
            Handoff::Ask
        }
        Some((before, at)) if passes == before && pending < at.saturating_add((wal_limit / 4).max(1)) => {
            Handoff::Wait
        }
        Some(_) => {
            *asked = None;
            Handoff::Now
        }
    }
}

/// How a checkpoint of the writer's ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoint {
    /// It copied the whole WAL: the next commit starts the WAL over.
    Complete,
    /// The background checkpointer was running.
    Busy,
    /// A reader still uses old pages (or the checkpoint failed).
    Incomplete,
}

/// A passive checkpoint. It does not wait for readers: one still reading old pages, or
/// the background checkpointer running at that moment, leaves it incomplete.
fn checkpoint(conn: &Connection) -> Checkpoint {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match result {
        Ok((0, wal, copied)) if wal == copied => Checkpoint::Complete,
        Ok((0, _, _)) => Checkpoint::Incomplete,
        Ok(_) => Checkpoint::Busy,
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            Checkpoint::Incomplete
        }
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

/// Ends a failed transaction.
pub(super) fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "ROLLBACK failed");
    }
}

/// A clean close: the WAL is checkpointed into the database file and truncated, so
/// the file is complete on its own.
pub(super) fn close(conn: Connection) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_writer_checkpoints_right_after_a_background_pass() {
        let mut asked = None;
        // The first time: a pass is asked for; the writer keeps committing until it ends.
        assert_eq!(handoff(&mut asked, 7, 8192, 8192), Handoff::Ask);
        assert_eq!(handoff(&mut asked, 7, 8300, 8192), Handoff::Wait);
        assert_eq!(handoff(&mut asked, 8, 8400, 8192), Handoff::Now);
        // Asked again the next time.
        assert_eq!(handoff(&mut asked, 8, 8400, 8192), Handoff::Ask);
        // A pass that never ends delays the checkpoint by a quarter of the limit at most.
        assert_eq!(handoff(&mut asked, 8, 10_447, 8192), Handoff::Wait);
        assert_eq!(handoff(&mut asked, 8, 10_448, 8192), Handoff::Now);
    }
}
