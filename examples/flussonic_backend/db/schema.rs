//! Opening connections (pragmas) and the schema.
//!
//! Durability: WAL journal with `synchronous=NORMAL`. A commit appends to the WAL with
//! a `write()`; once `COMMIT` has returned, the data is in the operating system's page
//! cache, so it survives a crash or kill of this process (only a power loss or kernel
//! crash can lose the last commits, never corrupt the file). Every acknowledged write
//! (a token created, a session opened) is acknowledged only after its commit.

use std::{path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags};

/// The schema version this code writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The single connection that writes.
    Writer,
    /// A read-only connection of the reader pool.
    Reader,
    /// The background WAL checkpointer.
    Checkpointer,
}

/// Opens a connection with the pragmas its role needs.
pub fn open(path: &Path, role: Role) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 268435456;
         PRAGMA cache_size = -32768;",
    )?;
    match role {
        Role::Writer => {
            // Checkpoints run on their own thread (see `checkpoint.rs`), so a commit
            // never waits for the database file's fsync.
            conn.execute_batch(
                "PRAGMA wal_autocheckpoint = 0;
                 PRAGMA journal_size_limit = 134217728;",
            )?;
        }
        Role::Reader => conn.execute_batch("PRAGMA query_only = ON;")?,
        Role::Checkpointer => {}
    }
    Ok(conn)
}

/// Creates the tables on a new database and refuses one it does not know.
pub fn migrate(conn: &Connection) -> Result<(), String> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "the database has schema version {version}, newer than this program's {SCHEMA_VERSION}"
        ));
    }
    if version == 0 {
        let foreign: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('tokens', 'active_sessions', 'access_logs')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if foreign > 0 {
            return Err(
                "the database already has tables of another program (the Python backend?): \
                 point DATABASE_URL at a new file"
                    .to_owned(),
            );
        }
        conn.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
    }
    Ok(())
}

const SCHEMA: &str = "
BEGIN IMMEDIATE;
CREATE TABLE tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token           TEXT    NOT NULL UNIQUE,
    user_id         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'expired')),
    max_sessions    INTEGER NOT NULL DEFAULT 1 CHECK (max_sessions >= 0),
    valid_from      TEXT,
    valid_until     TEXT,
    allowed_ips     TEXT    NOT NULL DEFAULT '[]',
    allowed_streams TEXT    NOT NULL DEFAULT '[]',
    meta            TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE active_sessions (
    id              INTEGER PRIMARY KEY,
    session_key     TEXT    NOT NULL UNIQUE,
    token_id        INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    user_id         TEXT    NOT NULL,
    stream_name     TEXT    NOT NULL,
    client_ip       TEXT    NOT NULL,
    protocol        TEXT,
    started_at      TEXT    NOT NULL,
    last_checked_at TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL
);
CREATE INDEX active_sessions_user_expires ON active_sessions (user_id, expires_at);
CREATE INDEX active_sessions_token_id ON active_sessions (token_id);
CREATE INDEX active_sessions_expires ON active_sessions (expires_at);

CREATE TABLE access_logs (
    id          INTEGER PRIMARY KEY,
    timestamp   TEXT NOT NULL,
    token       TEXT,
    user_id     TEXT,
    stream_name TEXT,
    client_ip   TEXT,
    protocol    TEXT,
    result      TEXT NOT NULL CHECK (result IN ('allowed', 'denied')),
    reason      TEXT NOT NULL,
    session_id  TEXT
);
CREATE INDEX access_logs_timestamp ON access_logs (timestamp);
CREATE INDEX access_logs_token ON access_logs (token, timestamp);
CREATE INDEX access_logs_user_id ON access_logs (user_id, timestamp);

PRAGMA user_version = 1;
COMMIT;
";
