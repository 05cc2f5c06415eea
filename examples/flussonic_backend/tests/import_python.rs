//! `flussonic_backend import-python` (issue 18), run as the real binary on database files
//! built with the Python backend's exact schema: every token copied field for field in
//! one transaction, a second run changing nothing, conflicts (tokens here with other
//! values, entries whose meaning would widen) reported and left alone, the access log
//! copied apart and resumably, and the Python backend's file refused at start-up with
//! the command in the message.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use reqwest::Method;
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use common::{Server, TempDir, rusqlite_connection, sql};

/// The Python backend's database, exactly as SQLAlchemy's `create_all` made it
/// (spec/flussonic.md).
const PYTHON_SCHEMA: &str = "
CREATE TABLE tokens (
  id INTEGER NOT NULL, token VARCHAR(255) NOT NULL, user_id VARCHAR(100) NOT NULL, status VARCHAR(20) NOT NULL,
  max_sessions INTEGER NOT NULL, valid_from DATETIME NOT NULL, valid_until DATETIME, allowed_ips TEXT,
  allowed_streams TEXT, meta TEXT, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_tokens_token ON tokens (token);
CREATE INDEX ix_tokens_user_id ON tokens (user_id);
CREATE INDEX ix_tokens_status ON tokens (status);
CREATE TABLE active_sessions (
  id INTEGER NOT NULL, session_id VARCHAR(255) NOT NULL, token_id INTEGER NOT NULL, user_id VARCHAR(100) NOT NULL,
  stream_name VARCHAR(255) NOT NULL, client_ip VARCHAR(45) NOT NULL, protocol VARCHAR(20) NOT NULL,
  started_at DATETIME NOT NULL, last_checked_at DATETIME NOT NULL, expires_at DATETIME, PRIMARY KEY (id),
  FOREIGN KEY(token_id) REFERENCES tokens (id) ON DELETE CASCADE);
CREATE UNIQUE INDEX ix_active_sessions_session_id ON active_sessions (session_id);
CREATE INDEX ix_active_sessions_expires_at ON active_sessions (expires_at);
CREATE INDEX ix_active_sessions_user_id ON active_sessions (user_id);
CREATE TABLE access_logs (
  id INTEGER NOT NULL, timestamp DATETIME NOT NULL, token VARCHAR(255), user_id VARCHAR(100),
  stream_name VARCHAR(255), client_ip VARCHAR(45), protocol VARCHAR(20), result VARCHAR(20) NOT NULL,
  reason VARCHAR(255), PRIMARY KEY (id));
CREATE INDEX ix_access_logs_timestamp ON access_logs (timestamp);
CREATE INDEX ix_access_logs_result ON access_logs (result);
";

/// A naive timestamp as the Python backend wrote them, `days` from now (UTC).
fn naive(days: i64) -> String {
    let t = OffsetDateTime::now_utc() + Duration::days(days);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// [`naive`] as this backend stores it (read as UTC): `2026-11-28T12:12:13.911504Z`.
fn stored(naive: &str) -> String {
    format!("{}Z", naive.replace(' ', "T"))
}

/// One row of the Python backend's `tokens` table.
struct PyToken<'a> {
    id: i64,
    token: &'a str,
    user_id: &'a str,
    status: &'a str,
    max_sessions: i64,
    valid_from: String,
    valid_until: Option<String>,
    allowed_ips: Option<&'a str>,
    allowed_streams: Option<&'a str>,
    meta: Option<&'a str>,
}

impl<'a> PyToken<'a> {
    /// An active token with no rules, valid from yesterday on, with no end.
    fn new(id: i64, token: &'a str, user_id: &'a str) -> Self {
        Self {
            id,
            token,
            user_id,
            status: "active",
            max_sessions: 1,
            valid_from: naive(-1),
            valid_until: None,
            allowed_ips: Some("[]"),
            allowed_streams: Some("[]"),
            meta: None,
        }
    }
}

const CREATED: &str = "2026-11-29 12:12:13";

/// A Python backend database file at `path` holding `tokens`.
fn python_database(path: &Path, tokens: &[PyToken<'_>]) -> Connection {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(PYTHON_SCHEMA).unwrap();
    for t in tokens {
        conn.execute(
            "INSERT INTO tokens (id, token, user_id, status, max_sessions, valid_from, valid_until, allowed_ips,
                                 allowed_streams, meta, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            params![
                t.id,
                t.token,
                t.user_id,
                t.status,
                t.max_sessions,
                t.valid_from,
                t.valid_until,
                t.allowed_ips,
                t.allowed_streams,
                t.meta,
                CREATED
            ],
        )
        .unwrap();
    }
    conn
}

/// Runs the binary in `dir` with only these variables (and `DATABASE_URL` at
/// `dir/tokens.db`, as the test servers use).
fn binary(dir: &TempDir, args: &[&str], variables: &[(&str, &str)]) -> Output {
    let database = dir.path().join("tokens.db");
    let mut command = Command::new(env!("CARGO_BIN_EXE_flussonic_backend"));
    command
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", &database)
        .env("LOG_LEVEL", "warn");
    for (name, value) in variables {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// `import-python` with `args` after the file.
fn import(dir: &TempDir, python: &Path, args: &[&str]) -> Output {
    let python = python.display().to_string();
    let mut all = vec!["import-python", python.as_str()];
    all.extend_from_slice(args);
    binary(dir, &all, &[])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every token row of the database at `path`, as text, by id: what a second run must not change.
fn dump(path: &Path) -> Vec<String> {
    let conn = rusqlite_connection(path);
    let mut stmt = conn
        .prepare(
            "SELECT id, token, user_id, status, max_sessions, valid_from, valid_until, allowed_ips,
                    allowed_streams, meta, created_at, updated_at FROM tokens ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let mut fields = Vec::new();
        for i in 0..12 {
            fields.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
        }
        Ok(fields.join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn python_path(dir: &TempDir) -> PathBuf {
    dir.path().join("python").join("tokens.db")
}

/// The tokens of the example: what imports, and what is a conflict for each reason.
fn example(dir: &TempDir) -> (PathBuf, String, String) {
    let path = python_path(dir);
    let (from, until) = (naive(-1), naive(30));
    let long = "x".repeat(257);
    let tokens = [
        // The spec's example row.
        PyToken {
            max_sessions: 2,
            valid_from: from.clone(),
            valid_until: Some(until.clone()),
            allowed_ips: Some("[\"192.168.1.100\", \"192.168.1.101\"]"),
            allowed_streams: Some("[\"stream1\", \"stream2\"]"),
            meta: Some("{\"region\": \"us-east\"}"),
            ..PyToken::new(1, "py-secure-123", "user-001")
        },
        // Suspended, no end (null validity), NULL rule columns.
        PyToken {
            status: "suspended",
            allowed_ips: None,
            allowed_streams: None,
            ..PyToken::new(2, "py-suspended", "user-002")
        },
        // Expired by status, with an end in the past.
        PyToken {
            status: "expired",
            valid_from: naive(-60),
            valid_until: Some(naive(-30)),
            ..PyToken::new(3, "py-expired", "user-003")
        },
        // A non-ASCII user id, empty lists, empty meta.
        PyToken {
            max_sessions: 3,
            meta: Some("{}"),
            ..PyToken::new(4, "py-unicode", "Пётр 😀 Müller")
        },
        // Conflicts, one reason each.
        PyToken {
            allowed_ips: Some("[\"10.0.0.1\""),
            ..PyToken::new(5, "py-bad-json", "user-005")
        },
        PyToken {
            meta: Some("{region: us-east}"),
            ..PyToken::new(6, "py-bad-meta", "user-006")
        },
        PyToken {
            allowed_ips: Some("[\"10.0.0.0/8\"]"),
            ..PyToken::new(7, "py-range", "user-007")
        },
        PyToken::new(8, "py bad", "user-008"),
        PyToken::new(9, &long, "user-009"),
        PyToken {
            max_sessions: -1,
            ..PyToken::new(10, "py-negative", "user-010")
        },
        PyToken {
            allowed_streams: Some("[\"live/*\"]"),
            ..PyToken::new(11, "py-pattern", "user-011")
        },
        PyToken {
            allowed_ips: Some("[\"192.168.1.100\", \"not-an-ip\"]"),
            ..PyToken::new(12, "py-invalid-ip", "user-012")
        },
        PyToken {
            max_sessions: 0,
            ..PyToken::new(13, "py-zero", "user-013")
        },
    ];
    let conn = python_database(&path, &tokens);
    conn.execute_batch(
        "INSERT INTO active_sessions (id, session_id, token_id, user_id, stream_name, client_ip, protocol,
                                      started_at, last_checked_at, expires_at)
         VALUES (1, 's-1', 1, 'user-001', 'stream1', '192.168.1.100', 'hls', '2026-11-29 12:00:00',
                 '2026-11-29 12:00:00', '2099-01-01 00:00:00'),
                (2, 's-2', 4, 'Пётр 😀 Müller', 'live/x', '10.0.0.1', 'hls', '2026-11-29 12:00:00',
                 '2026-11-29 12:00:00', '2099-01-01 00:00:00');",
    )
    .unwrap();
    (path, from, until)
}

#[tokio::test]
async fn tokens_are_copied_field_for_field_and_a_second_run_changes_nothing() {
    let dir = TempDir::new("import");
    let (python, from, until) = example(&dir);
    let python_bytes = std::fs::read(&python).unwrap();
    // Given as the Python backend's own DATABASE_URL.
    let url = format!("sqlite:///{}", python.display());

    let first = binary(&dir, &["import-python", &url], &[]);
    assert_eq!(first.status.code(), Some(3), "{first:?}");
    let summary = stdout(&first);
    assert!(
        summary.contains(
            "tokens: 13 read: 4 imported, 0 skipped (here already, same values), 0 overwritten, 9 conflicts"
        ),
        "{summary}"
    );
    for (id, why) in [
        (5, "allowed_ips is not valid JSON"),
        (6, "meta is not valid JSON"),
        (7, "allowed_ips[0] \"10.0.0.0/8\" would be a range here"),
        (8, "token contains whitespace"),
        (9, "token must be at most 256 bytes"),
        (10, "max_sessions is negative"),
        (11, "allowed_streams[0] \"live/*\" would be a pattern here"),
        (12, "allowed_ips[1] \"not-an-ip\" is not an IP address"),
        (13, "max_sessions is 0"),
    ] {
        let line = summary
            .lines()
            .find(|l| l.contains(&format!("conflict: token id {id} ")))
            .unwrap_or_else(|| panic!("no conflict line for token {id}: {summary}"));
        assert!(line.contains(why), "token {id}: {line}");
    }
    // Token strings are secrets: never printed.
    assert!(
        !summary.contains("py-bad-json") && !summary.contains("py-secure-123"),
        "{summary}"
    );
    assert!(
        summary.contains("sessions: 2 in the Python database, not imported"),
        "{summary}"
    );
    // The Python backend's file is only read.
    assert_eq!(std::fs::read(&python).unwrap(), python_bytes);

    let server = Server::start(&dir, &[]).await;
    let tokens = server.list("/api/tokens").await;
    assert_eq!(tokens.len(), 4);
    assert_eq!(
        tokens[0],
        json!({"id": 1, "token": "py-secure-123", "user_id": "user-001", "status": "active", "max_sessions": 2,
               "valid_from": stored(&from), "valid_until": stored(&until),
               "allowed_ips": ["192.168.1.100", "192.168.1.101"], "allowed_streams": ["stream1", "stream2"],
               "meta": {"region": "us-east"}, "created_at": "2026-11-29T12:12:13.000000Z",
               "updated_at": "2026-11-29T12:12:13.000000Z"})
    );
    assert_eq!(
        (
            &tokens[1]["id"],
            &tokens[1]["status"],
            &tokens[1]["valid_until"],
            &tokens[1]["allowed_ips"]
        ),
        (&json!(2), &json!("suspended"), &Value::Null, &json!([]))
    );
    assert_eq!(
        (&tokens[2]["id"], &tokens[2]["status"]),
        (&json!(3), &json!("expired"))
    );
    assert_eq!(
        (
            &tokens[3]["id"],
            &tokens[3]["user_id"],
            &tokens[3]["meta"],
            &tokens[3]["max_sessions"]
        ),
        (&json!(4), &json!("Пётр 😀 Müller"), &json!({}), &json!(3))
    );
    // They decide as they did: the rules hold, the limit counts, no session came along.
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 0);
    server
        .expect_auth(&[
            (
                "name=stream1&ip=192.168.1.100&token=py-secure-123&session_id=a",
                "new_session",
            ),
            (
                "name=stream1&ip=192.168.1.102&token=py-secure-123&session_id=b",
                "ip_not_allowed",
            ),
            (
                "name=stream3&ip=192.168.1.100&token=py-secure-123&session_id=b",
                "stream_not_allowed",
            ),
            (
                "name=stream2&ip=192.168.1.101&token=py-secure-123&session_id=b",
                "new_session",
            ),
            (
                "name=stream2&ip=192.168.1.101&token=py-secure-123&session_id=c",
                "max_sessions_reached",
            ),
            ("name=x&ip=10.0.0.1&token=py-suspended", "token_suspended"),
            ("name=x&ip=10.0.0.1&token=py-expired", "token_expired"),
            ("name=x&ip=10.0.0.1&token=py-unicode&session_id=a", "new_session"),
            ("name=x&ip=10.0.0.1&token=py-range", "token_not_found"),
        ])
        .await;
    let (_, unicode) = server.api(Method::GET, "/api/tokens/4", None).await;
    assert_eq!(unicode["user_id"], "Пётр 😀 Müller");
    server.stop().await;

    // The second run: everything already here is skipped, the conflicts are the same,
    // and not a byte of the tokens changes.
    let before = dump(&dir.path().join("tokens.db"));
    let second = import(&dir, &python, &[]);
    assert_eq!(second.status.code(), Some(3), "{second:?}");
    assert!(
        stdout(&second).contains("4 skipped (here already, same values), 0 overwritten, 9 conflicts"),
        "{}",
        stdout(&second)
    );
    assert_eq!(dump(&dir.path().join("tokens.db")), before);
}

#[tokio::test]
async fn a_token_here_with_other_values_is_a_conflict_until_overwrite_is_asked() {
    let dir = TempDir::new("import-conflict");
    let python = python_path(&dir);
    python_database(
        &python,
        &[
            PyToken {
                max_sessions: 2,
                ..PyToken::new(1, "shared", "python-user")
            },
            PyToken::new(2, "python-only", "user-2"),
        ],
    );
    // Here already: the same token string with other values (id 1), and id 2 taken by another token.
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "shared", "user_id": "here-user", "max_sessions": 5}))
        .await;
    server.token(json!({"token": "other", "user_id": "u"})).await;
    server
        .expect_auth(&[("name=a&ip=10.0.0.1&token=shared&session_id=s", "new_session")])
        .await;
    server.stop().await;
    let before = dump(&dir.path().join("tokens.db"));

    let refused = import(&dir, &python, &[]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    let summary = stdout(&refused);
    assert!(
        summary.contains("1 imported, 0 skipped (here already, same values), 0 overwritten, 1 conflicts"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "conflict: token id 1 (user \"python-user\"): exists here (id 1) with other values: user_id, max_sessions, \
             valid_from, created_at, updated_at; left as it is"
        ),
        "{summary}"
    );
    assert!(summary.contains("--overwrite replaces"), "{summary}");
    assert!(
        summary.contains("new id: token id 2 is id 3 here (id 2 was taken)"),
        "{summary}"
    );
    let after = dump(&dir.path().join("tokens.db"));
    assert_eq!(after[..2], before[..], "the tokens that were here are untouched");

    let overwritten = import(&dir, &python, &["--overwrite"]);
    assert_eq!(overwritten.status.code(), Some(0), "{overwritten:?}");
    let summary = stdout(&overwritten);
    assert!(
        summary.contains("0 imported, 1 skipped (here already, same values), 1 overwritten, 0 conflicts"),
        "{summary}"
    );
    assert!(
        summary.contains("overwritten: token id 1 (id 1 here): user_id, max_sessions"),
        "{summary}"
    );
    let server = Server::start(&dir, &[]).await;
    let shared = server.find_token("shared").await;
    assert_eq!(
        (&shared["user_id"], &shared["max_sessions"]),
        (&json!("python-user"), &json!(2))
    );
    // Its open session moved to the new user with it.
    let sessions = server.list("/api/sessions?user_id=python-user").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    server.stop().await;

    // And now the import has nothing left to do.
    let again = import(&dir, &python, &[]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(
        stdout(&again).contains("0 imported, 2 skipped"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn naive_times_are_read_at_the_offset_given_and_created_at_stays_utc() {
    let dir = TempDir::new("import-offset");
    let python = python_path(&dir);
    let from = "2026-01-01 12:00:00.250000".to_owned();
    python_database(
        &python,
        &[PyToken {
            valid_from: from.clone(),
            valid_until: Some("2027-01-01 00:00:00".to_owned()),
            ..PyToken::new(1, "t", "u")
        }],
    );
    let output = import(&dir, &python, &["--local-offset", "+03:00"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output).contains("read as UTC+03:00:00"),
        "{}",
        stdout(&output)
    );
    let row = dump(&dir.path().join("tokens.db")).remove(0);
    assert!(row.contains("2026-01-01T09:00:00.250000Z"), "{row}");
    assert!(row.contains("2026-12-31T21:00:00.000000Z"), "{row}");
    assert!(
        row.contains("2026-11-29T12:12:13.000000Z"),
        "created_at as UTC: {row}"
    );
    // A bad offset is a usage error, named.
    let bad = import(&dir, &python, &["--local-offset", "Moscow"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(stderr(&bad).contains("--local-offset"), "{}", stderr(&bad));
}

#[test]
fn the_tokens_go_in_one_transaction_all_or_none() {
    let dir = TempDir::new("import-atomic");
    let python = python_path(&dir);
    python_database(
        &python,
        &[
            PyToken::new(1, "first", "u"),
            PyToken::new(2, "boom", "u"),
            PyToken::new(3, "third", "u"),
        ],
    );
    // A database that refuses the second token midway (a trigger of the test's own).
    let target = dir.path().join("tokens.db");
    let created = import(&dir, &python_path(&TempDir::new("import-empty")), &[]);
    assert_eq!(created.status.code(), Some(1), "{created:?}");
    assert!(stderr(&created).contains("no such file"), "{}", stderr(&created));
    flussonic_backend::db::open_connections(&target, &dir.path().join("tokens.logs.db")).unwrap();
    rusqlite_connection(&target)
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON tokens WHEN NEW.token = 'boom'
             BEGIN SELECT RAISE(ABORT, 'the disk is full'); END;",
        )
        .unwrap();
    let failed = import(&dir, &python, &[]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(
        stderr(&failed).contains("importing the tokens: the disk is full (nothing was written)"),
        "{}",
        stderr(&failed)
    );
    assert!(dump(&target).is_empty(), "{:?}", dump(&target));
}

#[test]
fn what_is_not_the_python_backends_database_is_refused() {
    let dir = TempDir::new("import-refuse");
    // This backend's own database.
    let ours = dir.path().join("ours").join("tokens.db");
    flussonic_backend::db::open_connections(&ours, &dir.path().join("ours").join("tokens.logs.db")).unwrap();
    let output = import(&dir, &ours, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("is a database of this backend (schema version"),
        "{}",
        stderr(&output)
    );
    // Some other SQLite file.
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    let output = import(&dir, &other, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("is not the Python backend's database"),
        "{}",
        stderr(&output)
    );
    // The configured database itself.
    let python = python_path(&dir);
    python_database(&python, &[PyToken::new(1, "t", "u")]);
    let output = binary(
        &dir,
        &["import-python", &python.display().to_string()],
        &[("DATABASE_URL", &python.display().to_string())],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("is DATABASE_URL itself"),
        "{}",
        stderr(&output)
    );
    // No file was created beside it.
    assert!(!python.with_file_name("tokens.logs.db").exists());
}

#[test]
fn the_python_database_is_refused_at_start_up_with_the_command_that_imports_it() {
    let dir = TempDir::new("import-startup");
    let python = python_path(&dir);
    python_database(&python, &[PyToken::new(1, "t", "u")]);
    let before = std::fs::read(&python).unwrap();
    let shown = python.display().to_string();
    for (variable, flag) in [
        ("DATABASE_URL", ""),
        ("ACCESS_LOG_DATABASE_URL", " --access-logs"),
    ] {
        let output = binary(
            &dir,
            &[],
            &[(variable, &shown), ("API_PORT", "0"), ("API_KEY", "k")],
        );
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let message = stderr(&output);
        assert!(
            message.contains(&format!("point {variable} at a new file"))
                && message.contains(&format!("`flussonic_backend import-python {shown}{flag}`")),
            "{message}"
        );
    }
    // Refused before anything wrote to it: the same bytes, still in its journal mode,
    // and nothing created beside it.
    assert_eq!(std::fs::read(&python).unwrap(), before);
    let siblings: Vec<_> = std::fs::read_dir(python.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(siblings, ["tokens.db"]);
    // The new database, then the import, then a start: it serves.
    let imported = import(&dir, &python, &[]);
    assert_eq!(imported.status.code(), Some(0), "{imported:?}");
}

/// Appends access-log rows `ids` to the Python database: one a second from 2026-11-01,
/// every tenth denied.
fn python_log_rows(conn: &Connection, ids: std::ops::Range<i64>) {
    conn.execute_batch("BEGIN").unwrap();
    for id in ids {
        let seconds = id % 86_400;
        conn.execute(
            "INSERT INTO access_logs (id, timestamp, token, user_id, stream_name, client_ip, protocol, result, reason)
             VALUES (?1, ?2, 'py-secure-123', 'user-001', 'stream1', '192.168.1.100', 'hls', ?3, ?4)",
            params![
                id,
                format!(
                    "2026-11-{:02} {:02}:{:02}:{:02}.000001",
                    1 + id / 86_400,
                    seconds / 3600,
                    seconds / 60 % 60,
                    seconds % 60
                ),
                if id % 10 == 0 { "denied" } else { "allowed" },
                if id % 10 == 0 { "ip_not_allowed" } else { "new_session" },
            ],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
}

#[test]
fn the_access_log_is_copied_apart_idempotently_and_resumes_where_it_stopped() {
    let dir = TempDir::new("import-logs");
    let python = python_path(&dir);
    let conn = python_database(&python, &[PyToken::new(1, "py-secure-123", "user-001")]);
    let total: i64 = 60_000;
    python_log_rows(&conn, 1..total + 1);
    // Rows that cannot be read (in the last chunk, which the interrupted run never
    // reaches), and one without a reason.
    conn.execute_batch(
        "UPDATE access_logs SET timestamp = 'yesterday' WHERE id = 59990;
         UPDATE access_logs SET result = 'maybe' WHERE id = 59991;
         UPDATE access_logs SET reason = NULL WHERE id = 9;",
    )
    .unwrap();
    let log_db = dir.path().join("tokens.logs.db");
    let imported = || -> i64 {
        rusqlite_connection(&log_db)
            .query_row("SELECT COUNT(*) FROM access_logs", [], |r| r.get(0))
            .unwrap()
    };

    // Interrupted: killed once a first chunk is in.
    let python_arg = python.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flussonic_backend"))
        .args(["import-python", &python_arg, "--access-logs"])
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", dir.path().join("tokens.db"))
        .env("LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut at_kill = 0;
    for _ in 0..20_000 {
        if log_db.exists()
            && let Ok(conn) = Connection::open(&log_db)
            && let Ok(rows) = conn.query_row("SELECT SUM(rows) FROM imported_access_logs", [], |r| {
                r.get::<_, i64>(0)
            })
            && rows > 0
        {
            at_kill = rows;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    let killed = child.wait().unwrap();
    assert!(at_kill > 0, "no chunk was committed");
    assert!(
        killed.code().is_none(),
        "the import finished before it was killed: {killed:?}"
    );
    let after_kill = imported();
    assert!(after_kill < total, "{after_kill} rows in before the kill");

    // Resumed: every row exactly once.
    let resumed = import(&dir, &python, &["--access-logs"]);
    assert_eq!(resumed.status.code(), Some(3), "{resumed:?}");
    let summary = stdout(&resumed);
    assert!(
        summary.contains("left out: access-log row id 59990: timestamp \"yesterday\""),
        "{summary}"
    );
    assert!(
        summary.contains("left out: access-log row id 59991: result is neither allowed nor denied"),
        "{summary}"
    );
    assert_eq!(imported(), total - 2);
    let distinct: i64 = rusqlite_connection(&log_db)
        .query_row("SELECT COUNT(DISTINCT timestamp) FROM access_logs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(distinct, total - 2, "a row was copied twice");
    // Field for field: the time read as UTC, no session id (the Python backend kept none).
    let row: (String, String, String, String, Option<String>) = rusqlite_connection(&log_db)
        .query_row(
            "SELECT timestamp, token, result, reason, session_id FROM access_logs WHERE timestamp = '2026-11-01T00:00:10.000001Z'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "2026-11-01T00:00:10.000001Z".to_owned(),
            "py-secure-123".to_owned(),
            "denied".to_owned(),
            "ip_not_allowed".to_owned(),
            None
        )
    );
    let reasonless: String = rusqlite_connection(&log_db)
        .query_row(
            "SELECT reason FROM access_logs WHERE timestamp = '2026-11-01T00:00:09.000001Z'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reasonless, "");

    // Idempotent: nothing more; then only what the Python backend added since.
    let again = import(&dir, &python, &["--access-logs"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(
        stdout(&again).contains(&format!(
            "access log: 0 rows imported now, {} by earlier runs, 0 left out",
            total - 2
        )),
        "{}",
        stdout(&again)
    );
    python_log_rows(&conn, total + 1..total + 11);
    let more = import(&dir, &python, &["--access-logs"]);
    assert_eq!(more.status.code(), Some(0), "{more:?}");
    assert!(
        stdout(&more).contains("access log: 10 rows imported now"),
        "{}",
        stdout(&more)
    );
    assert_eq!(imported(), total + 8);
    // A copy of the file elsewhere is the same log: nothing twice.
    let copy = dir.path().join("copy.db");
    drop(conn);
    std::fs::copy(&python, &copy).unwrap();
    let from_copy = import(&dir, &copy, &["--access-logs"]);
    assert_eq!(from_copy.status.code(), Some(0), "{from_copy:?}");
    assert_eq!(imported(), total + 8);
}
