//! The Flussonic backend example (`examples/flussonic_backend`), built in-process from
//! its own modules and exercised over real HTTP on 127.0.0.1, against a real SQLite
//! file in a temporary directory.

// The example's modules, compiled here as they are there. Some items serve only its
// `main` (such as `Config::from_env`), hence the allowances.
#[path = "../examples/flussonic_backend/api/mod.rs"]
#[allow(dead_code)]
mod api;
#[path = "../examples/flussonic_backend/api_key.rs"]
#[allow(dead_code)]
mod api_key;
#[path = "../examples/flussonic_backend/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/flussonic_backend/auth.rs"]
#[allow(dead_code)]
mod auth;
#[path = "../examples/flussonic_backend/cleanup.rs"]
#[allow(dead_code)]
mod cleanup;
#[path = "../examples/flussonic_backend/clock.rs"]
#[allow(dead_code)]
mod clock;
#[path = "../examples/flussonic_backend/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "../examples/flussonic_backend/db/mod.rs"]
#[allow(dead_code)]
mod db;
#[path = "../examples/flussonic_backend/decision.rs"]
#[allow(dead_code)]
mod decision;
#[path = "../examples/flussonic_backend/health.rs"]
#[allow(dead_code)]
mod health;
#[path = "../examples/flussonic_backend/metrics.rs"]
#[allow(dead_code)]
mod metrics;
#[path = "../examples/flussonic_backend/request.rs"]
#[allow(dead_code)]
mod request;
#[path = "../examples/flussonic_backend/rules.rs"]
#[allow(dead_code)]
mod rules;

#[path = "flussonic/support.rs"]
mod support;

#[path = "flussonic/duplicate_keys.rs"]
mod duplicate_keys;
#[path = "flussonic/field_limits.rs"]
mod field_limits;
#[path = "flussonic/session_identity.rs"]
mod session_identity;
#[path = "flussonic/timestamps.rs"]
mod timestamps;

use std::collections::{HashMap, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use support::{API_KEY, Server, TempDir, log_sql, sql};

use crate::{api_key::KeySource, config::Config};

// ---------------------------------------------------------------- decisions

#[tokio::test]
async fn every_decision_branch_has_its_reason() {
    let dir = TempDir::new("branches");
    let server = Server::start(&dir, &[]).await;
    let now = time::UtcDateTime::now();
    let hour = time::Duration::hours(1);
    server
        .token(json!({"token": "ok", "user_id": "u-ok", "max_sessions": 1}))
        .await;
    server
        .token(json!({"token": "susp", "user_id": "u", "status": "suspended"}))
        .await;
    server
        .token(json!({"token": "exp", "user_id": "u", "status": "expired"}))
        .await;
    server
        .token(json!({"token": "early", "user_id": "u", "valid_from": clock::stamp(now + hour)}))
        .await;
    server
        .token(
            json!({"token": "late", "user_id": "u", "valid_from": clock::stamp(now - hour - hour),
                      "valid_until": clock::stamp(now - hour)}),
        )
        .await;
    server
        .token(json!({"token": "ipt", "user_id": "u", "allowed_ips": ["10.0.0.0/8"]}))
        .await;
    server
        .token(json!({"token": "str", "user_id": "u", "allowed_streams": ["live/*"]}))
        .await;

    let cases: &[(&str, u16, &str)] = &[
        ("name=s&ip=1.2.3.4&proto=hls", 403, "token_missing"),
        ("name=s&ip=1.2.3.4&token=", 403, "token_missing"),
        ("ip=1.2.3.4&token=ok", 403, "invalid_request"),
        ("name=s&token=ok", 403, "invalid_request"),
        ("name=s&ip=1.2.3.4&token=nope", 403, "token_not_found"),
        ("name=s&ip=1.2.3.4&token=susp", 403, "token_suspended"),
        ("name=s&ip=1.2.3.4&token=exp", 403, "token_expired"),
        ("name=s&ip=1.2.3.4&token=early", 403, "token_not_yet_valid"),
        ("name=s&ip=1.2.3.4&token=late", 403, "token_expired"),
        ("name=s&ip=1.2.3.4&token=ipt", 403, "ip_not_allowed"),
        ("name=vod/x&ip=1.2.3.4&token=str", 403, "stream_not_allowed"),
        (
            "name=live/x&ip=1.2.3.4&token=str&session_id=a",
            200,
            "new_session",
        ),
        (
            "name=s&ip=1.2.3.4&token=ok&session_id=s1&request_type=new_session",
            200,
            "new_session",
        ),
        (
            "name=s&ip=1.2.3.4&token=ok&session_id=s1&request_type=update_session",
            200,
            "session_recheck",
        ),
        (
            "name=s&ip=1.2.3.4&token=ok&session_id=s2&request_type=new_session",
            403,
            "max_sessions_reached",
        ),
    ];
    for (query, status, reason) in cases {
        let answer = server.auth_get(query).await;
        assert_eq!(answer.status.as_u16(), *status, "{query}: {:?}", answer.body);
        assert_eq!(answer.reason(), *reason, "{query}: {:?}", answer.body);
    }

    // The token past valid_until now has status expired.
    let late = server.find_token("late").await;
    assert_eq!(late["status"], "expired");

    // Every decision is in the access log, newest first, with its reason.
    let (status, logs) = server.api(Method::GET, "/api/access-logs?limit=1000", None).await;
    assert_eq!(status, StatusCode::OK);
    let logged: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = cases.iter().rev().map(|c| c.2).collect();
    assert_eq!(logged, expected);
    server.stop().await;
}

#[tokio::test]
async fn allow_and_deny_answers_carry_what_flussonic_reads() {
    let dir = TempDir::new("answers");
    let server = Server::start(&dir, &[("AUTH_DURATION", "240")]).await;
    server
        .token(json!({"token": "t1", "user_id": "viewer-7", "max_sessions": 2}))
        .await;
    let ok = server
        .auth_get("name=live/a&ip=10.0.0.1&token=t1&session_id=x")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("x-authduration"), Some("240"));
    assert_eq!(ok.header("x-userid"), Some("viewer-7"));
    assert_eq!(ok.header("x-max-sessions"), Some("2"));

    let denied = server.auth_get("name=live/a&ip=10.0.0.1&token=zzz").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.header("content-type"), Some("application/json"));
    let body = &denied.body;
    assert_eq!(body["errors"][0]["status"], "403");
    assert_eq!(body["errors"][0]["code"], "token_not_found");
    assert!(body["errors"][0]["title"].as_str().unwrap().contains("not found"));
    assert_eq!(body["error"], "access_denied");
    assert_eq!(body["reason"], "token_not_found");
    assert!(body["message"].is_string());
    assert!(body["user_id"].is_null());

    // A denial of a known token names its user.
    server
        .token(json!({"token": "s", "user_id": "viewer-8", "status": "suspended"}))
        .await;
    let denied = server.auth_get("name=a&ip=10.0.0.1&token=s").await;
    assert_eq!(denied.body["user_id"], "viewer-8");
    server.stop().await;
}

