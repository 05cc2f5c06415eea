//! Finding 6: a session belongs to its token. Another token presenting the same
//! `session_id` has a session of its own (before, it took the row over, freeing a slot
//! of the first user), and a refused token ends only its own sessions (before, it
//! deleted another token's session of that id). Databases of schema version 2, where
//! `session_key` alone was unique, are migrated in place.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Server, TempDir, sql};

fn play(token: &str, session: &str) -> String {
    format!("name=live/a&ip=10.0.0.1&token={token}&session_id={session}&request_type=new_session")
}

fn recheck(token: &str, session: &str) -> String {
    format!("name=live/a&ip=10.0.0.1&token={token}&session_id={session}&request_type=update_session")
}

/// The live sessions of `user`, as (session key, token id).
async fn sessions_of(server: &Server, user: &str) -> Vec<(String, i64)> {
    let (status, body) = server
        .api(Method::GET, &format!("/api/sessions?user_id={user}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["session_key"].as_str().unwrap().to_owned(),
                s["token_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn another_token_with_the_same_session_id_has_a_session_of_its_own() {
    let dir = TempDir::new("session-owner");
    let server = Server::start(&dir, &[]).await;
    let alice = server
        .token(json!({"token": "alice", "user_id": "ua", "max_sessions": 1}))
        .await;
    let mallory = server
        .token(json!({"token": "mallory", "user_id": "um", "max_sessions": 1}))
        .await;
    assert_eq!(server.auth_get(&play("alice", "S")).await.reason(), "new_session");

    // Mallory presents Alice's session id: a session of Mallory's, not Alice's row.
    assert_eq!(
        server.auth_get(&play("mallory", "S")).await.reason(),
        "new_session"
    );
    assert_eq!(
        sessions_of(&server, "ua").await,
        [("S".to_owned(), alice["id"].as_i64().unwrap())]
    );
    assert_eq!(
        sessions_of(&server, "um").await,
        [("S".to_owned(), mallory["id"].as_i64().unwrap())]
    );
    // Alice's session still holds her only slot, and re-checks as hers.
    assert_eq!(
        server.auth_get(&play("alice", "T")).await.reason(),
        "max_sessions_reached"
    );
    assert_eq!(
        server.auth_get(&recheck("alice", "S")).await.reason(),
        "session_recheck"
    );
    assert_eq!(
        server.auth_get(&recheck("mallory", "S")).await.reason(),
        "session_recheck"
    );
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_refused_token_ends_only_its_own_session() {
    let dir = TempDir::new("session-refusal");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "alice", "user_id": "ua", "max_sessions": 1}))
        .await;
    server
        .token(json!({"token": "frozen", "user_id": "uf", "status": "suspended"}))
        .await;
    server
        .token(json!({"token": "fenced", "user_id": "uf", "allowed_ips": ["192.0.2.0/24"]}))
        .await;
    let later = server
        .token(json!({"token": "later", "user_id": "ul", "max_sessions": 1}))
        .await;
    assert_eq!(server.auth_get(&play("alice", "S")).await.reason(), "new_session");
    assert_eq!(server.auth_get(&play("later", "L")).await.reason(), "new_session");

    // Refused tokens presenting the same session id leave the others' sessions alone.
    assert_eq!(
        server.auth_get(&play("frozen", "S")).await.reason(),
        "token_suspended"
    );
    assert_eq!(
        server.auth_get(&play("fenced", "S")).await.reason(),
        "ip_not_allowed"
    );
    assert_eq!(
        server.auth_get(&play("nobody", "S")).await.reason(),
        "token_not_found"
    );
    assert_eq!(
        sessions_of(&server, "ua").await.len(),
        1,
        "Alice's session was ended"
    );
    assert_eq!(sessions_of(&server, "ul").await.len(), 1);
    assert_eq!(
        server.auth_get(&play("alice", "T")).await.reason(),
        "max_sessions_reached"
    );
    assert_eq!(
        server.auth_get(&recheck("alice", "S")).await.reason(),
        "session_recheck"
    );

    // A token refused on its own session ends that session, and only that one.
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/tokens/{}", later["id"]),
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.auth_get(&recheck("later", "L")).await.reason(),
        "token_suspended"
    );
    assert_eq!(sessions_of(&server, "ul").await, []);
    assert_eq!(sessions_of(&server, "ua").await.len(), 1);
    server.stop().await;
}

