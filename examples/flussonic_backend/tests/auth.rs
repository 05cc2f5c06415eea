//! `/auth`: what each request is answered and why. Every branch of the decision has its
//! reason code; the answers carry what Flussonic reads; the parameters come from a query
//! string, a JSON body or a form body, first value winning (finding 7), each within its
//! length limit (finding 5); a `referer` or `qs` cannot stand in for the real parameters;
//! and a token whose rules cannot be read is denied, never allowed everywhere.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Answer, FORM, JSON, Server, TempDir, Via, log_sql, sql, status_of};

// ---------------------------------------------------------------- decisions

#[tokio::test]
async fn every_decision_branch_has_its_reason() {
    let dir = TempDir::new("branches");
    let server = Server::start(&dir, &[]).await;
    let now = time::UtcDateTime::now();
    let hour = time::Duration::hours(1);
    let stamp = flussonic_backend::clock::stamp;
    server
        .tokens(&[
            json!({"token": "ok", "user_id": "u-ok", "max_sessions": 1}),
            json!({"token": "susp", "user_id": "u", "status": "suspended"}),
            json!({"token": "exp", "user_id": "u", "status": "expired"}),
            json!({"token": "early", "user_id": "u", "valid_from": stamp(now + hour)}),
            json!({"token": "late", "user_id": "u", "valid_from": stamp(now - hour - hour),
                   "valid_until": stamp(now - hour)}),
            json!({"token": "ipt", "user_id": "u", "allowed_ips": ["10.0.0.0/8"]}),
            json!({"token": "str", "user_id": "u", "allowed_streams": ["live/*"]}),
        ])
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
    let logs = server.list("/api/access-logs?limit=1000").await;
    let logged: Vec<&str> = logs.iter().map(|l| l["reason"].as_str().unwrap()).collect();
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
    for (header, value) in [
        ("x-authduration", "240"),
        ("x-userid", "viewer-7"),
        ("x-max-sessions", "2"),
    ] {
        assert_eq!(ok.header(header), Some(value), "{header}");
    }

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

// ---------------------------------------------------------------- reading the request

#[tokio::test]
async fn get_post_json_post_form_and_old_style_requests() {
    let dir = TempDir::new("transports");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "tok", "user_id": "u", "max_sessions": 10}))
        .await;
    // POST JSON (on_publish), with the "host" object, numbers, and a percent-encoded user agent.
    let on_publish = json!({
        "name": "live/pub", "proto": "rtmp", "ip": "10.77.0.151", "token": "tok",
        "request_type": "new_session", "request_number": 0, "session_id": "json-1",
        "stream_clients": 0, "total_clients": 1, "user_agent": "OBS%2F30", "host": {},
        "dvr": false
    })
    .to_string();
    let huge = format!("{{\"token\": \"tok\", \"pad\": \"{}\"}}", "x".repeat(70_000));
    let without_token = json!({"name": "m", "ip": "10.0.0.9"}).to_string();
    let no_token_at_all = json!({"name": "x"}).to_string();
    // (how it is sent, body, query string, expected reason), in this order.
    let cases: &[(Via, &str, &str, &str)] = &[
        // GET with every parameter newer versions send, plus unknown ones.
        (
            Via::Get,
            "",
            "name=vod%2Fbunny.mp4&proto=hls&ip=10.77.0.150&request_type=new_session&request_number=0\
             &session_id=0123456789abcdef0123456789abcdef01234567&stream_clients=3&total_clients=9\
             &token=tok&duration=0&bytes=0&qs=token%3Dtok&dvr=true&user_agent=VLC%2F3.0&referer=http%3A%2F%2Fa\
             &type=hls&media_request=dvr_session-hls_mbr_playlist-1362504585-3600&something_new=1",
            "new_session",
        ),
        (Via::Post(JSON), &on_publish, "", "new_session"),
        (
            Via::Post(FORM),
            "name=live%2Fform&ip=10.77.0.152&token=tok&proto=rtmp&session_id=form-1",
            "",
            "new_session",
        ),
        // Old versions: name, ip, token, proto only. The session is keyed by (name, ip,
        // token), so asking again is a re-check.
        (
            Via::Get,
            "",
            "name=old&ip=10.1.1.1&token=tok&proto=rtmp",
            "new_session",
        ),
        (
            Via::Get,
            "",
            "name=old&ip=10.1.1.1&token=tok&proto=rtmp",
            "session_recheck",
        ),
        // A POST whose body lacks the token: the query string fills it in.
        (Via::Post(JSON), &without_token, "token=tok", "new_session"),
        // Malformed bodies are a 403 with its reason, never 422 or 5xx.
        (
            Via::Post(JSON),
            "{\"name\": \"x\", ",
            "token=tok&name=x&ip=1.1.1.1",
            "invalid_request",
        ),
        (
            Via::Post(JSON),
            "[1, 2]",
            "token=tok&name=x&ip=1.1.1.1",
            "invalid_request",
        ),
        (
            Via::Post("text/plain"),
            "hello",
            "token=tok&name=x&ip=1.1.1.1",
            "invalid_request",
        ),
        // A POST without a token at all.
        (Via::Post(JSON), &no_token_at_all, "", "token_missing"),
        // A body over the limit.
        (Via::Post(JSON), &huge, "", "invalid_request"),
    ];
    for (via, body, query, reason) in cases {
        let answer = server.auth_via(*via, body, query).await;
        assert_eq!(
            (answer.status, answer.reason().as_str()),
            (status_of(reason), *reason),
            "{via:?} ?{query} {:.80}: {}",
            body,
            answer.body
        );
    }
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
    let body = json!({"name": "forbidden", "ip": "1.1.1.1", "token": "good",
                      "referer": "http://evil/?token=good&name=allowed"})
    .to_string();
    let cases: &[(Via, &str, String, &str)] = &[
        // The token only in the referer: there is no token.
        (
            Via::Get,
            "",
            format!("name=allowed&ip=1.1.1.1&referer={referer}"),
            "token_missing",
        ),
        // A bad top-level token is not rescued by the referer's.
        (
            Via::Get,
            "",
            format!("name=allowed&ip=1.1.1.1&token=bad&referer={referer}"),
            "token_not_found",
        ),
        // The referer's name does not replace the real stream name.
        (
            Via::Get,
            "",
            format!("name=forbidden&ip=1.1.1.1&token=good&referer={referer}"),
            "stream_not_allowed",
        ),
        // Nor can an unencoded repetition after the real parameters override them.
        (
            Via::Get,
            "",
            "name=forbidden&ip=1.1.1.1&token=good&name=allowed".to_owned(),
            "stream_not_allowed",
        ),
        // The same in a JSON body.
        (Via::Post(JSON), &body, String::new(), "stream_not_allowed"),
    ];
    for (via, body, query, reason) in cases {
        let answer = server.auth_via(*via, body, query).await;
        assert_eq!(answer.reason(), *reason, "{via:?} ?{query} {body}");
    }
    // The log records the real name.
    let logs = server.list("/api/access-logs?limit=1").await;
    assert_eq!(logs[0]["stream_name"], "forbidden");
    server.stop().await;
}