#[tokio::test]
async fn get_post_json_post_form_and_old_style_requests() {
    let dir = TempDir::new("transports");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "tok", "user_id": "u", "max_sessions": 10}))
        .await;

    // GET with every parameter newer versions send, plus unknown ones.
    let get = server
        .auth_get(
            "name=vod%2Fbunny.mp4&proto=hls&ip=10.77.0.150&request_type=new_session&request_number=0\
             &session_id=0123456789abcdef0123456789abcdef01234567&stream_clients=3&total_clients=9\
             &token=tok&duration=0&bytes=0&qs=token%3Dtok&dvr=true&user_agent=VLC%2F3.0&referer=http%3A%2F%2Fa\
             &type=hls&media_request=dvr_session-hls_mbr_playlist-1362504585-3600&something_new=1",
        )
        .await;
    assert_eq!((get.status, get.reason()), (StatusCode::OK, "new_session".into()));

    // POST JSON (on_publish), with the "host" object, numbers, and a percent-encoded user agent.
    let body = json!({
        "name": "live/pub", "proto": "rtmp", "ip": "10.77.0.151", "token": "tok",
        "request_type": "new_session", "request_number": 0, "session_id": "json-1",
        "stream_clients": 0, "total_clients": 1, "user_agent": "OBS%2F30", "host": {},
        "dvr": false
    });
    let post = server
        .auth_raw(
            Method::POST,
            "/auth",
            Some(("application/json", body.to_string())),
        )
        .await;
    assert_eq!(
        (post.status, post.reason()),
        (StatusCode::OK, "new_session".into())
    );

    // POST form.
    let form = server
        .auth_raw(
            Method::POST,
            "/auth",
            Some((
                "application/x-www-form-urlencoded",
                "name=live%2Fform&ip=10.77.0.152&token=tok&proto=rtmp&session_id=form-1".into(),
            )),
        )
        .await;
    assert_eq!(
        (form.status, form.reason()),
        (StatusCode::OK, "new_session".into())
    );

    // Old versions: name, ip, token, proto only. The session is keyed by (name, ip,
    // token), so asking again is a re-check.
    let old = server.auth_get("name=old&ip=10.1.1.1&token=tok&proto=rtmp").await;
    assert_eq!((old.status, old.reason()), (StatusCode::OK, "new_session".into()));
    let again = server.auth_get("name=old&ip=10.1.1.1&token=tok&proto=rtmp").await;
    assert_eq!(
        (again.status, again.reason()),
        (StatusCode::OK, "session_recheck".into())
    );

    // A POST whose body lacks the token: the query string fills it in.
    let mixed = server
        .auth_raw(
            Method::POST,
            "/auth?token=tok",
            Some((
                "application/json",
                json!({"name": "m", "ip": "10.0.0.9"}).to_string(),
            )),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::OK);

    // Malformed bodies are a 403 with its reason, never 422 or 5xx.
    for (content_type, body) in [
        ("application/json", "{\"name\": \"x\", "),
        ("application/json", "[1, 2]"),
        ("text/plain", "hello"),
    ] {
        let bad = server
            .auth_raw(
                Method::POST,
                "/auth?token=tok&name=x&ip=1.1.1.1",
                Some((content_type, body.into())),
            )
            .await;
        assert_eq!(bad.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(bad.reason(), "invalid_request", "{body}");
    }
    // A POST without a token at all.
    let missing = server
        .auth_raw(
            Method::POST,
            "/auth",
            Some(("application/json", json!({"name": "x"}).to_string())),
        )
        .await;
    assert_eq!(
        (missing.status, missing.reason()),
        (StatusCode::FORBIDDEN, "token_missing".into())
    );
    // A body over the limit.
    let huge = format!("{{\"token\": \"tok\", \"pad\": \"{}\"}}", "x".repeat(70_000));
    let too_big = server
        .auth_raw(Method::POST, "/auth", Some(("application/json", huge)))
        .await;
    assert_eq!(
        (too_big.status, too_big.reason()),
        (StatusCode::FORBIDDEN, "invalid_request".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn a_referer_or_qs_cannot_smuggle_parameters() {
    let dir = TempDir::new("referer");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "good", "user_id": "u", "allowed_streams": ["allowed"], "max_sessions": 0}))
        .await;
    let referer = "http%3A%2F%2Fevil%2Fpage%3Ftoken%3Dgood%26name%3Dallowed";

    // The token only in the referer: there is no token.
    let r = server
        .auth_get(&format!("name=allowed&ip=1.1.1.1&referer={referer}"))
        .await;
    assert_eq!(r.reason(), "token_missing");
    // A bad top-level token is not rescued by the referer's.
    let r = server
        .auth_get(&format!("name=allowed&ip=1.1.1.1&token=bad&referer={referer}"))
        .await;
    assert_eq!(r.reason(), "token_not_found");
    // The referer's name does not replace the real stream name.
    let r = server
        .auth_get(&format!("name=forbidden&ip=1.1.1.1&token=good&referer={referer}"))
        .await;
    assert_eq!(r.reason(), "stream_not_allowed");
    // Nor can an unencoded repetition after the real parameters override them.
    let r = server
        .auth_get("name=forbidden&ip=1.1.1.1&token=good&name=allowed")
        .await;
    assert_eq!(r.reason(), "stream_not_allowed");
    // The same in a JSON body.
    let body = json!({"name": "forbidden", "ip": "1.1.1.1", "token": "good",
                      "referer": "http://evil/?token=good&name=allowed"});
    let r = server
        .auth_raw(
            Method::POST,
            "/auth",
            Some(("application/json", body.to_string())),
        )
        .await;
    assert_eq!(r.reason(), "stream_not_allowed");
    // The log records the real name.
    let (_, logs) = server.api(Method::GET, "/api/access-logs?limit=1", None).await;
    assert_eq!(logs[0]["stream_name"], "forbidden");
    server.stop().await;
}

