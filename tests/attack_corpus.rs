//! The attack corpus: forged, malformed and replayed credentials, and every spelling of a
//! protected path we could think of, sent to a real axum server on 127.0.0.1 over a raw
//! `TcpStream` (no client normalises anything on the way).
//!
//! The cases are tables in `attack_corpus/` (tokens, master tokens, paths), each with the
//! status and the exact message it must get; this file serves them and checks the
//! answers. For every refused case it also checks that the answer is not a 5xx and that
//! nothing reached the inner service: the handlers sit behind a counting layer, inside
//! the fastauth layer.
//!
//! Access-token cases run against stateless servers on purpose: a token that slipped
//! through the header policy or the signature check would be *accepted* there, whereas in
//! stored mode the store lookup would hide the mistake behind "Access token revoked".
#![cfg(feature = "axum")]

mod common;
#[path = "attack_corpus/master.rs"]
mod master;
#[path = "attack_corpus/paths.rs"]
mod paths;
#[path = "attack_corpus/tokens.rs"]
mod tokens;

use std::net::SocketAddr;

use axum::{Router, routing::get};
use fastauth::{FastAuth, FastAuthBuilder, token::MAX_TOKEN_LEN};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;

use common::{
    auth::{builder, key_ring},
    bodies::{MISSING_ACCESS, MISSING_MASTER, detail, envelope},
    jwt::{HS256, hs256, now},
    keys::{K1, K2, KEY, MASTER},
    raw_http::exchange,
    server::{Hits, protected, serve},
};
use master::master_cases;
use paths::{
    DOTS_AFTER_A_PROTECTED_SEGMENT, FILES, FILES_NEAR_MISSES, GRPC_CALLS, GRPC_CHECK, GRPC_WATCH,
    MOUNT_NEAR_MISSES, MOUNT_PREFIXES, NEAR_MISSES, spellings,
};
use tokens::{
    CLIENT, Case, Expect, case, claims, header_with, nested_claims, ring_cases, signed, token_cases,
    token_of_len,
};

// ---------------------------------------------------------------------------------------
// The servers.

/// A server under attack.
struct Server {
    addr: SocketAddr,
    /// Requests that reached the handlers (or the fallback) behind the fastauth layer.
    hits: Hits,
}

impl Server {
    /// Serves `app` (with connect info), whose handlers `hits` counts.
    async fn start(app: Router, hits: Hits) -> Self {
        Self {
            addr: serve(app).await,
            hits,
        }
    }

    fn hits(&self) -> usize {
        self.hits.get()
    }
}

/// The routes of the protected app. Every one answers 200 with its name, so a refused
/// request can never be mistaken for a routed one.
fn app_routes() -> Router {
    Router::new()
        .route("/admin/users", get(|| async { "admin/users" }))
        .route("/admin/{id}", get(|| async { "admin/{id}" }))
        .route("/api/items", get(|| async { "api/items" }))
        .route("/api/items/{id}", get(|| async { "api/items/{id}" }))
        .route("/api/x", get(|| async { "api/x" }))
        .route("/files/{id}/raw", get(|| async { "files/{id}/raw" }))
        .route(
            "/grpc.health.v1.Health/Check",
            get(|| async { "Check" }).post(|| async { "Check" }),
        )
        .route(
            "/grpc.health.v1.Health/Watch",
            get(|| async { "Watch" }).post(|| async { "Watch" }),
        )
        .route("/grpc.health.v1.HealthCheck", get(|| async { "HealthCheck" }))
        .route("/administrator", get(|| async { "administrator" }))
        .route("/admin-panel", get(|| async { "admin-panel" }))
        .route("/apiary", get(|| async { "apiary" }))
        .route("/api2/items", get(|| async { "api2/items" }))
        .route("/public/x", get(|| async { "public/x" }))
        .route("/public/admin", get(|| async { "public/admin" }))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") })
}

/// The flat app: the fastauth layer on the router itself, the token endpoints under `/auth`.
async fn serve_flat(auth: &FastAuth) -> Server {
    let hits = Hits::default();
    let app = protected(auth, hits.count(app_routes()));
    Server::start(app, hits).await
}

