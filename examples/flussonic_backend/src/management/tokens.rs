//! `/api/tokens`: create, list, read, change (PATCH: an absent member is left alone,
//! `null` clears it), delete (its sessions go with it).

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use super::{
    error::ApiError,
    input::{self, Field, Query, field},
};
use crate::{
    clock,
    db::tokens::{self, NewToken, STATUSES, Token, TokenPatch, WriteError},
    flussonic::{request, rules},
    hex::hex,
    state::AppState,
};

const FIELDS: &[&str] = &[
    "token",
    "user_id",
    "status",
    "max_sessions",
    "valid_from",
    "valid_until",
    "allowed_ips",
    "allowed_streams",
    "meta",
];
/// Members a client may send back unchanged from a token it read; ignored.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at"];
/// The longest `user_id` (and `status`), in bytes.
pub const MAX_TEXT: usize = 256;
/// The longest token string: what `/auth` accepts, so every token can be presented.
pub const MAX_TOKEN: usize = request::fields::Field::Token.limit();
/// The most entries of `allowed_ips` or of `allowed_streams`.
pub const MAX_RULES: usize = 1000;
/// The highest `max_sessions`.
pub const MAX_SESSIONS: i64 = 1_000_000;

/// `POST /api/tokens` → 201 and the token.
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Token>), ApiError> {
    let map = input::json_object(&headers, body, app.max_body_bytes).await?;
    let patch = parse(&map)?;
    let user_id = match field(&map, "user_id") {
        Field::Absent => return Err(ApiError::body("user_id", "is required")),
        _ => patch.user_id.clone().unwrap_or_default(),
    };
    let new = NewToken {
        token: patch
            .token
            .clone()
            .unwrap_or_else(|| hex(&rand::random::<[u8; 16]>())),
        user_id,
        status: patch.status.clone().unwrap_or_else(|| "active".to_owned()),
        max_sessions: patch.max_sessions.unwrap_or(1),
        valid_from: patch.valid_from.clone(),
        valid_until: patch.valid_until.clone().flatten(),
        allowed_ips: patch.allowed_ips.clone().unwrap_or_default(),
        allowed_streams: patch.allowed_streams.clone().unwrap_or_default(),
        meta: patch.meta.clone().flatten(),
    };
    let created = app
        .db
        .write(move |conn| tokens::insert(conn, &new, &clock::stamp(clock::now())))
        .await?
        .map_err(write_error)?;
    tracing::info!(id = created.id, user_id = %created.user_id, "token created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/tokens?status=&user_id=&skip=&limit=`.
pub async fn list(State(app): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let query = Query::parse(uri.query());
    let (skip, limit) = query.paging()?;
    let filter = tokens::Filter {
        status: query.choice("status", STATUSES)?,
        user_id: query.text("user_id")?,
        skip,
        limit,
    };
    let json = app.db.read(move |conn| tokens::list_json(conn, &filter)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `GET /api/tokens/{id}`.
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Token>, ApiError> {
    let id = input::path_id(&id)?;
    app.db
        .read(move |conn| tokens::get(conn, id))
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("token"))
}

/// `PATCH /api/tokens/{id}`.
pub async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Token>, ApiError> {
    let id = input::path_id(&id)?;
    let map = input::json_object(&headers, body, app.max_body_bytes).await?;
    let patch = parse(&map)?;
    let updated = app
        .db
        .write(move |conn| tokens::update(conn, id, &patch, &clock::stamp(clock::now())))
        .await?
        .map_err(write_error)?;
    tracing::info!(id, "token updated");
    Ok(Json(updated))
}

/// `DELETE /api/tokens/{id}` → 204.
pub async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = input::path_id(&id)?;
    if app.db.write(move |conn| tokens::delete(conn, id)).await? {
        tracing::info!(id, "token deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("token"))
    }
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::NotFound => ApiError::NotFound("token"),
        WriteError::Duplicate => {
            ApiError::Conflict("a token with this token string already exists".to_owned())
        }
        WriteError::Invalid(field, message) => ApiError::body(field, message),
    }
}

/// Validates every member present; the result says which are absent.
fn parse(map: &Map<String, Value>) -> Result<TokenPatch, ApiError> {
    if let Some(unknown) = map
        .keys()
        .find(|k| !FIELDS.contains(&k.as_str()) && !READ_ONLY.contains(&k.as_str()))
    {
        return Err(ApiError::body(
            unknown.clone(),
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        ));
    }
    let required = |name: &'static str| -> Result<Option<&Value>, ApiError> {
        match field(map, name) {
            Field::Absent => Ok(None),
            Field::Null => Err(ApiError::body(name, "must not be null")),
            Field::Value(v) => Ok(Some(v)),
        }
    };
    let nullable = |name: &'static str| -> Option<Option<&Value>> {
        match field(map, name) {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Value(v) => Some(Some(v)),
        }
    };
    let mut patch = TokenPatch::default();
    if let Some(v) = required("token")? {
        let token = input::text("token", v, MAX_TOKEN)?;
        if token.chars().any(char::is_whitespace) {
            return Err(ApiError::body("token", "must not contain whitespace"));
        }
        patch.token = Some(token);
    }
    if let Some(v) = required("user_id")? {
        // The old API had numeric user ids: accept a number, store its text.
        let v = match v {
            Value::Number(n) => Value::String(n.to_string()),
            other => other.clone(),
        };
        patch.user_id = Some(input::text("user_id", &v, MAX_TEXT)?);
    }
    if let Some(v) = required("status")? {
        let status = input::text("status", v, MAX_TEXT)?;
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::body(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
        patch.status = Some(status);
    }
    if let Some(v) = required("max_sessions")? {
        patch.max_sessions = Some(input::integer("max_sessions", v, 0, MAX_SESSIONS)?);
    }
    if let Some(v) = nullable("valid_from") {
        patch.valid_from = Some(v.map(|v| input::instant("valid_from", v)).transpose()?);
    }
    if let Some(v) = nullable("valid_until") {
        patch.valid_until = Some(v.map(|v| input::instant("valid_until", v)).transpose()?);
    }
    if let Some(v) = nullable("allowed_ips") {
        patch.allowed_ips = Some(match v {
            Some(v) => input::string_list("allowed_ips", v, MAX_RULES, rules::normalise_ip_rule)?,
            None => Vec::new(),
        });
    }
    if let Some(v) = nullable("allowed_streams") {
        patch.allowed_streams = Some(match v {
            Some(v) => input::string_list("allowed_streams", v, MAX_RULES, rules::normalise_stream_rule)?,
            None => Vec::new(),
        });
    }
    if let Some(v) = nullable("meta") {
        patch.meta = Some(v.cloned());
    }
    Ok(patch)
}
