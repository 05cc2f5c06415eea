//! The token endpoints' parameters: from the query string of a `GET`, from the form or
//! JSON body of a `POST`. Nothing is taken from the other place: a request with its
//! parameter in the wrong place gets a clear "missing" answer, not a guess.

use std::future::poll_fn;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, header};
use http_body::Body;
use serde::Deserialize;

/// The largest body read: a refresh token is at most 8 KiB.
pub(crate) const MAX_BODY_LEN: usize = 16 * 1024;

/// Why the parameters could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamError {
    /// A body that is neither a form nor JSON.
    UnsupportedContentType,
    /// Over [`MAX_BODY_LEN`].
    TooLarge,
    /// Not a valid form or JSON object of strings, or a name given twice.
    Malformed,
}

/// The parameters one request carries.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The value of `name`, if present (possibly empty).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn from_query(query: Option<&str>) -> Result<Self, ParamError> {
        form(query.unwrap_or_default().as_bytes())
    }

    /// A `POST` body: `application/x-www-form-urlencoded` or `application/json` (an
    /// object whose members are strings). An empty body carries no parameters.
    pub(crate) async fn from_body<B>(headers: &HeaderMap, body: B) -> Result<Self, ParamError>
    where
        B: Body,
    {
        let bytes = read_limited(body).await?;
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        match content_type.as_deref() {
            Some("application/x-www-form-urlencoded") => form(&bytes),
            Some("application/json") => json(&bytes),
            _ => Err(ParamError::UnsupportedContentType),
        }
    }
}

/// Whether a request of this method carries its parameters in the body.
pub(crate) fn in_body(method: &Method) -> bool {
    method == Method::POST
}

fn form(bytes: &[u8]) -> Result<Params, ParamError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
    if has_duplicate(&pairs) {
        return Err(ParamError::Malformed);
    }
    Ok(Params { pairs })
}

fn json(bytes: &[u8]) -> Result<Params, ParamError> {
    let Members(members) = serde_json::from_slice(bytes).map_err(|_| ParamError::Malformed)?;
    let pairs: Vec<(String, String)> = members
        .into_iter()
        // Other members (`grant_type`, numbers…) are not the crate's business.
        .filter_map(|(name, value)| match value {
            serde_json::Value::String(value) => Some((name, value)),
            _ => None,
        })
        .collect();
    if has_duplicate(&pairs) {
        return Err(ParamError::Malformed);
    }
    Ok(Params { pairs })
}

/// A JSON object's members in order, duplicates kept (serde_json's map keeps the last).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Members, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn has_duplicate(pairs: &[(String, String)]) -> bool {
    pairs
        .iter()
        .enumerate()
        .any(|(i, (name, _))| pairs.iter().take(i).any(|(other, _)| other == name))
}

async fn read_limited<B: Body>(body: B) -> Result<Bytes, ParamError> {
    if body.size_hint().lower() > MAX_BODY_LEN as u64 {
        return Err(ParamError::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        // A body that cannot be read is as good as a malformed one.
        let frame = frame.map_err(|_| ParamError::Malformed)?;
        if let Ok(mut data) = frame.into_data() {
            if out.len().saturating_add(data.remaining()) > MAX_BODY_LEN {
                return Err(ParamError::TooLarge);
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_given_twice_is_refused() {
        assert_eq!(form(b"a=1&a=2").unwrap_err(), ParamError::Malformed);
        assert_eq!(json(br#"{"a":"1","a":"2"}"#).unwrap_err(), ParamError::Malformed);
        assert_eq!(form(b"a=1&b=2").unwrap().get("b"), Some("2"));
        assert_eq!(json(br#"{"a":"1","n":3}"#).unwrap().get("a"), Some("1"));
        assert_eq!(json(br#"{"a":3}"#).unwrap().get("a"), None);
        assert_eq!(json(b"[1]").unwrap_err(), ParamError::Malformed);
    }
}
