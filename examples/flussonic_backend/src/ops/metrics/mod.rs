//! `/metrics`: Prometheus metrics in the text format 0.0.4, through prometheus-client.
//! What the backend counts as it works is in [`recorder`]; the database's figures are
//! read at each scrape (`database.rs`). The names, types and labels are an operator's
//! API: a test compares them with a fixture captured from the earlier, hand-written
//! exposition.

mod database;
pub mod recorder;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use prometheus_client::encoding::prometheus_text;

use self::database::DatabaseSnapshot;
use crate::{clock, db::sessions, state::AppState};

/// `GET /metrics`.
pub async fn handle(State(app): State<AppState>) -> Response {
    let open = app
        .db
        .read(|conn| sessions::count_open(conn, &clock::stamp(clock::now())))
        .await
        .ok();
    let snapshot = DatabaseSnapshot::read(open, app.db.stats(), app.db.log_stats());
    let mut body = String::with_capacity(4096);
    match app
        .metrics
        .encode(&mut body)
        .and_then(|()| snapshot.encode(&mut body))
    {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            body,
        )
            .into_response(),
        // Writing to a String fails only if an encoder reports an error of its own.
        Err(_) => {
            tracing::error!("cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