/// The schema of version 2, as that version created it.
const SCHEMA_V2: &str = "
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

PRAGMA user_version = 2;
";

#[tokio::test]
async fn a_version_2_database_is_migrated_to_sessions_keyed_by_token() {
    let dir = TempDir::new("migrate-v2");
    {
        let conn = rusqlite::Connection::open(dir.path().join("tokens.db")).unwrap();
        conn.execute_batch(SCHEMA_V2).unwrap();
        conn.execute_batch(
            "INSERT INTO tokens (id, token, user_id, max_sessions, created_at, updated_at) VALUES
                 (1, 'alice', 'ua', 1, '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z'),
                 (2, 'bob', 'ub', 1, '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z');
             INSERT INTO active_sessions (id, session_key, token_id, user_id, stream_name, client_ip, protocol,
                                          started_at, last_checked_at, expires_at) VALUES
                 (5, 'S', 1, 'ua', 'live/a', '10.0.0.1', 'hls', '2020-01-01T00:00:00.000000Z',
                  '2020-01-01T00:00:00.000000Z', '2999-01-01T00:00:00.000000Z'),
                 (8, 'old', 2, 'ub', 'live/b', '10.0.0.2', NULL, '2020-01-01T00:00:00.000000Z',
                  '2020-01-01T00:00:00.000000Z', '2000-01-01T00:00:00.000000Z');",
        )
        .unwrap();
    }
    let server = Server::start(&dir, &[]).await;
    assert_eq!(sql(&dir, "PRAGMA user_version"), 3);
    // Every row kept, ids and all.
    let (_, sessions) = server.api(Method::GET, "/api/sessions", None).await;
    assert_eq!(
        sessions,
        json!([{"id": 5, "session_key": "S", "token_id": 1, "user_id": "ua", "stream_name": "live/a",
                "client_ip": "10.0.0.1", "protocol": "hls", "started_at": "2020-01-01T00:00:00.000000Z",
                "last_checked_at": "2020-01-01T00:00:00.000000Z", "expires_at": "2999-01-01T00:00:00.000000Z"}])
    );
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM active_sessions WHERE id = 8 AND session_key = 'old'"
        ),
        1
    );
    // The migrated session re-checks as Alice's, and Bob's use of its id is Bob's own.
    assert_eq!(
        server.auth_get(&recheck("alice", "S")).await.reason(),
        "session_recheck"
    );
    assert_eq!(server.auth_get(&play("bob", "S")).await.reason(), "new_session");
    assert_eq!(sessions_of(&server, "ua").await, [("S".to_owned(), 1)]);
    assert_eq!(sessions_of(&server, "ub").await, [("S".to_owned(), 2)]);
    assert_eq!(
        server.auth_get(&play("alice", "T")).await.reason(),
        "max_sessions_reached"
    );
    // The same (token, session id) twice is still refused by the database itself.
    {
        let conn = rusqlite::Connection::open(dir.path().join("tokens.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let duplicate = conn.execute(
            "INSERT INTO active_sessions (session_key, token_id, user_id, stream_name, client_ip,
                                          started_at, last_checked_at, expires_at)
             VALUES ('S', 1, 'ua', 'x', 'x', 'x', 'x', 'x')",
            [],
        );
        assert!(duplicate.is_err(), "a second row for (alice, S) was accepted");
    }
    assert_eq!(crate::sql_text(&dir, "PRAGMA integrity_check"), "ok");
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    server.stop().await;

    // The next start finds version 3 and changes nothing; deleting a token still
    // takes its sessions with it (the foreign key survived the rebuild).
    let server = Server::start(&dir, &[]).await;
    assert_eq!(sql(&dir, "PRAGMA user_version"), 3);
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 3);
    let (status, body) = server.api(Method::DELETE, "/api/tokens/1", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        sql(&dir, "SELECT COUNT(*) FROM active_sessions WHERE token_id = 1"),
        0
    );
    assert_eq!(
        sql(&dir, "SELECT COUNT(*) FROM active_sessions WHERE token_id = 2"),
        2
    );
    server.stop().await;
}
