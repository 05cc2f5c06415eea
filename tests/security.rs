//! Revocation endpoints, the hashed master token, brute-force protection and size limits,
//! over real sockets.
#![cfg(feature = "axum")]

mod common;

use std::{net::SocketAddr, time::Duration};

use axum::{Router, routing::get};
use fastauth::{FailureLimit, FastAuth, FastAuthBuilder};
use reqwest::Method;
use serde_json::Value;

use common::{
    keys::MASTER,
    server::{protected, serve, serve_without_connect_info},
};

/// The app's paths, on the test key.
fn base() -> FastAuthBuilder {
    common::auth::builder()
        .master_paths(["/admin"])
        .access_paths(["/api"])
}

/// Stored mode, the pairs in memory.
fn builder() -> FastAuthBuilder {
    base().store(fastauth::store::MemoryTokenStore::new())
}

/// Serves with connect info, so the brute-force protection sees client addresses.
async fn serve_app(auth: &FastAuth) -> SocketAddr {
    let routes = Router::new()
        .route("/api/x", get(|| async { "api" }))
        .route("/admin/x", get(|| async { "admin" }));
    serve(protected(auth, routes)).await
}

/// `method path` at `addr`: the status, the headers and the body as JSON.
async fn send(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = format!("http://{addr}{path}");
    let answer = common::client::send(&reqwest::Client::new(), method, &url, headers).await;
    let body = answer.json();
    (answer.status, answer.headers, body)
}

#[tokio::test]
async fn revoke_and_logout_take_effect_at_once() {
    let auth = builder().master_token(MASTER).build().unwrap();
    let addr = serve_app(&auth).await;
    let a = auth.issue(Some("alice")).await.unwrap();
    let b = auth.issue(Some("bob")).await.unwrap();

    // Master-level revocation of a client.
    let (status, _, _) = send(Method::POST, addr, "/auth/token/revoke?client_id=alice", &[]).await;
    assert_eq!(status, 401);
    let (status, _, body) = send(
        Method::POST,
        addr,
        "/auth/token/revoke?client_id=alice",
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status":"success","message":"Tokens revoked","code":200,"data":{"client_id":"alice"}})
    );
    let (status, _, body) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &a.access_token)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token revoked"))
    );
    let (status, _, _) = send(
        Method::GET,
        addr,
        &format!("/auth/token/refresh?refresh_token={}", a.refresh_token),
        &[],
    )
    .await;
    assert_eq!(status, 401, "a revoked client's refresh token is dead too");
    let (status, _, _) = send(
        Method::GET,
        addr,
        "/auth/token/revoke?client_id=bob",
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(status, 405);
    let (status, _, _) = send(
        Method::POST,
        addr,
        "/auth/token/revoke",
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(status, 400);

    // Logout: the holder of an access token revokes its own pair.
    let (status, _, _) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &b.access_token)]).await;
    assert_eq!(status, 200);
    let bearer = format!("Bearer {}", b.access_token);
    let (status, _, body) = send(
        Method::POST,
        addr,
        "/auth/token/logout",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Logged out");
    assert_eq!(body["data"]["client_id"], "bob");
    let (status, _, _) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &b.access_token)]).await;
    assert_eq!(status, 401);
    let (status, _, body) = send(
        Method::POST,
        addr,
        "/auth/token/logout",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Access token revoked"))
    );
    let (status, _, body) = send(Method::POST, addr, "/auth/token/logout", &[]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Access token missing"))
    );
}

#[tokio::test]
async fn revocation_needs_stored_mode() {
    let auth = base().master_token(MASTER).stateless().build().unwrap();
    let addr = serve_app(&auth).await;
    let (status, _, body) = send(
        Method::POST,
        addr,
        "/auth/token/revoke?client_id=a",
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("Revocation requires stored mode"))
    );
}

