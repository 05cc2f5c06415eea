//! Reading management input by hand rather than through extractors, so that every
//! refusal is JSON with the field named, and so that a body member that is absent can
//! be told from one that is `null` (which clears the field).

use std::collections::HashMap;

use axum::{
    body::Body,
    http::{HeaderMap, header},
};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::clock;

/// The most rows one listing returns.
pub const MAX_LIMIT: i64 = 1000;
/// Rows a listing returns by default.
pub const DEFAULT_LIMIT: i64 = 100;

/// A body member: absent, `null`, or a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// Not in the body.
    Absent,
    /// `null`.
    Null,
    /// Anything else.
    Value(&'a Value),
}

/// The body as a JSON object. Over `limit` bytes: 413; not JSON or not an object: 400.
pub async fn json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Map<String, Value>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge(limit))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::Malformed("the body must be a JSON object".to_owned())),
        Err(e) => Err(ApiError::Malformed(format!("malformed JSON: {e}"))),
    }
}

/// Member `name` of `map`.
pub fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Field<'a> {
    match map.get(name) {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(v) => Field::Value(v),
    }
}

/// A short identifier-like string: no control characters, 1 to `max` bytes.
pub fn text(field: &str, value: &Value, max: usize) -> Result<String, ApiError> {
    let s = match value {
        Value::String(s) => s.trim().to_owned(),
        _ => return Err(ApiError::body(field, "must be a string")),
    };
    check_text(&s, max).map_err(|m| ApiError::body(field, m))?;
    Ok(s)
}

/// Whether `s` is a short identifier-like string as the API accepts one: not empty, at
/// most `max` bytes, no control characters.
pub fn check_text(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s.len() > max {
        return Err(format!("must be at most {max} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// A whole number in `min..=max`.
pub fn integer(field: &str, value: &Value, min: i64, max: i64) -> Result<i64, ApiError> {
    match value.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::body(
            field,
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

/// An instant: an RFC 3339 string (any offset; stored as UTC) or Unix seconds.
pub fn instant(field: &str, value: &Value) -> Result<String, ApiError> {
    let parsed = match value {
        Value::String(s) => clock::parse(s),
        Value::Number(n) => match n.as_i64() {
            Some(secs) => clock::from_unix(secs),
            None => Err("must be whole seconds".to_owned()),
        },
        _ => Err("must be an RFC 3339 timestamp".to_owned()),
    };
    parsed.map_err(|m| ApiError::body(field, m))
}

/// A list of strings, each normalised by `check`; errors name the element (`field[2]`).
pub fn string_list(
    field: &str,
    value: &Value,
    max_items: usize,
    check: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::body(field, "must be a list of strings"));
    };
    if items.len() > max_items {
        return Err(ApiError::body(
            field,
            format!("must have at most {max_items} entries"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = format!("{field}[{i}]");
        let Value::String(s) = item else {
            return Err(ApiError::body(name, "must be a string"));
        };
        let normalised = check(s).map_err(|m| ApiError::body(name, m))?;
        if !out.contains(&normalised) {
            out.push(normalised);
        }
    }
    Ok(out)
}

/// Query parameters (the first occurrence of each name wins).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses a query string.
    pub fn parse(query: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Self(map)
    }

    /// A non-empty string parameter.
    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(None),
            Some(v) => check_text(v, 1024)
                .map(|()| Some(v.to_owned()))
                .map_err(|m| ApiError::query(name, m)),
        }
    }

    /// A parameter that must be one of `choices`.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<Option<String>, ApiError> {
        match self.text(name)? {
            Some(v) if !choices.contains(&v.as_str()) => Err(ApiError::query(
                name,
                format!("must be one of {}", choices.join(", ")),
            )),
            other => Ok(other),
        }
    }

    /// A whole-number parameter in `min..=max`.
    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.text(name)? {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::query(
                    name,
                    format!("must be a whole number from {min} to {max}"),
                )),
            },
        }
    }

    /// An instant parameter (RFC 3339, any offset).
    pub fn instant(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.text(name)? {
            None => Ok(None),
            Some(v) => clock::parse(&v).map(Some).map_err(|m| ApiError::query(name, m)),
        }
    }

    /// `skip` (default 0) and `limit` (default 100, at most 1000).
    pub fn paging(&self) -> Result<(i64, i64), ApiError> {
        let skip = self.integer("skip", 0, i64::MAX)?.unwrap_or(0);
        let limit = self.integer("limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
        Ok((skip, limit))
    }
}

/// A row id from the path.
pub fn path_id(raw: &str) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::Invalid {
            location: "path",
            field: "id".to_owned(),
            message: "must be a positive whole number".to_owned(),
        }),
    }
}