// ---------------------------------------------------------------- sessions

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
    assert_eq!(
        server.auth_get(&q("A", "new_session", 0)).await.reason(),
        "new_session"
    );
    for n in 1..5 {
        let r = server.auth_get(&q("A", "update_session", n)).await;
        assert_eq!((r.status, r.reason()), (StatusCode::OK, "session_recheck".into()));
    }
    // The slot is taken: another session of the same user is refused…
    assert_eq!(
        server.auth_get(&q("B", "new_session", 0)).await.reason(),
        "max_sessions_reached"
    );
    // …even with another token of the same user (the limit is per user).
    server
        .token(json!({"token": "two", "user_id": "solo", "max_sessions": 1}))
        .await;
    let other = server
        .auth_get("name=live/a&ip=10.0.0.2&token=two&session_id=C&request_type=new_session")
        .await;
    assert_eq!(other.reason(), "max_sessions_reached");

    // One session, with its re-check time moved on.
    let (_, sessions) = server.api(Method::GET, "/api/sessions?user_id=solo", None).await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["session_key"], "A");
    assert_eq!(sessions[0]["token_id"], token["id"]);
    assert!(sessions[0]["expires_at"].as_str().unwrap() > sessions[0]["last_checked_at"].as_str().unwrap());

    // Terminating it frees the slot.
    let id = sessions[0]["id"].as_i64().unwrap();
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/sessions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/sessions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        server.auth_get(&q("B", "new_session", 0)).await.reason(),
        "new_session"
    );
    server.stop().await;
}

