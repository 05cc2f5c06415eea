//! Whether a user may open one more session, at a cost that does not grow with the
//! number of sessions.
//!
//! Why: counting a user's live sessions by walking an index of them cost one step per
//! session, on every new session, inside the writer's transaction: new sessions slowed
//! down as sessions accumulated. The `user_sessions` table (kept by triggers, see
//! `schema.rs`) holds each user's number of session rows and a lower bound of their
//! expiries. Rows that have expired but are not yet deleted are in the number, so it is
//! exact only when the bound is still ahead; when it is not and the number is at the
//! limit, the user's expired rows are deleted first (work the cleanup would have done)
//! and the bound is computed again.

use rusqlite::{Connection, OptionalExtension, params};

/// Whether `user_id` has fewer than `limit` sessions live at `now` (a `limit` of 0:
/// no limit). Runs on the writer, in the decision's transaction.
pub fn has_room(conn: &Connection, user_id: &str, limit: i64, now: &str) -> rusqlite::Result<bool> {
    if limit <= 0 {
        return Ok(true);
    }
    let (sessions, earliest_expiry) = counted(conn, user_id)?;
    if sessions < limit {
        return Ok(true);
    }
    // Every counted session is live until the earliest expiry: the count is exact.
    if earliest_expiry.is_some_and(|earliest| earliest.as_str() > now) {
        return Ok(false);
    }
    forget_expired(conn, user_id, now)?;
    Ok(counted(conn, user_id)?.0 < limit)
}

/// The user's counted sessions and the lower bound of their expiries.
fn counted(conn: &Connection, user_id: &str) -> rusqlite::Result<(i64, Option<String>)> {
    Ok(conn
        .prepare_cached("SELECT sessions, earliest_expiry FROM user_sessions WHERE user_id = ?1")?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, None)))
}

/// Deletes the user's expired sessions and records the earliest expiry of the rest.
/// A user's sessions are those of the user's tokens (a token given to another user
/// takes its sessions along), found through two indexes.
fn forget_expired(conn: &Connection, user_id: &str, now: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM active_sessions
         WHERE token_id IN (SELECT id FROM tokens WHERE user_id = ?1) AND user_id = ?1 AND expires_at <= ?2",
    )?
    .execute(params![user_id, now])?;
    conn.prepare_cached(
        "UPDATE user_sessions SET earliest_expiry =
             (SELECT MIN(expires_at) FROM active_sessions
              WHERE token_id IN (SELECT id FROM tokens WHERE user_id = ?1) AND user_id = ?1)
         WHERE user_id = ?1",
    )?
    .execute([user_id])?;
    Ok(())
}
