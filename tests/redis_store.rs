//! `RedisTokenStore` against a real redis-server.
//!
//! Set `REDIS_URL` (such as `redis://127.0.0.1:6379`) to run these tests; without it
//! each one says on stderr that it was skipped (and fails if `FASTAUTH_REQUIRE_SERVICES=1`,
//! as in CI). Every test uses its own key prefix,
//! so they can run in parallel against one server. The restart test starts (and
//! kills) its own `redis-server` on a free port.
#![cfg(feature = "redis")]

mod common;

use std::{
    io::Write,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{Router, routing::get};
use fastauth::{
    FastAuth,
    store::{RedisTokenStore, Rotation, TokenStore},
};
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use tokio::sync::Barrier;

use common::{
    client::{get_json_via, pair_of, request_pair},
    keys::MASTER,
    server::{self, free_port, protected},
    stores::pair,
};
/// Long enough that the keys of a test outlive it, short enough that none linger.
const TEST_TTL: Duration = Duration::from_secs(600);
/// A request that takes longer than this is hanging, not slow.
const HANG: Duration = Duration::from_secs(20);

/// `REDIS_URL`, or `None` after saying on stderr that `test` was skipped.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // CI runs with every service and must not pass by skipping.
            if std::env::var("FASTAUTH_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                panic!(
                    "{test}: FASTAUTH_REQUIRE_SERVICES=1 but REDIS_URL is unset: start redis-server and set it"
                );
            }
            // Straight to stderr, not through `eprintln!`, which the test harness
            // captures and hides for passing tests.
            let line = format!(
                "SKIPPED {test}: REDIS_URL is unset; set it to a running redis-server \
                 (e.g. REDIS_URL=redis://127.0.0.1:6379) to run the Redis store tests\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// A key prefix no other test (or earlier run) uses.
fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!(
        "fastauth-test:{test}:{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn store(url: &str, prefix: &str) -> RedisTokenStore {
    RedisTokenStore::builder(url)
        .key_prefix(prefix)
        .ttl(TEST_TTL)
        .build()
        .await
        .expect("connect to REDIS_URL")
}

async fn raw(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn save_load_revoke_round_trip() {
    let Some(url) = redis_url("save_load_revoke_round_trip") else {
        return;
    };
    let prefix = unique_prefix("roundtrip");
    let store = store(&url, &prefix).await;
    let mut con = raw(&url).await;

    assert_eq!(store.load("c1").await.unwrap(), None);
    store.save("c1", &pair("a1", "r1")).await.unwrap();
    assert_eq!(store.load("c1").await.unwrap(), Some(pair("a1", "r1")));
    store.save("c1", &pair("a2", "r2")).await.unwrap();
    assert_eq!(store.load("c1").await.unwrap(), Some(pair("a2", "r2")));

    // The documented layout: a hash at {prefix}:{client_id}.
    let key = format!("{prefix}:c1");
    assert_eq!(store.key_for("c1"), key);
    let fields: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    let mut fields = fields;
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("access_token".to_owned(), "a2".to_owned()),
            ("refresh_token".to_owned(), "r2".to_owned())
        ]
    );

    store.revoke("c1").await.unwrap();
    assert_eq!(store.load("c1").await.unwrap(), None);
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(exists, 0, "revoke deletes the key");
    // Revoking what is not there is not an error.
    store.revoke("c1").await.unwrap();
}

#[tokio::test]
async fn client_ids_cannot_collide_or_escape_the_prefix() {
    let Some(url) = redis_url("client_ids_cannot_collide_or_escape_the_prefix") else {
        return;
    };
    let prefix = unique_prefix("ids");
    let store = store(&url, &prefix).await;
    let ids = [
        "a:b",
        "a%3Ab",
        "a",
        "a b",
        "a\r\nDEL x",
        "a*",
        "*",
        "",
        ":",
        "é/ü?x=1&y",
        "{tag}",
        "3f2a9c1e-0b7d-4e8a-9c2f-5d6e7f809a1b",
    ];
    for (i, id) in ids.iter().enumerate() {
        store
            .save(id, &pair(&format!("a{i}"), &format!("r{i}")))
            .await
            .unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            store.load(id).await.unwrap(),
            Some(pair(&format!("a{i}"), &format!("r{i}"))),
            "{id:?}"
        );
        let key = store.key_for(id);
        let rest = key.strip_prefix(&format!("{prefix}:")).unwrap();
        assert!(
            rest.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "{key:?}"
        );
    }
    assert_eq!(
        store.key_for("3f2a9c1e-0b7d-4e8a-9c2f-5d6e7f809a1b"),
        format!("{prefix}:3f2a9c1e-0b7d-4e8a-9c2f-5d6e7f809a1b"),
        "UUIDs stay readable"
    );

    // Exactly one key per client: nothing else was written under the prefix.
    let mut con = raw(&url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(keys.len(), ids.len(), "{keys:?}");

    // A prefix that ends where a client_id's `:` would be cannot reach that client.
    let other = self::store(&url, &format!("{prefix}:a")).await;
    assert_eq!(other.load("b").await.unwrap(), None);
    assert_ne!(other.key_for("b"), store.key_for("a:b"));

    store.revoke("a:b").await.unwrap();
    assert_eq!(store.load("a:b").await.unwrap(), None);
    assert_eq!(store.load("a%3Ab").await.unwrap(), Some(pair("a1", "r1")));
}

