//! Finding 8: a timestamp whose offset carries it past the year 9999 in UTC
//! (`9999-12-31T23:59:59-23:59`) panicked in the conversion, and the connection closed
//! without an answer. Every out-of-range timestamp is a 422 naming its field.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{API_KEY, Server, TempDir, sql};

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
