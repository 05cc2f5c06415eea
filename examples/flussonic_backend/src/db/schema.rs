//! Opening connections (pragmas) and the schema.
//!
//! Two files: the database (tokens and sessions) and the access log's own database, so
//! that the log's volume neither drives the checkpoints of the database `/auth` decides
//! on nor delays a decision (see `log_writer.rs`).
//!
//! Durability: WAL journal with `synchronous=NORMAL`, in both. A commit appends to the
//! WAL with a `write()`; once `COMMIT` has returned, the data is in the operating
//! system's page cache, so it survives a crash or kill of this process (only a power
//! loss or kernel crash can lose the last commits, never corrupt the file). Every
//! acknowledged write to the database (a token created, a session opened) is
//! acknowledged only after its commit. Access-log rows are written after the answer,
//! a few milliseconds later: a kill loses the rows still queued (see `log_writer.rs`).

use std::{path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// The schema version this code writes (`PRAGMA user_version`). Version 1 kept the
/// access log in the same file; opening one moves its rows to the log database.
/// Versions 1 and 2 keyed a session by its `session_key` alone, so that any token could
/// take over another's session; version 3 keys it by token and `session_key`. Up to
/// version 3, a user's sessions were counted by walking an index of them; version 4
/// keeps the count in `user_sessions` (see `user_sessions.rs`).
pub const SCHEMA_VERSION: i64 = 4;
/// The access-log database's schema version. Version 1 indexed the rows by token and by
/// user as well as by time: two inserts at scattered places of the file for every row,
/// most of a logged decision's cost and a third of its bytes. Version 2 keeps the index
/// by time only (filters by token or user read the rows newest first).
pub const LOG_SCHEMA_VERSION: i64 = 2;

/// The WAL size (bytes) a restarted WAL file is truncated to: the writer keeps the WAL
/// below about 32 MiB (see `writer.rs`), so this only trims the file after a burst.
const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The single connection that writes.
    Writer,
    /// A read-only connection of the reader pool.
    Reader,
    /// The background WAL checkpointer.
    Checkpointer,
    /// The access-log database's writer.
    LogWriter,
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
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
            conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
        }
        Role::Reader => conn.execute_batch("PRAGMA query_only = ON;")?,
        // Never waits: a checkpoint that cannot run now runs at the next tick.
        Role::Checkpointer => conn.busy_timeout(Duration::ZERO)?,
        // Nothing waits for this writer's commits: it checkpoints inline (every 1000
        // pages). It mostly appends, so a small page cache does (reads go through mmap).
        Role::LogWriter => {
            conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
            conn.pragma_update(None, "cache_size", -8192)?;
        }
    }
    Ok(conn)
}

/// Creates the tables on a new database, refuses one it does not know, moves the
/// access log of a version-1 database to the log database at `log_path` (already
/// migrated with [`migrate_logs`]), keys the sessions of a version-1 or -2 database by
/// token, and counts the sessions of each user of a database before version 4.
pub fn migrate(conn: &Connection, log_path: &Path) -> Result<(), String> {
    let version = user_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "the database has schema version {version}, newer than this program's {SCHEMA_VERSION}"
        ));
    }
    if version == 0 {
        refuse_foreign(conn, "'tokens', 'active_sessions', 'access_logs'", "DATABASE_URL")?;
        return create(conn).map_err(|e| e.to_string());
    }
    if version == 1 {
        move_logs(conn, log_path)
            .map_err(|e| format!("moving the access log to {}: {e}", log_path.display()))?;
    }
    if version <= 2 {
        key_sessions_by_token(conn).map_err(|e| format!("keying sessions by token: {e}"))?;
    }
    if version <= 3 {
        count_sessions_per_user(conn).map_err(|e| format!("counting sessions per user: {e}"))?;
    }
    Ok(())
}

/// Creates the access-log table on a new log database, refuses one it does not know, and
/// drops the indexes by token and user of a version-1 one.
pub fn migrate_logs(conn: &Connection) -> Result<(), String> {
    let version = user_version(conn)?;
    if version > LOG_SCHEMA_VERSION {
        return Err(format!(
            "the access-log database has schema version {version}, newer than this program's {LOG_SCHEMA_VERSION}"
        ));
    }
    if version == 0 {
        refuse_foreign(
            conn,
            "'tokens', 'active_sessions', 'access_logs'",
            "ACCESS_LOG_DATABASE_URL",
        )?;
        conn.execute_batch(LOG_SCHEMA).map_err(|e| e.to_string())?;
    }
    if version == 1 {
        // Their pages go to the file's free list, which later rows reuse.
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             DROP INDEX IF EXISTS access_logs_token;
             DROP INDEX IF EXISTS access_logs_user_id;
             PRAGMA user_version = 2;
             COMMIT;",
        )
        .map_err(|e| format!("dropping the access log's indexes by token and user: {e}"))?;
        tracing::info!("access log: indexes by token and user dropped (log schema version 2)");
    }
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64, String> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

