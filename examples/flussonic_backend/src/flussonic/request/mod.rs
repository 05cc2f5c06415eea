//! Reading Flussonic's `/auth` request: the query string (`GET`, `on_play`), a JSON body
//! or a form body (`POST`, `on_publish` in newer versions).
//!
//! Only top-level parameters count, and the first non-empty value of a name wins (in
//! the body, then the query string; a JSON body is read in document order too), so
//! neither a `referer` or `qs` value that itself contains `token=` or `name=` nor a
//! repetition can override the real parameters. Unknown parameters are ignored. Every value is checked against its
//! field's limits ([`fields`]). A request that cannot be read is not an error here: it
//! becomes a `problem`, which the decision turns into a 403.

pub mod fields;
mod json;

use std::borrow::Cow;

use axum::{
    body::Body,
    http::{HeaderMap, Method, header},
};
use serde_json::Value;

use self::fields::Field;

/// The parameters the decision uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthRequest {
    /// `token` (absent when missing or empty).
    pub token: Option<String>,
    /// `name`: the stream or file.
    pub name: Option<String>,
    /// `ip`: the viewer's address.
    pub ip: Option<String>,
    /// `proto`.
    pub proto: Option<String>,
    /// `session_id` (newer versions).
    pub session_id: Option<String>,
    /// `request_type`: `new_session` or `update_session` (newer versions).
    pub request_type: Option<String>,
    /// `qs`: the viewer's original query string (a fallback source of `token`).
    pub qs: Option<String>,
    /// Why the request could not be read, if it could not (the first reason found).
    pub problem: Option<String>,
}

impl AuthRequest {
    /// Records one parameter; the first non-empty value of a name wins.
    pub fn set(&mut self, key: &str, value: Cow<'_, str>) {
        if let Some(field) = Field::from_name(key) {
            self.set_field(field, &value);
        }
    }

    /// Records `value` for `field` unless the field already has one. A value that
    /// fails the field's check makes the request a problem, and only what
    /// [`fields::kept`] allows of it is kept (for the access log).
    fn set_field(&mut self, field: Field, value: &str) {
        let value = value.trim();
        if value.is_empty() || self.slot(field).is_some() {
            return;
        }
        let checked = field.check(value);
        *self.slot(field) = Some(fields::kept(field, value));
        if let Err(problem) = checked {
            self.problem.get_or_insert(problem);
        }
    }

    fn slot(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::Token => &mut self.token,
            Field::Name => &mut self.name,
            Field::Ip => &mut self.ip,
            Field::Proto => &mut self.proto,
            Field::SessionId => &mut self.session_id,
            Field::RequestType => &mut self.request_type,
            Field::Qs => &mut self.qs,
        }
    }

    /// Records the pairs of an `application/x-www-form-urlencoded` string.
    pub fn set_form(&mut self, encoded: &[u8]) {
        for (key, value) in form_urlencoded::parse(encoded) {
            self.set(&key, value);
        }
    }

    /// Records the top-level members of a JSON object, in document order, so that
    /// the first value of a repeated name wins here too. A member the decision uses
    /// must be a string, number, boolean or `null` (no value); unknown members may be
    /// anything.
    fn set_json(&mut self, body: &[u8]) -> Result<(), String> {
        for (name, raw) in json::members(body)? {
            let Some(field) = Field::from_name(&name) else {
                continue;
            };
            match serde_json::from_slice::<Value>(raw).map_err(|e| format!("malformed JSON body: {e}"))? {
                Value::String(s) => self.set_field(field, &s),
                Value::Number(n) => self.set_field(field, &n.to_string()),
                Value::Bool(b) => self.set_field(field, if b { "true" } else { "false" }),
                Value::Null => {}
                Value::Array(_) | Value::Object(_) => {
                    return Err(format!("{name} must be a string, a number or a boolean"));
                }
            }
        }
        Ok(())
    }

    /// The token, or, when Flussonic sent none, the `token` of the viewer's own query
    /// string (`qs`), which is where Flussonic takes it from; checked like any token.
    fn fill_token_from_qs(&mut self) {
        if self.token.is_some() {
            return;
        }
        let Some(qs) = self.qs.take() else {
            return;
        };
        for (key, value) in form_urlencoded::parse(qs.as_bytes()) {
            if key == "token" {
                self.set_field(Field::Token, &value);
            }
        }
        self.qs = Some(qs);
    }
}

/// Reads the request: the body first (for `POST`), then the query string fills in
/// what the body did not have.
pub async fn read(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    limit: usize,
) -> AuthRequest {
    let mut req = AuthRequest::default();
    if (*method == Method::POST || *method == Method::PUT)
        && let Err(problem) = read_body(&mut req, headers, body, limit).await
    {
        req.problem = Some(problem);
    }
    if let Some(query) = query {
        req.set_form(query.as_bytes());
    }
    req.fill_token_from_qs();
    req
}

async fn read_body(
    req: &mut AuthRequest,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(), String> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(format!("request body larger than {limit} bytes"));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| format!("request body larger than {limit} bytes, or unreadable"))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let trimmed = bytes.trim_ascii_start();
    if trimmed.is_empty() {
        return Ok(());
    }
    if content_type.contains("json") || (content_type.is_empty() && trimmed.starts_with(b"{")) {
        req.set_json(&bytes)
    } else if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded") {
        req.set_form(&bytes);
        Ok(())
    } else {
        Err(format!(
            "unsupported content type {content_type:?}: send JSON or a form"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_top_level_value_wins() {
        let mut req = AuthRequest::default();
        req.set_form(
            b"name=live%2Fa&token=good&referer=http%3A%2F%2Fx%2F%3Ftoken%3Devil%26name%3Dother&token=late",
        );
        req.fill_token_from_qs();
        assert_eq!(req.token.as_deref(), Some("good"));
        assert_eq!(req.name.as_deref(), Some("live/a"));
    }

    #[test]
    fn token_from_qs_when_absent() {
        let mut req = AuthRequest::default();
        req.set_form(b"name=a&qs=token%3Dabc%26x%3D1");
        req.fill_token_from_qs();
        assert_eq!(req.token.as_deref(), Some("abc"));
    }
}
