//! The `tokens` table: rows, validated inputs, and the statements the management API runs.

use std::io::Write as _;

use rusqlite::{Connection, OptionalExtension, Row, params, types::ValueRef};
use serde::Serialize;
use serde_json::Value;

use super::query::Query;

/// A token as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Token {
    /// Row id.
    pub id: i64,
    /// The token string viewers present.
    pub token: String,
    /// Whose token it is; the session limit counts across all of a user's tokens.
    pub user_id: String,
    /// `active`, `suspended` or `expired`.
    pub status: String,
    /// The user's concurrent sessions allowed when playing with this token (0: no limit).
    pub max_sessions: i64,
    /// Not valid before (RFC 3339 UTC), if set.
    pub valid_from: Option<String>,
    /// Not valid after (RFC 3339 UTC), if set.
    pub valid_until: Option<String>,
    /// Addresses and CIDR ranges allowed (empty: any).
    pub allowed_ips: Vec<String>,
    /// Stream names or `prefix*` patterns allowed (empty: any).
    pub allowed_streams: Vec<String>,
    /// Free-form JSON kept for the operator.
    pub meta: Option<Value>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// The statuses a token can have.
pub const STATUSES: &[&str] = &["active", "suspended", "expired"];

const COLUMNS: &str = "id, token, user_id, status, max_sessions, valid_from, valid_until, \
                       allowed_ips, allowed_streams, meta, created_at, updated_at";

impl Token {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            token: row.get(1)?,
            user_id: row.get(2)?,
            status: row.get(3)?,
            max_sessions: row.get(4)?,
            valid_from: row.get(5)?,
            valid_until: row.get(6)?,
            allowed_ips: json_column(row, 7)?,
            allowed_streams: json_column(row, 8)?,
            meta: match row.get::<_, Option<String>>(9)? {
                Some(text) => Some(parse_json(9, &text)?),
                None => None,
            },
            created_at: row.get(10)?,
            updated_at: row.get(11)?,
        })
    }
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse_json(index, &text)
}

fn parse_json<T: serde::de::DeserializeOwned>(index: usize, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// A validated new token.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// See [`Token`].
    pub token: String,
    /// See [`Token`].
    pub user_id: String,
    /// See [`Token`].
    pub status: String,
    /// See [`Token`].
    pub max_sessions: i64,
    /// See [`Token`]; `None` (absent): the creation time; `Some(None)`: no lower bound.
    pub valid_from: Option<Option<String>>,
    /// See [`Token`].
    pub valid_until: Option<String>,
    /// See [`Token`].
    pub allowed_ips: Vec<String>,
    /// See [`Token`].
    pub allowed_streams: Vec<String>,
    /// See [`Token`].
    pub meta: Option<Value>,
}

/// A validated change: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct TokenPatch {
    /// New token string.
    pub token: Option<String>,
    /// New user id.
    pub user_id: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// New limit.
    pub max_sessions: Option<i64>,
    /// New or cleared start.
    pub valid_from: Option<Option<String>>,
    /// New or cleared end.
    pub valid_until: Option<Option<String>>,
    /// New list (cleared: empty).
    pub allowed_ips: Option<Vec<String>>,
    /// New list (cleared: empty).
    pub allowed_streams: Option<Vec<String>>,
    /// New or cleared meta.
    pub meta: Option<Option<Value>>,
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// No token with that id.
    NotFound,
    /// Another token already has that token string.
    Duplicate,
    /// A field (named) is invalid given the token's other fields.
    Invalid(&'static str, String),
}

/// Filters for [`list_json`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only tokens with this status.
    pub status: Option<String>,
    /// Only this user's tokens.
    pub user_id: Option<String>,
    /// Rows to skip.
    pub skip: i64,
    /// Rows to return.
    pub limit: i64,
}

