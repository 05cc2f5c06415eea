//! The `access_logs` table: one row per `/auth` decision.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::query::Query;

/// One decision, as written and as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessLog {
    /// Row id.
    pub id: i64,
    /// When (RFC 3339 UTC).
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
    pub result: String,
    /// The reason code.
    pub reason: String,
    /// Flussonic's session id, if sent.
    pub session_id: Option<String>,
}

impl AccessLog {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            timestamp: row.get(1)?,
            token: row.get(2)?,
            user_id: row.get(3)?,
            stream_name: row.get(4)?,
            client_ip: row.get(5)?,
            protocol: row.get(6)?,
            result: row.get(7)?,
            reason: row.get(8)?,
            session_id: row.get(9)?,
        })
    }
}

/// A row to write (borrowed from the request being decided).
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// See [`AccessLog`].
    pub timestamp: &'a str,
    /// See [`AccessLog`].
    pub token: Option<&'a str>,
    /// See [`AccessLog`].
    pub user_id: Option<&'a str>,
    /// See [`AccessLog`].
    pub stream_name: Option<&'a str>,
    /// See [`AccessLog`].
    pub client_ip: Option<&'a str>,
    /// See [`AccessLog`].
    pub protocol: Option<&'a str>,
    /// See [`AccessLog`].
    pub result: &'a str,
    /// See [`AccessLog`].
    pub reason: &'a str,
    /// See [`AccessLog`].
    pub session_id: Option<&'a str>,
}

/// Writes one row (inside the writer's batch transaction: no commit of its own).
pub fn insert(conn: &Connection, e: &Entry<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO access_logs (timestamp, token, user_id, stream_name, client_ip, protocol,
                                  result, reason, session_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.timestamp,
        e.token,
        e.user_id,
        e.stream_name,
        e.client_ip,
        e.protocol,
        e.result,
        e.reason,
        e.session_id
    ])?;
    Ok(())
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this token.
    pub token: Option<String>,
    /// Only this user.
    pub user_id: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only `allowed` or only `denied`.
    pub result: Option<String>,
    /// Only this reason code.
    pub reason: Option<String>,
    /// At or after (RFC 3339 UTC, canonical).
    pub since: Option<String>,
    /// Before (RFC 3339 UTC, canonical).
    pub until: Option<String>,
    /// Rows to skip.
    pub skip: i64,
    /// Rows to return.
    pub limit: i64,
}

/// Matching rows, newest first.
pub fn list(conn: &Connection, filter: &Filter) -> rusqlite::Result<Vec<AccessLog>> {
    let mut query = Query::new(
        "SELECT id, timestamp, token, user_id, stream_name, client_ip, protocol, result, reason, session_id
         FROM access_logs",
    );
    query
        .filter("token = ?", filter.token.clone())
        .filter("user_id = ?", filter.user_id.clone())
        .filter("stream_name = ?", filter.stream.clone())
        .filter("result = ?", filter.result.clone())
        .filter("reason = ?", filter.reason.clone())
        .filter("timestamp >= ?", filter.since.clone())
        .filter("timestamp < ?", filter.until.clone());
    query.fetch(
        conn,
        "timestamp DESC, id DESC",
        filter.limit,
        filter.skip,
        AccessLog::from_row,
    )
}

/// Deletes up to `chunk` rows older than `cutoff`, returning how many (small chunks
/// keep each writer transaction short).
pub fn delete_older(conn: &Connection, cutoff: &str, chunk: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM access_logs WHERE id IN
            (SELECT id FROM access_logs WHERE timestamp < ?1 ORDER BY timestamp LIMIT ?2)",
    )?
    .execute(params![cutoff, chunk])
}

/// How many of the oldest rows must go for the log to fit within `max_rows` rows and
/// `max_bytes` bytes of its file (0: no bound). Cheap while the log is well within both
/// (the ids' range and the file's page counts bound the rows and their space from above);
/// otherwise the rows are counted. The space is shared out evenly: a row takes the
/// average of the pages in use, which holds for a log whose structures (the table and
/// its index by time) grow at one end and are cut back at the other.
pub fn excess(conn: &Connection, max_rows: u64, max_bytes: u64) -> rusqlite::Result<u64> {
    let (first, last): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(id), MAX(id) FROM access_logs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(0);
    };
    let most_rows = u64::try_from(last.saturating_sub(first))
        .unwrap_or(0)
        .saturating_add(1);
    let in_use = bytes_in_use(conn)?;
    let over_rows = max_rows > 0 && most_rows > max_rows;
    let over_size = max_bytes > 0 && in_use > max_bytes;
    if !over_rows && !over_size {
        return Ok(0);
    }
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM access_logs", [], |r| r.get(0))?;
    let rows = u64::try_from(rows).unwrap_or(0);
    let mut keep = rows;
    if max_rows > 0 {
        keep = keep.min(max_rows);
    }
    if over_size {
        // rows × max_bytes / in_use, in 128 bits: both factors may be large.
        let fitting = u128::from(rows)
            .saturating_mul(u128::from(max_bytes))
            .checked_div(u128::from(in_use))
            .unwrap_or(0);
        keep = keep.min(u64::try_from(fitting).unwrap_or(u64::MAX));
    }
    Ok(rows.saturating_sub(keep))
}

/// Bytes of the log's file in pages that hold data (the file itself keeps its size:
/// freed pages are reused by later rows).
pub fn bytes_in_use(conn: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| -> rusqlite::Result<u64> {
        let value: i64 = conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
        Ok(u64::try_from(value).unwrap_or(0))
    };
    let pages = pragma("page_count")?.saturating_sub(pragma("freelist_count")?);
    Ok(pages.saturating_mul(pragma("page_size")?))
}

/// Deletes the `count` oldest rows (by time, then id), returning how many.
pub fn delete_oldest(conn: &Connection, count: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM access_logs WHERE id IN
            (SELECT id FROM access_logs ORDER BY timestamp, id LIMIT ?1)",
    )?
    .execute([count])
}

/// Creates, if needed, the table in which imports of another program's access log record
/// how far they got (see `ops/import_python`): one row per source.
pub fn create_import_marks(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS imported_access_logs (
             source     TEXT    PRIMARY KEY,
             last_id    INTEGER NOT NULL,
             rows       INTEGER NOT NULL,
             updated_at TEXT    NOT NULL
         );",
    )
}

/// The last row id of `source` imported so far, and how many rows were written.
pub fn import_mark(conn: &Connection, source: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.prepare_cached("SELECT last_id, rows FROM imported_access_logs WHERE source = ?1")?
        .query_row([source], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Records that the rows of `source` up to `last_id` are imported, `written` more of them.
pub fn set_import_mark(
    conn: &Connection,
    source: &str,
    last_id: i64,
    written: i64,
    now: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO imported_access_logs (source, last_id, rows, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source) DO UPDATE SET
             last_id = excluded.last_id, rows = rows + excluded.rows, updated_at = excluded.updated_at",
    )?
    .execute(params![source, last_id, written, now])?;
    Ok(())
}
