//! A small pool of read-only connections for the management API and the metrics.
//! In WAL mode readers never block the writer, nor the writer them; each read runs on
//! tokio's blocking pool so that a long listing never stalls the async workers.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use rusqlite::Connection;

use super::{
    error::DbError,
    schema::{self, Role},
};

/// Idle connections kept open; more are opened under load and closed afterwards.
const MAX_IDLE: usize = 4;

/// The pool.
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl ReadPool {
    /// A pool of connections to `path`, opened on demand.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `work` on a pooled connection, on the blocking pool.
    pub async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let result = work(&conn);
            pool.give(conn);
            result.map_err(DbError::from)
        })
        .await
        .map_err(|_| DbError::Closed)?
    }

    fn take(&self) -> Result<Connection, DbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DbError::Closed);
        }
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        match pooled {
            Some(conn) => Ok(conn),
            None => Ok(schema::open(&self.path, Role::Reader)?),
        }
    }

    fn give(&self, conn: Connection) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// Closes the idle connections and refuses further reads.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
