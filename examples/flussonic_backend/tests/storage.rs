//! Storage: the access log in a database file of its own, the migration of a version-1
//! database's log into it, a full log queue that drops rows and counts them, and a WAL
//! kept bounded by the writer's own checkpoints.

mod common;

use flussonic_backend::db;
use serde_json::json;

use common::{Server, TempDir, log_sql, sql, sql_on, test_config};

#[tokio::test]
async fn access_logs_live_in_their_own_database_file() {
    let dir = TempDir::new("logfile");
    let elsewhere = dir.path().join("logs/access.db");
    let server = Server::start(&dir, &[("ACCESS_LOG_DATABASE_URL", elsewhere.to_str().unwrap())]).await;
    server
        .token(json!({"token": "f", "user_id": "uf", "max_sessions": 0}))
        .await;
    server
        .expect_auth(&[
            ("name=live/0&ip=1.1.1.1&token=f&session_id=f0", "new_session"),
            ("name=live/1&ip=1.1.1.1&token=f&session_id=f1", "new_session"),
            ("name=live/2&ip=1.1.1.1&token=f&session_id=f2", "new_session"),
            ("name=live/x&ip=1.1.1.1&token=nope", "token_not_found"),
        ])
        .await;
    // The listing shows every decision answered before it (it waits for the queue).
    let logs = server.list("/api/access-logs").await;
    let reasons: Vec<&str> = logs.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["token_not_found", "new_session", "new_session", "new_session"]
    );
    assert_eq!(
        server.metric("flussonic_auth_access_logs_written_total").await,
        Some(4.0)
    );
    assert_eq!(
        server.metric("flussonic_auth_access_logs_dropped_total").await,
        Some(0.0)
    );
    // The rows are in the log file, and the database has no access-log table at all.
    assert_eq!(sql_on(&elsewhere, "SELECT COUNT(*) FROM access_logs"), 4);
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'access_logs'"
        ),
        0
    );
    assert!(!dir.path().join("tokens.logs.db").exists());
    server.stop().await;
}

