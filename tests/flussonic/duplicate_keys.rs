//! Finding 7: a parameter given twice keeps its first (non-empty) value, in a JSON body
//! as in a form body and a query string; before, a JSON body's last value won, so a
//! second `"name"` could pass a stream rule that the first one failed.

use reqwest::Method;
use serde_json::json;

use crate::support::{Server, TempDir};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_repeated_parameter_keeps_its_first_value_in_json_form_and_query() {
    let dir = TempDir::new("duplicates");
    let server = Server::start(&dir, &[]).await;
    server
        .token(json!({"token": "good", "user_id": "u", "allowed_streams": ["allowed"], "max_sessions": 0}))
        .await;

    // (content type, body, query string, expected reason); `None`: a GET.
    let cases: &[(Option<&str>, &str, &str, &str)] = &[
        // JSON: the finding's case, and the token both ways round.
        (
            Some(JSON),
            r#"{"name":"forbidden","ip":"1.1.1.1","token":"good","name":"allowed"}"#,
            "",
            "stream_not_allowed",
        ),
        (
            Some(JSON),
            r#"{"token":"bad","name":"allowed","ip":"1.1.1.1","token":"good"}"#,
            "",
            "token_not_found",
        ),
        (
            Some(JSON),
            r#"{"token":"good","name":"allowed","ip":"1.1.1.1","session_id":"j1","token":"bad"}"#,
            "",
            "new_session",
        ),
        // Spelled with an escape, the key is the same key.
        (
            Some(JSON),
            r#"{"name":"forbidden","ip":"1.1.1.1","token":"good","na\u006de":"allowed"}"#,
            "",
            "stream_not_allowed",
        ),
        // A first value that is no string, number or boolean is refused, not skipped.
        (
            Some(JSON),
            r#"{"name":{"x":1},"ip":"1.1.1.1","token":"good","name":"allowed"}"#,
            "",
            "invalid_request",
        ),
        (
            Some(JSON),
            r#"{"name":["forbidden"],"ip":"1.1.1.1","token":"good"}"#,
            "",
            "invalid_request",
        ),
        // An empty or null value is no value: the next one counts.
        (
            Some(JSON),
            r#"{"name":null,"ip":"1.1.1.1","token":"good","session_id":"j2","name":"allowed"}"#,
            "",
            "new_session",
        ),
        (
            None,
            "",
            "name=&ip=1.1.1.1&token=good&session_id=q1&name=allowed",
            "new_session",
        ),
        // Form body and query string: the same rule.
        (
            Some(FORM),
            "name=forbidden&ip=1.1.1.1&token=good&name=allowed",
            "",
            "stream_not_allowed",
        ),
        (
            Some(FORM),
            "token=bad&name=allowed&ip=1.1.1.1&token=good",
            "",
            "token_not_found",
        ),
        (
            None,
            "",
            "name=forbidden&ip=1.1.1.1&token=good&name=allowed",
            "stream_not_allowed",
        ),
        (
            None,
            "",
            "token=bad&name=allowed&ip=1.1.1.1&token=good",
            "token_not_found",
        ),
        // Across sources the body comes first; the query only fills in.
        (
            Some(JSON),
            r#"{"name":"forbidden","ip":"1.1.1.1","token":"good"}"#,
            "name=allowed",
            "stream_not_allowed",
        ),
        (
            Some(FORM),
            "name=forbidden&ip=1.1.1.1&token=good",
            "name=allowed",
            "stream_not_allowed",
        ),
    ];
    for (content_type, body, query, expected) in cases {
        let path = format!("/auth?{query}");
        let answer = match content_type {
            Some(content_type) => {
                server
                    .auth_raw(Method::POST, &path, Some((content_type, (*body).to_owned())))
                    .await
            }
            None => server.auth_raw(Method::GET, &path, None).await,
        };
        assert_eq!(
            answer.reason(),
            *expected,
            "{content_type:?} {body} ?{query}: {}",
            answer.body
        );
    }
    // The log records the first name, the one decided on.
    let (_, logs) = server.api(Method::GET, "/api/access-logs?limit=1000", None).await;
    let oldest = logs.as_array().unwrap().last().unwrap();
    assert_eq!(oldest["stream_name"], "forbidden");
    server.stop().await;
}
