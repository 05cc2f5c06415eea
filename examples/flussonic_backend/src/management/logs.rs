//! `/api/access-logs`: the decisions written by `/auth`, newest first.

use axum::{Json, extract::State, http::Uri};

use super::{error::ApiError, input::Query};
use crate::{
    db::logs::{self, AccessLog},
    flussonic::decision::Reason,
    state::AppState,
};

/// `GET /api/access-logs?token=&user_id=&stream=&result=&reason=&since=&until=&skip=&limit=`.
/// `since` is inclusive, `until` exclusive; both RFC 3339 with any offset. The rows of
/// decisions answered before the listing are in it (it waits, briefly, for the queue).
pub async fn list(State(app): State<AppState>, uri: Uri) -> Result<Json<Vec<AccessLog>>, ApiError> {
    let query = Query::parse(uri.query());
    let (skip, limit) = query.paging()?;
    let reasons: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
    let filter = logs::Filter {
        token: query.text("token")?,
        user_id: query.text("user_id")?,
        stream: query.text("stream")?,
        result: query.choice("result", &["allowed", "denied"])?,
        reason: query.choice("reason", &reasons)?,
        since: query.instant("since")?,
        until: query.instant("until")?,
        skip,
        limit,
    };
    Ok(Json(
        app.db.read_logs(move |conn| logs::list(conn, &filter)).await?,
    ))
}
