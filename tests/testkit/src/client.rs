//! The requests the example programs' tests send, as the README's `curl` lines do, and
//! the token pairs they read back.

use serde_json::Value;

/// `curl -X METHOD [-H …] [-d FORM] URL`: the status and the body as text.
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], form: Option<&str>) -> (u16, String) {
    let method = method.parse().unwrap_or_else(|e| panic!("{method}: {e}"));
    let mut request = reqwest::Client::new().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(form) = form {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url} does not answer: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// `curl [-H …] -d FORM URL` to an endpoint that answers JSON: the status and the JSON.
pub async fn post_form(url: &str, headers: &[(&str, &str)], form: &str) -> (u16, Value) {
    let (status, body) = request("POST", url, headers, Some(form)).await;
    let json =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} answered {status} {body:?}: {e}"));
    (status, json)
}

/// A token of a token endpoint's answer: `data.access_token` or `data.refresh_token`.
pub fn token(body: &Value, name: &str) -> String {
    body["data"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

/// A new pair for `client_id` from `{base}/auth/token/new`, with `master`:
/// (access token, refresh token). Panics unless the endpoint answers 200.
pub async fn new_pair(base: &str, master: &str, client_id: &str) -> (String, String) {
    let (status, body) = post_form(
        &format!("{base}/auth/token/new"),
        &[("MASTER-TOKEN", master)],
        &format!("client_id={client_id}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (token(&body, "access_token"), token(&body, "refresh_token"))
}