#[tokio::test]
async fn session_lifetime_is_auth_duration_plus_grace() {
    let dir = TempDir::new("lifetime");
    let server = Server::start(&dir, &[("AUTH_DURATION", "100"), ("SESSION_GRACE", "50")]).await;
    server.token(json!({"token": "t", "user_id": "u"})).await;
    server.auth_get("name=a&ip=1.1.1.1&token=t&session_id=s").await;
    let (_, sessions) = server.api(Method::GET, "/api/sessions", None).await;
    let checked = time::OffsetDateTime::parse(
        sessions[0]["last_checked_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        sessions[0]["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires - checked).whole_seconds(), 150);
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
    assert_eq!(
        server.auth_get(&q("old", "new_session")).await.reason(),
        "new_session"
    );
    // The session expires (not yet cleaned up).
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z'",
    );
    // It does not count: a new session takes the slot…
    assert_eq!(
        server.auth_get(&q("new", "new_session")).await.reason(),
        "new_session"
    );
    // …and its late re-check is a new session, which the limit now refuses.
    assert_eq!(
        server.auth_get(&q("old", "update_session")).await.reason(),
        "max_sessions_reached"
    );
    // Listing shows only the live one; cleanup removes the expired row.
    let (_, live) = server.api(Method::GET, "/api/sessions", None).await;
    assert_eq!(live.as_array().unwrap().len(), 1);
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE session_key = 'new'",
    );
    let (status, cleaned) = server.api(Method::POST, "/api/sessions/cleanup", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleaned, json!({"cleaned": 2}));
    let (_, cleaned) = server.api(Method::POST, "/api/sessions/cleanup", None).await;
    assert_eq!(cleaned, json!({"cleaned": 0}));
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
    let (_, sessions) = server.api(Method::GET, "/api/sessions?user_id=crowd", None).await;
    assert_eq!(sessions.as_array().unwrap().len(), 3);
    let (_, denials) = server
        .api(
            Method::GET,
            "/api/access-logs?reason=max_sessions_reached&limit=1000",
            None,
        )
        .await;
    assert_eq!(denials.as_array().unwrap().len(), 197);
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_tokens_and_sessions() {
    let dir = TempDir::new("restart");
    let server = Server::start(&dir, &[]).await;
    let token = server
        .token(json!({"token": "keep", "user_id": "u", "max_sessions": 1}))
        .await;
    assert_eq!(
        server
            .auth_get("name=a&ip=1.1.1.1&token=keep&session_id=k1")
            .await
            .reason(),
        "new_session"
    );
    server.stop().await;
    // A clean close leaves no WAL behind: the database files hold everything.
    for wal in ["tokens.db-wal", "tokens.logs.db-wal"] {
        let wal = dir.path().join(wal);
        assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true));
    }

    let server = Server::start(&dir, &[]).await;
    let (status, again) = server
        .api(Method::GET, &format!("/api/tokens/{}", token["id"]), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, token);
    let recheck = server
        .auth_get("name=a&ip=1.1.1.1&token=keep&session_id=k1&request_type=update_session")
        .await;
    assert_eq!(recheck.reason(), "session_recheck");
    assert_eq!(
        server
            .auth_get("name=a&ip=1.1.1.1&token=keep&session_id=k2")
            .await
            .reason(),
        "max_sessions_reached"
    );
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
    for sid in ["a", "b"] {
        let r = server
            .auth_get(&format!("name=x&ip=1.1.1.1&token=first&session_id={sid}"))
            .await;
        assert_eq!(r.reason(), "new_session");
    }
    assert_eq!(
        server
            .auth_get("name=x&ip=1.1.1.1&token=second&session_id=c")
            .await
            .reason(),
        "max_sessions_reached"
    );
    let (status, body) = server
        .api(Method::DELETE, &format!("/api/tokens/{}", first["id"]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 0);
    // The deleted token's sessions no longer count against the user.
    assert_eq!(
        server
            .auth_get("name=x&ip=1.1.1.1&token=second&session_id=c")
            .await
            .reason(),
        "new_session"
    );
    let (status, _) = server
        .api(Method::GET, &format!("/api/tokens/{}", first["id"]), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/tokens/{}", first["id"]), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        server.auth_get("name=x&ip=1.1.1.1&token=first").await.reason(),
        "token_not_found"
    );
    server.stop().await;
}