#[tokio::test]
async fn keys_expire_with_the_configured_ttl() {
    let Some(url) = redis_url("keys_expire_with_the_configured_ttl") else {
        return;
    };
    let prefix = unique_prefix("ttl");
    let ttl = Duration::from_secs(120);
    let store = RedisTokenStore::builder(&url)
        .key_prefix(&prefix)
        .ttl(ttl)
        .build()
        .await
        .unwrap();
    assert_eq!(store.ttl(), ttl);
    let con = raw(&url).await;
    let ttl_of = |key: String| {
        let mut con = con.clone();
        async move {
            let secs: i64 = redis::cmd("TTL").arg(key).query_async(&mut con).await.unwrap();
            secs
        }
    };
    let mut con = con.clone();

    store.save("c", &pair("a1", "r1")).await.unwrap();
    let secs = ttl_of(store.key_for("c")).await;
    assert!(secs > 0 && secs <= 120, "TTL after save: {secs}");

    // A rotation writes a new pair, so the clock starts again.
    let _: () = redis::cmd("EXPIRE")
        .arg(store.key_for("c"))
        .arg(5)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(ttl_of(store.key_for("c")).await <= 5);
    assert_eq!(
        store.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
        Rotation::Rotated
    );
    let secs = ttl_of(store.key_for("c")).await;
    assert!(secs > 5 && secs <= 120, "TTL after rotate: {secs}");

    // A stale rotation leaves the key (and its TTL) alone.
    assert_eq!(
        store.rotate("c", "r1", &pair("a3", "r3")).await.unwrap(),
        Rotation::Stale
    );
    assert_eq!(store.load("c").await.unwrap(), Some(pair("a2", "r2")));

    // The TTL has millisecond precision: a 1 ms TTL is 1 ms (or already gone), not a second.
    let short = RedisTokenStore::builder(&url)
        .key_prefix(&prefix)
        .ttl(Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    short.save("brief", &pair("a", "r")).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(short.key_for("brief"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(pttl <= 1, "PTTL {pttl}");
}

#[tokio::test]
async fn builder_refuses_unusable_settings() {
    let url = "redis://127.0.0.1:1";
    for builder in [
        RedisTokenStore::builder(url).ttl(Duration::ZERO),
        RedisTokenStore::builder(url).ttl(Duration::from_secs(u64::MAX)),
        RedisTokenStore::builder(url).timeout(Duration::ZERO),
        RedisTokenStore::builder(url).connect_timeout(Duration::ZERO),
        RedisTokenStore::builder("http://127.0.0.1:6379"),
        RedisTokenStore::builder("not a url"),
    ] {
        assert!(builder.build_lazy().is_err());
    }
}

#[tokio::test]
async fn unreachable_redis_is_a_store_error_not_a_hang() {
    // Needs no server: a port nobody listens on.
    let port = free_port();
    let url = format!("redis://:s3cret-password@127.0.0.1:{port}");
    let builder = || {
        RedisTokenStore::builder(&url)
            .timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(200))
    };

    let err = tokio::time::timeout(HANG, builder().build())
        .await
        .expect("build must give up within its timeout")
        .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");

    // A lazy store starts without Redis and fails each call, within the timeout.
    let store = builder().build_lazy().unwrap();
    assert!(!format!("{store:?}").contains("s3cret"));
    for _ in 0..3 {
        let err = tokio::time::timeout(HANG, store.load("c"))
            .await
            .expect("load must give up within the store's timeout")
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let res = tokio::time::timeout(HANG, store.save("c", &pair("a", "r")))
            .await
            .expect("save must give up within the store's timeout");
        assert!(res.is_err());
    }
}

#[tokio::test]
async fn redis_errors_are_store_errors() {
    let Some(url) = redis_url("redis_errors_are_store_errors") else {
        return;
    };
    let prefix = unique_prefix("wrongtype");
    let store = store(&url, &prefix).await;
    let mut con = raw(&url).await;
    // Something else wrote a string where the store expects a hash.
    let _: () = redis::cmd("SET")
        .arg(store.key_for("c"))
        .arg("not a hash")
        .arg("EX")
        .arg(600)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(store.load("c").await.is_err());
    assert!(store.save("c", &pair("a", "r")).await.is_err());
    assert!(store.rotate("c", "r", &pair("a2", "r2")).await.is_err());
}

#[tokio::test]
async fn rotate_is_compare_and_swap() {
    let Some(url) = redis_url("rotate_is_compare_and_swap") else {
        return;
    };
    let store = store(&url, &unique_prefix("rotate")).await;

    assert_eq!(
        store.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
        Rotation::Stale,
        "nothing stored"
    );
    assert_eq!(
        store.load("c").await.unwrap(),
        None,
        "a stale rotation writes nothing"
    );

    store.save("c", &pair("a1", "r1")).await.unwrap();
    assert_eq!(
        store.rotate("c", "r0", &pair("a2", "r2")).await.unwrap(),
        Rotation::Stale
    );
    assert_eq!(
        store.rotate("c", "", &pair("a2", "r2")).await.unwrap(),
        Rotation::Stale
    );
    assert_eq!(
        store.rotate("c", "r1x", &pair("a2", "r2")).await.unwrap(),
        Rotation::Stale,
        "a longer token is not a match"
    );
    assert_eq!(store.load("c").await.unwrap(), Some(pair("a1", "r1")));
    assert_eq!(
        store.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
        Rotation::Rotated
    );
    assert_eq!(
        store.rotate("c", "r1", &pair("a3", "r3")).await.unwrap(),
        Rotation::Stale,
        "re-use of the rotated token"
    );
    assert_eq!(store.load("c").await.unwrap(), Some(pair("a2", "r2")));

    // After a revocation nothing can be rotated.
    store.revoke("c").await.unwrap();
    assert_eq!(
        store.rotate("c", "r2", &pair("a4", "r4")).await.unwrap(),
        Rotation::Stale
    );
    assert_eq!(store.load("c").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_from_two_instances_exactly_one_wins() {
    let Some(url) = redis_url("concurrent_rotations_from_two_instances_exactly_one_wins") else {
        return;
    };
    let prefix = unique_prefix("race");
    // Two stores, two connections: as two service instances would have.
    let stores = [store(&url, &prefix).await, store(&url, &prefix).await];
    const TASKS: usize = 20;

    for round in 0..5 {
        let client = format!("client-{round}");
        // Distinct from every new pair below, so that only one rotation can match it.
        stores[0]
            .save(&client, &pair("a-first", "r-first"))
            .await
            .unwrap();
        let barrier = Arc::new(Barrier::new(TASKS));
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let store = stores[i % 2].clone();
            let barrier = barrier.clone();
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let new = pair(&format!("a{i}"), &format!("r{i}"));
                (i, store.rotate(&client, "r-first", &new).await.unwrap())
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (i, rotation) = task.await.unwrap();
            if rotation == Rotation::Rotated {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let w = winners[0];
        // The winner's pair is stored, as both instances see it.
        for store in &stores {
            assert_eq!(
                store.load(&client).await.unwrap(),
                Some(pair(&format!("a{w}"), &format!("r{w}")))
            );
        }
    }
}

// --- two FastAuth layers sharing one Redis ---------------------------------------

async fn fast_auth(store: RedisTokenStore) -> FastAuth {
    common::auth::builder()
        .master_token(MASTER)
        .access_paths(["/api"])
        // The refresh races below lose on purpose, many times from one address: the
        // failure limit (tests/security.rs) would soon answer 429 instead.
        .failure_limit(None)
        .store(store)
        .build()
        .unwrap()
}

async fn serve(auth: &FastAuth) -> SocketAddr {
    server::serve(protected(
        auth,
        Router::new().route("/api/data", get(|| async { "data" })),
    ))
    .await
}

fn http() -> reqwest::Client {
    // The timeout only tells a hang from an answer; no test asserts speed.
    reqwest::Client::builder().timeout(HANG).build().unwrap()
}

/// `GET /auth/token/new` at `addr`: the status and, on 200, the pair.
async fn issue(
    client: &reqwest::Client,
    addr: SocketAddr,
    client_id: &str,
) -> (u16, Option<(String, String)>) {
    let (status, body) = request_pair(client, &format!("http://{addr}"), client_id).await;
    (status, (status == 200).then(|| pair_of(&body)))
}

async fn api(client: &reqwest::Client, addr: SocketAddr, access: &str) -> (u16, Value) {
    get_json_via(
        client,
        &format!("http://{addr}/api/data"),
        &[("ACCESS-TOKEN", access)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_layers_share_tokens_and_revocations() {
    let Some(url) = redis_url("two_layers_share_tokens_and_revocations") else {
        return;
    };
    let prefix = unique_prefix("layers");
    let auth_a = fast_auth(store(&url, &prefix).await).await;
    let auth_b = fast_auth(store(&url, &prefix).await).await;
    let (a, b) = (serve(&auth_a).await, serve(&auth_b).await);
    let client = http();

    // Issued at A, accepted at B.
    let (status, tokens) = issue(&client, a, "svc-1").await;
    assert_eq!(status, 200);
    let (access, _) = tokens.unwrap();
    assert_eq!(api(&client, b, &access).await.0, 200);
    assert_eq!(api(&client, a, &access).await.0, 200);

    // Revoked at A, refused at B.
    auth_a.revoke("svc-1").await.unwrap();
    let (status, body) = api(&client, b, &access).await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Access token revoked");

    // A new pair issued at B replaces the one A knew about.
    let (_, first) = issue(&client, a, "svc-2").await;
    let (_, second) = issue(&client, b, "svc-2").await;
    let (first, second) = (first.unwrap().0, second.unwrap().0);
    let (status, body) = api(&client, a, &first).await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Access token revoked");
    assert_eq!(api(&client, a, &second).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_through_both_layers_exactly_one_wins() {
    let Some(url) = redis_url("concurrent_refreshes_through_both_layers_exactly_one_wins") else {
        return;
    };
    let prefix = unique_prefix("refresh");
    let auth_a = fast_auth(store(&url, &prefix).await).await;
    let auth_b = fast_auth(store(&url, &prefix).await).await;
    let addrs = [serve(&auth_a).await, serve(&auth_b).await];
    let client = http();

    for round in 0..5 {
        let client_id = format!("svc-{round}");
        let (_, tokens) = issue(&client, addrs[0], &client_id).await;
        let (_, refresh) = tokens.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = addrs
            .iter()
            .map(|&addr| {
                let (client, barrier, refresh) = (client.clone(), barrier.clone(), refresh.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    get_json_via(
                        &client,
                        &format!("http://{addr}/auth/token/refresh?refresh_token={refresh}"),
                        &[],
                    )
                    .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort();
        let messages: Vec<&Value> = answers.iter().map(|(_, body)| &body["message"]).collect();
        assert_eq!(statuses, [200, 401], "round {round}: {messages:?}");
        let (_, refused) = answers.iter().find(|(s, _)| *s == 401).unwrap();
        assert_eq!(refused["message"], "Invalid refresh token", "{refused}");
    }
}

// --- a Redis restart under load ---------------------------------------------------

/// A redis-server this test started; killed when dropped, so a failing test leaves none behind.
struct OwnRedis {
    child: Option<Child>,
    port: u16,
}

impl OwnRedis {
    /// `None` when the `redis-server` binary is missing.
    fn start(port: u16) -> Option<Self> {
        let child = match Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        Some(Self {
            child: Some(child),
            port,
        })
    }

    /// Waits until the server answers PING.
    async fn ready(&self) {
        let url = format!("redis://127.0.0.1:{}", self.port);
        let deadline = tokio::time::Instant::now() + HANG;
        loop {
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut con) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut con).await.is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not come up",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` (such as `STOP` or `CONT`) to this server's process only.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server is running").id();
        // The shell's built-in `kill`: present wherever `sh` is, unlike /bin/kill.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {pid}")])
            .status()
            .expect("run sh");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A redis-server of the test's own, and a layer in front of it whose store gives up
/// quickly (500 ms a command, 200 ms to connect), so that an outage shows at once.
async fn own_redis_behind_a_layer(test: &str, prefix: &str) -> (OwnRedis, SocketAddr) {
    let port = free_port();
    let Some(server) = OwnRedis::start(port) else {
        panic!(
            "REDIS_URL is set but the redis-server binary is not on PATH: install it \
             (apt-get install -y redis-server) to run {test}"
        );
    };
    server.ready().await;
    let store = RedisTokenStore::builder(format!("redis://127.0.0.1:{port}"))
        .key_prefix(unique_prefix(prefix))
        .ttl(TEST_TTL)
        .timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let auth = fast_auth(store).await;
    (server, serve(&auth).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restart_under_load_fails_closed_and_recovers() {
    // Gated like the others, so that a run without Redis says so instead of failing;
    // CI sets REDIS_URL and must then have the redis-server binary too.
    if redis_url("redis_restart_under_load_fails_closed_and_recovers").is_none() {
        return;
    }
    let (mut server, addr) = own_redis_behind_a_layer("the restart test", "restart").await;
    let port = server.port;
    let client = http();

    let (status, tokens) = issue(&client, addr, "svc").await;
    assert_eq!(status, 200);
    let (access, _) = tokens.unwrap();
    assert_eq!(api(&client, addr, &access).await.0, 200);

    // Load: requests keep coming while Redis goes away and comes back. Every one
    // must be answered (no hang, no dropped connection) with 200, 401 or 503.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (client, access, stop) = (client.clone(), access.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = api(&client, addr, &access).await;
                seen.push(status);
            }
            seen
        }));
    }

    server.kill();
    // Down: the layer answers 503 (fail closed) within the store's timeout, not a hang.
    let (status, body) = tokio::time::timeout(HANG, api(&client, addr, &access))
        .await
        .expect("the layer must answer while Redis is down");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["detail"], "Token store unavailable");
    let (status, _) = issue(&client, addr, "svc").await;
    assert_eq!(status, 503, "issuing needs the store too");

    // Up again (empty: it keeps no data): the connection heals by itself; a pair
    // issued now works, the one from before the restart is gone.
    let mut server = OwnRedis::start(port).expect("redis-server was there a moment ago");
    server.ready().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        match issue(&client, addr, "svc").await {
            (200, Some((access, _))) => break access,
            (503, _) => {}
            (status, _) => panic!("unexpected {status} while Redis recovers"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store did not recover after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(api(&client, addr, &fresh).await.0, 200);
    let (status, body) = api(&client, addr, &access).await;
    assert_eq!(status, 401, "{body}");

    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for task in load {
        seen.extend(task.await.unwrap());
    }
    assert!(
        seen.iter().all(|s| matches!(s, 200 | 401 | 503)),
        "statuses under load: {seen:?}"
    );
    assert!(seen.contains(&503), "the load saw the outage");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hung_redis_times_out_and_recovers_with_its_data() {
    if redis_url("hung_redis_times_out_and_recovers_with_its_data").is_none() {
        return;
    }
    let (server, addr) = own_redis_behind_a_layer("the hung-server test", "hung").await;
    let client = http();
    let (_, tokens) = issue(&client, addr, "svc").await;
    let (access, _) = tokens.unwrap();
    assert_eq!(api(&client, addr, &access).await.0, 200);
    // Another client's, because a rotation that timed out may still be applied when
    // Redis resumes (it then counts as re-use: the safe side).
    let (_, tokens) = issue(&client, addr, "svc-2").await;
    let (_, refresh) = tokens.unwrap();

    // A Redis that accepts connections but never answers: only a timeout can tell.
    server.signal("STOP");
    let (status, body) = tokio::time::timeout(HANG, api(&client, addr, &access))
        .await
        .expect("the layer must answer while Redis hangs");
    assert_eq!(status, 503, "{body}");
    let (status, body) = tokio::time::timeout(
        HANG,
        get_json_via(
            &client,
            &format!("http://{addr}/auth/token/refresh?refresh_token={refresh}"),
            &[],
        ),
    )
    .await
    .expect("the token router must answer while Redis hangs");
    assert_eq!(status, 503, "{body}");

    // Resumed with its data: the same token is accepted again once the store reconnects.
    server.signal("CONT");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match api(&client, addr, &access).await.0 {
            200 => break,
            503 => {}
            status => panic!("unexpected {status} while Redis recovers"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store did not recover after Redis resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
