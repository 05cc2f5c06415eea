//! `HttpTokenStore` against a real token database: an implementation of fastauth-api's
//! reference database API, served on 127.0.0.1, that records every request it receives.

#![cfg(feature = "http_store")]
mod common;

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Query, Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use fastauth::{
    FastAuth,
    store::{CachedTokenStore, EncryptedStore, HttpTokenStore, StoreError, TokenStore},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    net::{TcpListener, TcpSocket},
    task::{JoinHandle, JoinSet},
};
use tower::ServiceExt;

use common::{
    client::{pair_of, request_pair, send},
    config_file::ConfigFile,
    keys::{KEY, MASTER},
    server::{self, free_port, protected},
    stores::pair,
};

const API_KEY: (&str, &str) = ("x-api-key", "database secret");
const TENANT: (&str, &str) = ("x-tenant", "tests");
/// Short, so that every failure is reported quickly.
const TIMEOUT: Duration = Duration::from_millis(300);
/// A bound that only a hang exceeds: the store must answer long before it.
const HANG: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------
// The reference token database
// ---------------------------------------------------------------------------------

/// One request as the database received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

/// How the database answers, to produce every failure kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Status500,
    Malformed,
    Oversized,
}

struct Db {
    records: Mutex<HashMap<String, Value>>,
    requests: Mutex<Vec<Recorded>>,
    mode: Mutex<Mode>,
}

impl Db {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            records: Mutex::default(),
            requests: Mutex::default(),
            mode: Mutex::new(Mode::Normal),
        })
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self, method: Method) -> usize {
        self.requests().iter().filter(|r| r.method == method).count()
    }

    fn record(&self, client_id: &str) -> Option<Value> {
        self.records.lock().unwrap().get(client_id).cloned()
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

#[derive(Deserialize)]
struct ClientQuery {
    client_id: String,
}

#[derive(Deserialize)]
struct SaveBody {
    data: Value,
}

async fn save(
    State(db): State<Arc<Db>>,
    Query(q): Query<ClientQuery>,
    Json(body): Json<SaveBody>,
) -> Response {
    db.records.lock().unwrap().insert(q.client_id.clone(), body.data);
    Json(json!({
        "status": "success",
        "message": "Data saved successfully",
        "code": 200,
        "details": {"client_id": q.client_id},
    }))
    .into_response()
}

async fn load(State(db): State<Arc<Db>>, Query(q): Query<ClientQuery>) -> Response {
    match db.record(&q.client_id) {
        Some(data) => Json(json!({
            "status": "success",
            "message": "Data retrieved successfully",
            "code": 200,
            "data": data,
            "details": {"client_id": q.client_id},
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "status": "error",
                "message": "Client ID not found",
                "code": 404,
                "details": {"client_id": q.client_id},
            })),
        )
            .into_response(),
    }
}

/// Records the request, then answers as the current [`Mode`] says.
async fn record_and_misbehave(State(db): State<Arc<Db>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    db.requests.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let mode = *db.mode.lock().unwrap();
    match mode {
        Mode::Normal => next.run(Request::from_parts(parts, Body::from(body))).await,
        Mode::Status500 => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response(),
        Mode::Malformed => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"success","data":"#,
        )
            .into_response(),
        Mode::Oversized => {
            // Well-formed, so only the size can make it fail.
            let token = "x".repeat(100 * 1024);
            Json(json!({"data": {"access_token": token, "refresh_token": "r"}})).into_response()
        }
    }
}

fn database_app(db: Arc<Db>) -> Router {
    Router::new()
        .route("/mydb/data/token", get(load).post(save))
        .layer(middleware::from_fn_with_state(db.clone(), record_and_misbehave))
        .with_state(db)
}

/// A running database. Dropping or stopping it closes the listener and every
/// connection, as a crashed database would.
struct DbServer {
    db: Arc<Db>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl DbServer {
    async fn start(db: Arc<Db>) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), db).await
    }

    async fn start_on(addr: SocketAddr, db: Arc<Db>) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        // Restarting on the same port must not trip over the old connections' TIME_WAIT.
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(128).unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, database_app(db.clone())));
        Self { db, addr, task }
    }

    fn url(&self) -> String {
        format!("http://{}/mydb/data", self.addr)
    }

    async fn stop(mut self) -> (SocketAddr, Arc<Db>) {
        self.task.abort();
        let _ = (&mut self.task).await;
        (self.addr, self.db.clone())
    }
}