fn plain() -> FastAuthBuilder {
    builder()
        .master_token(MASTER)
        .master_paths(["/admin", "/grpc.health.v1.Health/Watch"])
        .access_paths(["/api", "/files/*/raw", "/grpc.health.v1.Health"])
        // Hundreds of refused credentials from one address: the limiter is not under test.
        .failure_limit(None)
}

fn ring() -> FastAuthBuilder {
    key_ring(plain())
}

// ---------------------------------------------------------------------------------------
// The checks.

/// Sends `token` in `ACCESS-TOKEN` and as `Authorization: Bearer` to an access-level
/// path; each must get 401 with the exact message, and not reach the handler.
async fn assert_access_refused(server: &Server, label: &str, c: &Case) {
    let before = server.hits();
    let bearer = format!("Bearer {}", c.token);
    for (header, value) in [
        ("access-token", c.token.as_str()),
        ("authorization", bearer.as_str()),
    ] {
        let reply = exchange(server.addr, "GET", "/api/x", &[(header, value.as_bytes())]).await;
        let what = format!("{label}: {} (via {header})", c.name);
        assert!(reply.status < 500, "{what}: answered {}", reply.status);
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(c.expect.access()).as_str()),
            "{what}"
        );
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{what}: no WWW-Authenticate challenge"
        );
    }
    assert_eq!(server.hits(), before, "{label}: {}: reached the handler", c.name);
}

async fn assert_access_accepted(server: &Server, label: &str, token: &str) {
    let before = server.hits();
    let reply = exchange(
        server.addr,
        "GET",
        "/api/x",
        &[("access-token", token.as_bytes())],
    )
    .await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "api/x"),
        "{label}: the control token"
    );
    assert_eq!(server.hits(), before + 1);
}

/// `GET /auth/token/refresh?refresh_token=…`: refused in the envelope, no pair issued.
async fn assert_refresh_refused(server: &Server, label: &str, c: &Case) {
    let target = format!(
        "/auth/token/refresh?refresh_token={}",
        utf8_percent_encode(&c.token, NON_ALPHANUMERIC)
    );
    let reply = exchange(server.addr, "GET", &target, &[]).await;
    let what = format!("{label}: {} (refresh endpoint)", c.name);
    assert!(reply.status < 500, "{what}: answered {}", reply.status);
    let (status, message) = c.expect.refresh(&c.token);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (status, envelope(status, message).as_str()),
        "{what}"
    );
}

/// Sends each path and checks 401 with `message`; the handler is never reached.
async fn assert_paths_refused(server: &Server, label: &str, paths: &[impl AsRef<str>], message: &str) {
    let before = server.hits();
    for path in paths {
        let path = path.as_ref();
        let reply = exchange(server.addr, "GET", path, &[]).await;
        assert!(reply.status < 500, "{label}: {path}: answered {}", reply.status);
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(message).as_str()),
            "{label}: {path}"
        );
    }
    assert_eq!(
        server.hits(),
        before,
        "{label}: a protected spelling reached the handler"
    );
}

