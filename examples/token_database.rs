//! A reference implementation of fastauth-api's token-database HTTP API, in memory.
//!
//! ```text
//! PORT=6789 cargo run --release --example token_database
//! # then, in fastauth.config.json: "database_api_path": "http://127.0.0.1:6789/mydb/data"
//! ```
//!
//! - `POST /{db}/data/token?client_id=<id>` with `{"data":{…}}` stores `data` for the client (200);
//! - `GET /{db}/data/token?client_id=<id>` answers 200 with the stored `data`, or 404.
//!
//! The answers have the reference database's shape. It is for development, tests and
//! benchmarks: nothing is persisted.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, RwLock},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::IntoResponse,
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

type Db = Arc<RwLock<HashMap<(String, String), Value>>>;

#[derive(Deserialize)]
struct ClientQuery {
    client_id: String,
}

#[derive(Deserialize)]
struct Body {
    data: Value,
}

async fn load(
    State(db): State<Db>,
    Path(name): Path<String>,
    Query(q): Query<ClientQuery>,
) -> impl IntoResponse {
    let db = db.read().unwrap_or_else(|e| e.into_inner());
    match db.get(&(name, q.client_id.clone())) {
        Some(data) => (
            StatusCode::OK,
            Json(json!({
                "status": "success",
                "message": "Data retrieved successfully",
                "code": 200,
                "data": data,
                "details": {"client_id": q.client_id},
            })),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "status": "error",
                "message": "Client ID not found",
                "code": 404,
                "details": {"client_id": q.client_id},
            })),
        ),
    }
}

async fn save(
    State(db): State<Db>,
    Path(name): Path<String>,
    Query(q): Query<ClientQuery>,
    Json(body): Json<Body>,
) -> impl IntoResponse {
    db.write()
        .unwrap_or_else(|e| e.into_inner())
        .insert((name, q.client_id.clone()), body.data);
    Json(json!({
        "status": "success",
        "message": "Data saved successfully",
        "code": 200,
        "details": {"client_id": q.client_id},
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(6789);
    let db: Db = Arc::default();
    let app = Router::new()
        .route("/{db}/data/token", get(load).post(save))
        .with_state(db);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("token_database listening on http://{addr}/mydb/data");
    axum::serve(listener, app).await
}