#[tokio::test]
async fn the_master_token_can_be_configured_as_a_hash() {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(MASTER.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let auth = builder().master_token_sha256(&digest).build().unwrap();
    let addr = serve_app(&auth).await;
    let (status, _, _) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", MASTER)]).await;
    assert_eq!(status, 200);
    // The digest itself is not the master token.
    let (status, _, _) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", &digest)]).await;
    assert_eq!(status, 401);
    let (status, _, body) = send(
        Method::GET,
        addr,
        "/auth/token/new?client_id=h",
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let err = builder()
        .master_token(MASTER)
        .master_token_sha256(&digest)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("keep only one"), "{err}");
    let err = builder().master_token_sha256("abc").build().unwrap_err();
    assert!(err.to_string().contains("master_token_sha256"), "{err}");
}

#[tokio::test]
async fn repeated_failures_lock_an_address_out() {
    let mut limit = FailureLimit::default();
    limit.max_failures = 3;
    limit.window = Duration::from_secs(60);
    limit.lockout = Duration::from_secs(120);
    limit.max_tracked = 100;
    let auth = builder()
        .master_token(MASTER)
        .failure_limit(Some(limit))
        .build()
        .unwrap();
    let addr = serve_app(&auth).await;
    for _ in 0..2 {
        let (status, _, _) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", "guess")]).await;
        assert_eq!(status, 401);
    }
    // The third failure, on the token endpoint, counts towards the same address.
    let (status, _, _) = send(Method::GET, addr, "/auth/token/new", &[("MASTER-TOKEN", "guess")]).await;
    assert_eq!(status, 401);
    // Locked out now, even with the right master token.
    let (status, headers, body) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", MASTER)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (429, Some("Too many failed attempts"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((115..=120).contains(&retry), "{retry}");
    let (status, headers, body) =
        send(Method::GET, addr, "/auth/token/new", &[("MASTER-TOKEN", MASTER)]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (429, Some("Too many failed attempts"))
    );
    assert!(headers.contains_key("retry-after"));
    let (status, _, _) = send(Method::GET, addr, "/auth/token/refresh?refresh_token=x", &[]).await;
    assert_eq!(status, 429);
    // Access-level requests are not affected: their tokens cannot be guessed.
    let pair = auth.issue(Some("c")).await.unwrap();
    let (status, _, _) = send(
        Method::GET,
        addr,
        "/api/x",
        &[("ACCESS-TOKEN", &pair.access_token)],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn invalid_refresh_tokens_count_as_failures() {
    let mut limit = FailureLimit::default();
    limit.max_failures = 2;
    let auth = builder()
        .master_token(MASTER)
        .failure_limit(Some(limit))
        .build()
        .unwrap();
    let addr = serve_app(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();
    for _ in 0..2 {
        let (status, _, _) = send(Method::GET, addr, "/auth/token/refresh?refresh_token=forged", &[]).await;
        assert_eq!(status, 401);
    }
    let path = format!("/auth/token/refresh?refresh_token={}", pair.refresh_token);
    let (status, _, _) = send(Method::GET, addr, &path, &[]).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn the_limit_can_be_switched_off() {
    let auth = builder()
        .master_token(MASTER)
        .failure_limit(None)
        .build()
        .unwrap();
    let addr = serve_app(&auth).await;
    for _ in 0..15 {
        let (status, _, _) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", "guess")]).await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", MASTER)]).await;
    assert_eq!(status, 200);
}

/// A server that gives the layer no client address (`axum::serve(listener, app)`, the
/// call axum's own examples make) would have the failure limit, on by default, count
/// nothing: twelve wrong master tokens, then the right one served. Every request the
/// limit counts is refused instead, with the fix in the answer, until the server passes
/// the address or the limit is turned off; requests it does not count are served.
#[tokio::test]
async fn a_counted_request_without_a_client_address_is_refused_with_the_fix() {
    let auth = builder().master_token(MASTER).build().unwrap();
    let routes = Router::new()
        .route("/api/x", get(|| async { "api" }))
        .route("/admin/x", get(|| async { "admin" }))
        .route("/open", get(|| async { "open" }));
    let addr = serve_without_connect_info(protected(&auth, routes)).await;
    for token in ["guess", MASTER] {
        let (status, _, body) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", token)]).await;
        assert_eq!(status, 500, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with("Client address unknown"), "{detail}");
        for fix in [
            "into_make_service_with_connect_info",
            "client_address",
            "failure_limit(None)",
        ] {
            assert!(detail.contains(fix), "{detail} names {fix}");
        }
    }
    let (status, _, _) = send(
        Method::GET,
        addr,
        "/auth/token/new?client_id=a",
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(status, 500);
    let (status, _, _) = send(Method::GET, addr, "/auth/token/refresh?refresh_token=x", &[]).await;
    assert_eq!(status, 500);
    // Access tokens are not counted (an HMAC cannot be guessed), nor are public paths.
    let pair = auth.issue(Some("a")).await.unwrap();
    let bearer = format!("Bearer {}", pair.access_token);
    let (status, _, _) = send(Method::GET, addr, "/api/x", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200);
    let answer = common::client::send(
        &reqwest::Client::new(),
        Method::GET,
        &format!("http://{addr}/open"),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200);

    // With the limit off, the same server serves the master route.
    let auth = builder()
        .master_token(MASTER)
        .failure_limit(None)
        .build()
        .unwrap();
    let routes = Router::new().route("/admin/x", get(|| async { "admin" }));
    let addr = serve_without_connect_info(protected(&auth, routes)).await;
    let answer = common::client::send(
        &reqwest::Client::new(),
        Method::GET,
        &format!("http://{addr}/admin/x"),
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn oversized_credentials_are_refused_before_any_work() {
    let auth = builder().master_token(MASTER).build().unwrap();
    let addr = serve_app(&auth).await;
    let long_master = format!("{MASTER}{}", "x".repeat(2000));
    let (status, _, body) = send(Method::GET, addr, "/admin/x", &[("MASTER-TOKEN", &long_master)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Master Token"))
    );
    let long_token = "a".repeat(fastauth::token::MAX_TOKEN_LEN + 1);
    let (status, _, body) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &long_token)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Access Token"))
    );
}

/// The layer remembers verified tokens; none of these may ride on that.
#[tokio::test]
async fn a_remembered_token_is_still_checked() {
    let auth = builder().master_token(MASTER).build().unwrap();
    let addr = serve_app(&auth).await;
    let pair = auth.issue(Some("alice")).await.unwrap();
    let token = pair.access_token.as_str();
    for _ in 0..3 {
        let (status, _, body) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", token)]).await;
        assert_eq!(status, 200, "{body}");
    }

    // The cached signature on other claims.
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    let claims = format!(
        r#"{{"client_id":"mallory","type":"access","exp":{},"iat":0}}"#,
        u32::MAX
    );
    let forged = format!("{header}.{}.{signature}", common::jwt::b64(claims));
    let (status, _, body) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &forged)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Access Token"))
    );
    // A cached token cut short, or with a character more.
    for variant in [&token[..token.len() - 1], &format!("{token}A")] {
        let (status, _, _) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", variant)]).await;
        assert_eq!(status, 401, "{variant}");
    }

    // Stored mode: revocation is seen at once, cache or not.
    auth.revoke("alice").await.unwrap();
    let (status, _, body) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", token)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token revoked"))
    );

    // Expiry is checked on every request, also for a token accepted a moment ago.
    let auth = base()
        .master_token(MASTER)
        .stateless()
        .access_token_lifetime(Duration::from_secs(1))
        .build()
        .unwrap();
    let addr = serve_app(&auth).await;
    let token = auth.issue(Some("bob")).await.unwrap().access_token;
    let (status, _, _) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &token)]).await;
    assert_eq!(status, 200);
    // `exp` is whole seconds and itself still valid: two seconds later it has passed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) = send(Method::GET, addr, "/api/x", &[("ACCESS-TOKEN", &token)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token expired"))
    );
}

