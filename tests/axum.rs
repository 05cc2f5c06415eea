//! FastAuthLayer and the token router in an axum app, over real sockets.
#![cfg(feature = "axum")]

mod common;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::ws::{Message, WebSocketUpgrade},
    response::IntoResponse,
    routing::get,
};
use fastauth::{Claims, FastAuth, FastAuthBuilder, extract::ClientId, store::MemoryTokenStore};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

use common::{
    client::{get_json, pair_of, request_pair},
    keys::MASTER,
    raw_http::exchange,
    server::{self, Hits, protected},
    stores::DownStore,
};

/// The app's paths, on the test key.
fn builder() -> FastAuthBuilder {
    common::auth::builder()
        .master_token(MASTER)
        .master_paths(["/master"])
        .access_paths(["/access", "/ws"])
}

/// Stored mode, with the pairs in memory.
fn stored() -> FastAuthBuilder {
    builder().store(MemoryTokenStore::new())
}

struct App {
    addr: SocketAddr,
    /// Requests that reached the handlers behind the fastauth layer.
    hits: Hits,
}

impl App {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn hits(&self) -> usize {
        self.hits.get()
    }
}

async fn ws_echo(ws: WebSocketUpgrade, claims: Claims) -> impl IntoResponse {
    ws.on_upgrade(move |mut socket| async move {
        while let Some(Ok(Message::Text(text))) = socket.recv().await {
            let reply = format!("{}:{}", claims.client_id(), text.as_str());
            if socket.send(Message::Text(reply.into())).await.is_err() {
                break;
            }
        }
    })
}

/// The quick-start app of fastauth-api's README, plus a WebSocket, behind `.layer`.
async fn serve(auth: &FastAuth) -> App {
    let hits = Hits::default();
    let router = hits.count(
        Router::new()
            .route("/health", get(|| async { "healthy" }))
            .route(
                "/access/health",
                get(|id: ClientId| async move { id.to_string() }),
            )
            .route(
                "/access/optional",
                get(|claims: Option<Claims>| async move {
                    format!("{:?}", claims.map(|c| c.client_id().to_owned()))
                }),
            )
            .route(
                "/public/whoami",
                get(|claims: Option<Claims>| async move { format!("{}", claims.is_some()) }),
            )
            .route(
                "/public/needs-claims",
                get(|claims: Claims| async move { claims.client_id().to_owned() }),
            )
            .route("/master/health", get(|| async { "master healthy" }))
            .route("/ws", get(ws_echo))
            .fallback(
                |uri: axum::http::Uri| async move { (axum::http::StatusCode::NOT_FOUND, uri.to_string()) },
            ),
    );
    let addr = server::serve(protected(auth, router)).await;
    App { addr, hits }
}

async fn new_pair(app: &App, client_id: &str) -> (String, String) {
    let (status, body) = request_pair(&reqwest::Client::new(), &app.url(""), client_id).await;
    assert_eq!(status, 200, "{body}");
    pair_of(&body)
}

#[tokio::test]
async fn unprotected_protected_and_bad_credentials() {
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;

    let resp = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "healthy");
    assert_eq!(app.hits(), 1);

    let resp = reqwest::get(app.url("/access/health")).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), r#"{"detail":"Access token missing"}"#);

    let (status, body) = get_json(&app.url("/access/health"), &[("ACCESS-TOKEN", "garbage")]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Access Token"))
    );
    let (status, body) = get_json(&app.url("/master/health"), &[]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Master token missing"))
    );
    let (status, body) = get_json(&app.url("/master/health"), &[("MASTER-TOKEN", "wrong")]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Master Token"))
    );
    let (status, body) = get_json(&app.url("/master/health"), &[("master-token", "")]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Master Token"))
    );
    assert_eq!(app.hits(), 1, "refused requests never reach the inner service");

    let resp = reqwest::Client::new()
        .get(app.url("/master/health"))
        .header("MASTER-TOKEN", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "master healthy");

    // The master token does not grant the access level: the levels are distinct.
    let (status, _) = get_json(&app.url("/access/health"), &[("MASTER-TOKEN", MASTER)]).await;
    assert_eq!(status, 401);

    let (access, _) = new_pair(&app, "client-7").await;
    let resp = reqwest::Client::new()
        .get(app.url("/access/health"))
        .header("ACCESS-TOKEN", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "client-7");
    let resp = reqwest::Client::new()
        .get(app.url("/access/optional"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "Some(\"client-7\")");
}