#[tokio::test]
async fn allowed_ips_take_cidr_ranges_and_ipv6() {
    let dir = TempDir::new("cidr");
    let server = Server::start(&dir, &[]).await;
    let token = server
        .token(json!({"token": "net", "user_id": "u", "max_sessions": 0,
                      "allowed_ips": ["10.0.0.0/8", "2001:db8::/32", "192.168.1.7", "10.1.2.3/8"]}))
        .await;
    assert_eq!(
        token["allowed_ips"],
        json!(["10.0.0.0/8", "2001:db8::/32", "192.168.1.7"])
    );
    for (ip, reason) in [
        ("10.200.1.1", "new_session"),
        ("2001:db8:abcd::1", "new_session"),
        ("2001%3Adb8%3A%3A2", "new_session"),
        ("::ffff:10.9.9.9", "new_session"),
        ("192.168.1.7", "new_session"),
        ("192.168.1.8", "ip_not_allowed"),
        ("11.0.0.1", "ip_not_allowed"),
        ("2001:db9::1", "ip_not_allowed"),
        ("garbage", "invalid_request"),
    ] {
        let r = server
            .auth_get(&format!("name=a&ip={ip}&token=net&session_id={ip}"))
            .await;
        assert_eq!(r.reason(), reason, "{ip}");
    }
    let (status, body) = server
        .api(
            Method::POST,
            "/api/tokens",
            Some(json!({"user_id": "u", "allowed_ips": ["10.0.0.0/8", "10.0.0.0/40"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "allowed_ips[1]"]));
    server.stop().await;
}

// ---------------------------------------------------------------- management

#[tokio::test]
async fn management_needs_the_key_as_x_api_key_or_master_token() {
    let dir = TempDir::new("key");
    let server = Server::start(&dir, &[]).await;
    let url = server.url("/api/tokens");
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(server.client.get(&url).send().await.unwrap()),
        StatusCode::UNAUTHORIZED
    );
    let wrong = server
        .client
        .get(&url)
        .header("X-API-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = server
        .client
        .get(&url)
        .header("MASTER-TOKEN", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = server
        .client
        .get(&url)
        .header("X-API-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ok = server
        .client
        .get(&url)
        .header("MASTER-TOKEN", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
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
    assert_eq!(
        status(server.client.get(server.url("/health")).send().await.unwrap()),
        StatusCode::OK
    );
    assert_eq!(
        status(server.client.get(server.url("/metrics")).send().await.unwrap()),
        StatusCode::OK
    );
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
    assert_eq!(
        server.auth_get("name=a&ip=1.1.1.1&token=x").await.reason(),
        "token_not_found"
    );
    server.stop().await;
}

#[tokio::test]
async fn token_crud_round_trip() {
    let dir = TempDir::new("crud");
    let server = Server::start(&dir, &[]).await;
    let (status, created) = server
        .api(
            Method::POST,
            "/api/tokens",
            Some(
                json!({"token": "abc", "user_id": 42, "max_sessions": 3, "meta": {"plan": "gold"},
                        "allowed_streams": ["live/*"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
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
    let (status, body) = server
        .api(
            Method::POST,
            "/api/tokens",
            Some(json!({"token": "abc", "user_id": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["detail"].as_str().unwrap().contains("exists"));
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/tokens/{}", generated["id"]),
            Some(json!({"token": "abc"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // List with filters and paging.
    server
        .token(json!({"token": "s1", "user_id": "x", "status": "suspended"}))
        .await;
    let (_, all) = server.api(Method::GET, "/api/tokens", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, suspended) = server
        .api(Method::GET, "/api/tokens?status=suspended", None)
        .await;
    assert_eq!(suspended.as_array().unwrap().len(), 1);
    assert_eq!(suspended[0]["token"], "s1");
    let (_, page) = server.api(Method::GET, "/api/tokens?skip=1&limit=1", None).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], generated["id"]);
    // The listing (written straight from the rows) shows each token exactly as a read does.
    for listed in all.as_array().unwrap() {
        let (_, read) = server
            .api(Method::GET, &format!("/api/tokens/{}", listed["id"]), None)
            .await;
        assert_eq!(listed, &read);
    }
    let (_, by_user) = server.api(Method::GET, "/api/tokens?user_id=42", None).await;
    assert_eq!(by_user[0]["token"], "abc");
    for bad in ["status=gone", "limit=0", "limit=5000", "skip=-1", "limit=ten"] {
        let (status, body) = server.api(Method::GET, &format!("/api/tokens?{bad}"), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(body["detail"][0]["loc"][0], "query", "{bad}");
    }
    let (status, _) = server.api(Method::GET, "/api/tokens/abc", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.api(Method::GET, "/api/tokens/999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .api(Method::PATCH, "/api/tokens/999", Some(json!({"max_sessions": 2})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
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
    let (status, same) = server.api(Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["valid_until"], "2099-01-01T00:00:00.000000Z");
    assert_eq!(same["meta"], json!({"k": 1}));

    // null clears.
    let (status, cleared) = server
        .api(
            Method::PATCH,
            &path,
            Some(
                json!({"valid_until": null, "meta": null, "allowed_ips": null, "allowed_streams": null,
                        "valid_from": null}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["valid_until"], Value::Null);
    assert_eq!(cleared["valid_from"], Value::Null);
    assert_eq!(cleared["meta"], Value::Null);
    assert_eq!(cleared["allowed_ips"], json!([]));
    assert_eq!(cleared["allowed_streams"], json!([]));
    assert_eq!(cleared["max_sessions"], 4);
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
    let (status, _) = server.api(Method::PATCH, &path, Some(read.clone())).await;
    assert_eq!(status, StatusCode::OK);
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
        .token(json!({"token": "past", "user_id": "u", "valid_from": past}))
        .await;
    server
        .token(json!({"token": "future", "user_id": "u", "valid_from": future}))
        .await;
    assert_eq!(
        server.auth_get("name=a&ip=1.1.1.1&token=past").await.reason(),
        "new_session"
    );
    assert_eq!(
        server.auth_get("name=a&ip=1.1.1.1&token=future").await.reason(),
        "token_not_yet_valid"
    );

    // Access-log queries take offsets too.
    let since = in_offset(now - time::Duration::minutes(1), 3);
    let until = in_offset(now + time::Duration::minutes(1), -7);
    let (status, logs) = server
        .api(
            Method::GET,
            &format!("/api/access-logs?since={}&until={}", enc(&since), enc(&until)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(logs.as_array().unwrap().len(), 2);
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
    let send = |body: String| {
        server
            .client
            .post(server.url("/api/tokens"))
            .header("X-API-Key", API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = send("{\"user_id\": \"u\", ".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(body["detail"].as_str().unwrap().contains("malformed JSON"));
    let r = send("[1]".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let huge = json!({"user_id": "u", "meta": {"pad": "x".repeat(70_000)}}).to_string();
    let r = send(huge).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(body["detail"].as_str().unwrap().contains("65536"));
    let (status, body) = server
        .api(Method::POST, "/api/tokens", Some(json!({"token": "no-user"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "user_id"]));
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM tokens"), 0);

    // PATCH alike.
    let token = server.token(json!({"token": "t", "user_id": "u"})).await;
    let r = server
        .client
        .patch(server.url(&format!("/api/tokens/{}", token["id"])))
        .header("X-API-Key", API_KEY)
        .body("{\"max_sessions\": 9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sql(&dir, "SELECT max_sessions FROM tokens"), 1);
    server.stop().await;
}

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
    let count = |v: &Value| v.as_array().unwrap().len();
    let (_, all) = server.api(Method::GET, "/api/access-logs", None).await;
    assert_eq!(count(&all), 6);
    assert_eq!(all[0]["reason"], "token_not_found");
    assert_eq!(all[0]["result"], "denied");
    assert_eq!(all[1]["stream_name"], "live/4");
    assert_eq!(all[1]["user_id"], "ua");
    assert_eq!(all[1]["session_id"], "s4");
    let (_, allowed) = server
        .api(Method::GET, "/api/access-logs?result=allowed", None)
        .await;
    assert_eq!(count(&allowed), 5);
    let (_, by_user) = server
        .api(Method::GET, "/api/access-logs?user_id=ua&skip=1&limit=2", None)
        .await;
    assert_eq!(count(&by_user), 2);
    assert_eq!(by_user[0]["stream_name"], "live/3");
    let (_, by_token) = server
        .api(Method::GET, "/api/access-logs?token=unknown", None)
        .await;
    assert_eq!(count(&by_token), 1);
    let (_, by_stream) = server
        .api(Method::GET, "/api/access-logs?stream=live/2", None)
        .await;
    assert_eq!(count(&by_stream), 1);
    let (status, _) = server
        .api(Method::GET, "/api/access-logs?result=maybe", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = server.api(Method::GET, "/api/access-logs?since=soon", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "since"]));

    // Retention: rows older than the limit are deleted by the cleanup.
    log_sql(
        &dir,
        "UPDATE access_logs SET timestamp = '2001-01-01T00:00:00.000000Z' WHERE reason = 'token_not_found'",
    );
    let (sessions, logs) = cleanup::run_once(&server.state.db, 30).await.unwrap();
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

// ---------------------------------------------------------------- operations

#[tokio::test]
async fn metrics_and_health_report_what_happened() {
    let dir = TempDir::new("metrics");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "m", "user_id": "u", "max_sessions": 0}))
        .await;
    server.auth_get("name=a&ip=1.1.1.1&token=m&session_id=1").await;
    server.auth_get("name=a&ip=1.1.1.1&token=m&session_id=2").await;
    server
        .auth_get("name=a&ip=1.1.1.1&token=m&session_id=2&request_type=update_session")
        .await;
    server.auth_get("name=a&ip=1.1.1.1&token=nope").await;

    let r = server.client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    for line in [
        "flussonic_auth_decisions_total{result=\"allowed\",reason=\"new_session\"} 2",
        "flussonic_auth_decisions_total{result=\"allowed\",reason=\"session_recheck\"} 1",
        "flussonic_auth_decisions_total{result=\"denied\",reason=\"token_not_found\"} 1",
        "flussonic_auth_decisions_total{result=\"denied\",reason=\"max_sessions_reached\"} 0",
        "flussonic_auth_request_duration_seconds_bucket{le=\"+Inf\"} 4",
        "flussonic_auth_request_duration_seconds_count 4",
        "flussonic_auth_open_sessions 2",
        "flussonic_auth_database_up 1",
        "# TYPE flussonic_auth_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    // Buckets are cumulative and end at the count.
    let buckets: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("flussonic_auth_request_duration_seconds_bucket"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*buckets.last().unwrap(), 4);

    let r = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body, json!({"status": "healthy", "database": "ok"}));

    // With the database gone, /health says so, and /auth cannot decide: 503, not a "no".
    server.state.db.close().await;
    let r = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["status"], "unhealthy");
    let auth = server.auth_get("name=a&ip=1.1.1.1&token=m").await;
    assert_eq!(auth.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(auth.body["errors"][0]["code"], "backend_unavailable");
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("flussonic_auth_database_up 0"), "{text}");
    assert!(text.contains("reason=\"backend_unavailable\"} 1"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn the_background_cleanup_removes_expired_sessions_and_old_logs() {
    let dir = TempDir::new("background");
    let server = Server::start(
        &dir,
        &[
            ("SESSION_CLEANUP_INTERVAL", "1"),
            ("ACCESS_LOG_RETENTION_DAYS", "1"),
        ],
    )
    .await;
    server
        .token(json!({"token": "t", "user_id": "u", "max_sessions": 0}))
        .await;
    server.auth_get("name=a&ip=1.1.1.1&token=t&session_id=old").await;
    server.auth_get("name=a&ip=1.1.1.1&token=t&session_id=live").await;
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE session_key = 'old'",
    );
    server.logs_settled().await;
    assert_eq!(
        log_sql(
            &dir,
            "UPDATE access_logs SET timestamp = '2000-01-01T00:00:00.000000Z' WHERE session_id = 'old'",
        ),
        1
    );
    // Polled, not timed: the task runs every second.
    let mut waited = 0;
    while server.metric("flussonic_auth_access_logs_deleted_total").await != Some(1.0) {
        assert!(waited < 1000, "the cleanup never ran");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.metric("flussonic_auth_sessions_cleaned_total").await,
        Some(1.0)
    );
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 1);
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM active_sessions WHERE session_key = 'live'"
        ),
        1
    );
    assert_eq!(
        log_sql(&dir, "SELECT COUNT(*) FROM access_logs WHERE session_id = 'old'"),
        0
    );
    assert_eq!(log_sql(&dir, "SELECT COUNT(*) FROM access_logs"), 1);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_requests_in_flight_finish() {
    let dir = TempDir::new("graceful");
    let mut server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "g", "user_id": "u", "max_sessions": 0}))
        .await;
    // Another connection holds the write lock, so the requests below stay in flight
    // (queued for the writer) until it lets go.
    let blocker = rusqlite::Connection::open(dir.path().join("tokens.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = server.client.clone();
        let url = server.url(&format!("/auth?name=a&ip=1.1.1.1&token=g&session_id=g{i}"));
        tasks.spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    }
    let mut waited = 0;
    // (The background cleanup may have a write pending too.)
    while server.metric("flussonic_auth_db_pending_writes").await < Some(20.0) {
        assert!(waited < 500, "the requests never reached the writer");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The signal arrives while all 20 are in flight; then the lock is released.
    server.signal_stop();
    tokio::task::yield_now().await;
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        statuses.push(result.unwrap().unwrap());
    }
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    server.stop().await;
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 20);
}

#[tokio::test]
async fn a_missing_api_key_is_generated_once_and_kept_private() {
    let dir = TempDir::new("genkey");
    let env = [(
        "DATABASE_URL".to_owned(),
        format!("sqlite:///{}", dir.path().join("db/tokens.db").display()),
    )];
    let config = Config::from_sources(|_| None, &env.into_iter().collect()).unwrap();
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
    let r = server
        .client
        .get(&url)
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = server
        .client
        .get(&url)
        .header("X-API-Key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

// ---------------------------------------------------------------- storage

#[tokio::test]
async fn access_logs_live_in_their_own_database_file() {
    let dir = TempDir::new("logfile");
    let elsewhere = dir.path().join("logs/access.db");
    let server = Server::start(&dir, &[("ACCESS_LOG_DATABASE_URL", elsewhere.to_str().unwrap())]).await;
    server
        .token(json!({"token": "f", "user_id": "uf", "max_sessions": 0}))
        .await;
    for i in 0..3 {
        server
            .auth_get(&format!("name=live/{i}&ip=1.1.1.1&token=f&session_id=f{i}"))
            .await;
    }
    server.auth_get("name=live/x&ip=1.1.1.1&token=nope").await;
    // The listing shows every decision answered before it (it waits for the queue).
    let (status, logs) = server.api(Method::GET, "/api/access-logs", None).await;
    assert_eq!(status, StatusCode::OK);
    let reasons: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
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
    assert_eq!(support::sql_on(&elsewhere, "SELECT COUNT(*) FROM access_logs"), 4);
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
    let (_, logs) = server.api(Method::GET, "/api/access-logs", None).await;
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[0]["token"], "old");
    assert_eq!(logs[1]["id"], 9);
    assert_eq!(logs[2]["id"], 7);
    // Moved, then on to version 3 (sessions keyed by token and session id).
    assert_eq!(sql(&dir, "PRAGMA user_version"), 3);
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
    let (_, logs) = server.api(Method::GET, "/api/access-logs", None).await;
    assert_eq!(logs.as_array().unwrap().len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn a_full_access_log_queue_drops_rows_and_counts_them() {
    let dir = TempDir::new("logqueue");
    let config = {
        let env: HashMap<String, String> = [
            ("DATABASE_URL", dir.path().join("tokens.db").display().to_string()),
            ("API_KEY", API_KEY.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Config::from_sources(|name| env.get(name).cloned(), &HashMap::new()).unwrap()
    };
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
    let page: i64 = sql_on_value(&path, "PRAGMA page_size");
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
    assert_eq!(sql_on_value(&path, "SELECT COUNT(*) FROM tokens"), 1500);
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
    let page: i64 = sql_on_value(&path, "PRAGMA page_size");
    let retry_window = (limit as u64 / 4 + 8) * (page as u64 + 24);
    let grown = std::fs::metadata(&wal).unwrap().len().saturating_sub(pinned_size);
    assert!(
        grown <= retry_window,
        "the WAL grew by {grown} bytes after the reader left"
    );
    db.close().await;
}

#[tokio::test]
async fn a_recheck_rewrites_the_session_only_when_its_expiry_moves() {
    let dir = TempDir::new("recheck-write");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "r", "user_id": "u", "max_sessions": 1}))
        .await;
    let q = "name=a&ip=1.1.1.1&token=r&session_id=R&request_type=update_session";
    assert_eq!(server.auth_get(q).await.reason(), "new_session");
    // An expiry already later than the one a re-check would set: the row stays as it is.
    sql(
        &dir,
        "UPDATE active_sessions SET expires_at = '2999-01-01T00:00:00.000000Z', last_checked_at = '2000-01-01T00:00:00.000000Z'",
    );
    assert_eq!(server.auth_get(q).await.reason(), "session_recheck");
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
    assert_eq!(server.auth_get(q).await.reason(), "session_recheck");
    let (_, sessions) = server.api(Method::GET, "/api/sessions", None).await;
    let expires = sessions[0]["expires_at"].as_str().unwrap();
    assert!(expires.ends_with(".000000Z"), "{expires}");
    assert!(expires < "2999", "{expires}");
    assert!(sessions[0]["last_checked_at"].as_str().unwrap() > "2000-01-02");
    server.stop().await;
}

fn sql_on_value(path: &std::path::Path, query: &str) -> i64 {
    support::sql_on(path, query)
}

#[test]
fn configuration_names_the_bad_variable() {
    let none = HashMap::new();
    let from = |pairs: &[(&str, &str)]| {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(|name| env.get(name).cloned(), &none)
    };
    let defaults = from(&[]).unwrap();
    assert_eq!(
        defaults.database_path,
        std::path::PathBuf::from("./data/tokens.db")
    );
    assert_eq!(defaults.api_key_file, std::path::PathBuf::from("./data/api_key"));
    assert_eq!(
        defaults.log_database_path,
        std::path::PathBuf::from("./data/tokens.logs.db")
    );
    assert_eq!(
        (
            defaults.auth_duration,
            defaults.session_grace,
            defaults.session_cleanup_interval
        ),
        (180, 60, 60)
    );
    assert_eq!((defaults.api_host.as_str(), defaults.api_port), ("0.0.0.0", 8080));
    assert!(defaults.enable_access_logs);
    assert_eq!(defaults.api_key, None);
    for (name, value) in [
        ("AUTH_DURATION", "soon"),
        ("AUTH_DURATION", "0"),
        ("SESSION_GRACE", "-1"),
        ("SESSION_CLEANUP_INTERVAL", "0"),
        ("API_PORT", "70000"),
        ("ENABLE_ACCESS_LOGS", "perhaps"),
        ("LOG_LEVEL", "loud=="),
        ("MAX_BODY_BYTES", "12"),
        ("ACCESS_LOG_RETENTION_DAYS", "x"),
        ("DATABASE_URL", "postgres://db/tokens"),
        ("DATABASE_URL", "sqlite:///:memory:"),
        ("ACCESS_LOG_DATABASE_URL", "sqlite:///./data/tokens.db"),
        ("ACCESS_LOG_DATABASE_URL", "mysql://db/logs"),
        ("API_HOST", " "),
    ] {
        let err = from(&[(name, value)]).unwrap_err();
        assert_eq!(err.variable, name, "{name}={value}");
        assert!(err.to_string().starts_with(name), "{err}");
    }
    let c = from(&[
        ("DATABASE_URL", "sqlite:////var/lib/fl/tokens.db"),
        ("LOG_LEVEL", "WARNING"),
        ("ENABLE_ACCESS_LOGS", "0"),
        ("API_KEY", "  "),
    ])
    .unwrap();
    assert_eq!(c.database_path, std::path::PathBuf::from("/var/lib/fl/tokens.db"));
    assert_eq!(c.api_key_file, std::path::PathBuf::from("/var/lib/fl/api_key"));
    assert_eq!(
        c.log_database_path,
        std::path::PathBuf::from("/var/lib/fl/tokens.logs.db")
    );
    assert_eq!(c.log_level, "warn");
    assert!(!c.enable_access_logs);
    assert_eq!(c.api_key, None, "an empty API_KEY is no key: one is generated");
    assert_eq!(
        from(&[("DATABASE_URL", "sqlite+aiosqlite:///./x.db")])
            .unwrap()
            .database_path
            .to_str(),
        Some("./x.db")
    );
    assert_eq!(
        from(&[("DATABASE_URL", "/srv/t.db")])
            .unwrap()
            .database_path
            .to_str(),
        Some("/srv/t.db")
    );
    let logs_apart = from(&[
        ("DATABASE_URL", "/srv/t"),
        ("ACCESS_LOG_DATABASE_URL", "sqlite:////var/log/fl/access.db"),
    ])
    .unwrap();
    assert_eq!(
        logs_apart.log_database_path.to_str(),
        Some("/var/log/fl/access.db")
    );
    assert_eq!(
        from(&[("DATABASE_URL", "/srv/t")])
            .unwrap()
            .log_database_path
            .to_str(),
        Some("/srv/t.logs.db")
    );
    // Every variable is in --help.
    let help = Config::help();
    for (name, _, _) in config::VARIABLES {
        assert!(help.contains(name), "{name}");
    }
    for name in [
        "DATABASE_URL",
        "ACCESS_LOG_DATABASE_URL",
        "AUTH_DURATION",
        "SESSION_GRACE",
        "SESSION_CLEANUP_INTERVAL",
        "LOG_LEVEL",
        "ENABLE_ACCESS_LOGS",
        "ACCESS_LOG_RETENTION_DAYS",
        "API_HOST",
        "API_PORT",
        "API_KEY",
        "MAX_BODY_BYTES",
    ] {
        assert!(help.contains(name), "{name}");
    }
}

#[test]
fn the_environment_wins_over_dotenv_and_upper_case_wins_over_lower() {
    let dir = TempDir::new("dotenv");
    let file = dir.path().join(".env");
    std::fs::write(
        &file,
        "# comment\nAPI_PORT=9000\nexport AUTH_DURATION=\"300\"\napi_key=from-old-dotenv\nSESSION_GRACE=5\n",
    )
    .unwrap();
    let dotenv = config::read_dotenv(&file).unwrap();
    let env: HashMap<&str, &str> = [("API_PORT", "9100"), ("session_grace", "7")]
        .into_iter()
        .collect();
    let c = Config::from_sources(|name| env.get(name).map(|v| v.to_string()), &dotenv).unwrap();
    assert_eq!(c.api_port, 9100, "environment over .env");
    assert_eq!(c.auth_duration, 300, ".env when the environment is silent");
    assert_eq!(c.session_grace, 7, "environment (even lower-case) over .env");
    assert_eq!(
        c.api_key.as_deref(),
        Some("from-old-dotenv"),
        "the old project's lower-case .env"
    );
    let bad = dir.path().join("bad.env");
    std::fs::write(&bad, "THIS IS NOT=\"closed\n").unwrap();
    assert!(config::read_dotenv(&bad).is_err());
    assert!(
        config::read_dotenv(&dir.path().join("absent.env"))
            .unwrap()
            .is_empty()
    );
}

fn sql_text(dir: &TempDir, query: &str) -> String {
    let conn = rusqlite::Connection::open(dir.path().join("tokens.db")).unwrap();
    conn.query_row(query, [], |r| r.get(0)).unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn session_keys_fall_back_to_name_ip_token() {
    let with_id = request::AuthRequest {
        session_id: Some("abc".into()),
        ..Default::default()
    };
    assert_eq!(decision::session_key(&with_id, "n", "i", "t"), "abc");
    let old = request::AuthRequest::default();
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
