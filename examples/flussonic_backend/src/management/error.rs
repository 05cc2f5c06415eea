//! Management API errors, as JSON in FastAPI's shape (`{"detail": …}`), which is what
//! clients of the old project parse.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::db::DbError;

/// A refused or failed management call.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON (or not an object).
    Malformed(String),
    /// 413: the body is over the limit.
    TooLarge(usize),
    /// 422: a named field (in the body, query or path) is invalid.
    Invalid {
        /// `body`, `query` or `path`.
        location: &'static str,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// 404.
    NotFound(&'static str),
    /// 409.
    Conflict(String),
    /// 503: the database failed.
    Unavailable(DbError),
}

impl ApiError {
    /// A 422 for a body field.
    pub fn body(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            location: "body",
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 422 for a query parameter.
    pub fn query(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            location: "query",
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Unavailable(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Malformed(message) => (StatusCode::BAD_REQUEST, json!({"detail": message})),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"detail": format!("request body larger than {limit} bytes")}),
            ),
            ApiError::Invalid {
                location,
                field,
                message,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"loc": [location, field], "msg": message, "type": "value_error"}]}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({"detail": format!("{what} not found")}),
            ),
            ApiError::Conflict(message) => (StatusCode::CONFLICT, json!({"detail": message})),
            ApiError::Unavailable(error) => {
                tracing::error!(%error, "management call failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"detail": "database unavailable"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
