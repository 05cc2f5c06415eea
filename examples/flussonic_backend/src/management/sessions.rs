//! `/api/sessions`: list live sessions, terminate one, clean up expired ones.

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, Uri},
};
use serde_json::{Value, json};

use super::{
    error::ApiError,
    input::{self, Query},
};
use crate::{
    clock,
    db::sessions::{self, Session},
    ops::cleanup,
    state::AppState,
};

/// `GET /api/sessions?user_id=&token_id=&stream=&skip=&limit=`: live sessions.
pub async fn list(State(app): State<AppState>, uri: Uri) -> Result<Json<Vec<Session>>, ApiError> {
    let query = Query::parse(uri.query());
    let (skip, limit) = query.paging()?;
    let filter = sessions::Filter {
        user_id: query.text("user_id")?,
        token_id: query.integer("token_id", 1, i64::MAX)?,
        stream: query.text("stream")?,
        skip,
        limit,
    };
    let now = clock::stamp(clock::now());
    Ok(Json(
        app.db
            .read(move |conn| sessions::list(conn, &filter, &now))
            .await?,
    ))
}

/// `DELETE /api/sessions/{id}` → 204: the session stops counting; Flussonic's next
/// check of it is a new session.
pub async fn terminate(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = input::path_id(&id)?;
    if app.db.write(move |conn| sessions::delete(conn, id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("session"))
    }
}

/// `POST /api/sessions/cleanup` → `{"cleaned": n}`.
pub async fn cleanup(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let cleaned = cleanup::expired_sessions(&app.db).await?;
    app.metrics.cleaned(cleaned, 0);
    Ok(Json(json!({ "cleaned": cleaned })))
}
