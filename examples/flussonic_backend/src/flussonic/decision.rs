//! The `/auth` decision, in the order of the project it replaces: token known, status,
//! validity window, allowed IPs, allowed streams (rules that cannot be read deny: they
//! never count as "no rule"), then the session (a live known session
//! is a re-check; otherwise the user's live sessions across all its tokens are counted
//! against the limit before one is opened, see `db/user_sessions.rs`).
//!
//! It runs on the writer thread, inside the batch transaction, so the count and the
//! insert of a new session can never interleave with another request's. The access-log
//! row is written afterwards, off this path ([`Decision::log_row`]).

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{request::AuthRequest, rules};
use crate::{
    clock,
    db::{log_writer::LogRow, user_sessions},
    hex::hex,
};

/// Why a request was allowed or denied: the reason codes of the API and the access log.
/// Declared in the order of [`Reason::ALL`] (see [`Reason::index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Allowed: a new session was opened.
    NewSession,
    /// Allowed: a known, live session was re-checked and extended.
    Recheck,
    /// Denied: no token in the request.
    TokenMissing,
    /// Denied: the request could not be read, or lacks `name` or `ip`.
    InvalidRequest,
    /// Denied: unknown token.
    TokenNotFound,
    /// Denied: the token is suspended.
    TokenSuspended,
    /// Denied: the token is expired (by status or by `valid_until`).
    TokenExpired,
    /// Denied: before `valid_from`.
    TokenNotYetValid,
    /// Denied: the viewer's address is not in `allowed_ips`.
    IpNotAllowed,
    /// Denied: the stream is not in `allowed_streams`.
    StreamNotAllowed,
    /// Denied: the token's stored `allowed_ips` or `allowed_streams` cannot be read as
    /// a list of strings (a damaged or hand-edited row). A rule that cannot be read
    /// must not count as no rule, which would allow every address or stream.
    InvalidTokenRules,
    /// Denied: the user has `max_sessions` live sessions already.
    MaxSessionsReached,
}

impl Reason {
    /// Every reason, in a fixed order (the metrics' index).
    pub const ALL: [Reason; 12] = [
        Reason::NewSession,
        Reason::Recheck,
        Reason::TokenMissing,
        Reason::InvalidRequest,
        Reason::TokenNotFound,
        Reason::TokenSuspended,
        Reason::TokenExpired,
        Reason::TokenNotYetValid,
        Reason::IpNotAllowed,
        Reason::StreamNotAllowed,
        Reason::InvalidTokenRules,
        Reason::MaxSessionsReached,
    ];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NewSession => "new_session",
            Reason::Recheck => "session_recheck",
            Reason::TokenMissing => "token_missing",
            Reason::InvalidRequest => "invalid_request",
            Reason::TokenNotFound => "token_not_found",
            Reason::TokenSuspended => "token_suspended",
            Reason::TokenExpired => "token_expired",
            Reason::TokenNotYetValid => "token_not_yet_valid",
            Reason::IpNotAllowed => "ip_not_allowed",
            Reason::StreamNotAllowed => "stream_not_allowed",
            Reason::InvalidTokenRules => "invalid_token_rules",
            Reason::MaxSessionsReached => "max_sessions_reached",
        }
    }

    /// A human-readable message.
    pub fn message(self) -> &'static str {
        match self {
            Reason::NewSession => "Session opened",
            Reason::Recheck => "Session re-checked",
            Reason::TokenMissing => "No token in the request",
            Reason::InvalidRequest => "Malformed request",
            Reason::TokenNotFound => "Token not found",
            Reason::TokenSuspended => "Token is suspended",
            Reason::TokenExpired => "Token has expired",
            Reason::TokenNotYetValid => "Token is not valid yet",
            Reason::IpNotAllowed => "IP address not allowed for this token",
            Reason::StreamNotAllowed => "Stream not allowed for this token",
            Reason::InvalidTokenRules => "The token's IP or stream rules cannot be read",
            Reason::MaxSessionsReached => "Maximum number of concurrent sessions reached",
        }
    }

    /// Whether this reason allows playback.
    pub fn allowed(self) -> bool {
        matches!(self, Reason::NewSession | Reason::Recheck)
    }

    /// Position in [`Reason::ALL`] (which lists the reasons in declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the settings contribute to a decision.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Seconds sent as `X-AuthDuration`.
    pub auth_duration: u64,
    /// Seconds a session outlives it.
    pub session_grace: u64,
    /// Whether to write the access log.
    pub access_logs: bool,
    /// Whether re-checks go to the access log too (new sessions and denials always do).
    pub log_rechecks: bool,
}

