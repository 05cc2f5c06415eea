//! CORS preflights get no pass through the auth layer: an `OPTIONS` request reaches a
//! protected inner service only with a valid credential, because tonic, axum's `any`,
//! `route_service` and proxies run the protected operation whatever the method. Browsers
//! are served by tower-http's `CorsLayer` *outside* the auth layer, which answers
//! preflights itself. Real sockets throughout; the handlers sit behind counters inside
//! the auth layer, so a request that got through shows.
#![cfg(all(feature = "axum", feature = "tonic"))]

mod common;

use axum::{
    Router,
    routing::{any, get},
};
use http::{HeaderValue, Method, header};
use http_body_util::BodyExt;
use tower_http::cors::CorsLayer;

use common::{
    auth::stored,
    bodies::detail,
    grpc::{empty_message, grpc_request, h2_client, serve_health_counted},
    keys::MASTER,
    raw_http::exchange,
    server::{Hits, serve},
};

const ORIGIN: &str = "https://app.example";

/// The headers a browser sends with a preflight for a request carrying `Authorization`.
const PREFLIGHT: [(&str, &[u8]); 3] = [
    ("Origin", ORIGIN.as_bytes()),
    ("Access-Control-Request-Method", b"POST"),
    ("Access-Control-Request-Headers", b"authorization,content-type"),
];

#[tokio::test]
async fn a_preflight_shaped_request_never_runs_a_tonic_rpc() {
    // tonic dispatches on the path alone: a preflight let through would run `Check`.
    let auth = stored()
        .master_token(MASTER)
        .master_paths(["/grpc.health.v1.Health"])
        .build()
        .unwrap();
    let (addr, calls) = serve_health_counted(&auth).await;

    // What `curl --http2-prior-knowledge -X OPTIONS …` sends: a gRPC call with an empty
    // message, spelled as a preflight.
    let request = grpc_request(
        Method::OPTIONS,
        &format!("http://{addr}/grpc.health.v1.Health/Check"),
    )
    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
    .header(header::ORIGIN, ORIGIN)
    .body(empty_message())
    .unwrap();
    let response = h2_client().request(request).await.unwrap();
    let grpc_status = response.headers().get("grpc-status").cloned();
    let body = response.into_body().collect().await.unwrap();
    let trailer_status = body.trailers().and_then(|t| t.get("grpc-status")).cloned();
    assert_eq!(
        (grpc_status, trailer_status),
        (Some(HeaderValue::from_static("16")), None),
        "the preflight-shaped call must be refused as UNAUTHENTICATED, before the RPC"
    );
    assert_eq!(calls.get(), 0, "the RPC ran without a credential");
}

#[tokio::test]
async fn a_preflight_never_reaches_a_method_agnostic_handler() {
    let auth = stored()
        .master_token(MASTER)
        .master_paths(["/admin"])
        .access_paths(["/api"])
        .build()
        .unwrap();
    let hits = Hits::default();
    let inner = Router::new()
        .route("/admin/drop-tables", any(|| async { "dropped" }))
        .route("/api/transfer", any(|| async { "transferred" }))
        .route_service(
            "/api/proxy/{*rest}",
            tower::service_fn(|_req: axum::extract::Request| async {
                Ok::<_, std::convert::Infallible>(axum::response::Response::new(axum::body::Body::from(
                    "proxied",
                )))
            }),
        )
        .nest_service(
            "/admin/nested",
            tower::service_fn(|_req: axum::extract::Request| async {
                Ok::<_, std::convert::Infallible>(axum::response::Response::new(axum::body::Body::from(
                    "nested",
                )))
            }),
        );
    let addr = serve(hits.count(inner).layer(auth.layer())).await;

    for (path, message) in [
        ("/admin/drop-tables", "Master token missing"),
        ("/admin/nested/x", "Master token missing"),
        ("/api/transfer", "Access token missing"),
        ("/api/proxy/upstream", "Access token missing"),
    ] {
        let reply = exchange(addr, "OPTIONS", path, &PREFLIGHT).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(message).as_str()),
            "OPTIONS {path}"
        );
        // A plain OPTIONS is refused the same way.
        let reply = exchange(addr, "OPTIONS", path, &[]).await;
        assert_eq!(reply.status, 401, "plain OPTIONS {path}");
    }
    assert_eq!(hits.get(), 0, "a preflight reached a protected handler");
}

#[tokio::test]
async fn a_cors_layer_outside_the_auth_layer_serves_browsers() {
    let auth = stored().access_paths(["/api"]).build().unwrap();
    let hits = Hits::default();
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_static(ORIGIN))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let inner = Router::new().route(
        "/api/items",
        get(|| async { "items" }).post(|| async { "created" }),
    );
    // The order that works: CORS outermost, then auth, then the routes.
    let addr = serve(hits.count(inner).layer(auth.layer()).layer(cors)).await;

    // The browser's preflight is answered by the CORS layer; nothing protected runs.
    let reply = exchange(addr, "OPTIONS", "/api/items", &PREFLIGHT).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    let methods = reply.header("access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = reply.header("access-control-allow-headers").unwrap_or_default();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert_eq!(hits.get(), 0, "the preflight reached the handler");

    // The real request: refused without a token, with CORS headers so the page can read the 401.
    let reply = exchange(addr, "POST", "/api/items", &[("Origin", ORIGIN.as_bytes())]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(hits.get(), 0);

    // And served with one.
    let pair = auth.issue(Some("browser")).await.unwrap();
    let bearer = format!("Bearer {}", pair.access_token);
    let reply = exchange(
        addr,
        "POST",
        "/api/items",
        &[
            ("Origin", ORIGIN.as_bytes()),
            ("Authorization", bearer.as_bytes()),
        ],
    )
    .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "created"));
    assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(hits.get(), 1);
}
