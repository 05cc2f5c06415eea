//! Background cleanup: expired sessions every SESSION_CLEANUP_INTERVAL, and the access
//! log (in the log database, on its own writer) cut back to its bounds: rows past their
//! retention, then the oldest rows beyond the bound on rows or on size. Deleted in
//! chunks, so that no single transaction holds a writer for long.

use std::{sync::Arc, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use super::metrics::recorder::Metrics;
use crate::{
    clock,
    db::{Db, DbError, logs, sessions},
};

/// Access-log rows deleted per transaction (on the log's own writer).
const CHUNK: i64 = 5000;
/// Sessions deleted per transaction: the writer's transactions are shared with
/// decisions, which wait for the whole batch (a deletion also updates the user's count).
const SESSION_CHUNK: i64 = 500;
/// Rounds of measuring and cutting the log back to its size bound: the first usually
/// does it, a second when the rows deleted were smaller than the average.
const SIZE_ROUNDS: usize = 4;

/// How much access log to keep (0: no bound of that kind).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogBounds {
    /// Rows older than this many days go.
    pub retention_days: u32,
    /// At most this many rows are kept, the newest.
    pub max_rows: u64,
    /// The rows kept take at most this many bytes of the log's file.
    pub max_bytes: u64,
}

/// Starts the periodic cleanup.
pub fn spawn(db: Db, metrics: Arc<Metrics>, interval: Duration, bounds: LogBounds) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Expired rows never count, so nothing is urgent at start: the first tick, which
        // is immediate, is skipped, and the first run comes after one interval.
        tick.tick().await;
        loop {
            tick.tick().await;
            match run_once(&db, &bounds).await {
                Ok((0, 0)) => {}
                Ok((sessions, logs)) => {
                    metrics.cleaned(sessions, logs);
                    tracing::info!(sessions, access_logs = logs, "cleanup");
                }
                Err(DbError::Closed) => return,
                Err(error) => tracing::warn!(%error, "cleanup failed"),
            }
        }
    })
}

/// Deletes expired sessions and the access log beyond its bounds; returns how many of each.
pub async fn run_once(db: &Db, bounds: &LogBounds) -> Result<(usize, usize), DbError> {
    let sessions = expired_sessions(db).await?;
    let mut logs = 0;
    if bounds.retention_days > 0 {
        let cutoff = clock::stamp_before_days(clock::now(), bounds.retention_days);
        loop {
            let cutoff = cutoff.clone();
            let deleted = db
                .write_logs(move |conn| logs::delete_older(conn, &cutoff, CHUNK))
                .await?;
            logs = usize::saturating_add(logs, deleted);
            if (deleted as i64) < CHUNK {
                break;
            }
        }
    }
    if bounds.max_rows > 0 || bounds.max_bytes > 0 {
        logs = logs.saturating_add(oldest_logs_beyond(db, bounds).await?);
    }
    Ok((sessions, logs))
}

/// Deletes the sessions expired now, in chunks; returns how many.
pub async fn expired_sessions(db: &Db) -> Result<usize, DbError> {
    let now = clock::stamp(clock::now());
    let mut deleted: usize = 0;
    loop {
        let now = now.clone();
        let chunk = db
            .write(move |conn| sessions::delete_expired(conn, &now, SESSION_CHUNK))
            .await?;
        deleted = deleted.saturating_add(chunk);
        if (chunk as i64) < SESSION_CHUNK {
            return Ok(deleted);
        }
    }
}

/// Deletes the oldest access-log rows beyond the bounds on rows and size; returns how many.
async fn oldest_logs_beyond(db: &Db, bounds: &LogBounds) -> Result<usize, DbError> {
    let (max_rows, max_bytes) = (bounds.max_rows, bounds.max_bytes);
    let mut deleted: usize = 0;
    for _ in 0..SIZE_ROUNDS {
        let mut excess = db
            .write_logs(move |conn| logs::excess(conn, max_rows, max_bytes))
            .await?;
        if excess == 0 {
            break;
        }
        while excess > 0 {
            let chunk = i64::try_from(excess).unwrap_or(i64::MAX).min(CHUNK);
            let gone = db
                .write_logs(move |conn| logs::delete_oldest(conn, chunk))
                .await?;
            deleted = deleted.saturating_add(gone);
            if gone == 0 {
                return Ok(deleted);
            }
            excess = excess.saturating_sub(gone as u64);
        }
    }
    Ok(deleted)
}