impl Policy {
    /// Whether a decision for `reason` is written to the access log.
    pub fn logs(&self, reason: Reason) -> bool {
        self.access_logs && (self.log_rechecks || reason != Reason::Recheck)
    }

    /// A session's new expiry when checked at `now`: auth duration plus grace, rounded
    /// up to the whole second. Rounded, so that the re-checks of one session within the
    /// same second find its row already current and write nothing; up, so that it never
    /// expires before the promised time.
    pub fn expiry(&self, now: time::UtcDateTime) -> String {
        clock::stamp_after_ceil(now, self.auth_duration.saturating_add(self.session_grace))
    }
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Why.
    pub reason: Reason,
    /// The token's user, when the token is known.
    pub user_id: Option<String>,
    /// The token's session limit, when the token is known (0: none).
    pub max_sessions: Option<i64>,
    /// More detail for a malformed request.
    pub detail: Option<String>,
    /// When it was taken (RFC 3339 UTC).
    pub at: String,
}

impl Decision {
    /// The access-log row of this decision about `req`.
    pub fn log_row(&self, req: &AuthRequest) -> LogRow {
        LogRow {
            timestamp: self.at.clone(),
            token: req.token.clone(),
            user_id: self.user_id.clone(),
            stream_name: req.name.clone(),
            client_ip: req.ip.clone(),
            protocol: req.proto.clone(),
            result: if self.reason.allowed() {
                "allowed"
            } else {
                "denied"
            },
            reason: self.reason.code(),
            session_id: req.session_id.clone(),
        }
    }
}

struct TokenRow {
    id: i64,
    user_id: String,
    status: String,
    max_sessions: i64,
    valid_from: Option<String>,
    valid_until: Option<String>,
    allowed_ips: String,
    allowed_streams: String,
}

/// Decides `req` at the current time.
pub fn decide(conn: &Connection, req: &AuthRequest, policy: &Policy) -> rusqlite::Result<Decision> {
    let now_time = clock::now();
    let now = clock::stamp(now_time);
    let mut decision = evaluate(conn, req, policy, now_time, &now)?;
    decision.at = now;
    Ok(decision)
}

