//! The token router's request forms, over real sockets: refresh by `GET` (fastauth-api's
//! form) or by `POST` with a form or JSON body, `HEAD` never rotating anything, and the
//! `client_id` rules.
#![cfg(feature = "axum")]

mod common;

use axum::Router;
use serde_json::Value;

use common::{
    auth::stored,
    keys::MASTER,
    raw_http::{Reply, exchange, exchange_with_body},
    server::serve,
};

async fn app() -> (fastauth::FastAuth, std::net::SocketAddr) {
    let auth = stored()
        .master_token(MASTER)
        .access_paths(["/api"])
        .build()
        .unwrap();
    let addr = serve(Router::new().nest_service("/auth", auth.token_router())).await;
    (auth, addr)
}

fn json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("not JSON: {}", reply.body))
}

fn new_refresh_token(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    json(reply)["data"]["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refresh_accepts_a_form_or_json_body_by_post() {
    let (auth, addr) = app().await;
    let pair = auth.issue(Some("poster")).await.unwrap();

    let form = format!("refresh_token={}", pair.refresh_token);
    let reply = exchange_with_body(
        addr,
        "POST",
        "/auth/token/refresh",
        &[("Content-Type", b"application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await;
    let second = new_refresh_token(&reply);

    let body = serde_json::json!({ "refresh_token": second }).to_string();
    let reply = exchange_with_body(
        addr,
        "POST",
        "/auth/token/refresh",
        &[("Content-Type", b"application/json")],
        body.as_bytes(),
    )
    .await;
    let third = new_refresh_token(&reply);

    // GET, fastauth-api's form, keeps working.
    let reply = exchange(
        addr,
        "GET",
        &format!("/auth/token/refresh?refresh_token={third}"),
        &[],
    )
    .await;
    new_refresh_token(&reply);

    // A POST without the token, or with a body of another type, is a clear 4xx.
    for (content_type, body, status, message) in [
        ("application/json", "{}", 400, "Missing refresh_token"),
        (
            "application/x-www-form-urlencoded",
            "",
            400,
            "Missing refresh_token",
        ),
        (
            "application/json",
            "{\"refresh_token\":",
            400,
            "Malformed request body",
        ),
        ("text/plain", "refresh_token=x", 415, "Unsupported content type"),
    ] {
        let reply = exchange_with_body(
            addr,
            "POST",
            "/auth/token/refresh",
            &[("Content-Type", content_type.as_bytes())],
            body.as_bytes(),
        )
        .await;
        assert_eq!(
            (reply.status, json(&reply)["message"].as_str()),
            (status, Some(message)),
            "{content_type} {body:?}"
        );
    }
}

#[tokio::test]
async fn head_never_rotates_a_pair_or_issues_one() {
    let (auth, addr) = app().await;
    let pair = auth.issue(Some("header")).await.unwrap();

    // HEAD would rotate and then drop the body with the new pair: the client would be
    // left holding a refresh token that now counts as re-used.
    let reply = exchange(
        addr,
        "HEAD",
        &format!("/auth/token/refresh?refresh_token={}", pair.refresh_token),
        &[],
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = exchange(
        addr,
        "HEAD",
        "/auth/token/new?client_id=header",
        &[("MASTER-TOKEN", MASTER.as_bytes())],
    )
    .await;
    assert_eq!(reply.status, 405);

    // The pair was neither rotated nor replaced: its refresh token still works once.
    let reply = exchange(
        addr,
        "GET",
        &format!("/auth/token/refresh?refresh_token={}", pair.refresh_token),
        &[],
    )
    .await;
    new_refresh_token(&reply);
}

#[tokio::test]
async fn client_ids_with_invisible_format_characters_are_refused() {
    let (_auth, addr) = app().await;
    // Right-to-left override, zero-width space and joiner, word joiner, BOM, soft hyphen.
    for encoded in [
        "%E2%80%AEnimda",
        "ad%E2%80%8Bmin",
        "a%E2%80%8Db",
        "a%E2%81%A0b",
        "%EF%BB%BFa",
        "a%C2%ADb",
    ] {
        let reply = exchange(
            addr,
            "GET",
            &format!("/auth/token/new?client_id={encoded}"),
            &[("MASTER-TOKEN", MASTER.as_bytes())],
        )
        .await;
        assert_eq!(
            (reply.status, json(&reply)["message"].as_str()),
            (400, Some("Invalid client_id")),
            "{encoded}"
        );
    }
    // Other non-ASCII text is a fine client id.
    let reply = exchange(
        addr,
        "GET",
        "/auth/token/new?client_id=%C3%A9l%C3%A8ve-%E5%AD%A6%E7%94%9F",
        &[("MASTER-TOKEN", MASTER.as_bytes())],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(json(&reply)["data"]["client_id"], "élève-学生");
}