#[tokio::test]
async fn extractors_on_unprotected_routes() {
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;
    let resp = reqwest::get(app.url("/public/whoami")).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "false");
    // A handler that requires claims on a route no pattern protects refuses, never 500.
    let (status, body) = get_json(&app.url("/public/needs-claims"), &[]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token missing"))
    );
}

#[tokio::test]
async fn no_spelling_of_a_protected_path_gets_through() {
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;
    let spellings = [
        "/master/health",
        "//master/health",
        "/master//health",
        "/./master/health",
        "/x/../master/health",
        "/%6Daster/health",
        "/%6daster/health",
        "/MASTER/health",
        "/master/health/",
        "/master;x=1/health",
        "/public%2F..%2Fmaster/health",
        "/public/%2e%2e/master/health",
        "/master%2Fhealth",
        "/master",
        "/master?x=/health",
    ];
    for path in spellings {
        let reply = exchange(app.addr, "GET", path, &[]).await;
        let (status, body) = (reply.status, reply.body);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("Master token missing"), "{path}: {body}");
    }
    for path in [
        "/access/health",
        "//access//health",
        "/ACCESS/health",
        "/access/./health/",
    ] {
        let reply = exchange(app.addr, "GET", path, &[]).await;
        let (status, body) = (reply.status, reply.body);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("Access token missing"), "{path}: {body}");
    }
    assert_eq!(app.hits(), 0, "nothing reached the inner service");
    // Whole segments only: these are not protected.
    for path in ["/masterful", "/accessories", "/health"] {
        let status = exchange(app.addr, "GET", path, &[]).await.status;
        assert_ne!(status, 401, "{path}");
    }
}

#[tokio::test]
async fn route_layer_protects_matched_routes_only() {
    let auth = stored().access_paths(["/"]).build().unwrap();
    let router = Router::new()
        .route(
            "/api/items",
            get(|claims: Claims| async move { claims.client_id().to_owned() }),
        )
        .route_layer(auth.layer());
    let app = App {
        addr: server::serve(router).await,
        hits: Hits::default(),
    };
    let (status, _) = get_json(&app.url("/api/items"), &[]).await;
    assert_eq!(status, 401);
    // With route_layer, unmatched paths answer 404 without asking for a token.
    let (status, _) = get_json(&app.url("/nowhere"), &[]).await;
    assert_eq!(status, 404);
    let pair = auth.issue(Some("r")).await.unwrap();
    let resp = reqwest::Client::new()
        .get(app.url("/api/items"))
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "r");
}

