//! Fixtures shared by the backend's integration tests: a temporary directory, the app
//! served on 127.0.0.1:0 over real HTTP against a real SQLite file, and the request
//! tables the tests are written as.

// Each test file uses part of this.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use flussonic_backend::{app, config::Config, db, management::api_key::KeySource, state::AppState};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

/// The management key the test servers use.
pub const API_KEY: &str = "test-management-key-0123456789";

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "flussonic-test-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A configuration from these variables alone (no process environment, no `.env`).
pub fn config(variables: &[(&str, &str)]) -> Config {
    let env: HashMap<String, String> = variables
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_sources(|name| env.get(name).cloned(), &HashMap::new()).unwrap()
}

/// The configuration of a test server: `dir/tokens.db`, [`API_KEY`], and `extra`.
pub fn test_config(dir: &TempDir, extra: &[(&str, &str)]) -> Config {
    let database = dir.path().join("tokens.db").display().to_string();
    let mut variables = vec![("DATABASE_URL", database.as_str()), ("API_KEY", API_KEY)];
    variables.extend_from_slice(extra);
    config(&variables)
}

/// The app, served over real HTTP.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub key_source: KeySource,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// An answer from /auth.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The reason code (the `X-Auth-Reason` header, sent with every decision).
    pub fn reason(&self) -> String {
        self.header("x-auth-reason").unwrap_or("").to_owned()
    }
}

/// The status that goes with a reason code: 200 for the two that allow, 403 for the rest.
pub fn status_of(reason: &str) -> StatusCode {
    match reason {
        "new_session" | "session_recheck" => StatusCode::OK,
        _ => StatusCode::FORBIDDEN,
    }
}

/// How one `/auth` request of a table is sent: `GET` with the query string, or `POST`
/// with a body of this content type (and the query string, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Get,
    Post(&'static str),
}

pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";

impl Server {
    /// Serves an app on `dir/tokens.db` with `API_KEY` and `extra` variables.
    pub async fn start(dir: &TempDir, extra: &[(&str, &str)]) -> Self {
        Self::start_with(dir, test_config(dir, extra)).await
    }

    /// Serves an app built from `config`.
    pub async fn start_with(dir: &TempDir, config: Config) -> Self {
        Self::start_tuned(dir, config, db::Tuning::default()).await
    }

    /// Serves an app built from `config`, its database opened with `tuning`.
    pub async fn start_tuned(_dir: &TempDir, config: Config, tuning: db::Tuning) -> Self {
        let built = app::build_tuned(&config, tuning).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::serve(listener, built.router, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            client: reqwest::Client::new(),
            state: built.state,
            key_source: built.key_source,
            stop: Some(stop),
            task,
        }
    }

    /// Sends the shutdown signal: no new connections; requests in flight go on.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops serving (requests in flight finish) and closes the database.
    pub async fn stop(mut self) {
        self.signal_stop();
        self.task.await.unwrap().unwrap();
        self.state.shutdown().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn auth_get(&self, query: &str) -> Answer {
        self.auth_raw(Method::GET, &format!("/auth?{query}"), None).await
    }

    pub async fn auth_raw(&self, method: Method, path: &str, body: Option<(&str, String)>) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `/auth` sent `via` a GET or a POST of `body`, with `query` as the query string.
    pub async fn auth_via(&self, via: Via, body: &str, query: &str) -> Answer {
        let path = format!("/auth?{query}");
        match via {
            Via::Get => self.auth_raw(Method::GET, &path, None).await,
            Via::Post(content_type) => {
                self.auth_raw(Method::POST, &path, Some((content_type, body.to_owned())))
                    .await
            }
        }
    }

    /// Sends each `(query, reason)` in turn as `GET /auth?query` and asserts its reason
    /// code and the status that goes with it.
    pub async fn expect_auth(&self, steps: &[(&str, &str)]) {
        for (query, reason) in steps {
            let answer = self.auth_get(query).await;
            assert_eq!(
                (answer.status, answer.reason().as_str()),
                (status_of(reason), *reason),
                "GET /auth?{query}: {}",
                answer.body
            );
        }
    }

    /// A management call with the key.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("X-API-Key", API_KEY);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, body)
    }

    /// A management call with the key, asserting its status; the body.
    pub async fn api_expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let (got, answer) = self.api(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }

    /// `GET path` with the key, asserting 200; the JSON array answered.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let body = self.api_expect(Method::GET, path, None, StatusCode::OK).await;
        body.as_array()
            .unwrap_or_else(|| panic!("GET {path}: not a list: {body}"))
            .clone()
    }

    /// Creates a token (asserting 201) and returns it.
    pub async fn token(&self, body: Value) -> Value {
        let (status, token) = self.api(Method::POST, "/api/tokens", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        token
    }

    /// Creates each token (asserting 201).
    pub async fn tokens(&self, bodies: &[Value]) {
        for body in bodies {
            self.token(body.clone()).await;
        }
    }

    /// The `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of an unlabelled metric.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// Waits until the access-log rows of the decisions answered so far are written.
    pub async fn logs_settled(&self) {
        self.state.db.read_logs(|_| Ok(())).await.unwrap();
    }

    /// The token whose string is `token`.
    pub async fn find_token(&self, token: &str) -> Value {
        let (_, all) = self.api(Method::GET, "/api/tokens?limit=1000", None).await;
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["token"] == token)
            .cloned()
            .unwrap()
    }
}

/// Runs one statement on the test's database file through a connection of its own:
/// a count for a `SELECT` (or a `PRAGMA`'s value), the number of changed rows otherwise.
pub fn sql(dir: &TempDir, statement: &str) -> i64 {
    sql_on(&dir.path().join("tokens.db"), statement)
}

/// [`sql`] on the test's access-log database (`tokens.logs.db`, the default beside `tokens.db`).
pub fn log_sql(dir: &TempDir, statement: &str) -> i64 {
    sql_on(&dir.path().join("tokens.logs.db"), statement)
}

/// [`sql`] on the database file `path`.
pub fn sql_on(path: &Path, statement: &str) -> i64 {
    let conn = rusqlite_connection(path);
    let upper = statement.trim_start().to_ascii_uppercase();
    if upper.starts_with("SELECT") || upper.starts_with("PRAGMA") {
        conn.query_row(statement, [], |r| r.get(0)).unwrap()
    } else {
        conn.execute(statement, []).unwrap() as i64
    }
}

/// The text value of one query on the test's database file.
pub fn sql_text(dir: &TempDir, query: &str) -> String {
    sql_text_on(&dir.path().join("tokens.db"), query)
}

/// [`sql_text`] on the database file `path`.
pub fn sql_text_on(path: &Path, query: &str) -> String {
    let conn = rusqlite_connection(path);
    conn.query_row(query, [], |r| r.get(0)).unwrap()
}

/// A connection of the test's own to a database file.
pub fn rusqlite_connection(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    conn
}

/// Percent-encodes `s` for a query string.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
