//! Sessions: a re-check is never counted as a new session; a session lives for
//! AUTH_DURATION + SESSION_GRACE; expired sessions neither count nor pass as re-checks;
//! concurrent first requests cannot exceed the limit; sessions survive a restart and go
//! with their token; and a session belongs to its token (finding 6), in databases of
//! every schema version.

mod common;

use std::collections::HashSet;

use flussonic_backend::flussonic::{decision, request::AuthRequest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Server, TempDir, sql, sql_text};

#[tokio::test]
async fn rechecks_by_session_id_are_never_counted_as_new() {
    let dir = TempDir::new("recheck");
    let server = Server::start(&dir, &[]).await;
    let token = server
        .token(json!({"token": "one", "user_id": "solo", "max_sessions": 1}))
        .await;
    let q = |sid: &str, kind: &str, n: u32| {
        format!("name=live/a&ip=10.0.0.1&token=one&session_id={sid}&request_type={kind}&request_number={n}")
    };
    let mut steps = vec![(q("A", "new_session", 0), "new_session")];
    steps.extend((1..5).map(|n| (q("A", "update_session", n), "session_recheck")));
    // The slot is taken: another session of the same user is refused…
    steps.push((q("B", "new_session", 0), "max_sessions_reached"));
    let steps: Vec<(&str, &str)> = steps.iter().map(|(q, r)| (q.as_str(), *r)).collect();
    server.expect_auth(&steps).await;
    // …even with another token of the same user (the limit is per user).
    server
        .token(json!({"token": "two", "user_id": "solo", "max_sessions": 1}))
        .await;
    server
        .expect_auth(&[(
            "name=live/a&ip=10.0.0.2&token=two&session_id=C&request_type=new_session",
            "max_sessions_reached",
        )])
        .await;

    // One session, with its re-check time moved on.
    let sessions = server.list("/api/sessions?user_id=solo").await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["session_key"], "A");
    assert_eq!(sessions[0]["token_id"], token["id"]);
    assert!(sessions[0]["expires_at"].as_str().unwrap() > sessions[0]["last_checked_at"].as_str().unwrap());

    // Terminating it frees the slot; it cannot be terminated twice.
    let path = format!("/api/sessions/{}", sessions[0]["id"].as_i64().unwrap());
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
        server.api_expect(Method::DELETE, &path, None, status).await;
    }
    server
        .expect_auth(&[(&q("B", "new_session", 0), "new_session")])
        .await;
    server.stop().await;
}

#[tokio::test]
async fn session_lifetime_is_auth_duration_plus_grace() {
    let dir = TempDir::new("lifetime");
    let server = Server::start(&dir, &[("AUTH_DURATION", "100"), ("SESSION_GRACE", "50")]).await;
    server.token(json!({"token": "t", "user_id": "u"})).await;
    server.auth_get("name=a&ip=1.1.1.1&token=t&session_id=s").await;
    let sessions = server.list("/api/sessions").await;
    let instant = |field: &str| {
        time::OffsetDateTime::parse(
            sessions[0][field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        (instant("expires_at") - instant("last_checked_at")).whole_seconds(),
        150
    );
    server.stop().await;
}

#[tokio::test]
async fn expired_sessions_neither_count_nor_pass_as_rechecks() {
    let dir = TempDir::new("expired");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "t", "user_id": "u", "max_sessions": 1}))
        .await;
    let q = |sid: &str, kind: &str| format!("name=a&ip=1.1.1.1&token=t&session_id={sid}&request_type={kind}");
    server
        .expect_auth(&[(&q("old", "new_session"), "new_session")])
        .await;
    // The session expires (not yet cleaned up).
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z'",
    );
    server
        .expect_auth(&[
            // It does not count: a new session takes the slot…
            (&q("new", "new_session"), "new_session"),
            // …and its late re-check is a new session, which the limit now refuses.
            (&q("old", "update_session"), "max_sessions_reached"),
        ])
        .await;
    // Listing shows only the live one. The expired row is gone already: the user was at
    // the limit, so the new session's count deleted the user's expired rows first.
    assert_eq!(server.list("/api/sessions").await.len(), 1);
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 1);
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE session_key = 'new'",
    );
    // The cleanup removes what expired since.
    for cleaned in [1, 0] {
        let body = server
            .api_expect(Method::POST, "/api/sessions/cleanup", None, StatusCode::OK)
            .await;
        assert_eq!(body, json!({"cleaned": cleaned}));
    }
    server.stop().await;
}

