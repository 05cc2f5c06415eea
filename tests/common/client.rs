//! reqwest requests to a test server, their answers read as JSON where they are JSON.

use reqwest::{Client, Method, header::HeaderMap};
use serde_json::Value;

use super::keys::MASTER;

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON, or as a JSON string when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| Value::String(self.text.clone()))
    }
}

/// Sends one request with `headers` and reads the whole answer. A hang or a dropped
/// connection fails the test (give `client` a timeout to tell a hang from an answer).
pub async fn send(client: &Client, method: Method, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .expect("an answer, not a hang or a dropped connection");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        headers,
        text,
    }
}

/// `GET url` through `client`: the status and the body as JSON.
pub async fn get_json_via(client: &Client, url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let answer = send(client, Method::GET, url, headers).await;
    (answer.status, answer.json())
}

/// `GET url` from a fresh client: the status and the body as JSON.
pub async fn get_json(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    get_json_via(&Client::new(), url, headers).await
}

/// `GET {base}/auth/token/new?client_id=…` with the master token, as an operator issues
/// a pair over HTTP: the status and the body as JSON (see [`pair_of`]).
pub async fn request_pair(client: &Client, base: &str, client_id: &str) -> (u16, Value) {
    let url = format!("{base}/auth/token/new?client_id={client_id}");
    get_json_via(client, &url, &[("MASTER-TOKEN", MASTER)]).await
}

/// The access and refresh tokens of a token endpoint's success envelope.
pub fn pair_of(body: &Value) -> (String, String) {
    let token = |name: &str| {
        body["data"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .to_owned()
    };
    (token("access_token"), token("refresh_token"))
}