/// Near misses: not protected, so they reach the inner service.
async fn assert_paths_open(server: &Server, label: &str, paths: &[&str]) {
    for path in paths {
        let before = server.hits();
        let reply = exchange(server.addr, "GET", path, &[]).await;
        assert!(
            reply.status != 401 && reply.status < 500,
            "{label}: {path} answered {}: {}",
            reply.status,
            reply.body
        );
        assert_eq!(
            server.hits(),
            before + 1,
            "{label}: {path} did not reach the inner service"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Tokens.

#[tokio::test]
async fn forged_and_malformed_access_tokens_never_reach_the_handler() {
    let servers = [
        ("stateless", plain().stateless().build().unwrap()),
        ("stateless with a key ring", ring().stateless().build().unwrap()),
        (
            "stored",
            plain()
                .store(fastauth::store::MemoryTokenStore::new())
                .build()
                .unwrap(),
        ),
    ];
    let mut refused = 0;
    for (label, auth) in &servers {
        let server = serve_flat(auth).await;
        // The one token every case departs from is accepted.
        let valid = signed(HS256, &claims("access", now() + 3600).to_string());
        if auth.mode() == fastauth::TokenMode::Stateless {
            assert_access_accepted(&server, label, &valid).await;
            // The size limit is a limit, not an off-by-one.
            assert_access_accepted(&server, label, &token_of_len("access", MAX_TOKEN_LEN)).await;
            // Unknown claims are ignored, however deep: no recursion limit, no stack overflow.
            assert_access_accepted(&server, label, &signed(HS256, &nested_claims("access"))).await;
        } else {
            let pair = auth.issue(Some(CLIENT)).await.unwrap();
            assert_access_accepted(&server, label, &pair.access_token).await;
        }
        let cases = token_cases("access");
        assert!(cases.len() >= 100, "{} cases", cases.len());
        for c in &cases {
            assert_access_refused(&server, label, c).await;
            refused += 1;
        }
    }
    assert!(refused >= 300);
}

#[tokio::test]
async fn key_ids_are_held_to_the_key_ring() {
    let auth = ring().stateless().build().unwrap();
    let server = serve_flat(&auth).await;
    let payload = claims("access", now() + 3600).to_string();
    for (kid, key) in [(Some("k2"), K2), (Some("k1"), K1), (None, KEY)] {
        let header = match kid {
            Some(kid) => header_with("kid", json!(kid)),
            None => HS256.to_owned(),
        };
        assert_access_accepted(&server, &format!("kid {kid:?}"), &hs256(&header, &payload, key)).await;
    }
    // What the server issues itself names its current key and is accepted.
    let issued = fastauth::hooks::codec(&auth)
        .issue_pair(CLIENT)
        .unwrap()
        .access_token;
    assert_access_accepted(&server, "issued", &issued).await;
    for c in ring_cases("access") {
        assert_access_refused(&server, "key ring", &c).await;
    }
    // A server without key ids knows none of them.
    let plain_server = serve_flat(&plain().stateless().build().unwrap()).await;
    for (kid, key) in [("k2", K2), ("k2", KEY), ("k1", K1)] {
        let c = case(
            format!("kid {kid} on a server without key ids"),
            hs256(&header_with("kid", json!(kid)), &payload, key),
            Expect::Invalid,
        );
        assert_access_refused(&plain_server, "no key ids", &c).await;
    }
}

#[tokio::test]
async fn the_refresh_endpoint_refuses_the_same_corpus() {
    for (label, auth) in [
        ("stateless", plain().stateless().build().unwrap()),
        ("stateless with a key ring", ring().stateless().build().unwrap()),
    ] {
        let server = serve_flat(&auth).await;
        let valid = signed(HS256, &claims("refresh", now() + 3600).to_string());
        let reply = exchange(
            server.addr,
            "GET",
            &format!("/auth/token/refresh?refresh_token={valid}"),
            &[],
        )
        .await;
        assert_eq!(reply.status, 200, "{label}: the control token: {}", reply.body);
        let cases: Vec<Case> = token_cases("refresh")
            .into_iter()
            .chain(ring_cases("refresh"))
            // 64 KiB does not fit in a request line (hyper answers 414 before any of us).
            .filter(|c| c.token.len() < 16 * 1024)
            .collect();
        assert!(cases.len() >= 100);
        for c in &cases {
            assert_refresh_refused(&server, label, c).await;
        }
        // An access token is not a refresh token.
        let access = fastauth::hooks::codec(&auth)
            .issue_pair(CLIENT)
            .unwrap()
            .access_token;
        let c = case(
            "an access token on the refresh endpoint",
            access,
            Expect::WrongType,
        );
        assert_refresh_refused(&server, label, &c).await;
        assert_eq!(server.hits(), 0, "the token endpoints are not behind the counter");
    }
}

#[tokio::test]
async fn master_token_corpus() {
    let auth = plain().stateless().build().unwrap();
    let server = serve_flat(&auth).await;
    let access_token = fastauth::hooks::codec(&auth)
        .issue_pair(CLIENT)
        .unwrap()
        .access_token;
    for c in master_cases(&access_token) {
        let (name, headers) = (c.name, c.headers());
        let reply = exchange(server.addr, "GET", "/admin/users", &headers).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(c.message).as_str()),
            "{name}"
        );
        // The token endpoint checks the master token itself, with the same outcome.
        let reply = exchange(server.addr, "GET", "/auth/token/new?client_id=x", &headers).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, envelope(401, c.message).as_str()),
            "{name} (token endpoint)"
        );
    }
    let reply = exchange(
        server.addr,
        "GET",
        &format!("/admin/users?master_token={MASTER}"),
        &[],
    )
    .await;
    assert_eq!(
        (reply.status, reply.body),
        (401, detail(MISSING_MASTER)),
        "in the query"
    );
    assert_eq!(server.hits(), 0);
    // Control: the right token passes.
    let reply = exchange(
        server.addr,
        "GET",
        "/admin/users",
        &[("master-token", MASTER.as_bytes())],
    )
    .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "admin/users"));
    assert_eq!(server.hits(), 1);
}