/// Inserts a token, refusing a duplicate token string.
pub fn insert(conn: &Connection, new: &NewToken, now: &str) -> rusqlite::Result<Result<Token, WriteError>> {
    if exists(conn, &new.token, None)? {
        return Ok(Err(WriteError::Duplicate));
    }
    let valid_from = new.valid_from.clone().unwrap_or_else(|| Some(now.to_owned()));
    if let (Some(from), Some(until)) = (&valid_from, &new.valid_until)
        && until <= from
    {
        return Ok(Err(WriteError::Invalid(
            "valid_until",
            "must be later than valid_from".to_owned(),
        )));
    }
    conn.prepare_cached(
        "INSERT INTO tokens (token, user_id, status, max_sessions, valid_from, valid_until,
                             allowed_ips, allowed_streams, meta, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        new.token,
        new.user_id,
        new.status,
        new.max_sessions,
        valid_from,
        new.valid_until,
        json_text(&new.allowed_ips),
        json_text(&new.allowed_streams),
        new.meta.as_ref().map(Value::to_string),
        now,
    ])?;
    let id = conn.last_insert_rowid();
    get(conn, id)?.map(Ok).ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// Applies a change to token `id`.
pub fn update(
    conn: &Connection,
    id: i64,
    patch: &TokenPatch,
    now: &str,
) -> rusqlite::Result<Result<Token, WriteError>> {
    let Some(mut token) = get(conn, id)? else {
        return Ok(Err(WriteError::NotFound));
    };
    if let Some(new) = &patch.token {
        if *new != token.token && exists(conn, new, Some(id))? {
            return Ok(Err(WriteError::Duplicate));
        }
        token.token.clone_from(new);
    }
    if let Some(v) = &patch.user_id {
        token.user_id.clone_from(v);
    }
    if let Some(v) = &patch.status {
        token.status.clone_from(v);
    }
    if let Some(v) = patch.max_sessions {
        token.max_sessions = v;
    }
    if let Some(v) = &patch.valid_from {
        token.valid_from.clone_from(v);
    }
    if let Some(v) = &patch.valid_until {
        token.valid_until.clone_from(v);
    }
    if let Some(v) = &patch.allowed_ips {
        token.allowed_ips.clone_from(v);
    }
    if let Some(v) = &patch.allowed_streams {
        token.allowed_streams.clone_from(v);
    }
    if let Some(v) = &patch.meta {
        token.meta.clone_from(v);
    }
    if let (Some(from), Some(until)) = (&token.valid_from, &token.valid_until)
        && until <= from
    {
        let field = if patch.valid_until.is_some() {
            "valid_until"
        } else {
            "valid_from"
        };
        return Ok(Err(WriteError::Invalid(
            field,
            "valid_until must be later than valid_from".to_owned(),
        )));
    }
    token.updated_at = now.to_owned();
    overwrite(conn, id, &token)?;
    Ok(Ok(token))
}

/// Deletes token `id`; its sessions go with it (`ON DELETE CASCADE`, foreign keys on).
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM tokens WHERE id = ?1")?
        .execute([id])?
        > 0)
}

/// Token `id`.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Token>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"))?
        .query_row([id], Token::from_row)
        .optional()
}

/// Tokens by id, filtered and paged, as a JSON array, written straight from the rows: no per-field
/// allocation, and the JSON columns (written by this program, so valid JSON) are copied
/// as they are. It serialises exactly as [`Token`] does.
pub fn list_json(conn: &Connection, filter: &Filter) -> rusqlite::Result<Vec<u8>> {
    // About 320 bytes a token; a listing returns at most 1000.
    let rows = usize::try_from(filter.limit.clamp(0, 1000)).unwrap_or(0);
    let mut out = Vec::with_capacity(rows.saturating_mul(320).saturating_add(64));
    out.push(b'[');
    list_query(filter).for_each(conn, "id", filter.limit, filter.skip, |row| {
        if out.len() > 1 {
            out.push(b',');
        }
        write_json(&mut out, row)
    })?;
    out.push(b']');
    Ok(out)
}

fn list_query(filter: &Filter) -> Query {
    let mut query = Query::new(&format!("SELECT {COLUMNS} FROM tokens"));
    query
        .filter("status = ?", filter.status.clone())
        .filter("user_id = ?", filter.user_id.clone());
    query
}