impl Drop for DbServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app`, keeping every connection in a `JoinSet` so that aborting the server
/// task also closes its keep-alive connections (a plain `axum::serve` would leave them
/// answering).
async fn serve(listener: TcpListener, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let app = app.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| app.clone().oneshot(req));
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn store_for(url: &str) -> HttpTokenStore {
    HttpTokenStore::builder(url)
        .header(API_KEY.0, API_KEY.1)
        .header(TENANT.0, TENANT.1)
        .connect_timeout(TIMEOUT)
        .request_timeout(TIMEOUT)
        .build()
        .unwrap()
}

/// Runs a store call, failing the test if it hangs instead of honouring its timeout.
async fn bounded<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, call)
        .await
        .expect("the store call did not finish: its timeout was not applied")
}

fn assert_configured_headers(requests: &[Recorded]) {
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(r.headers.get(API_KEY.0).unwrap(), API_KEY.1, "{r:?}");
        assert_eq!(r.headers.get(TENANT.0).unwrap(), TENANT.1, "{r:?}");
    }
}

fn expect_store_error<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) -> StoreError {
    match result {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
        Ok(v) => panic!("{what}: expected a store error, got {v:?}"),
    }
}

/// A port on which nothing listens.
fn closed_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A server that accepts connections and never answers (nor closes them).
async fn silent_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

// ---------------------------------------------------------------------------------
// The store's requests
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn save_sends_the_reference_request() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());
    bounded(store.save("client-1", &pair("acc.1", "ref.1")))
        .await
        .unwrap();

    let requests = server.db.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/mydb/data/token");
    assert_eq!(r.query.as_deref(), Some("client_id=client-1"));
    assert_eq!(r.headers.get(header::CONTENT_TYPE).unwrap(), "application/json");
    assert_eq!(
        &r.body[..],
        br#"{"data":{"access_token":"acc.1","refresh_token":"ref.1"}}"#
    );
    assert_configured_headers(&requests);
    assert_eq!(
        server.db.record("client-1"),
        Some(json!({"access_token": "acc.1", "refresh_token": "ref.1"}))
    );
}

#[tokio::test]
async fn load_reads_200_and_404_answers() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());

    assert_eq!(bounded(store.load("client-2")).await.unwrap(), None);
    bounded(store.save("client-2", &pair("acc.2", "ref.2")))
        .await
        .unwrap();
    assert_eq!(
        bounded(store.load("client-2")).await.unwrap(),
        Some(pair("acc.2", "ref.2"))
    );

    // A record written by another tool: extra fields, no refresh token.
    server.db.records.lock().unwrap().insert(
        "client-3".into(),
        json!({"access_token": "acc.3", "issued_by": "python"}),
    );
    assert_eq!(
        bounded(store.load("client-3")).await.unwrap(),
        Some(pair("acc.3", ""))
    );

    let requests = server.db.requests();
    let gets: Vec<_> = requests.iter().filter(|r| r.method == Method::GET).collect();
    assert_eq!(gets.len(), 3);
    for (get, id) in gets.iter().zip(["client-2", "client-2", "client-3"]) {
        assert_eq!(get.path, "/mydb/data/token");
        assert_eq!(get.query.as_deref(), Some(&*format!("client_id={id}")));
        assert!(get.body.is_empty());
    }
    assert_configured_headers(&requests);
}

#[tokio::test]
async fn client_ids_are_url_encoded_and_arrive_intact() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());
    let id = "a&client_id=evil b/é=1";

    bounded(store.save(id, &pair("acc.4", "ref.4"))).await.unwrap();
    assert_eq!(
        bounded(store.load(id)).await.unwrap(),
        Some(pair("acc.4", "ref.4"))
    );

    let requests = server.db.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.path, "/mydb/data/token");
        assert_eq!(
            r.query.as_deref(),
            Some("client_id=a%26client_id%3Devil+b%2F%C3%A9%3D1")
        );
    }
    // One record, under the whole id: nothing leaked into another parameter or key.
    let keys: Vec<String> = server.db.records.lock().unwrap().keys().cloned().collect();
    assert_eq!(keys, [id]);
    assert_configured_headers(&requests);
}

#[tokio::test]
async fn revoke_overwrites_the_record_with_empty_tokens() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());
    bounded(store.save("client-5", &pair("acc.5", "ref.5")))
        .await
        .unwrap();
    bounded(store.revoke("client-5")).await.unwrap();

    let requests = server.db.requests();
    let last = requests.last().unwrap();
    assert_eq!(last.method, Method::POST);
    assert_eq!(last.query.as_deref(), Some("client_id=client-5"));
    assert_eq!(
        &last.body[..],
        br#"{"data":{"access_token":"","refresh_token":""}}"#
    );
    assert_eq!(bounded(store.load("client-5")).await.unwrap(), None);
    assert_configured_headers(&server.db.requests());
}

// ---------------------------------------------------------------------------------
// Failure kinds: each a StoreError, within the timeout
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_500_answer_is_a_store_error() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());
    server.db.set_mode(Mode::Status500);
    let e = expect_store_error(bounded(store.load("c")).await, "load");
    assert!(e.to_string().contains("500"), "{e}");
    expect_store_error(bounded(store.save("c", &pair("a", "r"))).await, "save");
    expect_store_error(bounded(store.revoke("c")).await, "revoke");
    assert_eq!(server.db.requests().len(), 3);
}

#[tokio::test]
async fn a_malformed_body_is_a_store_error() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());
    server.db.set_mode(Mode::Malformed);
    expect_store_error(bounded(store.load("c")).await, "load");
}

#[tokio::test]
async fn an_oversized_body_is_a_store_error() {
    let server = DbServer::start(Db::new()).await;
    let store = store_for(&server.url());
    server.db.set_mode(Mode::Oversized);
    let e = expect_store_error(bounded(store.load("c")).await, "load");
    assert!(e.to_string().contains("larger than"), "{e}");
}

#[tokio::test]
async fn a_database_that_never_answers_is_a_store_error() {
    let (addr, task) = silent_server().await;
    let store = store_for(&format!("http://{addr}/mydb/data"));
    expect_store_error(bounded(store.load("c")).await, "load");
    expect_store_error(bounded(store.save("c", &pair("a", "r"))).await, "save");
    task.abort();
}

#[tokio::test]
async fn a_refused_connection_is_a_store_error() {
    let addr = closed_port();
    let store = store_for(&format!("http://{addr}/mydb/data"));
    expect_store_error(bounded(store.load("c")).await, "load");
    expect_store_error(bounded(store.save("c", &pair("a", "r"))).await, "save");
    expect_store_error(bounded(store.revoke("c")).await, "revoke");
}

// ---------------------------------------------------------------------------------
// The layer in stored mode
// ---------------------------------------------------------------------------------

fn auth_with(store: impl TokenStore) -> FastAuth {
    common::auth::builder()
        .master_token(MASTER)
        .master_paths(["/auth/token/new"])
        .access_paths(["/api"])
        // The races below lose three refreshes a round from one address, on purpose:
        // the failure limit (tests/security.rs) would soon answer 429 instead.
        .failure_limit(None)
        .store(store)
        .build()
        .unwrap()
}

/// Serves an app protected by `auth` on 127.0.0.1 and returns its base URL.
async fn serve_app(auth: &FastAuth) -> String {
    let app = protected(auth, Router::new().route("/api/items", get(|| async { "items" })));
    format!("http://{}", server::serve(app).await)
}

async fn get_items(client: &reqwest::Client, app: &str, access_token: &str) -> (StatusCode, Value) {
    let url = format!("{app}/api/items");
    let answer = bounded(send(client, Method::GET, &url, &[("ACCESS-TOKEN", access_token)])).await;
    (StatusCode::from_u16(answer.status).unwrap(), answer.json())
}

#[tokio::test]
async fn the_layer_fails_closed_while_the_database_is_down_and_recovers() {
    let server = DbServer::start(Db::new()).await;
    let auth = auth_with(store_for(&server.url()));
    let app = serve_app(&auth).await;
    let client = reqwest::Client::new();

    let (status, issued) = request_pair(&client, &app, "layer-client").await;
    assert_eq!(status, 200, "{issued}");
    let (access, refresh) = pair_of(&issued);

    // The database received the save of exactly this pair.
    let saves: Vec<_> = server
        .db
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .collect();
    assert_eq!(saves.len(), 1);
    assert_eq!(saves[0].query.as_deref(), Some("client_id=layer-client"));
    let body: Value = serde_json::from_slice(&saves[0].body).unwrap();
    assert_eq!(
        body,
        json!({"data": {"access_token": access, "refresh_token": refresh}})
    );

    assert_eq!(
        get_items(&client, &app, &access).await,
        (StatusCode::OK, "items".into())
    );

    // The database goes away: no decision can be made, so the layer refuses with 503.
    let (addr, db) = server.stop().await;
    let (status, body) = get_items(&client, &app, &access).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"detail": "Token store unavailable"}));

    // It comes back on the same port with the same records: the app recovers by itself.
    let server = DbServer::start_on(addr, db).await;
    assert_eq!(
        get_items(&client, &app, &access).await,
        (StatusCode::OK, "items".into())
    );
    assert_configured_headers(&server.db.requests());
}

#[tokio::test]
async fn a_cache_in_front_saves_round_trips_and_sees_its_own_revocations() {
    let server = DbServer::start(Db::new()).await;
    // Another instance sharing the database issues the pair.
    let issuer = auth_with(store_for(&server.url()));
    let pair = issuer.issue(Some("cached-client")).await.unwrap();

    let cached = CachedTokenStore::builder(store_for(&server.url()))
        .ttl(Duration::from_secs(600))
        .negative_ttl(Duration::from_secs(600))
        .build();
    let auth = auth_with(cached);
    let app = serve_app(&auth).await;
    let client = reqwest::Client::new();

    assert_eq!(server.db.count(Method::GET), 0);
    assert_eq!(
        get_items(&client, &app, &pair.access_token).await,
        (StatusCode::OK, "items".into())
    );
    assert_eq!(server.db.count(Method::GET), 1);
    assert_eq!(
        get_items(&client, &app, &pair.access_token).await,
        (StatusCode::OK, "items".into())
    );
    assert_eq!(
        server.db.count(Method::GET),
        1,
        "the second request reached the database"
    );

    // A revocation through this instance is seen at once, despite the long TTL.
    bounded(auth.revoke("cached-client")).await.unwrap();
    assert_eq!(
        server.db.record("cached-client"),
        Some(json!({"access_token": "", "refresh_token": ""}))
    );
    let (status, body) = get_items(&client, &app, &pair.access_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Access token revoked"}));
}

#[tokio::test]
async fn a_config_file_can_put_a_cache_in_front_of_the_database() {
    let server = DbServer::start(Db::new()).await;
    let file = ConfigFile::new(&format!(
        r#"{{"cryptography_key":"{KEY}","master_token":"{MASTER}","access_token_paths":["/api"],
            "database_api_path":"{}","store_cache_ttl_secs":600}}"#,
        server.url()
    ));
    let auth = file.builder().ignore_environment().build().unwrap();
    let issuer = auth_with(store_for(&server.url()));
    let pair = issuer.issue(Some("file-cached")).await.unwrap();
    let app = serve_app(&auth).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(
            get_items(&client, &app, &pair.access_token).await,
            (StatusCode::OK, "items".into())
        );
    }
    assert_eq!(
        server.db.count(Method::GET),
        1,
        "two of three requests were answered by the cache"
    );
}

// ---------------------------------------------------------------------------------
// Refresh rotation under concurrency
// ---------------------------------------------------------------------------------

/// Fires `n` refreshes of one refresh token at once and returns their statuses and bodies.
async fn race_refreshes(client: &reqwest::Client, app: &str, refresh: &str, n: usize) -> Vec<(u16, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, barrier) = (client.clone(), barrier.clone());
            let url = format!("{app}/auth/token/refresh?refresh_token={refresh}");
            tokio::spawn(async move {
                barrier.wait().await;
                let response = bounded(client.get(url).send()).await.unwrap();
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap();
                (status, serde_json::from_slice::<Value>(&body).unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// The trait's default `rotate` (load, compare, save) spans two awaits: without the
/// per-client serialisation in `FastAuth::refresh`, two refreshes of one token both won
/// (23 of 30 rounds on one instance), through the cache and the encryption too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_through_the_http_store_exactly_one_wins() {
    let server = DbServer::start(Db::new()).await;
    let stacks: [(&str, Arc<dyn TokenStore>); 3] = [
        ("http", Arc::new(store_for(&server.url()))),
        (
            "cached(http)",
            Arc::new(CachedTokenStore::new(store_for(&server.url()))),
        ),
        (
            "encrypted(http)",
            Arc::new(EncryptedStore::with_key(store_for(&server.url()), KEY).unwrap()),
        ),
    ];
    let client = reqwest::Client::new();
    for (name, store) in stacks {
        let auth = auth_with(store);
        let app = serve_app(&auth).await;
        for round in 0..30 {
            let pair = auth.issue(Some(&format!("{name}-{round}"))).await.unwrap();
            let answers = race_refreshes(&client, &app, &pair.refresh_token, 4).await;
            let winners: Vec<&Value> = answers
                .iter()
                .filter(|(s, _)| *s == 200)
                .map(|(_, b)| b)
                .collect();
            let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
            statuses.sort();
            assert_eq!(
                statuses,
                [200, 401, 401, 401],
                "{name}, round {round}: {answers:?}"
            );
            for (_, body) in answers.iter().filter(|(s, _)| *s == 401) {
                assert_eq!(body["message"], "Invalid refresh token", "{name}: {body}");
            }
            // The losers presented a rotated token: re-use detection revoked the client,
            // the winner's new pair included.
            let new_access = winners[0]["data"]["access_token"].as_str().unwrap();
            let (status, body) = get_items(&client, &app, new_access).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        }
    }
}