// ---------------------------------------------------------------------------------------
// Paths.

#[tokio::test]
async fn protected_paths_under_every_spelling() {
    let auth = plain().stateless().build().unwrap();
    let server = serve_flat(&auth).await;
    let master = spellings("admin", "users");
    let access = spellings("api", "items");
    assert!(master.len() >= 40 && access.len() >= 40);
    assert_paths_refused(&server, "master", &master, MISSING_MASTER).await;
    assert_paths_refused(&server, "access", &access, MISSING_ACCESS).await;
    // A one-segment wildcard in the pattern.
    assert_paths_refused(&server, "files/*/raw", &FILES, MISSING_ACCESS).await;
    assert_paths_open(&server, "near misses", &NEAR_MISSES).await;
    assert_paths_open(&server, "wildcard near misses", &FILES_NEAR_MISSES).await;
}

#[tokio::test]
async fn grpc_style_paths() {
    let auth = plain().stateless().build().unwrap();
    let server = serve_flat(&auth).await;
    assert_paths_refused(&server, "gRPC master", &GRPC_WATCH, MISSING_MASTER).await;
    assert_paths_refused(&server, "gRPC access", &GRPC_CHECK, MISSING_ACCESS).await;
    // Spoken as gRPC: a trailers-only answer with grpc-status 16 and the same message.
    let before = server.hits();
    for (path, message) in GRPC_CALLS {
        let reply = exchange(
            server.addr,
            "POST",
            path,
            &[
                ("content-type", b"application/grpc"),
                ("te", b"trailers"),
                ("content-length", b"0"),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("grpc-status"), Some("16"), "{path}");
        assert_eq!(reply.header("grpc-message"), Some(message), "{path}");
    }
    assert_eq!(server.hits(), before);
}

#[tokio::test]
async fn a_mount_prefix_on_the_outer_router() {
    // The app is nested under /v1 and the layer wraps the outer router, so the patterns
    // name the full path.
    let auth = plain()
        .stateless()
        .master_paths(["/v1/admin"])
        .access_paths(["/v1/api"])
        .build()
        .unwrap();
    let hits = Hits::default();
    let app = hits
        .count(
            Router::new()
                .nest("/v1", app_routes())
                .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") }),
        )
        .layer(auth.layer());
    let server = Server::start(app, hits).await;
    let prefixed = |seg: &str, tail: &str| -> Vec<String> {
        let mut paths: Vec<String> = spellings(seg, tail)
            .into_iter()
            // Dots that climb above the root would climb out of the mount: see below.
            .filter(|p| !p.starts_with("/../"))
            .map(|p| match p.strip_prefix("http://localhost") {
                Some(rest) => format!("http://localhost/v1{rest}"),
                None => format!("/v1{p}"),
            })
            .collect();
        for prefix in MOUNT_PREFIXES {
            paths.push(format!("{prefix}/{seg}/{tail}"));
        }
        paths.push(format!("/v1%2F{seg}%2F{tail}"));
        paths
    };
    let master = prefixed("admin", "users");
    let access = prefixed("api", "items");
    assert!(master.len() >= 50);
    assert_paths_refused(&server, "/v1 master", &master, MISSING_MASTER).await;
    assert_paths_refused(&server, "/v1 access", &access, MISSING_ACCESS).await;
    assert_paths_open(&server, "/v1 near misses", &MOUNT_NEAR_MISSES).await;
}

#[tokio::test]
async fn a_layer_on_the_nested_router_sees_relative_paths() {
    // The layer wraps the inner app, whose patterns are relative to the mount point:
    // axum hands the nested router the path below /v1.
    let auth = plain().stateless().build().unwrap();
    let inner_hits = Hits::default();
    let inner = inner_hits.count(app_routes()).layer(auth.layer());
    let app = Router::new()
        .nest("/v1", inner)
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "outer: not found") });
    let server = Server::start(app, inner_hits).await;
    // Only spellings that axum routes into the mount reach the layer at all.
    let relative = |seg: &str, tail: &str| -> Vec<String> {
        spellings(seg, tail)
            .into_iter()
            .filter(|p| p.starts_with('/'))
            .map(|p| format!("/v1{p}"))
            .collect()
    };
    let master = relative("admin", "users");
    let access = relative("api", "items");
    assert!(master.len() >= 40);
    assert_paths_refused(&server, "nested master", &master, MISSING_MASTER).await;
    assert_paths_refused(&server, "nested access", &access, MISSING_ACCESS).await;
    assert_paths_refused(
        &server,
        "nested, dots above the mount",
        &["/v1/x/../../admin/users", "/v1/../admin/users"],
        MISSING_MASTER,
    )
    .await;
    assert_paths_open(
        &server,
        "nested near misses",
        &["/v1/administrator", "/v1/apiary", "/v1/public/x"],
    )
    .await;
    // Outside the mount nothing routes into the inner app, protected or not.
    let before = server.hits();
    for path in ["/V1/admin/users", "/admin/users", "/v2/admin/users"] {
        let reply = exchange(server.addr, "GET", path, &[]).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (404, "outer: not found"),
            "{path}"
        );
    }
    assert_eq!(server.hits(), before);
}