#[tokio::test]
async fn a_version_1_database_gives_its_access_log_to_the_log_database() {
    let dir = TempDir::new("migrate");
    // A database as version 1 wrote it: the access log inside, with two rows.
    {
        let conn = rusqlite::Connection::open(dir.path().join("tokens.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL UNIQUE,
                 user_id TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active', max_sessions INTEGER NOT NULL DEFAULT 1,
                 valid_from TEXT, valid_until TEXT, allowed_ips TEXT NOT NULL DEFAULT '[]',
                 allowed_streams TEXT NOT NULL DEFAULT '[]', meta TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
             CREATE INDEX tokens_user_id ON tokens (user_id);
             CREATE TABLE active_sessions (id INTEGER PRIMARY KEY, session_key TEXT NOT NULL UNIQUE,
                 token_id INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE, user_id TEXT NOT NULL,
                 stream_name TEXT NOT NULL, client_ip TEXT NOT NULL, protocol TEXT, started_at TEXT NOT NULL,
                 last_checked_at TEXT NOT NULL, expires_at TEXT NOT NULL);
             CREATE INDEX active_sessions_user_expires ON active_sessions (user_id, expires_at);
             CREATE INDEX active_sessions_token_id ON active_sessions (token_id);
             CREATE INDEX active_sessions_expires ON active_sessions (expires_at);
             CREATE TABLE access_logs (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, token TEXT, user_id TEXT,
                 stream_name TEXT, client_ip TEXT, protocol TEXT, result TEXT NOT NULL, reason TEXT NOT NULL,
                 session_id TEXT);
             INSERT INTO tokens (token, user_id, created_at, updated_at)
                 VALUES ('old', 'u', '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z');
             INSERT INTO access_logs (id, timestamp, token, result, reason)
                 VALUES (7, '2020-01-01T00:00:00.000000Z', 'old', 'allowed', 'new_session'),
                        (9, '2020-01-02T00:00:00.000000Z', 'x', 'denied', 'token_not_found');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let server = Server::start(&dir, &[("ACCESS_LOG_RETENTION_DAYS", "0")]).await;
    server.auth_get("name=a&ip=1.1.1.1&token=old&session_id=n").await;
    let logs = server.list("/api/access-logs").await;
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[0]["token"], "old");
    assert_eq!(logs[1]["id"], 9);
    assert_eq!(logs[2]["id"], 7);
    // Moved, then on to version 4 (sessions keyed by token and session id, and counted per user).
    assert_eq!(sql(&dir, "PRAGMA user_version"), 4);
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'access_logs'"
        ),
        0
    );
    server.stop().await;
    // The next start finds nothing left to move.
    let server = Server::start(&dir, &[("ACCESS_LOG_RETENTION_DAYS", "0")]).await;
    assert_eq!(server.list("/api/access-logs").await.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn a_full_access_log_queue_drops_rows_and_counts_them() {
    let dir = TempDir::new("logqueue");
    let config = test_config(&dir, &[]);
    let tuning = db::Tuning {
        log_queue: 1,
        ..db::Tuning::default()
    };
    let server = Server::start_tuned(&dir, config, tuning).await;
    server
        .token(json!({"token": "q", "user_id": "u", "max_sessions": 0}))
        .await;
    // Another connection holds the log database's write lock: the log writer waits,
    // the queue (one row) fills, and the rows after it are dropped, not waited for.
    let blocker = rusqlite::Connection::open(dir.path().join("tokens.logs.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let sent = 300;
    for i in 0..sent {
        let answer = server
            .auth_get(&format!("name=a&ip=1.1.1.1&token=q&session_id=q{i}"))
            .await;
        assert_eq!(answer.reason(), "new_session");
    }
    let dropped = server
        .metric("flussonic_auth_access_logs_dropped_total")
        .await
        .unwrap();
    assert!(dropped >= 1.0, "nothing dropped");
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    server.logs_settled().await;
    let written = server
        .metric("flussonic_auth_access_logs_written_total")
        .await
        .unwrap();
    assert_eq!(
        server.metric("flussonic_auth_access_logs_failed_total").await,
        Some(0.0)
    );
    assert_eq!(written + dropped, f64::from(sent), "every row written or counted");
    assert_eq!(log_sql(&dir, "SELECT COUNT(*) FROM access_logs") as f64, written);
    assert_eq!(
        server.metric("flussonic_auth_access_logs_queued").await,
        Some(0.0)
    );
    server.stop().await;
}

/// A database whose WAL limit is `limit` pages, with no background checkpoints: only the
/// writer's own keep the WAL in bounds.
fn db_with_wal_limit(dir: &TempDir, limit: i64) -> (std::path::PathBuf, db::Db) {
    let path = dir.path().join("tokens.db");
    let tuning = db::Tuning {
        wal_pages: limit,
        checkpoint_interval: std::time::Duration::from_secs(3600),
        background_passes: false,
        ..db::Tuning::default()
    };
    let db = db::Db::open(&path, &dir.path().join("tokens.logs.db"), tuning).unwrap();
    (path, db)
}

#[tokio::test]
async fn the_wal_stays_bounded_under_writes() {
    let dir = TempDir::new("wal");
    let limit = 64;
    let (path, db) = db_with_wal_limit(&dir, limit);
    let page: i64 = sql_on(&path, "PRAGMA page_size");
    let meta = "x".repeat(3000);
    let mut largest = 0;
    for i in 0..1500 {
        let meta = meta.clone();
        db.write(move |conn| {
            conn.execute(
                "INSERT INTO tokens (token, user_id, meta, created_at, updated_at) VALUES (?1, 'u', ?2, 'now', 'now')",
                rusqlite::params![format!("wal-{i}"), meta],
            )
        })
        .await
        .unwrap();
        largest = largest.max(std::fs::metadata(dir.path().join("tokens.db-wal")).unwrap().len());
    }
    // Each write adds about six pages; the writer checkpoints at the limit and the WAL
    // starts over, so it never holds more than the limit, one write, and the quarter
    // limit after which a checkpoint that could not finish is retried.
    let frame = page as u64 + 24;
    assert!(
        largest <= 32 + (limit as u64 + limit as u64 / 4 + 8) * frame,
        "the WAL grew to {largest} bytes (limit {limit} pages)"
    );
    assert!(db.stats().checkpoints.load(std::sync::atomic::Ordering::Relaxed) >= 10);
    assert_eq!(sql_on(&path, "SELECT COUNT(*) FROM tokens"), 1500);
    db.close().await;
}

#[tokio::test]
async fn a_reader_pinning_the_wal_delays_its_restart_but_not_for_good() {
    let dir = TempDir::new("walpin");
    let limit = 64;
    let (path, db) = db_with_wal_limit(&dir, limit);
    let write = |i: i64| {
        db.write(move |conn| {
            conn.execute(
                "INSERT INTO tokens (token, user_id, meta, created_at, updated_at) VALUES (?1, 'u', ?2, 'now', 'now')",
                rusqlite::params![format!("pin-{i}"), "y".repeat(3000)],
            )
        })
    };
    write(0).await.unwrap();
    // A read transaction that stays open holds on to the WAL as it was.
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))
        .unwrap();
    let writes = 300;
    for i in 1..=writes {
        write(i).await.unwrap();
    }
    let pages = |db: &db::Db| db.stats().wal_pages.load(std::sync::atomic::Ordering::Relaxed);
    let tried = db.stats().checkpoints.load(std::sync::atomic::Ordering::Relaxed);
    assert!(pages(&db) > limit, "the WAL could not start over");
    // Retried as the WAL grows by a quarter of the limit, not after every write.
    assert!(
        tried < writes as u64 / 2,
        "{tried} checkpoints for {writes} writes"
    );
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let wal = dir.path().join("tokens.db-wal");
    let pinned_size = std::fs::metadata(&wal).unwrap().len();
    for i in 0..writes {
        write(writes + 1 + i).await.unwrap();
    }
    assert!(pages(&db) < limit + limit / 4 + 8, "{}", pages(&db));
    // Started over: 300 more writes (about 1,800 pages) grew the file by at most what is
    // written before the next retry (a quarter of the limit and one write), not by all of it.
    let page: i64 = sql_on(&path, "PRAGMA page_size");
    let retry_window = (limit as u64 / 4 + 8) * (page as u64 + 24);
    let grown = std::fs::metadata(&wal).unwrap().len().saturating_sub(pinned_size);
    assert!(
        grown <= retry_window,
        "the WAL grew by {grown} bytes after the reader left"
    );
    db.close().await;
}

#[tokio::test]
async fn work_on_the_access_log_is_answered_after_its_commit() {
    let dir = TempDir::new("log-call");
    let server = Server::start(&dir, &[]).await;
    // Enough rows that the commit takes a while: an answer sent before it would be
    // read here before the rows are there.
    let written = server
        .state
        .db
        .write_logs(|conn| {
            for n in 0..20_000 {
                conn.execute(
                    "INSERT INTO access_logs (timestamp, result, reason, session_id)
                     VALUES ('2030-01-01T00:00:00.000000Z', 'allowed', 'new_session', ?1)",
                    [format!("call-{n}")],
                )?;
            }
            Ok(20_000)
        })
        .await
        .unwrap();
    assert_eq!(log_sql(&dir, "SELECT COUNT(*) FROM access_logs"), written);
    server.stop().await;
}
