//! The access log's costs: bounds the operator chooses (rows, size) that cut the oldest
//! rows back and lose nothing else, routine re-checks left out on request, and the
//! version-1 log's indexes by token and user dropped (its rows kept, its filters working).

mod common;

use flussonic_backend::{
    db::logs::{self, Entry},
    ops::cleanup::{self, LogBounds},
};
use serde_json::{Value, json};

use common::{Server, TempDir, log_sql, sql, sql_on};

/// Every access-log row, newest first, as the API lists them.
async fn all_logs(server: &Server) -> Vec<Value> {
    server.list("/api/access-logs?limit=1000").await
}

#[tokio::test]
async fn a_log_past_its_row_bound_is_cut_back_to_its_newest_rows() {
    let dir = TempDir::new("log-rows");
    // The background cleanup runs every second, and applies the configured bound.
    let server = Server::start(
        &dir,
        &[
            ("ACCESS_LOG_MAX_ROWS", "5"),
            ("ACCESS_LOG_RETENTION_DAYS", "0"),
            ("SESSION_CLEANUP_INTERVAL", "1"),
        ],
    )
    .await;
    server
        .token(json!({"token": "t", "user_id": "u", "max_sessions": 0}))
        .await;
    for n in 0..8 {
        server
            .expect_auth(&[(
                &format!("name=live/{n}&ip=10.0.0.{n}&token=t&session_id=s{n}"),
                "new_session",
            )])
            .await;
    }
    server
        .expect_auth(&[("name=x&ip=10.0.0.9&token=nope", "token_not_found")])
        .await;
    server.logs_settled().await;
    let before = all_logs(&server).await;
    assert_eq!(before.len(), 9);
    let tokens_before = server.list("/api/tokens").await;

    // Polled, not timed: the task runs every second.
    let mut waited = 0;
    while log_sql(&dir, "SELECT COUNT(*) FROM access_logs") > 5 {
        assert!(waited < 1000, "the cleanup never cut the log back");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The five newest rows, every field as it was; the four oldest gone, and counted.
    assert_eq!(all_logs(&server).await, before[..5]);
    assert_eq!(
        server.metric("flussonic_auth_access_logs_deleted_total").await,
        Some(4.0)
    );
    // Nothing else is touched: the token, and all eight sessions.
    assert_eq!(server.list("/api/tokens").await, tokens_before);
    assert_eq!(server.list("/api/sessions").await.len(), 8);
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 8);

    // Within its bound, the log is left alone.
    let bounds = LogBounds {
        max_rows: 5,
        ..LogBounds::default()
    };
    assert_eq!(
        cleanup::run_once(&server.state.db, &bounds).await.unwrap(),
        (0, 0)
    );
    assert_eq!(all_logs(&server).await, before[..5]);
    server.stop().await;
}