// ---------------------------------------------------------------- token rules

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

/// A rule column that cannot be read (a damaged or hand-edited row) denied nothing: it
/// counted as "no rule", so the token played from every address, every stream.
#[tokio::test]
async fn token_rules_that_cannot_be_read_deny_with_their_own_reason() {
    let dir = TempDir::new("bad-rules");
    let server = Server::start(&dir, &[]).await;
    let ips = server
        .token(json!({"token": "ips", "user_id": "u1", "max_sessions": 0, "allowed_ips": ["10.0.0.0/8"]}))
        .await;
    server
        .tokens(&[
            json!({"token": "streams", "user_id": "u2", "max_sessions": 0, "allowed_streams": ["live/*"]}),
            json!({"token": "fine", "user_id": "u3", "max_sessions": 0, "allowed_ips": ["10.0.0.0/8"],
                   "allowed_streams": ["live/*"]}),
        ])
        .await;
    server
        .expect_auth(&[
            ("name=live/a&ip=10.0.0.1&token=ips&session_id=i1", "new_session"),
            (
                "name=live/a&ip=10.0.0.1&token=streams&session_id=s1",
                "new_session",
            ),
        ])
        .await;
    // The rules as a bad hand edit or a broken import leaves them.
    for (token, column, text) in [
        ("ips", "allowed_ips", "10.0.0.0/8"),
        ("streams", "allowed_streams", "{\"live/*\": true}"),
    ] {
        let changed = sql(
            &dir,
            &format!("UPDATE tokens SET {column} = '{text}' WHERE token = '{token}'"),
        );
        assert_eq!(changed, 1);
    }
    server
        .expect_auth(&[
            // Denied from any address or stream: the rules' own check is never reached…
            (
                "name=live/a&ip=10.0.0.1&token=ips&session_id=i2",
                "invalid_token_rules",
            ),
            (
                "name=vod/x&ip=192.0.2.1&token=ips&session_id=i3",
                "invalid_token_rules",
            ),
            (
                "name=live/a&ip=10.0.0.1&token=streams&session_id=s2",
                "invalid_token_rules",
            ),
            (
                "name=vod/x&ip=192.0.2.1&token=streams&session_id=s3",
                "invalid_token_rules",
            ),
            // …and a session opened before is no longer a re-check: it ends.
            (
                "name=live/a&ip=10.0.0.1&token=ips&session_id=i1",
                "invalid_token_rules",
            ),
            // A token with readable rules decides as before.
            ("name=live/a&ip=10.0.0.1&token=fine&session_id=f1", "new_session"),
            (
                "name=vod/x&ip=10.0.0.1&token=fine&session_id=f2",
                "stream_not_allowed",
            ),
            (
                "name=live/a&ip=192.0.2.1&token=fine&session_id=f3",
                "ip_not_allowed",
            ),
        ])
        .await;
    let answer = server.auth_get("name=live/a&ip=10.0.0.1&token=streams").await;
    assert_eq!(answer.body["errors"][0]["code"], "invalid_token_rules");
    assert_eq!(answer.body["user_id"], "u2");
    assert_eq!(
        sql(
            &dir,
            "SELECT COUNT(*) FROM active_sessions WHERE session_key IN ('i1', 's1')"
        ),
        1,
        "only the session of the token refused on it ended"
    );
    // Rules that can be read again make the token play again.
    let repaired = sql(
        &dir,
        &format!(
            "UPDATE tokens SET allowed_ips = '[\"10.0.0.0/8\"]' WHERE id = {}",
            ips["id"]
        ),
    );
    assert_eq!(repaired, 1);
    server
        .expect_auth(&[("name=live/a&ip=10.0.0.1&token=ips&session_id=i4", "new_session")])
        .await;
    // Counted and logged with their reason.
    let denied = server
        .list("/api/access-logs?reason=invalid_token_rules&limit=1000")
        .await;
    assert_eq!(denied.len(), 6);
    assert!(denied.iter().all(|row| row["result"] == "denied"), "{denied:?}");
    let metrics = server.metrics_text().await;
    let line = "flussonic_auth_decisions_total{result=\"denied\",reason=\"invalid_token_rules\"} 6";
    assert!(
        metrics.lines().any(|l| l == line),
        "missing {line:?} in\n{metrics}"
    );
    server.stop().await;
}