#[tokio::test]
async fn concurrent_first_requests_never_exceed_the_limit() {
    let dir = TempDir::new("race");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "shared", "user_id": "crowd", "max_sessions": 3}))
        .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let client = server.client.clone();
        let url = server.url(&format!(
            "/auth?name=live/a&ip=10.0.{}.{}&token=shared&session_id=race-{i}&request_type=new_session",
            i / 250,
            i % 250
        ));
        tasks.spawn(async move { client.get(url).send().await.unwrap().status() });
    }
    let mut allowed = 0;
    let mut denied = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::OK => allowed += 1,
            StatusCode::FORBIDDEN => denied += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((allowed, denied), (3, 197));
    assert_eq!(server.list("/api/sessions?user_id=crowd").await.len(), 3);
    let denials = server
        .list("/api/access-logs?reason=max_sessions_reached&limit=1000")
        .await;
    assert_eq!(denials.len(), 197);
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_tokens_and_sessions() {
    let dir = TempDir::new("restart");
    let server = Server::start(&dir, &[]).await;
    let token = server
        .token(json!({"token": "keep", "user_id": "u", "max_sessions": 1}))
        .await;
    server
        .expect_auth(&[("name=a&ip=1.1.1.1&token=keep&session_id=k1", "new_session")])
        .await;
    server.stop().await;
    // A clean close leaves no WAL behind: the database files hold everything.
    for wal in ["tokens.db-wal", "tokens.logs.db-wal"] {
        let wal = dir.path().join(wal);
        assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true));
    }

    let server = Server::start(&dir, &[]).await;
    let again = server
        .api_expect(
            Method::GET,
            &format!("/api/tokens/{}", token["id"]),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(again, token);
    server
        .expect_auth(&[
            (
                "name=a&ip=1.1.1.1&token=keep&session_id=k1&request_type=update_session",
                "session_recheck",
            ),
            (
                "name=a&ip=1.1.1.1&token=keep&session_id=k2",
                "max_sessions_reached",
            ),
        ])
        .await;
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_token_removes_its_sessions() {
    let dir = TempDir::new("cascade");
    let server = Server::start(&dir, &[]).await;
    let first = server
        .token(json!({"token": "first", "user_id": "fam", "max_sessions": 2}))
        .await;
    server
        .token(json!({"token": "second", "user_id": "fam", "max_sessions": 2}))
        .await;
    server
        .expect_auth(&[
            ("name=x&ip=1.1.1.1&token=first&session_id=a", "new_session"),
            ("name=x&ip=1.1.1.1&token=first&session_id=b", "new_session"),
            (
                "name=x&ip=1.1.1.1&token=second&session_id=c",
                "max_sessions_reached",
            ),
        ])
        .await;
    let path = format!("/api/tokens/{}", first["id"]);
    let body = server
        .api_expect(Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    assert_eq!(body, Value::Null);
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 0);
    // The deleted token's sessions no longer count against the user.
    server
        .expect_auth(&[("name=x&ip=1.1.1.1&token=second&session_id=c", "new_session")])
        .await;
    for method in [Method::GET, Method::DELETE] {
        server
            .api_expect(method, &path, None, StatusCode::NOT_FOUND)
            .await;
    }
    server
        .expect_auth(&[("name=x&ip=1.1.1.1&token=first", "token_not_found")])
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_recheck_rewrites_the_session_only_when_its_expiry_moves() {
    let dir = TempDir::new("recheck-write");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "r", "user_id": "u", "max_sessions": 1}))
        .await;
    let q = "name=a&ip=1.1.1.1&token=r&session_id=R&request_type=update_session";
    server.expect_auth(&[(q, "new_session")]).await;
    // An expiry already later than the one a re-check would set: the row stays as it is.
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2999-01-01T00:00:00.000000Z', last_checked_at = '2000-01-01T00:00:00.000000Z'",
    );
    server.expect_auth(&[(q, "session_recheck")]).await;
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM active_sessions WHERE expires_at = '2999-01-01T00:00:00.000000Z' AND last_checked_at = '2000-01-01T00:00:00.000000Z'"
        ),
        1
    );
    // A live session whose expiry is due to move is extended, to a whole second.
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 seconds')",
    );
    server.expect_auth(&[(q, "session_recheck")]).await;
    let sessions = server.list("/api/sessions").await;
    let expires = sessions[0]["expires_at"].as_str().unwrap();
    assert!(expires.ends_with(".000000Z"), "{expires}");
    assert!(expires < "2999", "{expires}");
    assert!(sessions[0]["last_checked_at"].as_str().unwrap() > "2000-01-02");
    server.stop().await;
}

