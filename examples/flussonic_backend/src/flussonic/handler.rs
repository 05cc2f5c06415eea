//! `/auth`: the endpoint Flussonic calls (`auth_backend` / `on_play auth://…`).
//!
//! 200 allows, with `X-AuthDuration`, `X-UserId` and `X-Max-Sessions`; 403 denies, with
//! a JSON body carrying both Flussonic's `errors` array and the old project's keys. A
//! 5xx only when the database cannot decide: Flussonic then keeps sessions it already
//! granted and refuses new ones, which is the right failure mode. The decision is
//! queued for the access log once it has committed; the answer does not wait for that.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    decision::{self, Decision},
    request,
};
use crate::state::AppState;

static X_AUTH_DURATION: HeaderName = HeaderName::from_static("x-authduration");
static X_USER_ID: HeaderName = HeaderName::from_static("x-userid");
static X_MAX_SESSIONS: HeaderName = HeaderName::from_static("x-max-sessions");
/// The reason code of every decision, for operators reading answers with curl (and tests).
static X_AUTH_REASON: HeaderName = HeaderName::from_static("x-auth-reason");

/// `GET` or `POST /auth`.
pub async fn handle(State(app): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let request = request::read(
        &parts.method,
        &parts.headers,
        parts.uri.query(),
        body,
        app.max_body_bytes,
    )
    .await;
    let policy = app.policy;
    // Shared with the writer's closure, and kept for the log row.
    let request = Arc::new(request);
    let decided = {
        let request = Arc::clone(&request);
        app.db
            .write(move |conn| decision::decide(conn, &request, &policy))
            .await
    };
    let (response, reason) = match decided {
        Ok(decision) => {
            // After the commit, and without waiting: see `db/log_writer.rs`.
            if policy.logs(decision.reason) {
                app.db.log(decision.log_row(&request));
            }
            tracing::debug!(
                result = if decision.reason.allowed() {
                    "allowed"
                } else {
                    "denied"
                },
                reason = decision.reason.code(),
                user_id = decision.user_id.as_deref().unwrap_or(""),
                "auth decision"
            );
            (render(&decision, policy.auth_duration), Some(decision.reason))
        }
        Err(error) => {
            tracing::error!(%error, "cannot decide /auth: database unavailable");
            (unavailable(), None)
        }
    };
    app.metrics.observe(reason, started.elapsed());
    response
}

/// The answer Flussonic reads.
pub fn render(decision: &Decision, auth_duration: u64) -> Response {
    if decision.reason.allowed() {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(
            X_AUTH_REASON.clone(),
            HeaderValue::from_static(decision.reason.code()),
        );
        headers.insert(X_AUTH_DURATION.clone(), HeaderValue::from(auth_duration));
        if let Some(user) = decision
            .user_id
            .as_deref()
            .and_then(|u| HeaderValue::from_str(u).ok())
        {
            headers.insert(X_USER_ID.clone(), user);
        }
        if let Some(max) = decision.max_sessions.filter(|m| *m > 0) {
            headers.insert(X_MAX_SESSIONS.clone(), HeaderValue::from(max));
        }
        return response;
    }
    let code = decision.reason.code();
    let message = match &decision.detail {
        Some(detail) => format!("{}: {detail}", decision.reason.message()),
        None => decision.reason.message().to_owned(),
    };
    let body = json!({
        "errors": [{"status": "403", "code": code, "title": message}],
        "error": "access_denied",
        "reason": code,
        "message": message,
        "user_id": decision.user_id,
    });
    (
        StatusCode::FORBIDDEN,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (X_AUTH_REASON.clone(), HeaderValue::from_static(code)),
        ],
        body.to_string(),
    )
        .into_response()
}

fn unavailable() -> Response {
    let body = json!({
        "errors": [{"status": "503", "code": "backend_unavailable", "title": "The authorization database is unavailable"}],
        "error": "backend_unavailable",
        "reason": "backend_unavailable",
        "message": "The authorization database is unavailable",
        "user_id": null,
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