/// The columns of the Python backend's `tokens` table, as SQLAlchemy created it.
pub const PYTHON_TOKEN_COLUMNS: [&str; 12] = [
    "id",
    "token",
    "user_id",
    "status",
    "max_sessions",
    "valid_from",
    "valid_until",
    "allowed_ips",
    "allowed_streams",
    "meta",
    "created_at",
    "updated_at",
];

/// Whether `conn` is the Python "Flussonic Auth Backend"'s database: no schema version
/// (this backend always sets one) and its `tokens` table, every column there.
pub fn is_python_database(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != 0 {
        return Ok(false);
    }
    let mut columns = conn.prepare("SELECT name FROM pragma_table_info('tokens')")?;
    let columns = columns
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(PYTHON_TOKEN_COLUMNS
        .iter()
        .all(|wanted| columns.iter().any(|c| c == wanted)))
}

/// Refuses the Python backend's database at `path` given as `variable`, before anything
/// opens it to write: even setting the journal mode would change that file. Looked at
/// read-only; a file that cannot be read so is left to the usual opening to report.
pub fn refuse_python(path: &Path, variable: &str) -> Result<(), String> {
    if !path.is_file() {
        return Ok(());
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let python = Connection::open_with_flags(path, flags)
        .and_then(|conn| is_python_database(&conn))
        .unwrap_or(false);
    if python {
        return Err(python_refusal(variable, &path.display().to_string()));
    }
    Ok(())
}

/// Why the Python backend's database at `file`, given as `variable`, is refused, and the
/// command that imports it.
fn python_refusal(variable: &str, file: &str) -> String {
    let (what, flag) = if variable == "DATABASE_URL" {
        ("its tokens", "")
    } else {
        ("its tokens and access log", " --access-logs")
    };
    format!(
        "this is the Python backend's database, which this backend does not use in place: \
         point {variable} at a new file, and copy {what} into it with \
         `flussonic_backend import-python {file}{flag}` (README.md, \"Coming from the Python backend\")"
    )
}

fn refuse_foreign(conn: &Connection, tables: &str, variable: &str) -> Result<(), String> {
    if is_python_database(conn).map_err(|e| e.to_string())? {
        let file = conn.path().filter(|p| !p.is_empty()).unwrap_or("<this file>");
        return Err(python_refusal(variable, file));
    }
    let foreign: i64 = conn
        .query_row(
            &format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ({tables})"),
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    if foreign > 0 {
        return Err(format!(
            "the database already has tables of another program (the Python backend?): \
             point {variable} at a new file"
        ));
    }
    Ok(())
}

/// Version 1 to 2: copies the rows (ids kept, so a copy interrupted by a crash is
/// simply repeated at the next start), then drops the old table.
fn move_logs(conn: &Connection, log_path: &Path) -> rusqlite::Result<()> {
    let log_file = log_path.to_string_lossy();
    conn.execute("ATTACH DATABASE ?1 AS logdb", [log_file.as_ref()])?;
    let copied = conn.execute(
        "INSERT OR IGNORE INTO logdb.access_logs
             (id, timestamp, token, user_id, stream_name, client_ip, protocol, result, reason, session_id)
         SELECT id, timestamp, token, user_id, stream_name, client_ip, protocol, result, reason, session_id
         FROM main.access_logs",
        [],
    );
    conn.execute_batch("DETACH DATABASE logdb")?;
    tracing::info!(rows = copied?, log_database = %log_path.display(), "moved the access log to its own database");
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         DROP TABLE access_logs;
         PRAGMA user_version = 2;
         COMMIT;",
    )
}

/// A new database, at the current version.
fn create(conn: &Connection) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch(TOKENS)?;
    tx.execute_batch(&sessions_table("active_sessions"))?;
    tx.execute_batch(SESSIONS_INDEXES)?;
    tx.execute_batch(USER_SESSIONS)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Version 2 to 3: SQLite cannot change a table's constraints, so the sessions table
/// is rebuilt with `UNIQUE (token_id, session_key)` in place of `UNIQUE (session_key)`,
/// rows and ids kept, in one transaction (a crash leaves version 2, and the next start
/// does it again). Unique keys stay unique, so every row fits.
fn key_sessions_by_token(conn: &Connection) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch(&sessions_table("active_sessions_v3"))?;
    let moved = tx.execute(
        "INSERT INTO active_sessions_v3
             (id, session_key, token_id, user_id, stream_name, client_ip, protocol,
              started_at, last_checked_at, expires_at)
         SELECT id, session_key, token_id, user_id, stream_name, client_ip, protocol,
                started_at, last_checked_at, expires_at
         FROM active_sessions",
        [],
    )?;
    // Nothing refers to the sessions table, so dropping and renaming touch no other.
    tx.execute_batch(
        "DROP TABLE active_sessions;
         ALTER TABLE active_sessions_v3 RENAME TO active_sessions;",
    )?;
    tx.execute_batch(SESSIONS_INDEXES)?;
    tx.pragma_update(None, "user_version", 3)?;
    tx.commit()?;
    tracing::info!(
        sessions = moved,
        "sessions are now keyed by token and session id (schema version 3)"
    );
    Ok(())
}