#[test]
fn session_keys_fall_back_to_name_ip_token() {
    let with_id = AuthRequest {
        session_id: Some("abc".into()),
        ..Default::default()
    };
    assert_eq!(decision::session_key(&with_id, "n", "i", "t"), "abc");
    let old = AuthRequest::default();
    let key = decision::session_key(&old, "live/a", "10.0.0.1", "secret-token");
    assert!(key.starts_with("legacy:"), "{key}");
    assert!(!key.contains("secret"), "the token is not repeated in the key");
    assert_eq!(
        key,
        decision::session_key(&old, "live/a", "10.0.0.1", "secret-token")
    );
    let keys: HashSet<String> = [
        ("n", "i", "t"),
        ("n", "i", "u"),
        ("n", "j", "t"),
        ("m", "i", "t"),
        ("n", "it", ""),
    ]
    .iter()
    .map(|(n, i, t)| decision::session_key(&old, n, i, t))
    .collect();
    assert_eq!(keys.len(), 5);
}

/// The users whose count in `user_sessions` differs from their rows in `active_sessions`
/// (either side missing counts as a difference), as "user: counted/rows".
fn miscounted(dir: &TempDir) -> Vec<String> {
    let conn = common::rusqlite_connection(&dir.path().join("tokens.db"));
    let mut stmt = conn
        .prepare(
            "SELECT user_id, u.sessions, a.n
             FROM (SELECT user_id, COUNT(*) AS n FROM active_sessions GROUP BY user_id) AS a
             FULL OUTER JOIN user_sessions AS u USING (user_id)
             WHERE a.n IS NOT u.sessions",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(format!(
            "{}: {:?}/{:?}",
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?,
            r.get::<_, Option<i64>>(2)?
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test]
async fn each_users_session_count_follows_every_way_a_session_comes_and_goes() {
    let dir = TempDir::new("counted");
    let server = Server::start(&dir, &[]).await;
    let a1 = server
        .token(json!({"token": "a1", "user_id": "ua", "max_sessions": 3}))
        .await;
    let a2 = server
        .token(json!({"token": "a2", "user_id": "ua", "max_sessions": 3}))
        .await;
    server
        .token(json!({"token": "b1", "user_id": "ub", "max_sessions": 0}))
        .await;
    let count = |user: &str| {
        sql(
            &dir,
            &format!("SELECT COALESCE((SELECT sessions FROM user_sessions WHERE user_id = '{user}'), 0)"),
        )
    };
    server
        .expect_auth(&[
            (&play("a1", "1"), "new_session"),
            (&play("a1", "2"), "new_session"),
            (&play("a2", "3"), "new_session"),
            (&play("a2", "4"), "max_sessions_reached"),
            (&recheck("a2", "3"), "session_recheck"),
            (&play("b1", "1"), "new_session"),
            (&play("b1", "2"), "new_session"),
        ])
        .await;
    assert_eq!((count("ua"), count("ub")), (3, 2));
    assert_eq!(miscounted(&dir), Vec::<String>::new());

    // Terminated through the API: a slot is free again.
    let first = server.list("/api/sessions?user_id=ua").await[0]["id"].clone();
    server
        .api_expect(
            Method::DELETE,
            &format!("/api/sessions/{first}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!(count("ua"), 2);
    server.expect_auth(&[(&play("a2", "4"), "new_session")]).await;

    // A refused token ends its own session.
    server
        .api_expect(
            Method::PATCH,
            &format!("/api/tokens/{}", a2["id"]),
            Some(json!({"status": "suspended"})),
            StatusCode::OK,
        )
        .await;
    server
        .expect_auth(&[(&recheck("a2", "4"), "token_suspended")])
        .await;
    assert_eq!((count("ua"), count("ub")), (2, 2));
    assert_eq!(miscounted(&dir), Vec::<String>::new());

    // A token given to another user takes its sessions along.
    server
        .api_expect(
            Method::PATCH,
            &format!("/api/tokens/{}", a2["id"]),
            Some(json!({"user_id": "ub", "status": "active"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!((count("ua"), count("ub")), (1, 3));
    assert_eq!(miscounted(&dir), Vec::<String>::new());

    // A deleted token takes its sessions with it.
    server
        .api_expect(
            Method::DELETE,
            &format!("/api/tokens/{}", a1["id"]),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!((count("ua"), count("ub")), (0, 3));
    assert_eq!(
        sql(&dir, "SELECT COUNT(*) FROM user_sessions WHERE user_id = 'ua'"),
        0
    );

    // Expired and cleaned up.
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE session_key = '1'",
    );
    let body = server
        .api_expect(Method::POST, "/api/sessions/cleanup", None, StatusCode::OK)
        .await;
    assert_eq!(body, json!({"cleaned": 1}));
    assert_eq!((count("ua"), count("ub")), (0, 2));
    assert_eq!(miscounted(&dir), Vec::<String>::new());
    server.stop().await;
}

// ---------------------------------------------------------------- a session belongs to its token (finding 6)

fn play(token: &str, session: &str) -> String {
    format!("name=live/a&ip=10.0.0.1&token={token}&session_id={session}&request_type=new_session")
}

fn recheck(token: &str, session: &str) -> String {
    format!("name=live/a&ip=10.0.0.1&token={token}&session_id={session}&request_type=update_session")
}

/// The live sessions of `user`, as (session key, token id).
async fn sessions_of(server: &Server, user: &str) -> Vec<(String, i64)> {
    server
        .list(&format!("/api/sessions?user_id={user}"))
        .await
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
    // Mallory presents Alice's session id: a session of Mallory's, not Alice's row.
    server
        .expect_auth(&[
            (&play("alice", "S"), "new_session"),
            (&play("mallory", "S"), "new_session"),
        ])
        .await;
    assert_eq!(
        sessions_of(&server, "ua").await,
        [("S".to_owned(), alice["id"].as_i64().unwrap())]
    );
    assert_eq!(
        sessions_of(&server, "um").await,
        [("S".to_owned(), mallory["id"].as_i64().unwrap())]
    );
    // Alice's session still holds her only slot, and re-checks as hers.
    server
        .expect_auth(&[
            (&play("alice", "T"), "max_sessions_reached"),
            (&recheck("alice", "S"), "session_recheck"),
            (&recheck("mallory", "S"), "session_recheck"),
        ])
        .await;
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
    // Refused tokens presenting the same session id leave the others' sessions alone.
    server
        .expect_auth(&[
            (&play("alice", "S"), "new_session"),
            (&play("later", "L"), "new_session"),
            (&play("frozen", "S"), "token_suspended"),
            (&play("fenced", "S"), "ip_not_allowed"),
            (&play("nobody", "S"), "token_not_found"),
        ])
        .await;
    assert_eq!(
        sessions_of(&server, "ua").await.len(),
        1,
        "Alice's session was ended"
    );
    assert_eq!(sessions_of(&server, "ul").await.len(), 1);
    server
        .expect_auth(&[
            (&play("alice", "T"), "max_sessions_reached"),
            (&recheck("alice", "S"), "session_recheck"),
        ])
        .await;

    // A token refused on its own session ends that session, and only that one.
    server
        .api_expect(
            Method::PATCH,
            &format!("/api/tokens/{}", later["id"]),
            Some(json!({"status": "suspended"})),
            StatusCode::OK,
        )
        .await;
    server
        .expect_auth(&[(&recheck("later", "L"), "token_suspended")])
        .await;
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
    assert_eq!(sql(&dir, "PRAGMA user_version"), 4);
    // Each user's rows counted, Bob's expired one too (it is deleted, not yet).
    assert_eq!(miscounted(&dir), Vec::<String>::new());
    assert_eq!(sql(&dir, "SELECT SUM(sessions) FROM user_sessions"), 2);
    // Every row kept, ids and all.
    let sessions = server.list("/api/sessions").await;
    assert_eq!(
        Value::Array(sessions),
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
    server
        .expect_auth(&[
            (&recheck("alice", "S"), "session_recheck"),
            (&play("bob", "S"), "new_session"),
        ])
        .await;
    assert_eq!(sessions_of(&server, "ua").await, [("S".to_owned(), 1)]);
    assert_eq!(sessions_of(&server, "ub").await, [("S".to_owned(), 2)]);
    server
        .expect_auth(&[(&play("alice", "T"), "max_sessions_reached")])
        .await;
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
    assert_eq!(sql_text(&dir, "PRAGMA integrity_check"), "ok");
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    server.stop().await;

    // The next start finds version 4 and changes nothing; deleting a token still
    // takes its sessions with it (the foreign key survived the rebuild).
    let server = Server::start(&dir, &[]).await;
    assert_eq!(sql(&dir, "PRAGMA user_version"), 4);
    // Alice's S and Bob's S: Bob's expired row went when Bob, at his limit, opened S.
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 2);
    let body = server
        .api_expect(Method::DELETE, "/api/tokens/1", None, StatusCode::NO_CONTENT)
        .await;
    assert_eq!(body, Value::Null);
    assert_eq!(
        sql(&dir, "SELECT COUNT(*) FROM active_sessions WHERE token_id = 1"),
        0
    );
    assert_eq!(
        sql(&dir, "SELECT COUNT(*) FROM active_sessions WHERE token_id = 2"),
        1
    );
    server.stop().await;
}