/// Writes `count` rows through the log's own writer, `first` numbering the first.
async fn write_rows(server: &Server, first: usize, count: usize) {
    server
        .state
        .db
        .write_logs(move |conn| {
            for n in first..first + count {
                // One a second, from 2030-01-01T00:00:00Z (n stays below a day).
                let timestamp = format!(
                    "2030-01-01T{:02}:{:02}:{:02}.000000Z",
                    n / 3600,
                    n / 60 % 60,
                    n % 60
                );
                let session = format!("session-{n:08}-0123456789abcdef");
                logs::insert(
                    conn,
                    &Entry {
                        timestamp: &timestamp,
                        token: Some("0123456789abcdef0123456789abcdef"),
                        user_id: Some("a-user-of-some-length"),
                        stream_name: Some("live/some-stream"),
                        client_ip: Some("192.0.2.123"),
                        protocol: Some("hls"),
                        result: "allowed",
                        reason: "new_session",
                        session_id: Some(&session),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_log_past_its_size_bound_is_cut_back_to_its_newest_rows() {
    let dir = TempDir::new("log-size");
    let server = Server::start(&dir, &[("ACCESS_LOG_RETENTION_DAYS", "0")]).await;
    let log_file = dir.path().join("tokens.logs.db");
    let in_use = || {
        let conn = common::rusqlite_connection(&log_file);
        logs::bytes_in_use(&conn).unwrap()
    };
    let ids = || {
        let conn = common::rusqlite_connection(&log_file);
        let mut stmt = conn.prepare("SELECT id FROM access_logs ORDER BY id").unwrap();
        let ids: Vec<i64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        ids
    };
    write_rows(&server, 0, 30_000).await;
    let bound: u64 = 1 << 20;
    let (rows, used) = (ids().len() as u64, in_use());
    assert!(
        used > 3 * bound,
        "{used} bytes in use by {rows} rows: too few to test a bound of {bound}"
    );

    let bounds = LogBounds {
        max_bytes: bound,
        ..LogBounds::default()
    };
    let (_, deleted) = cleanup::run_once(&server.state.db, &bounds).await.unwrap();
    let kept = ids();
    assert!(in_use() <= bound, "{} bytes in use after the cleanup", in_use());
    assert_eq!(kept.len() + deleted, rows as usize);
    // The newest rows, contiguous: the oldest went, and no row newer than one kept.
    assert_eq!(
        kept,
        ((30_000 - kept.len() as i64 + 1)..=30_000).collect::<Vec<_>>()
    );
    // And not many more than needed: at least 90 % of what the bound holds on average.
    let fits = rows * bound / used;
    assert!(
        kept.len() as u64 >= fits * 9 / 10,
        "kept {} rows, about {fits} fit",
        kept.len()
    );

    // More rows reuse the space of those deleted: the file stops growing.
    let file_size = std::fs::metadata(&log_file).unwrap().len();
    for round in 1..=3 {
        write_rows(&server, 30_000 * round, 10_000).await;
        cleanup::run_once(&server.state.db, &bounds).await.unwrap();
        assert!(in_use() <= bound);
    }
    server.stop().await;
    let grown = std::fs::metadata(&log_file).unwrap().len();
    assert!(
        grown <= file_size,
        "the log file grew from {file_size} to {grown} bytes within its bound"
    );
    assert_eq!(
        sql_on(&log_file, "SELECT MAX(id) FROM access_logs"),
        60_000,
        "the newest row is kept"
    );
}

#[tokio::test]
async fn routine_rechecks_can_be_left_out_of_the_log() {
    let dir = TempDir::new("log-rechecks");
    let server = Server::start(&dir, &[("ACCESS_LOG_RECHECKS", "false")]).await;
    server
        .token(json!({"token": "t", "user_id": "u", "max_sessions": 1}))
        .await;
    let q = |sid: &str, kind: &str| format!("name=a&ip=1.1.1.1&token=t&session_id={sid}&request_type={kind}");
    server
        .expect_auth(&[
            (&q("a", "new_session"), "new_session"),
            (&q("a", "update_session"), "session_recheck"),
            (&q("a", "update_session"), "session_recheck"),
            (&q("b", "new_session"), "max_sessions_reached"),
            ("name=a&ip=1.1.1.1&token=nope", "token_not_found"),
        ])
        .await;
    let reasons: Vec<String> = all_logs(&server)
        .await
        .iter()
        .map(|l| l["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["token_not_found", "max_sessions_reached", "new_session"]
    );
    // The re-checks are still decided, and counted in the metrics.
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("flussonic_auth_decisions_total{result=\"allowed\",reason=\"session_recheck\"} 2"),
        "{metrics}"
    );
    server.stop().await;
}

/// The access-log database as version 1 created it.
const LOG_SCHEMA_V1: &str = "
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
";

#[tokio::test]
async fn a_version_1_log_keeps_its_rows_and_loses_its_indexes_by_token_and_user() {
    let dir = TempDir::new("log-v1");
    {
        let conn = rusqlite::Connection::open(dir.path().join("tokens.logs.db")).unwrap();
        conn.execute_batch(LOG_SCHEMA_V1).unwrap();
        conn.execute_batch(
            "INSERT INTO access_logs (id, timestamp, token, user_id, stream_name, client_ip, protocol, result, reason,
                                      session_id) VALUES
                 (1, '2020-01-01T00:00:00.000000Z', 'a', 'ua', 'live/a', '10.0.0.1', 'hls', 'allowed', 'new_session', 's1'),
                 (2, '2020-01-02T00:00:00.000000Z', 'b', 'ub', 'live/b', '10.0.0.2', NULL, 'denied', 'token_suspended', NULL),
                 (3, '2020-01-03T00:00:00.000000Z', 'a', 'ua', 'live/a', '10.0.0.1', 'hls', 'allowed', 'session_recheck', 's1');",
        )
        .unwrap();
    }
    let server = Server::start(&dir, &[("ACCESS_LOG_RETENTION_DAYS", "0")]).await;
    assert_eq!(log_sql(&dir, "PRAGMA user_version"), 2);
    assert_eq!(
        log_sql(
            &dir,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'access_logs'"
        ),
        1,
        "only the index by time is left"
    );
    let ids = |logs: Vec<Value>| -> Vec<i64> { logs.iter().map(|l| l["id"].as_i64().unwrap()).collect() };
    assert_eq!(ids(all_logs(&server).await), [3, 2, 1]);
    assert_eq!(ids(server.list("/api/access-logs?token=a").await), [3, 1]);
    assert_eq!(ids(server.list("/api/access-logs?user_id=ub").await), [2]);
    assert_eq!(
        all_logs(&server).await[1],
        json!({"id": 2, "timestamp": "2020-01-02T00:00:00.000000Z", "token": "b", "user_id": "ub",
               "stream_name": "live/b", "client_ip": "10.0.0.2", "protocol": null, "result": "denied",
               "reason": "token_suspended", "session_id": null})
    );
    assert_eq!(
        common::sql_text_on(&dir.path().join("tokens.logs.db"), "PRAGMA integrity_check"),
        "ok"
    );
    server.stop().await;
    // The next start finds version 2 and changes nothing.
    let server = Server::start(&dir, &[("ACCESS_LOG_RETENTION_DAYS", "0")]).await;
    assert_eq!(ids(all_logs(&server).await), [3, 2, 1]);
    server.stop().await;
}
