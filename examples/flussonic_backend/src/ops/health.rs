//! `/health`: 200 when the database takes a write transaction and answers a query,
//! 503 otherwise (for load balancers and systemd watchdogs).

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::state::AppState;

/// How long the database may take before the answer is "unhealthy".
const TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`.
pub async fn handle(State(app): State<AppState>) -> Response {
    // Through the writer: what /auth needs is a writer that still commits.
    let probe = app.db.write(|conn| {
        conn.query_row("SELECT COUNT(*) FROM (SELECT 1 FROM tokens LIMIT 1)", [], |r| {
            r.get::<_, i64>(0)
        })
    });
    let problem = match tokio::time::timeout(TIMEOUT, probe).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", TIMEOUT.as_secs())),
    };
    match problem {
        None => Json(json!({"status": "healthy", "database": "ok"})).into_response(),
        Some(problem) => {
            tracing::warn!(%problem, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unhealthy", "database": problem})),
            )
                .into_response()
        }
    }
}
