//! Helpers for tests/flussonic.rs: a temporary directory, the app served on
//! 127.0.0.1:0, and small HTTP and SQL shortcuts.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    api_key::KeySource,
    app::{self, AppState},
    config::Config,
    db,
};

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

impl Server {
    /// Serves an app on `dir/tokens.db` with `API_KEY` and `extra` variables.
    pub async fn start(dir: &TempDir, extra: &[(&str, &str)]) -> Self {
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert(
            "DATABASE_URL".into(),
            dir.path().join("tokens.db").display().to_string(),
        );
        env.insert("API_KEY".into(), API_KEY.into());
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        let config = Config::from_sources(|name| env.get(name).cloned(), &HashMap::new()).unwrap();
        Self::start_with(dir, config).await
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

    /// Creates a token (asserting 201) and returns it.
    pub async fn token(&self, body: Value) -> Value {
        let (status, token) = self.api(Method::POST, "/api/tokens", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        token
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
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let upper = statement.trim_start().to_ascii_uppercase();
    if upper.starts_with("SELECT") || upper.starts_with("PRAGMA") {
        conn.query_row(statement, [], |r| r.get(0)).unwrap()
    } else {
        conn.execute(statement, []).unwrap() as i64
    }
}
