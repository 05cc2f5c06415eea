//! The `access_logs` table: one row per `/auth` decision.

use rusqlite::{Connection, Row, params};
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
