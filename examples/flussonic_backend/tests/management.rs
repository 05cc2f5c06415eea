//! The management API: the key it needs (as `X-API-Key` or `MASTER-TOKEN`, generated
//! when none is configured, locked out after repeated wrong ones), tokens (create, list,
//! read, change with `null` clearing, delete), timestamps with offsets and their range
//! (finding 8), refused bodies, and the access log's filters.

mod common;

use flussonic_backend::{app, config::Config, management::api_key::KeySource};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{API_KEY, Server, TempDir, enc, log_sql, sql, sql_text};

// ---------------------------------------------------------------- the key

#[tokio::test]
async fn management_needs_the_key_as_x_api_key_or_master_token() {
    let dir = TempDir::new("key");
    let server = Server::start(&dir, &[]).await;
    let url = server.url("/api/tokens");
    // (header, value) → status; no header at all first.
    for (header, key, status) in [
        (None, "", StatusCode::UNAUTHORIZED),
        (Some("X-API-Key"), "wrong", StatusCode::UNAUTHORIZED),
        (Some("MASTER-TOKEN"), "wrong", StatusCode::UNAUTHORIZED),
        (Some("X-API-Key"), API_KEY, StatusCode::OK),
        (Some("MASTER-TOKEN"), API_KEY, StatusCode::OK),
    ] {
        let mut request = server.client.get(&url);
        if let Some(header) = header {
            request = request.header(header, key);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            status,
            "{header:?}: {key}"
        );
    }
    // Other spellings of a management path are checked too, and writes without the key
    // change nothing.
    for path in [
        "/api//tokens",
        "/API/tokens",
        "/api/./tokens",
        "/x/../api/tokens",
        "/%61pi/tokens",
    ] {
        let r = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = server
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(json!({"user_id": "intruder"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM tokens"), 0);
    // /auth, /health and /metrics need no key.
    for path in ["/health", "/metrics"] {
        let r = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn repeated_wrong_keys_lock_the_address_out() {
    let dir = TempDir::new("bruteforce");
    let server = Server::start(&dir, &[]).await;
    let url = server.url("/api/tokens");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = server
            .client
            .get(&url)
            .header("X-API-Key", "guess")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    // Locked out even with the right key, for a while; /auth is not affected.
    let r = server
        .client
        .get(&url)
        .header("X-API-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    server
        .expect_auth(&[("name=a&ip=1.1.1.1&token=x", "token_not_found")])
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_missing_api_key_is_generated_once_and_kept_private() {
    let dir = TempDir::new("genkey");
    // Read from a `.env`, with nothing in the environment.
    let dotenv = [(
        "DATABASE_URL".to_owned(),
        format!("sqlite:///{}", dir.path().join("db/tokens.db").display()),
    )];
    let config = Config::from_sources(|_| None, &dotenv.into_iter().collect()).unwrap();
    assert_eq!(config.api_key_file, dir.path().join("db/api_key"));
    let first = app::build(&config).unwrap();
    let KeySource::Generated(file) = &first.key_source else {
        panic!("expected a generated key, got {:?}", first.key_source);
    };
    assert_eq!(file, &dir.path().join("db/api_key"));
    let key = std::fs::read_to_string(file).unwrap().trim().to_owned();
    assert_eq!(key.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    first.state.shutdown().await;

    // The next start reads the same key, and management answers to it only.
    let server = Server::start_with(&dir, config).await;
    assert_eq!(server.key_source, KeySource::File(dir.path().join("db/api_key")));
    let url = server.url("/api/tokens");
    for (key, status) in [
        (key.as_str(), StatusCode::OK),
        (API_KEY, StatusCode::UNAUTHORIZED),
    ] {
        let r = server
            .client
            .get(&url)
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{key}");
    }
    server.stop().await;
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn token_crud_round_trip() {
    let dir = TempDir::new("crud");
    let server = Server::start(&dir, &[]).await;
    let created = server
        .api_expect(
            Method::POST,
            "/api/tokens",
            Some(
                json!({"token": "abc", "user_id": 42, "max_sessions": 3, "meta": {"plan": "gold"},
                        "allowed_streams": ["live/*"]}),
            ),
            StatusCode::CREATED,
        )
        .await;
    for key in [
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
    ] {
        assert!(created.get(key).is_some(), "{key} missing from {created}");
    }
    assert_eq!(created["user_id"], "42");
    assert_eq!(created["status"], "active");
    assert_eq!(created["valid_from"], created["created_at"]);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // A generated token when none is given.
    let generated = server.token(json!({"user_id": "g"})).await;
    assert_eq!(generated["token"].as_str().unwrap().len(), 32);

    // Duplicate → 409, nothing written.
    let body = server
        .api_expect(
            Method::POST,
            "/api/tokens",
            Some(json!({"token": "abc", "user_id": "x"})),
            StatusCode::CONFLICT,
        )
        .await;
    assert!(body["detail"].as_str().unwrap().contains("exists"));
    server
        .api_expect(
            Method::PATCH,
            &format!("/api/tokens/{}", generated["id"]),
            Some(json!({"token": "abc"})),
            StatusCode::CONFLICT,
        )
        .await;

    // List with filters and paging.
    server
        .token(json!({"token": "s1", "user_id": "x", "status": "suspended"}))
        .await;
    let all = server.list("/api/tokens").await;
    assert_eq!(all.len(), 3);
    let suspended = server.list("/api/tokens?status=suspended").await;
    assert_eq!(suspended.len(), 1);
    assert_eq!(suspended[0]["token"], "s1");
    let page = server.list("/api/tokens?skip=1&limit=1").await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["id"], generated["id"]);
    // The listing (written straight from the rows) shows each token exactly as a read does.
    for listed in &all {
        let (_, read) = server
            .api(Method::GET, &format!("/api/tokens/{}", listed["id"]), None)
            .await;
        assert_eq!(listed, &read);
    }
    let by_user = server.list("/api/tokens?user_id=42").await;
    assert_eq!(by_user[0]["token"], "abc");
    for bad in ["status=gone", "limit=0", "limit=5000", "skip=-1", "limit=ten"] {
        let body = server
            .api_expect(
                Method::GET,
                &format!("/api/tokens?{bad}"),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(body["detail"][0]["loc"][0], "query", "{bad}");
    }
    for (method, path, body, status) in [
        (
            Method::GET,
            "/api/tokens/abc",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (Method::GET, "/api/tokens/999", None, StatusCode::NOT_FOUND),
        (
            Method::PATCH,
            "/api/tokens/999",
            Some(json!({"max_sessions": 2})),
            StatusCode::NOT_FOUND,
        ),
    ] {
        server.api_expect(method, path, body, status).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn patch_tells_absent_from_null() {
    let dir = TempDir::new("patch");
    let server = Server::start(&dir, &[]).await;
    let token = server
        .token(
            json!({"token": "p", "user_id": "u", "max_sessions": 4, "valid_until": "2099-01-01T00:00:00Z",
                      "allowed_ips": ["10.0.0.0/8"], "allowed_streams": ["a"], "meta": {"k": 1}}),
        )
        .await;
    let path = format!("/api/tokens/{}", token["id"]);

    // Absent members are left alone.
    let same = server
        .api_expect(Method::PATCH, &path, Some(json!({})), StatusCode::OK)
        .await;
    assert_eq!(same["valid_until"], "2099-01-01T00:00:00.000000Z");
    assert_eq!(same["meta"], json!({"k": 1}));

    // null clears.
    let cleared = server
        .api_expect(
            Method::PATCH,
            &path,
            Some(
                json!({"valid_until": null, "meta": null, "allowed_ips": null, "allowed_streams": null,
                        "valid_from": null}),
            ),
            StatusCode::OK,
        )
        .await;
    for (field, value) in [
        ("valid_until", Value::Null),
        ("valid_from", Value::Null),
        ("meta", Value::Null),
        ("allowed_ips", json!([])),
        ("allowed_streams", json!([])),
        ("max_sessions", json!(4)),
    ] {
        assert_eq!(cleared[field], value, "{field}");
    }
    assert!(cleared["updated_at"].as_str().unwrap() >= token["updated_at"].as_str().unwrap());
    // Stored, not just echoed.
    let (_, read) = server.api(Method::GET, &path, None).await;
    assert_eq!(read, cleared);
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM tokens WHERE valid_until IS NULL AND meta IS NULL"
        ),
        1
    );

    // Fields that cannot be null say so, by name; unknown fields are refused.
    for (body, field) in [
        (json!({"user_id": null}), "user_id"),
        (json!({"max_sessions": null}), "max_sessions"),
        (json!({"max_sessions": -1}), "max_sessions"),
        (json!({"status": "paused"}), "status"),
        (json!({"valid_from": "tomorrow"}), "valid_from"),
        (json!({"token": "has space"}), "token"),
        (json!({"max_session": 2}), "max_session"),
        (
            json!({"valid_from": "2100-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"}),
            "valid_until",
        ),
    ] {
        let (status, err) = server.api(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(err["detail"][0]["loc"], json!(["body", field]), "{body}");
    }
    // Sending back what was read is fine (read-only members are ignored).
    server
        .api_expect(Method::PATCH, &path, Some(read.clone()), StatusCode::OK)
        .await;
    server.stop().await;
}

#[tokio::test]
async fn offsets_in_timestamps_are_honoured() {
    let dir = TempDir::new("offsets");
    let server = Server::start(&dir, &[]).await;
    let token = server
        .token(
            json!({"token": "o", "user_id": "u", "valid_from": "2030-06-01T15:30:00+03:00",
                      "valid_until": "2030-06-02T00:00:00-05:00"}),
        )
        .await;
    assert_eq!(token["valid_from"], "2030-06-01T12:30:00.000000Z");
    assert_eq!(token["valid_until"], "2030-06-02T05:00:00.000000Z");
    assert_eq!(
        sql_text(&dir, "SELECT valid_from FROM tokens WHERE token = 'o'"),
        "2030-06-01T12:30:00.000000Z"
    );
    // The instant decides, not the wall-clock digits: 30 minutes ago written in +14:00
    // is already valid, 30 minutes ahead written in -12:00 is not.
    let now = time::OffsetDateTime::now_utc();
    let in_offset = |t: time::OffsetDateTime, h: i8| {
        t.to_offset(time::UtcOffset::from_hms(h, 0, 0).unwrap())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let past = in_offset(now - time::Duration::minutes(30), 14);
    let future = in_offset(now + time::Duration::minutes(30), -12);
    server
        .tokens(&[
            json!({"token": "past", "user_id": "u", "valid_from": past}),
            json!({"token": "future", "user_id": "u", "valid_from": future}),
        ])
        .await;
    server
        .expect_auth(&[
            ("name=a&ip=1.1.1.1&token=past", "new_session"),
            ("name=a&ip=1.1.1.1&token=future", "token_not_yet_valid"),
        ])
        .await;

    // Access-log queries take offsets too.
    let since = in_offset(now - time::Duration::minutes(1), 3);
    let until = in_offset(now + time::Duration::minutes(1), -7);
    let logs = server
        .list(&format!(
            "/api/access-logs?since={}&until={}",
            enc(&since),
            enc(&until)
        ))
        .await;
    assert_eq!(logs.len(), 2);
    let (_, none) = server
        .api(
            Method::GET,
            &format!("/api/access-logs?until={}", enc(&since)),
            None,
        )
        .await;
    assert_eq!(none.as_array().unwrap().len(), 0);
    server.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_write_nothing() {
    let dir = TempDir::new("bodies");
    let server = Server::start(&dir, &[]).await;
    let send = |method: Method, path: String, body: String| {
        let mut request = server
            .client
            .request(method, server.url(&path))
            .header("X-API-Key", API_KEY)
            .body(body);
        if path == "/api/tokens" {
            request = request.header("content-type", "application/json");
        }
        request.send()
    };
    let huge = json!({"user_id": "u", "meta": {"pad": "x".repeat(70_000)}}).to_string();
    // (body, status, what the detail says, if checked).
    for (body, status, detail) in [
        (
            "{\"user_id\": \"u\", ".to_owned(),
            StatusCode::BAD_REQUEST,
            Some("malformed JSON"),
        ),
        ("[1]".to_owned(), StatusCode::BAD_REQUEST, None),
        (huge, StatusCode::PAYLOAD_TOO_LARGE, Some("65536")),
    ] {
        let r = send(Method::POST, "/api/tokens".to_owned(), body.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{:.40}", body);
        let answer: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        if let Some(detail) = detail {
            assert!(answer["detail"].as_str().unwrap().contains(detail), "{answer}");
        }
    }
    let body = server
        .api_expect(
            Method::POST,
            "/api/tokens",
            Some(json!({"token": "no-user"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "user_id"]));
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM tokens"), 0);

    // PATCH alike (here without a content type).
    let token = server.token(json!({"token": "t", "user_id": "u"})).await;
    let r = send(
        Method::PATCH,
        format!("/api/tokens/{}", token["id"]),
        "{\"max_sessions\": 9".to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sql(&dir, "SELECT max_sessions FROM tokens"), 1);
    server.stop().await;
}

// ---------------------------------------------------------------- the access log

#[tokio::test]
async fn access_logs_can_be_filtered_and_paged_or_turned_off() {
    let dir = TempDir::new("logs");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "a", "user_id": "ua", "max_sessions": 0}))
        .await;
    for i in 0..5 {
        server
            .auth_get(&format!("name=live/{i}&ip=1.1.1.1&token=a&session_id=s{i}"))
            .await;
    }
    server.auth_get("name=live/x&ip=1.1.1.1&token=unknown").await;
    let all = server.list("/api/access-logs").await;
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["reason"], "token_not_found");
    assert_eq!(all[0]["result"], "denied");
    assert_eq!(all[1]["stream_name"], "live/4");
    assert_eq!(all[1]["user_id"], "ua");
    assert_eq!(all[1]["session_id"], "s4");
    // (query, rows, the first row's stream if checked).
    for (query, rows, first_stream) in [
        ("result=allowed", 5, None),
        ("user_id=ua&skip=1&limit=2", 2, Some("live/3")),
        ("token=unknown", 1, None),
        ("stream=live/2", 1, None),
    ] {
        let listed = server.list(&format!("/api/access-logs?{query}")).await;
        assert_eq!(listed.len(), rows, "{query}");
        if let Some(stream) = first_stream {
            assert_eq!(listed[0]["stream_name"], stream, "{query}");
        }
    }
    server
        .api_expect(
            Method::GET,
            "/api/access-logs?result=maybe",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let body = server
        .api_expect(
            Method::GET,
            "/api/access-logs?since=soon",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(body["detail"][0]["loc"], json!(["query", "since"]));

    // Retention: rows older than the limit are deleted by the cleanup.
    log_sql(
        &dir,
        "UPDATE access_logs SET timestamp = '2001-01-01T00:00:00.000000Z' WHERE reason = 'token_not_found'",
    );
    let (sessions, logs) = flussonic_backend::ops::cleanup::run_once(
        &server.state.db,
        &flussonic_backend::ops::cleanup::LogBounds {
            retention_days: 30,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((sessions, logs), (0, 1));
    server.stop().await;

    let dir = TempDir::new("nologs");
    let server = Server::start(&dir, &[("ENABLE_ACCESS_LOGS", "false")]).await;
    server.token(json!({"token": "a", "user_id": "ua"})).await;
    server.auth_get("name=a&ip=1.1.1.1&token=a").await;
    server.auth_get("name=a&ip=1.1.1.1&token=b").await;
    server.logs_settled().await;
    assert_eq!(log_sql(&dir, "SELECT COUNT(*) FROM access_logs"), 0);
    server.stop().await;
}

// ---------------------------------------------------------------- timestamps out of range (finding 8)

/// A management call that reports a connection closed without an answer instead of
/// panicking on it.
async fn call(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), String> {
    let mut request = server
        .client
        .request(method, server.url(path))
        .header("X-API-Key", API_KEY);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("no body: {e}"))?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// Past 9999 in UTC, or before 1970, with offsets at both ends of the range.
const OUT_OF_RANGE: &[&str] = &[
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:00:00-01:00",
    "9999-12-31 23:59:59-00:01",
    "0000-01-01T00:00:00+23:59",
    "1969-12-31T23:59:59Z",
];

#[tokio::test]
async fn out_of_range_timestamps_are_a_4xx_naming_the_field() {
    let dir = TempDir::new("timestamps");
    let server = Server::start(&dir, &[]).await;
    let token = server.token(json!({"token": "t", "user_id": "u"})).await;
    let path = format!("/api/tokens/{}", token["id"]);

    for stamp in OUT_OF_RANGE {
        for field in ["valid_from", "valid_until"] {
            let mut change = json!({});
            change[field] = json!(stamp);
            let mut new = change.clone();
            new["user_id"] = json!("u");
            let created = call(&server, Method::POST, "/api/tokens", Some(new)).await;
            let patched = call(&server, Method::PATCH, &path, Some(change)).await;
            for (what, answer) in [("POST", created), ("PATCH", patched)] {
                let (status, body) = answer.unwrap_or_else(|e| panic!("{what} {field}={stamp}: {e}"));
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{what} {field}={stamp}: {body}"
                );
                assert_eq!(
                    body["detail"][0]["loc"],
                    json!(["body", field]),
                    "{what} {field}={stamp}"
                );
            }
        }
        for param in ["since", "until"] {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair(param, stamp)
                .finish();
            let (status, body) = call(&server, Method::GET, &format!("/api/access-logs?{query}"), None)
                .await
                .unwrap_or_else(|e| panic!("{param}={stamp}: {e}"));
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{param}={stamp}: {body}"
            );
            assert_eq!(
                body["detail"][0]["loc"],
                json!(["query", param]),
                "{param}={stamp}"
            );
        }
    }
    // Unix seconds outside what a timestamp can hold, too.
    for secs in [i64::MAX, i64::MIN, 253_402_300_800, -1] {
        let (status, body) = call(
            &server,
            Method::POST,
            "/api/tokens",
            Some(json!({"user_id": "u", "valid_until": secs})),
        )
        .await
        .unwrap_or_else(|e| panic!("valid_until={secs}: {e}"));
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "valid_until={secs}: {body}"
        );
        assert_eq!(body["detail"][0]["loc"], json!(["body", "valid_until"]));
    }
    // The last instant in range is accepted, whatever its offset.
    let (status, body) = call(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"valid_until": "9999-12-31T23:59:59+01:00"})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid_until"], "9999-12-31T22:59:59.000000Z");

    // Nothing refused was written.
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM tokens"), 1);
    server.stop().await;
}
