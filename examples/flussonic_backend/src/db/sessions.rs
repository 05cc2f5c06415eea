//! The `active_sessions` table as the management API and the cleanup see it (the
//! `/auth` decision has its own statements in `flussonic/decision.rs`).

use rusqlite::{Connection, Row, params};
use serde::Serialize;

use super::query::Query;

/// An open viewing session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Row id (for `DELETE /api/sessions/{id}`).
    pub id: i64,
    /// Flussonic's `session_id`, or `legacy:<hash of name, ip, token>` for old versions;
    /// unique within its token (another token's session may have the same key).
    pub session_key: String,
    /// The token it was opened with.
    pub token_id: i64,
    /// The token's user.
    pub user_id: String,
    /// Stream name.
    pub stream_name: String,
    /// Viewer address.
    pub client_ip: String,
    /// Protocol, as Flussonic sent it.
    pub protocol: Option<String>,
    /// First check.
    pub started_at: String,
    /// Latest check.
    pub last_checked_at: String,
    /// When it stops counting unless re-checked (auth duration + grace after the latest check).
    pub expires_at: String,
}

impl Session {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            session_key: row.get(1)?,
            token_id: row.get(2)?,
            user_id: row.get(3)?,
            stream_name: row.get(4)?,
            client_ip: row.get(5)?,
            protocol: row.get(6)?,
            started_at: row.get(7)?,
            last_checked_at: row.get(8)?,
            expires_at: row.get(9)?,
        })
    }
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this user's sessions.
    pub user_id: Option<String>,
    /// Only sessions of this token.
    pub token_id: Option<i64>,
    /// Only sessions of this stream.
    pub stream: Option<String>,
    /// Rows to skip.
    pub skip: i64,
    /// Rows to return.
    pub limit: i64,
}

/// Live (unexpired) sessions, oldest first.
pub fn list(conn: &Connection, filter: &Filter, now: &str) -> rusqlite::Result<Vec<Session>> {
    let mut query = Query::new(
        "SELECT id, session_key, token_id, user_id, stream_name, client_ip, protocol,
                started_at, last_checked_at, expires_at
         FROM active_sessions",
    );
    // A user's sessions are those of the user's tokens: found through the indexes of
    // both tables (the sessions table has no index of its own by user).
    query
        .filter("expires_at > ?", Some(now.to_owned()))
        .filter(
            "token_id IN (SELECT id FROM tokens WHERE user_id = ?)",
            filter.user_id.clone(),
        )
        .filter("user_id = ?", filter.user_id.clone())
        .filter("token_id = ?", filter.token_id)
        .filter("stream_name = ?", filter.stream.clone());
    query.fetch(conn, "id", filter.limit, filter.skip, Session::from_row)
}

/// Ends session `id` (the next check of it counts as a new session).
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM active_sessions WHERE id = ?1")?
        .execute([id])?
        > 0)
}

/// Deletes up to `chunk` expired sessions, returning how many (small chunks keep each
/// writer transaction, which decisions share, short).
pub fn delete_expired(conn: &Connection, now: &str, chunk: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM active_sessions WHERE id IN
            (SELECT id FROM active_sessions WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now, chunk])
}

/// Live sessions.
pub fn count_open(conn: &Connection, now: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COUNT(*) FROM active_sessions WHERE expires_at > ?1")?
        .query_row([now], |r| r.get(0))
}