fn evaluate(
    conn: &Connection,
    req: &AuthRequest,
    policy: &Policy,
    now_time: time::UtcDateTime,
    now: &str,
) -> rusqlite::Result<Decision> {
    let deny = |reason: Reason, detail: Option<String>| Decision {
        reason,
        user_id: None,
        max_sessions: None,
        detail,
        at: String::new(),
    };
    if let Some(problem) = &req.problem {
        return Ok(deny(Reason::InvalidRequest, Some(problem.clone())));
    }
    let Some(token) = req.token.as_deref() else {
        return Ok(deny(Reason::TokenMissing, None));
    };
    let (Some(name), Some(ip)) = (req.name.as_deref(), req.ip.as_deref()) else {
        let missing = if req.name.is_none() { "name" } else { "ip" };
        return Ok(deny(
            Reason::InvalidRequest,
            Some(format!("missing parameter: {missing}")),
        ));
    };

    let row = conn
        .prepare_cached(
            "SELECT id, user_id, status, max_sessions, valid_from, valid_until, allowed_ips, allowed_streams
             FROM tokens WHERE token = ?1",
        )?
        .query_row([token], |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                status: r.get(2)?,
                max_sessions: r.get(3)?,
                valid_from: r.get(4)?,
                valid_until: r.get(5)?,
                allowed_ips: r.get(6)?,
                allowed_streams: r.get(7)?,
            })
        })
        .optional()?;
    let Some(row) = row else {
        return Ok(deny(Reason::TokenNotFound, None));
    };

    let key = session_key(req, name, ip, token);
    let refused = token_refusal(conn, &row, ip, name, now)?;
    let known = |reason| Decision {
        reason,
        user_id: Some(row.user_id.clone()),
        max_sessions: Some(row.max_sessions),
        detail: None,
        at: String::new(),
    };
    // A session belongs to its token: the same `session_id` under another token is
    // another session, which this request can neither extend nor end.
    if let Some(reason) = refused {
        // This token's session is no longer authorised: it stops counting.
        conn.prepare_cached("DELETE FROM active_sessions WHERE token_id = ?1 AND session_key = ?2")?
            .execute(params![row.id, key])?;
        return Ok(known(reason));
    }

    let expires = policy.expiry(now_time);
    let existing = conn
        .prepare_cached(
            "SELECT id, expires_at > ?3, expires_at >= ?4 FROM active_sessions
             WHERE token_id = ?1 AND session_key = ?2",
        )?
        .query_row(params![row.id, key, now, expires], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, bool>(2)?))
        })
        .optional()?;
    if let Some((session, true, current)) = existing {
        // Within the same second the row already says so: no page is written (the
        // expiry is indexed twice, so each rewrite costs three).
        if !current {
            conn.prepare_cached(
                "UPDATE active_sessions SET last_checked_at = ?2, expires_at = ?3 WHERE id = ?1",
            )?
            .execute(params![session, now, expires])?;
        }
        return Ok(known(Reason::Recheck));
    }

    // This session's own row, if any, has expired: it is not among the live ones counted.
    if !user_sessions::has_room(conn, &row.user_id, row.max_sessions, now)? {
        return Ok(known(Reason::MaxSessionsReached));
    }
    conn.prepare_cached(
        "INSERT INTO active_sessions (session_key, token_id, user_id, stream_name, client_ip, protocol,
                                      started_at, last_checked_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)
         ON CONFLICT (token_id, session_key) DO UPDATE SET
             user_id = excluded.user_id, stream_name = excluded.stream_name,
             client_ip = excluded.client_ip, protocol = excluded.protocol, started_at = excluded.started_at,
             last_checked_at = excluded.last_checked_at, expires_at = excluded.expires_at",
    )?
    .execute(params![
        key,
        row.id,
        row.user_id,
        name,
        ip,
        req.proto,
        now,
        expires
    ])?;
    Ok(known(Reason::NewSession))
}

/// The token-level checks, in order; `None` when the token may play.
fn token_refusal(
    conn: &Connection,
    row: &TokenRow,
    ip: &str,
    name: &str,
    now: &str,
) -> rusqlite::Result<Option<Reason>> {
    match row.status.as_str() {
        "suspended" => return Ok(Some(Reason::TokenSuspended)),
        "expired" => return Ok(Some(Reason::TokenExpired)),
        _ => {}
    }
    // Stored instants share one fixed-width UTC format: text order is time order.
    if row.valid_from.as_deref().is_some_and(|from| now < from) {
        return Ok(Some(Reason::TokenNotYetValid));
    }
    if row.valid_until.as_deref().is_some_and(|until| now >= until) {
        conn.prepare_cached("UPDATE tokens SET status = 'expired', updated_at = ?2 WHERE id = ?1")?
            .execute(params![row.id, now])?;
        return Ok(Some(Reason::TokenExpired));
    }
    if row.allowed_ips != "[]" {
        let Some(allowed) = stored_rules(row, "allowed_ips", &row.allowed_ips) else {
            return Ok(Some(Reason::InvalidTokenRules));
        };
        if !allowed.is_empty() && !rules::ip_allowed(&allowed, ip) {
            return Ok(Some(Reason::IpNotAllowed));
        }
    }
    if row.allowed_streams != "[]" {
        let Some(allowed) = stored_rules(row, "allowed_streams", &row.allowed_streams) else {
            return Ok(Some(Reason::InvalidTokenRules));
        };
        if !allowed.is_empty() && !rules::stream_allowed(&allowed, name) {
            return Ok(Some(Reason::StreamNotAllowed));
        }
    }
    Ok(None)
}

