//! Background cleanup: expired sessions every SESSION_CLEANUP_INTERVAL, and access
//! logs past their retention (in the log database, on its own writer), deleted in
//! chunks so that no single transaction holds a writer for long.

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

/// Starts the periodic cleanup.
pub fn spawn(db: Db, metrics: Arc<Metrics>, interval: Duration, retention_days: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Expired rows never count, so nothing is urgent at start: the first tick, which
        // is immediate, is skipped, and the first run comes after one interval.
        tick.tick().await;
        loop {
            tick.tick().await;
            match run_once(&db, retention_days).await {
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

/// Deletes expired sessions and old access logs; returns how many of each.
pub async fn run_once(db: &Db, retention_days: u32) -> Result<(usize, usize), DbError> {
    let sessions = expired_sessions(db).await?;
    let mut logs: usize = 0;
    if retention_days > 0 {
        let cutoff = clock::stamp_before_days(clock::now(), retention_days);
        loop {
            let cutoff = cutoff.clone();
            let deleted = db
                .write_logs(move |conn| logs::delete_older(conn, &cutoff, CHUNK))
                .await?;
            logs = logs.saturating_add(deleted);
            if (deleted as i64) < CHUNK {
                break;
            }
        }
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
