//! Reading the Python backend's database file, read-only: its tokens, how many sessions
//! it holds, and its access log in chunks.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, types::Value};
use sha2::{Digest, Sha256};

use crate::{db::schema, hex::hex};

/// A row of the Python backend's `tokens` table, each column as SQLite holds it (its
/// columns are typed loosely: a hand edit can leave any type in any of them).
#[derive(Debug, Clone, PartialEq)]
pub struct PythonToken {
    /// `id`.
    pub id: Value,
    /// `token`.
    pub token: Value,
    /// `user_id`.
    pub user_id: Value,
    /// `status`.
    pub status: Value,
    /// `max_sessions`.
    pub max_sessions: Value,
    /// `valid_from`.
    pub valid_from: Value,
    /// `valid_until`.
    pub valid_until: Value,
    /// `allowed_ips`.
    pub allowed_ips: Value,
    /// `allowed_streams`.
    pub allowed_streams: Value,
    /// `meta`.
    pub meta: Value,
    /// `created_at`.
    pub created_at: Value,
    /// `updated_at`.
    pub updated_at: Value,
}

/// A row of the Python backend's `access_logs` table, as SQLite holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonLogRow {
    /// `id` (the table's rowid: always an integer).
    pub id: i64,
    /// `timestamp`.
    pub timestamp: Value,
    /// `token`.
    pub token: Value,
    /// `user_id`.
    pub user_id: Value,
    /// `stream_name`.
    pub stream_name: Value,
    /// `client_ip`.
    pub client_ip: Value,
    /// `protocol`.
    pub protocol: Value,
    /// `result`.
    pub result: Value,
    /// `reason`.
    pub reason: Value,
}

/// The Python backend's database, opened read-only.
pub struct Source {
    conn: Connection,
    path: PathBuf,
}

impl Source {
    /// Opens `path` read-only (it is never created or changed) and checks that it is the
    /// Python backend's database.
    pub fn open(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        if !path.is_file() {
            return Err(format!("{shown}: no such file"));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| format!("cannot open {shown}: {e}"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| format!("{shown}: {e}"))?;
        let python = schema::is_python_database(&conn).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if !python {
            let version: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            return Err(if version > 0 {
                format!(
                    "{shown} is a database of this backend (schema version {version}), not the Python backend's: \
                     nothing to import"
                )
            } else {
                format!(
                    "{shown} is not the Python backend's database: it has no `tokens` table with the columns {}",
                    schema::PYTHON_TOKEN_COLUMNS.join(", ")
                )
            });
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every token, by id.
    pub fn tokens(&self) -> Result<Vec<PythonToken>, String> {
        let read = || -> rusqlite::Result<Vec<PythonToken>> {
            let mut stmt = self.conn.prepare(
                "SELECT id, token, user_id, status, max_sessions, valid_from, valid_until, allowed_ips,
                        allowed_streams, meta, created_at, updated_at
                 FROM tokens ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(PythonToken {
                    id: r.get(0)?,
                    token: r.get(1)?,
                    user_id: r.get(2)?,
                    status: r.get(3)?,
                    max_sessions: r.get(4)?,
                    valid_from: r.get(5)?,
                    valid_until: r.get(6)?,
                    allowed_ips: r.get(7)?,
                    allowed_streams: r.get(8)?,
                    meta: r.get(9)?,
                    created_at: r.get(10)?,
                    updated_at: r.get(11)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| format!("reading the tokens of {}: {e}", self.path.display()))
    }

    /// How many rows `table` has, if the file has that table.
    pub fn count(&self, table: &str) -> Result<Option<i64>, String> {
        let count = || -> rusqlite::Result<Option<i64>> {
            let exists = self
                .conn
                .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
                .exists([table])?;
            if !exists {
                return Ok(None);
            }
            // `table` is one of this module's constants, never input.
            self.conn
                .query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| r.get(0))
                .map(Some)
        };
        count().map_err(|e| format!("reading {} of {}: {e}", table, self.path.display()))
    }

    /// What tells this file's access log from another's: a digest of its first row (none
    /// while the log is empty or absent). Kept with the import's progress, so that the
    /// same log is recognised under another path (a copy of the file), and another log is
    /// never taken for it.
    pub fn log_identity(&self) -> Result<Option<String>, String> {
        if self.count("access_logs")?.is_none() {
            return Ok(None);
        }
        let first = self
            .conn
            .query_row(
                "SELECT id, CAST(timestamp AS TEXT), CAST(token AS TEXT), CAST(result AS TEXT)
                 FROM access_logs ORDER BY id LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| format!("reading the access log of {}: {e}", self.path.display()))?;
        Ok(first.map(|(id, timestamp, token, result)| {
            let mut hash = Sha256::new();
            hash.update(id.to_string());
            for part in [timestamp, token, result] {
                hash.update([0]);
                hash.update(part.unwrap_or_default());
            }
            format!("python-access-log:{}", hex(hash.finalize().iter().take(16)))
        }))
    }

    /// Up to `limit` access-log rows with an id above `after`, by id.
    pub fn log_rows(&self, after: i64, limit: i64) -> Result<Vec<PythonLogRow>, String> {
        let read = || -> rusqlite::Result<Vec<PythonLogRow>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, timestamp, token, user_id, stream_name, client_ip, protocol, result, reason
                 FROM access_logs WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map([after, limit], |r| {
                Ok(PythonLogRow {
                    id: r.get(0)?,
                    timestamp: r.get(1)?,
                    token: r.get(2)?,
                    user_id: r.get(3)?,
                    stream_name: r.get(4)?,
                    client_ip: r.get(5)?,
                    protocol: r.get(6)?,
                    result: r.get(7)?,
                    reason: r.get(8)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| format!("reading the access log of {}: {e}", self.path.display()))
    }
}