#[tokio::test]
async fn token_router_issues_in_the_python_envelope() {
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;

    let (status, body) = get_json(&app.url("/auth/token/new"), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({"status":"error","message":"Master token missing","code":401})
    );
    let (status, body) = get_json(&app.url("/auth/token/new"), &[("MASTER-TOKEN", "nope")]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Unauthorized Master Token"))
    );

    let resp = reqwest::Client::new()
        .get(app.url("/auth/token/new"))
        .header("MASTER-TOKEN", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with(
            r#"{"status":"success","message":"Token generated","code":200,"data":{"client_id":""#
        ),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let client_id = body["data"]["client_id"].as_str().unwrap();
    assert_eq!(client_id.len(), 36, "a UUIDv4: {client_id}");
    let access = body["data"]["access_token"].as_str().unwrap();
    assert_eq!(auth.verify_access(access).await.unwrap().client_id(), client_id);

    let (status, body) = get_json(
        &app.url(&format!("/auth/token/new?client_id={}", "x".repeat(300))),
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Invalid client_id"))
    );
    let (status, _) = get_json(
        &app.url("/auth/token/new?client_id="),
        &[("MASTER-TOKEN", MASTER)],
    )
    .await;
    assert_eq!(status, 400);

    let resp = reqwest::Client::new()
        .delete(app.url("/auth/token/new"))
        .header("MASTER-TOKEN", MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
    let (status, body) = get_json(&app.url("/auth/token/other"), &[]).await;
    assert_eq!((status, body["status"].as_str()), (404, Some("error")));
    let (status, body) = get_json(&app.url("/auth/token/refresh"), &[]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Missing refresh_token"))
    );
}

#[tokio::test]
async fn refresh_rotates_and_detects_reuse_in_stored_mode() {
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;
    let (access1, refresh1) = new_pair(&app, "c1").await;

    // An access token is not a refresh token.
    let (status, body) = get_json(
        &app.url(&format!("/auth/token/refresh?refresh_token={access1}")),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Invalid refresh token"))
    );

    let (status, body) = get_json(
        &app.url(&format!("/auth/token/refresh?refresh_token={refresh1}")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["client_id"], "c1");
    let access2 = body["data"]["access_token"].as_str().unwrap().to_owned();

    // The rotation revoked the old access token and issued a working one.
    let (status, body) = get_json(&app.url("/access/health"), &[("ACCESS-TOKEN", &access1)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token revoked"))
    );
    let (status, _) = get_json(&app.url("/access/health"), &[("ACCESS-TOKEN", &access2)]).await;
    assert_eq!(status, 200);

    // Re-using the rotated refresh token is theft: refused, and the client's tokens are revoked.
    let (status, body) = get_json(
        &app.url(&format!("/auth/token/refresh?refresh_token={refresh1}")),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Invalid refresh token"))
    );
    let (status, body) = get_json(&app.url("/access/health"), &[("ACCESS-TOKEN", &access2)]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token revoked"))
    );
}

#[tokio::test]
async fn stateless_mode_needs_no_store() {
    let auth = builder().stateless().build().unwrap();
    let app = serve(&auth).await;
    let (access1, refresh1) = new_pair(&app, "s1").await;
    let (status, body) = get_json(
        &app.url(&format!("/auth/token/refresh?refresh_token={refresh1}")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Stateless: no revocation before exp, by design.
    let (status, _) = get_json(&app.url("/access/health"), &[("ACCESS-TOKEN", &access1)]).await;
    assert_eq!(status, 200);
    assert!(auth.store().is_none(), "no store in stateless mode");
}

#[tokio::test]
async fn store_down_fails_closed_with_503() {
    let auth = builder().store(DownStore).build().unwrap();
    let app = serve(&auth).await;
    let token = fastauth::hooks::codec(&auth)
        .issue_pair("d")
        .unwrap()
        .access_token;
    let resp = reqwest::Client::new()
        .get(app.url("/access/health"))
        .header("ACCESS-TOKEN", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"detail":"Token store unavailable"}"#
    );
    let (status, body) = get_json(&app.url("/auth/token/new"), &[("MASTER-TOKEN", MASTER)]).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        serde_json::json!({"status":"error","message":"Token store unavailable","code":503})
    );
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn failure_response_can_be_replaced() {
    let auth = stored()
        .on_failure(|rejection| {
            let mut response =
                http::Response::new(bytes::Bytes::from(format!("nope: {}", rejection.error.reason())));
            *response.status_mut() = http::StatusCode::FORBIDDEN;
            response
        })
        .build()
        .unwrap();
    let app = serve(&auth).await;
    let resp = reqwest::get(app.url("/access/health")).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.text().await.unwrap(), "nope: missing_access_token");
}

#[tokio::test]
async fn cors_preflights_are_refused_without_a_token() {
    // CORS is served by a CorsLayer outside the auth layer (tests/cors.rs).
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;
    let headers: [(&str, &[u8]); 2] = [
        ("Origin", b"http://example.test"),
        ("Access-Control-Request-Method", b"GET"),
    ];
    let reply = exchange(app.addr, "OPTIONS", "/access/health", &headers).await;
    assert_eq!(reply.status, 401);
    let reply = exchange(app.addr, "OPTIONS", "/access/health", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(app.hits(), 0, "a preflight reached the inner service");
}

#[tokio::test]
async fn query_tokens_only_when_allowed() {
    let auth = stored().build().unwrap();
    let app = serve(&auth).await;
    let token = auth.issue(Some("q")).await.unwrap().access_token;
    let (status, body) = get_json(&app.url(&format!("/access/health?access_token={token}")), &[]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Access token missing"))
    );

    let auth = stored().allow_query_token(true).build().unwrap();
    let app = serve(&auth).await;
    let token = auth.issue(Some("q")).await.unwrap().access_token;
    let resp = reqwest::get(app.url(&format!("/access/health?access_token={token}")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "q");
}

#[tokio::test]
async fn websocket_upgrade_needs_a_token() {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

    let auth = stored().allow_query_token(true).build().unwrap();
    let app = serve(&auth).await;
    let url = format!("ws://{}/ws", app.addr);

    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401 refusal, got {:?}", other.map(|(_, r)| r.status())),
    }
    assert_eq!(app.hits(), 0);

    let token = auth.issue(Some("ws-client")).await.unwrap().access_token;
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("access-token", token.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    socket.send(tungstenite::Message::text("hi")).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "ws-client:hi");

    // Browsers cannot set headers on a WebSocket: the opt-in query parameter.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{url}?access_token={token}"))
        .await
        .unwrap();
    socket.send(tungstenite::Message::text("q")).await.unwrap();
    let reply = socket.next().await.unwrap().unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "ws-client:q");
}

#[tokio::test]
async fn a_shared_memory_store_works() {
    let store = Arc::new(MemoryTokenStore::new());
    let auth = builder().store(store.clone()).build().unwrap();
    let pair = auth.issue(Some("m")).await.unwrap();
    assert_eq!(store.len(), 1);
    assert!(auth.verify_access(&pair.access_token).await.is_ok());
    auth.revoke("m").await.unwrap();
    assert_eq!(
        auth.verify_access(&pair.access_token).await.unwrap_err(),
        fastauth::AuthError::RevokedAccessToken
    );
}

#[tokio::test]
async fn master_token_header_alias() {
    let auth = stored().master_token_header("X-API-Key").build().unwrap();
    let app = serve(&auth).await;
    let (status, _) = get_json(&app.url("/master/health"), &[("X-API-Key", MASTER)]).await;
    assert_eq!(status, 200);
    let (status, body) = get_json(&app.url("/master/health"), &[("X-API-Key", "wrong")]).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("Unauthorized Master Token"))
    );
    let err = stored().master_token_header("bad header").build().unwrap_err();
    assert!(err.to_string().contains("bad header"), "{err}");
}

/// Around a router, the layer answers in axum's own body type, refusals included, so
/// axum takes its responses as they are (before, it boxed each one once more). In
/// process: the response type is the point.
#[tokio::test]
async fn the_layer_answers_in_axums_body_type() {
    use axum::{body::Body, http::Request, response::Response};
    use tower::{Layer, ServiceExt};

    let auth = builder().stateless().build().unwrap();
    let app = auth
        .layer()
        .layer(Router::new().route("/access/items", get(|| async { "items" })));
    let request = |token: Option<&str>| {
        let builder = Request::get("/access/items");
        match token {
            Some(token) => builder.header("access-token", token),
            None => builder,
        }
        .body(Body::empty())
        .unwrap()
    };

    let refused: Response<Body> = app.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body = axum::body::to_bytes(refused.into_body(), 1024).await.unwrap();
    assert_eq!(body, r#"{"detail":"Access token missing"}"#);

    let token = auth.issue(Some("c1")).await.unwrap().access_token;
    let granted: Response<Body> = app.oneshot(request(Some(&token))).await.unwrap();
    assert_eq!(granted.status(), 200);
    let body = axum::body::to_bytes(granted.into_body(), 1024).await.unwrap();
    assert_eq!(body, "items");
}