// ---------------------------------------------------------------- repeated parameters (finding 7)

#[tokio::test]
async fn a_repeated_parameter_keeps_its_first_value_in_json_form_and_query() {
    let dir = TempDir::new("duplicates");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "good", "user_id": "u", "allowed_streams": ["allowed"], "max_sessions": 0}))
        .await;

    // (how it is sent, body, query string, expected reason).
    let cases: &[(Via, &str, &str, &str)] = &[
        // JSON: the finding's case, and the token both ways round.
        (
            Via::Post(JSON),
            r#"{"name":"forbidden","ip":"1.1.1.1","token":"good","name":"allowed"}"#,
            "",
            "stream_not_allowed",
        ),
        (
            Via::Post(JSON),
            r#"{"token":"bad","name":"allowed","ip":"1.1.1.1","token":"good"}"#,
            "",
            "token_not_found",
        ),
        (
            Via::Post(JSON),
            r#"{"token":"good","name":"allowed","ip":"1.1.1.1","session_id":"j1","token":"bad"}"#,
            "",
            "new_session",
        ),
        // Spelled with an escape, the key is the same key.
        (
            Via::Post(JSON),
            r#"{"name":"forbidden","ip":"1.1.1.1","token":"good","na\u006de":"allowed"}"#,
            "",
            "stream_not_allowed",
        ),
        // A first value that is no string, number or boolean is refused, not skipped.
        (
            Via::Post(JSON),
            r#"{"name":{"x":1},"ip":"1.1.1.1","token":"good","name":"allowed"}"#,
            "",
            "invalid_request",
        ),
        (
            Via::Post(JSON),
            r#"{"name":["forbidden"],"ip":"1.1.1.1","token":"good"}"#,
            "",
            "invalid_request",
        ),
        // An empty or null value is no value: the next one counts.
        (
            Via::Post(JSON),
            r#"{"name":null,"ip":"1.1.1.1","token":"good","session_id":"j2","name":"allowed"}"#,
            "",
            "new_session",
        ),
        (
            Via::Get,
            "",
            "name=&ip=1.1.1.1&token=good&session_id=q1&name=allowed",
            "new_session",
        ),
        // Form body and query string: the same rule.
        (
            Via::Post(FORM),
            "name=forbidden&ip=1.1.1.1&token=good&name=allowed",
            "",
            "stream_not_allowed",
        ),
        (
            Via::Post(FORM),
            "token=bad&name=allowed&ip=1.1.1.1&token=good",
            "",
            "token_not_found",
        ),
        (
            Via::Get,
            "",
            "name=forbidden&ip=1.1.1.1&token=good&name=allowed",
            "stream_not_allowed",
        ),
        (
            Via::Get,
            "",
            "token=bad&name=allowed&ip=1.1.1.1&token=good",
            "token_not_found",
        ),
        // Across sources the body comes first; the query only fills in.
        (
            Via::Post(JSON),
            r#"{"name":"forbidden","ip":"1.1.1.1","token":"good"}"#,
            "name=allowed",
            "stream_not_allowed",
        ),
        (
            Via::Post(FORM),
            "name=forbidden&ip=1.1.1.1&token=good",
            "name=allowed",
            "stream_not_allowed",
        ),
    ];
    for (via, body, query, expected) in cases {
        let answer = server.auth_via(*via, body, query).await;
        assert_eq!(
            answer.reason(),
            *expected,
            "{via:?} {body} ?{query}: {}",
            answer.body
        );
    }
    // The log records the first name, the one decided on.
    let (_, logs) = server.api(Method::GET, "/api/access-logs?limit=1000", None).await;
    let oldest = logs.as_array().unwrap().last().unwrap();
    assert_eq!(oldest["stream_name"], "forbidden");
    server.stop().await;
}

