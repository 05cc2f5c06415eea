//! Finding 5: every `/auth` field has a length limit, whichever source it comes from
//! (query string, JSON body, form body, or the viewer's `qs`); a longer value is a 403
//! `invalid_request` naming the field, and the access log keeps at most the limit of it.
//! An `ip` that is not an IP address is `invalid_request` too.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Answer, Server, TempDir, log_sql, sql};

/// The documented limits, in bytes (README, "What `/auth` answers").
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