/// A rule column as stored: a JSON list of strings. Anything else is `None`, and an
/// error for the operator: the token then plays nowhere until the row is repaired,
/// rather than everywhere.
fn stored_rules(row: &TokenRow, column: &str, text: &str) -> Option<Vec<String>> {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(rules) => Some(rules),
        Err(error) => {
            tracing::error!(
                token_id = row.id,
                user_id = %row.user_id,
                column,
                %error,
                "the token's rules cannot be read: every /auth with this token is denied \
                 (invalid_token_rules) until the column holds a JSON list of strings again, \
                 or the token is deleted and created again"
            );
            None
        }
    }
}

/// Flussonic's `session_id` when sent; otherwise (old versions) a digest of name, ip
/// and token, so the token itself is not repeated in the sessions table. Either is a
/// session's key within its token (the sessions table is unique on both).
pub fn session_key(req: &AuthRequest, name: &str, ip: &str, token: &str) -> String {
    if let Some(id) = &req.session_id {
        return id.clone();
    }
    let mut hash = Sha256::new();
    for part in [name, ip, token] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("legacy:{}", hex(hash.finalize().iter().take(20)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    fn row(allowed_ips: &str, allowed_streams: &str) -> TokenRow {
        TokenRow {
            id: 1,
            user_id: "u".to_owned(),
            status: "active".to_owned(),
            max_sessions: 0,
            valid_from: None,
            valid_until: None,
            allowed_ips: allowed_ips.to_owned(),
            allowed_streams: allowed_streams.to_owned(),
        }
    }

    #[test]
    fn rules_that_cannot_be_read_deny_instead_of_allowing_everything() {
        let conn = Connection::open_in_memory().unwrap();
        let now = "2025-01-01T00:00:00.000000Z";
        let refusal = |ips: &str, streams: &str, ip: &str, name: &str| {
            token_refusal(&conn, &row(ips, streams), ip, name, now).unwrap()
        };
        for broken in ["not json", "{\"a\": 1}", "[1, 2]", "null", "\"10.0.0.0/8\"", ""] {
            assert_eq!(
                refusal(broken, "[]", "10.0.0.1", "live/a"),
                Some(Reason::InvalidTokenRules),
                "allowed_ips = {broken:?}"
            );
            assert_eq!(
                refusal("[]", broken, "10.0.0.1", "live/a"),
                Some(Reason::InvalidTokenRules),
                "allowed_streams = {broken:?}"
            );
        }
        // Readable rules decide as before; an empty list is no rule.
        assert_eq!(
            refusal("[\"10.0.0.0/8\"]", "[\"live/*\"]", "10.0.0.1", "live/a"),
            None
        );
        assert_eq!(refusal("[]", "[]", "192.0.2.1", "vod/x"), None);
        assert_eq!(
            refusal("[\"10.0.0.0/8\"]", "[]", "192.0.2.1", "live/a"),
            Some(Reason::IpNotAllowed)
        );
        assert_eq!(
            refusal("[]", "[\"live/*\"]", "10.0.0.1", "vod/x"),
            Some(Reason::StreamNotAllowed)
        );
        // The IP rules are checked first, as the reason order says.
        assert_eq!(
            refusal("[\"10.0.0.0/8\"]", "broken", "192.0.2.1", "vod/x"),
            Some(Reason::IpNotAllowed)
        );
    }

    #[test]
    fn reasons_are_indexed_by_their_place_in_all() {
        for (place, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), place, "{reason:?}");
        }
    }
}