/// Version 3 to 4: the count of each user's sessions, kept by triggers from now on,
/// replaces the index on `(user_id, expires_at)` that counting used to walk. In one
/// transaction (a crash leaves version 3, and the next start does it again).
fn count_sessions_per_user(conn: &Connection) -> rusqlite::Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch("DROP INDEX IF EXISTS active_sessions_user_expires;")?;
    tx.execute_batch(USER_SESSIONS)?;
    let users = tx.execute(
        "INSERT INTO user_sessions (user_id, sessions, earliest_expiry)
         SELECT user_id, COUNT(*), MIN(expires_at) FROM active_sessions GROUP BY user_id",
        [],
    )?;
    tx.pragma_update(None, "user_version", 4)?;
    tx.commit()?;
    tracing::info!(users, "sessions are now counted per user (schema version 4)");
    Ok(())
}

const TOKENS: &str = "
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
";

/// The sessions table, named `name`. A session belongs to its token: the same
/// `session_key` under another token is another session. The unique index also serves
/// the foreign key's lookups by `token_id` (its first column).
fn sessions_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (
             id              INTEGER PRIMARY KEY,
             session_key     TEXT    NOT NULL,
             token_id        INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
             user_id         TEXT    NOT NULL,
             stream_name     TEXT    NOT NULL,
             client_ip       TEXT    NOT NULL,
             protocol        TEXT,
             started_at      TEXT    NOT NULL,
             last_checked_at TEXT    NOT NULL,
             expires_at      TEXT    NOT NULL,
             UNIQUE (token_id, session_key)
         );"
    )
}

/// The cleanup and the count of open sessions find expired and live sessions by this
/// index; a user's sessions are found through the user's tokens (`tokens_user_id`, then
/// the sessions table's unique index, which starts with `token_id`).
const SESSIONS_INDEXES: &str = "
CREATE INDEX active_sessions_expires ON active_sessions (expires_at);
";

/// Each user's sessions, counted: `sessions` rows of `active_sessions` (live or expired
/// but not yet deleted), none of which expires before `earliest_expiry` (a lower bound:
/// re-checks only move expiries later; `NULL`: unknown). Kept by triggers, so that every
/// way a session comes or goes (a decision, the cleanup, the management API, a token
/// deleted with its sessions or given another user) keeps it right. See `user_sessions.rs`.
const USER_SESSIONS: &str = "
CREATE TABLE user_sessions (
    user_id         TEXT    PRIMARY KEY,
    sessions        INTEGER NOT NULL,
    earliest_expiry TEXT
) WITHOUT ROWID;

CREATE TRIGGER active_sessions_count_insert AFTER INSERT ON active_sessions BEGIN
    INSERT INTO user_sessions (user_id, sessions, earliest_expiry) VALUES (NEW.user_id, 1, NEW.expires_at)
    ON CONFLICT (user_id) DO UPDATE SET
        sessions = sessions + 1, earliest_expiry = min(earliest_expiry, excluded.earliest_expiry);
END;

CREATE TRIGGER active_sessions_count_delete AFTER DELETE ON active_sessions BEGIN
    UPDATE user_sessions SET sessions = sessions - 1 WHERE user_id = OLD.user_id;
    DELETE FROM user_sessions WHERE user_id = OLD.user_id AND sessions <= 0;
END;

CREATE TRIGGER active_sessions_count_move AFTER UPDATE OF user_id ON active_sessions
WHEN OLD.user_id IS NOT NEW.user_id BEGIN
    UPDATE user_sessions SET sessions = sessions - 1 WHERE user_id = OLD.user_id;
    DELETE FROM user_sessions WHERE user_id = OLD.user_id AND sessions <= 0;
    INSERT INTO user_sessions (user_id, sessions, earliest_expiry) VALUES (NEW.user_id, 1, NEW.expires_at)
    ON CONFLICT (user_id) DO UPDATE SET
        sessions = sessions + 1, earliest_expiry = min(earliest_expiry, excluded.earliest_expiry);
END;

-- Expiries only move later, except when the clock was set back: then the bound follows.
CREATE TRIGGER active_sessions_count_sooner AFTER UPDATE OF expires_at ON active_sessions
WHEN NEW.expires_at < OLD.expires_at BEGIN
    UPDATE user_sessions SET earliest_expiry = min(earliest_expiry, NEW.expires_at)
    WHERE user_id = NEW.user_id;
END;
";

const LOG_SCHEMA: &str = "
BEGIN IMMEDIATE;
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

PRAGMA user_version = 2;
COMMIT;
";