fn write_json(out: &mut Vec<u8>, row: &Row<'_>) -> rusqlite::Result<()> {
    let text = |i: usize| -> rusqlite::Result<Option<&str>> {
        Ok(match row.get_ref(i)? {
            ValueRef::Null => None,
            value => Some(value.as_str()?),
        })
    };
    let string = |out: &mut Vec<u8>, s: Option<&str>| match s {
        // Writing to a Vec cannot fail.
        Some(s) => drop(serde_json::to_writer(&mut *out, s)),
        None => out.extend_from_slice(b"null"),
    };
    let int = |out: &mut Vec<u8>, i: usize| -> rusqlite::Result<()> {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", row.get::<_, i64>(i)?);
        Ok(())
    };
    out.extend_from_slice(b"{\"id\":");
    int(out, 0)?;
    out.extend_from_slice(b",\"token\":");
    string(out, text(1)?);
    out.extend_from_slice(b",\"user_id\":");
    string(out, text(2)?);
    out.extend_from_slice(b",\"status\":");
    string(out, text(3)?);
    out.extend_from_slice(b",\"max_sessions\":");
    int(out, 4)?;
    out.extend_from_slice(b",\"valid_from\":");
    string(out, text(5)?);
    out.extend_from_slice(b",\"valid_until\":");
    string(out, text(6)?);
    out.extend_from_slice(b",\"allowed_ips\":");
    out.extend_from_slice(text(7)?.unwrap_or("[]").as_bytes());
    out.extend_from_slice(b",\"allowed_streams\":");
    out.extend_from_slice(text(8)?.unwrap_or("[]").as_bytes());
    out.extend_from_slice(b",\"meta\":");
    out.extend_from_slice(text(9)?.unwrap_or("null").as_bytes());
    out.extend_from_slice(b",\"created_at\":");
    string(out, text(10)?);
    out.extend_from_slice(b",\"updated_at\":");
    string(out, text(11)?);
    out.push(b'}');
    Ok(())
}

/// The token with this token string, if any; `Err` when its row cannot be read (a
/// rule or `meta` column damaged by hand).
pub fn find(conn: &Connection, token: &str) -> rusqlite::Result<Option<Token>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM tokens WHERE token = ?1"))?
        .query_row([token], Token::from_row)
        .optional()
}

/// Inserts `token` with every field as given, timestamps included (an import): with its
/// `id` when `keep_id` and no token has that id, otherwise with a new one. Returns the
/// id. The caller has checked the fields as the API would, and that the token string
/// is new.
pub fn insert_exact(conn: &Connection, token: &Token, keep_id: bool) -> rusqlite::Result<i64> {
    let id_free = keep_id
        && !conn
            .prepare_cached("SELECT 1 FROM tokens WHERE id = ?1")?
            .exists([token.id])?;
    conn.prepare_cached(
        "INSERT INTO tokens (id, token, user_id, status, max_sessions, valid_from, valid_until,
                             allowed_ips, allowed_streams, meta, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        id_free.then_some(token.id),
        token.token,
        token.user_id,
        token.status,
        token.max_sessions,
        token.valid_from,
        token.valid_until,
        json_text(&token.allowed_ips),
        json_text(&token.allowed_streams),
        token.meta.as_ref().map(Value::to_string),
        token.created_at,
        token.updated_at,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Replaces every field of token `id` but its id with those of `token`, timestamps
/// included (an update, or an import); the token's open sessions follow a new user id,
/// so the per-user limit stays right.
pub fn overwrite(conn: &Connection, id: i64, token: &Token) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE tokens SET token = ?2, user_id = ?3, status = ?4, max_sessions = ?5, valid_from = ?6,
                valid_until = ?7, allowed_ips = ?8, allowed_streams = ?9, meta = ?10, created_at = ?11,
                updated_at = ?12
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        token.token,
        token.user_id,
        token.status,
        token.max_sessions,
        token.valid_from,
        token.valid_until,
        json_text(&token.allowed_ips),
        json_text(&token.allowed_streams),
        token.meta.as_ref().map(Value::to_string),
        token.created_at,
        token.updated_at,
    ])?;
    conn.prepare_cached("UPDATE active_sessions SET user_id = ?2 WHERE token_id = ?1 AND user_id IS NOT ?2")?
        .execute(params![id, token.user_id])?;
    Ok(())
}

fn exists(conn: &Connection, token: &str, except: Option<i64>) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM tokens WHERE token = ?1 AND id IS NOT ?2")?
        .exists(params![token, except])
}

fn json_text(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}