/// Serves with the client address taken from `x-test-client` (as a trusted proxy header
/// would be), so one test can speak from many addresses.
async fn serve_behind_proxy(builder: FastAuthBuilder) -> (FastAuth, SocketAddr) {
    let auth = builder
        .master_token(MASTER)
        .client_address(|extensions| {
            extensions
                .get::<axum::http::HeaderMap>()
                .and_then(|h| h.get("x-test-client"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        })
        .build()
        .unwrap();
    // The extractor sees extensions only: copy the headers there, as a proxy layer would.
    let app = Router::new()
        .route("/admin/x", get(|| async { "admin" }))
        .layer(auth.layer())
        .layer(axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                let headers = req.headers().clone();
                req.extensions_mut().insert(headers);
                next.run(req).await
            },
        ));
    // The address comes from the header, not from connect info.
    let addr = serve_without_connect_info(app).await;
    (auth, addr)
}

async fn master_from(addr: SocketAddr, client: &str, token: &str) -> u16 {
    send(
        Method::GET,
        addr,
        "/admin/x",
        &[("x-test-client", client), ("MASTER-TOKEN", token)],
    )
    .await
    .0
}

#[tokio::test]
async fn other_addresses_failing_cannot_reset_a_lockout() {
    let mut limit = FailureLimit::default();
    limit.max_failures = 3;
    limit.max_tracked = 50;
    let (_auth, addr) = serve_behind_proxy(builder().failure_limit(Some(limit))).await;
    let attacker = "198.51.100.7";
    for _ in 0..2 {
        assert_eq!(master_from(addr, attacker, "guess").await, 401);
    }
    assert_eq!(master_from(addr, attacker, "guess").await, 401);
    assert_eq!(master_from(addr, attacker, MASTER).await, 429, "locked out");
    // Enough other addresses failing once to push every entry out of a full table.
    for i in 0..200u32 {
        let other = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        assert_eq!(master_from(addr, &other, "guess").await, 401, "{other}");
    }
    assert_eq!(
        master_from(addr, attacker, MASTER).await,
        429,
        "the lockout survived a full table"
    );
}

#[tokio::test]
async fn a_table_full_of_lockouts_counts_newcomers_per_network() {
    let mut limit = FailureLimit::default();
    limit.max_failures = 3;
    limit.max_tracked = 20;
    let (auth, addr) = serve_behind_proxy(builder().failure_limit(Some(limit))).await;
    // Twenty locked addresses fill the table.
    for i in 0..20 {
        let locked = format!("192.0.2.{i}");
        for _ in 0..3 {
            assert_eq!(master_from(addr, &locked, "guess").await, 401);
        }
        assert_eq!(master_from(addr, &locked, MASTER).await, 429);
    }
    // Newcomers are counted by their /24: three failures from 203.0.113.0/24 lock it.
    for i in 0..3 {
        assert_eq!(master_from(addr, &format!("203.0.113.{i}"), "guess").await, 401);
    }
    assert_eq!(
        master_from(addr, "203.0.113.200", MASTER).await,
        429,
        "the /24 is locked"
    );
    // Not everyone: another network still gets in with the right token.
    assert_eq!(master_from(addr, "198.51.100.1", MASTER).await, 200);
    let stats = auth.failure_limit_stats().expect("the limiter is on");
    // The twenty addresses and the one network.
    assert_eq!(stats.locked, 21, "{stats:?}");
    assert!(stats.overflowed >= 3, "{stats:?}");
}
