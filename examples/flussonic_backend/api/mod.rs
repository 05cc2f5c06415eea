//! The management API under `/api`, behind `FastAuthLayer` at master level: the key
//! is accepted as `X-API-Key` (the old clients) or `MASTER-TOKEN`.

pub mod error;
pub mod input;
pub mod logs;
pub mod sessions;
pub mod tokens;

use std::net::SocketAddr;

use axum::{
    Router,
    extract::ConnectInfo,
    routing::{delete, get, post},
};
use fastauth::FastAuth;

use crate::{api_key, app::AppState};

/// The `/api` routes (unprotected on their own: [`guard`]'s layer goes around them).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tokens", get(tokens::list).post(tokens::create))
        .route(
            "/api/tokens/{id}",
            get(tokens::get).patch(tokens::update).delete(tokens::delete),
        )
        .route("/api/sessions", get(sessions::list))
        .route("/api/sessions/cleanup", post(sessions::cleanup))
        .route("/api/sessions/{id}", delete(sessions::terminate))
        .route("/api/access-logs", get(logs::list))
}

/// The `FastAuth` guarding `/api` with `key`. Only the master level is used: the
/// signing key it requires is random, since this app issues no access tokens. After
/// repeated wrong keys from one address, that address gets 429 for a while.
pub fn guard(key: &str) -> Result<FastAuth, fastauth::ConfigError> {
    FastAuth::builder()
        .ignore_environment()
        .cryptography_key(api_key::generate())
        .master_token(key)
        .master_token_header("X-API-Key")
        .master_paths(["/api"])
        // Brute-force protection counts wrong keys per client address (see `app::serve`).
        .client_address(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
        .stateless()
        .build()
}
