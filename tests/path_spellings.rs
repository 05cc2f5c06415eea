//! The layer's view of a path is never more lenient than the router's.
//!
//! axum routes `{param}` on the raw segment between two `/`: `;params`, `%2F`, `%5C` and
//! `\` stay inside it. A layer that strips or splits them sees another path, and a `*`
//! pattern then protects nothing. These tests send hostile spellings over real sockets
//! to the real router, with every handler behind a counter inside the auth layer.
#![cfg(feature = "axum")]

mod common;

use axum::{Router, routing::get};

use common::{
    auth::stored,
    bodies::detail,
    keys::MASTER,
    raw_http::exchange,
    server::{Hits, serve},
};

#[tokio::test]
async fn wildcard_patterns_hold_against_semicolons_and_encoded_separators() {
    let auth = stored()
        .master_token(MASTER)
        .master_paths(["/tenants/*/admin"])
        .access_paths(["/files/*/raw"])
        .build()
        .unwrap();
    let hits = Hits::default();
    let routes = Router::new()
        .route("/files/{id}/raw", get(|| async { "raw" }))
        .route("/tenants/{tenant}/admin", get(|| async { "admin" }));
    let addr = serve(hits.count(routes).layer(auth.layer())).await;

    let access = [
        "/files/;/raw",
        "/files/;jsessionid=1/raw",
        "/files/a%2Fb/raw",
        "/files/a%5Cb/raw",
        "/files/%2F/raw",
        "/files/a\\b/raw",
        "/files/%2f%2f/raw",
        "/files/a;b%2Fc/raw",
    ];
    for path in access {
        let reply = exchange(addr, "GET", path, &[]).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail("Access token missing").as_str()),
            "GET {path}"
        );
    }
    for path in ["/tenants/;/admin", "/tenants/a%2Fb/admin", "/tenants/x;y/admin"] {
        let reply = exchange(addr, "GET", path, &[]).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail("Master token missing").as_str()),
            "GET {path}"
        );
    }
    assert_eq!(hits.get(), 0, "a protected handler ran without a credential");

    // The same spellings with the credential reach the handler: the router does route them.
    let pair = auth.issue(Some("c")).await.unwrap();
    let bearer = format!("Bearer {}", pair.access_token);
    for path in access {
        let reply = exchange(addr, "GET", path, &[("Authorization", bearer.as_bytes())]).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "raw"),
            "GET {path} with a token"
        );
    }
}
