//! The management API under `/api`: tokens, sessions and the access log. The key it
//! needs is resolved in [`api_key`] and checked by [`guard`], around the routes.

pub mod api_key;
pub mod error;
pub mod guard;
pub mod input;
pub mod logs;
pub mod sessions;
pub mod tokens;

use axum::{
    Router,
    routing::{delete, get, post},
};

use crate::state::AppState;

/// The `/api` routes (unprotected on their own: [`guard::protect`] goes around them).
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