// ---------------------------------------------------------------- field limits (finding 5)

/// The documented limits, in bytes (README.md, "What `/auth` answers").
const LIMITS: &[(&str, usize)] = &[
    ("token", 256),
    ("name", 1024),
    ("ip", 64),
    ("proto", 16),
    ("session_id", 128),
    ("request_type", 32),
    ("qs", 4096),
];

/// A valid request with `field` set to `value` (and a distinct session).
fn params(field: &str, value: &str, session: usize) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("token", "tok".to_owned()),
        ("name", "live/a".to_owned()),
        ("ip", "10.0.0.1".to_owned()),
        ("proto", "hls".to_owned()),
        ("session_id", format!("s{session}")),
        ("request_type", "new_session".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    params.retain(|(k, _)| k != field);
    params.push((field.to_owned(), value.to_owned()));
    params
}

fn form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The same request through each source: GET query, POST JSON, POST form.
async fn each_source(server: &Server, params: &[(String, String)]) -> Vec<(&'static str, Answer)> {
    let json: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    vec![
        ("query", server.auth_get(&form(params)).await),
        (
            "json",
            server
                .auth_raw(
                    Method::POST,
                    "/auth",
                    Some(("application/json", Value::Object(json).to_string())),
                )
                .await,
        ),
        (
            "form",
            server
                .auth_raw(
                    Method::POST,
                    "/auth",
                    Some(("application/x-www-form-urlencoded", form(params))),
                )
                .await,
        ),
    ]
}