/// A `..` right after a protected segment removes that segment from the normalised
/// path (RFC 3986 resolution), but axum does not resolve dot segments: it routes
/// `/admin/..` to `/admin/{id}` with `id = ".."`, and `/api/../items` to
/// `/api/{version}/items`, so the handler behind the protected prefix runs with no token.
///
/// So `PathRules::level_for` also reads the path with its dot segments kept, and the
/// stricter level applies: a `..` segment never lowers the level.
#[tokio::test]
async fn dot_segments_cannot_remove_a_protected_segment() {
    let auth = plain()
        .stateless()
        .master_paths(["/admin", "/ops"])
        .access_paths(["/api", "/files/*/raw"])
        .build()
        .unwrap();
    let hits = Hits::default();
    let app = hits
        .count(
            Router::new()
                .route("/admin/{id}", get(|| async { "admin/{id}" }))
                .route("/api/{version}/items", get(|| async { "api/{version}/items" }))
                .route("/files/{id}/raw", get(|| async { "files/{id}/raw" }))
                .nest("/ops", Router::new().route("/{id}", get(|| async { "ops/{id}" })))
                .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") }),
        )
        .layer(auth.layer());
    let server = Server::start(app, hits).await;
    let mut bypasses = Vec::new();
    for (path, message) in DOTS_AFTER_A_PROTECTED_SEGMENT {
        let before = server.hits();
        let reply = exchange(server.addr, "GET", path, &[]).await;
        if (reply.status, reply.body.as_str()) != (401, detail(message).as_str()) || server.hits() != before {
            bypasses.push(format!("{path} -> {} {}", reply.status, reply.body));
        }
    }
    assert!(
        bypasses.is_empty(),
        "reached a protected handler without a token: {bypasses:#?}"
    );
}