#[tokio::test]
async fn auth_fields_over_their_limit_are_refused_and_never_logged_whole() {
    let dir = TempDir::new("field-limits");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "tok", "user_id": "u", "max_sessions": 0}))
        .await;

    let mut session = 0;
    let mut refused = 0;
    for (field, limit) in LIMITS {
        // One byte over: refused from every source, the field named in the answer.
        let value = match *field {
            // Still a well-formed query string whose token is valid, only longer.
            "qs" => format!("token=tok&pad={}", "p".repeat(*limit)),
            _ => "x".repeat(limit + 1),
        };
        assert!(
            value.len() > *limit,
            "{field}: the test value must exceed the limit"
        );
        session += 1;
        for (source, answer) in each_source(&server, &params(field, &value, session)).await {
            assert_eq!(
                (answer.status.as_u16(), answer.reason()),
                (403, "invalid_request".to_owned()),
                "{field} of {} bytes via {source}: {}",
                value.len(),
                answer.body
            );
            let message = answer.body["message"].as_str().unwrap_or("");
            assert!(message.contains(field), "{field} via {source}: {message}");
            refused += 1;
        }
    }

    // A huge value (most of the body limit) is refused the same way.
    let huge = "n".repeat(60_000);
    for (source, answer) in each_source(&server, &params("name", &huge, 999)).await {
        assert_eq!(answer.reason(), "invalid_request", "a 60 kB name via {source}");
        refused += 1;
    }

    // Nothing refused opened a session.
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 0);

    // The access log has a row for every refusal, none holding more than a field's
    // limit (plus a 3-byte marker that it was cut).
    server.logs_settled().await;
    assert_eq!(
        log_sql(
            &dir,
            "SELECT COUNT(*) FROM access_logs WHERE reason = 'invalid_request'"
        ),
        refused
    );
    for (column, limit) in [
        ("token", 256),
        ("stream_name", 1024),
        ("client_ip", 64),
        ("protocol", 16),
        ("session_id", 128),
    ] {
        let longest = log_sql(
            &dir,
            &format!("SELECT COALESCE(MAX(LENGTH(CAST({column} AS BLOB))), 0) FROM access_logs"),
        );
        assert!(
            longest <= limit + 3,
            "access_logs.{column} holds {longest} bytes (limit {limit})"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn auth_fields_at_their_limit_are_accepted() {
    let dir = TempDir::new("field-limits-ok");
    let server = Server::start(&dir, &[]).await;
    // The longest token the management API accepts is also accepted by /auth.
    let long_token = "t".repeat(256);
    server
        .token(json!({"token": long_token, "user_id": "u", "max_sessions": 0}))
        .await;
    server
        .token(json!({"token": "tok", "user_id": "u", "max_sessions": 0}))
        .await;
    let at_limit = [
        ("token", long_token.clone()),
        ("name", "n".repeat(1024)),
        // (No address is 64 bytes long: the longest form.)
        ("ip", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".to_owned()),
        ("proto", "p".repeat(16)),
        ("session_id", "s".repeat(128)),
        ("request_type", "r".repeat(32)),
        (
            "qs",
            format!("token=tok&pad={}", "p".repeat(4096 - "token=tok&pad=".len())),
        ),
    ];
    for (session, (field, value)) in at_limit.iter().enumerate() {
        let mut params = params(field, value, session);
        if *field == "qs" {
            // The token comes from the viewer's query string.
            params.retain(|(k, _)| k != "token");
        }
        for (source, answer) in each_source(&server, &params).await {
            assert_eq!(
                answer.status.as_u16(),
                200,
                "{field} of {} bytes via {source}: {}",
                value.len(),
                answer.body
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn an_ip_that_is_not_an_ip_address_is_an_invalid_request() {
    let dir = TempDir::new("field-ip");
    let server = Server::start(&dir, &[]).await;
    // No IP rules: before, any text passed as the viewer's address.
    server
        .token(json!({"token": "tok", "user_id": "u", "max_sessions": 0}))
        .await;
    for (i, ip) in [
        "not-an-ip",
        "10.0.0.256",
        "10.0.0",
        "::g",
        "1.2.3.4/8",
        "<script>",
    ]
    .into_iter()
    .enumerate()
    {
        for (source, answer) in each_source(&server, &params("ip", ip, i)).await {
            assert_eq!(
                (answer.status.as_u16(), answer.reason()),
                (403, "invalid_request".to_owned()),
                "ip {ip:?} via {source}"
            );
            let message = answer.body["message"].as_str().unwrap_or("");
            assert!(message.contains("ip"), "ip {ip:?} via {source}: {message}");
        }
    }
    // IPv4, IPv6 and IPv4-mapped addresses are addresses.
    for (i, ip) in ["10.1.2.3", "2001:db8::1", "::ffff:10.9.9.9"]
        .into_iter()
        .enumerate()
    {
        let answer = server.auth_get(&form(&params("ip", ip, 100 + i))).await;
        assert_eq!(answer.reason(), "new_session", "ip {ip:?}");
    }
    assert_eq!(sql(&dir, "SELECT COUNT(*) FROM active_sessions"), 3);
    server.stop().await;
}
