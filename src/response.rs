//! Every response fastauth writes itself: the layer's refusals (JSON, or a gRPC status)
//! and the token endpoints' answers in fastauth-api's envelope.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::{error::AuthError, paths::Level};

/// How the refused request spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Plain HTTP: a JSON body with the status code.
    Http,
    /// gRPC (`content-type: application/grpc…`): a trailers-only response.
    Grpc,
}

impl Protocol {
    /// Tells gRPC requests from others by their content type.
    pub fn of(headers: &HeaderMap) -> Self {
        match headers.get(header::CONTENT_TYPE) {
            Some(ct) if ct.as_bytes().starts_with(b"application/grpc") => Protocol::Grpc,
            _ => Protocol::Http,
        }
    }
}

/// A refused request, handed to a custom failure handler
/// ([`FastAuthBuilder::on_failure`](crate::FastAuthBuilder::on_failure)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rejection {
    /// Why.
    pub error: AuthError,
    /// The level the path required.
    pub level: Level,
    /// HTTP or gRPC.
    pub protocol: Protocol,
    /// For [`AuthError::TooManyAttempts`]: how long the address stays locked out.
    pub retry_after: Option<std::time::Duration>,
}

impl Rejection {
    /// A rejection without `Retry-After`.
    pub fn new(error: AuthError, level: Level, protocol: Protocol) -> Self {
        Self {
            error,
            level,
            protocol,
            retry_after: None,
        }
    }

    /// The response fastauth sends by default: for HTTP a JSON body
    /// `{"detail":"<message>"}` (fastauth-api's shape) with the error's
    /// [`status`](AuthError::status) and, for access tokens, `WWW-Authenticate`; for gRPC
    /// HTTP 200 with `grpc-status` and `grpc-message` and no body. `Retry-After` as
    /// [`AuthError`] describes.
    pub fn default_response(&self) -> Response<Bytes> {
        let mut response = match self.protocol {
            Protocol::Http => http_rejection(self.error),
            Protocol::Grpc => grpc_rejection(self.error),
        };
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value(retry_after));
        }
        response
    }
}

fn http_rejection(error: AuthError) -> Response<Bytes> {
    #[derive(Serialize)]
    struct Detail {
        detail: &'static str,
    }
    let body = serde_json::to_vec(&Detail {
        detail: error.message(),
    })
    .unwrap_or_default();
    let mut response = json_response(error.status(), Bytes::from(body));
    if let Some(challenge) = error.www_authenticate() {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if error == AuthError::StoreUnavailable {
        retry_soon(&mut response);
    }
    response
}

/// A store that did not answer may well answer in a second.
fn retry_soon<B>(response: &mut Response<B>) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
}

fn grpc_rejection(error: AuthError) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(error.grpc_code()));
    // Every message is printable ASCII without '%', so it needs no percent-encoding.
    headers.insert("grpc-message", HeaderValue::from_static(error.message()));
    response
}

/// Whole seconds, rounded up, at least 1.
fn retry_after_value(after: std::time::Duration) -> HeaderValue {
    let secs = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
    HeaderValue::from(secs.max(1))
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// fastauth-api's response envelope, keys in its order; `data` and `details` are
/// left out when empty.
#[derive(Debug, Serialize)]
struct Envelope<'a, D: Serialize> {
    status: &'static str,
    message: &'a str,
    code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
}

impl<D: Serialize> Envelope<'_, D> {
    fn into_response(self) -> Response<Bytes> {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = json_response(status, Bytes::from(body));
        // Token responses must not be cached (RFC 6749 section 5.1).
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

fn envelope_error(status: StatusCode, message: &str) -> Response<Bytes> {
    Envelope::<()> {
        status: "error",
        message,
        code: status.as_u16(),
        data: None,
    }
    .into_response()
}

/// The token endpoints' answers.
pub(crate) mod envelope {
    use bytes::Bytes;
    use http::{HeaderValue, Response, StatusCode, header};

    use super::{Envelope, envelope_error, retry_after_value, retry_soon};
    use crate::{error::AuthError, token::TokenPair};

    /// `200 {"status":"success","message":"Token generated","code":200,"data":{…}}`
    pub(crate) fn token_pair(pair: TokenPair) -> Response<Bytes> {
        Envelope {
            status: "success",
            message: "Token generated",
            code: 200,
            data: Some(pair),
        }
        .into_response()
    }

    /// A client's tokens revoked (by the master token, or by its own logout).
    pub(crate) fn revoked(message: &str, client_id: &str) -> Response<Bytes> {
        #[derive(serde::Serialize)]
        struct Revoked<'a> {
            client_id: &'a str,
        }
        Envelope {
            status: "success",
            message,
            code: 200,
            data: Some(Revoked { client_id }),
        }
        .into_response()
    }

    /// A credential check refused, with `Retry-After` for a locked-out address.
    pub(crate) fn refusal(error: AuthError, retry_after: Option<std::time::Duration>) -> Response<Bytes> {
        let mut response = envelope_error(error.status(), error.message());
        if let Some(after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value(after));
        }
        if error == AuthError::StoreUnavailable {
            retry_soon(&mut response);
        }
        response
    }

    pub(crate) fn store_unavailable() -> Response<Bytes> {
        refusal(AuthError::StoreUnavailable, None)
    }

    pub(crate) fn unauthorized(message: &str) -> Response<Bytes> {
        envelope_error(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn bad_request(message: &str) -> Response<Bytes> {
        envelope_error(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found() -> Response<Bytes> {
        envelope_error(StatusCode::NOT_FOUND, "Not found")
    }

    pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
        let mut response = envelope_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        response
    }

    pub(crate) fn unsupported_content_type() -> Response<Bytes> {
        envelope_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported content type")
    }

    pub(crate) fn body_too_large() -> Response<Bytes> {
        envelope_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
    }

    pub(crate) fn revocation_needs_stored_mode() -> Response<Bytes> {
        envelope_error(StatusCode::CONFLICT, "Revocation requires stored mode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_rejection_is_python_shaped() {
        let r =
            Rejection::new(AuthError::ExpiredAccessToken, Level::Access, Protocol::Http).default_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.body().as_ref(), br#"{"detail":"Access token expired"}"#);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"Access token expired\""
        );
    }

    #[test]
    fn grpc_rejection_is_trailers_only() {
        let r = Rejection::new(AuthError::StoreUnavailable, Level::Access, Protocol::Grpc).default_response();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()["grpc-message"], "Token store unavailable");
        assert!(r.body().is_empty());
    }

    #[test]
    fn envelope_keeps_key_order_and_drops_empty_data() {
        let r = envelope_error(StatusCode::UNAUTHORIZED, "Invalid refresh token");
        assert_eq!(
            r.body().as_ref(),
            br#"{"status":"error","message":"Invalid refresh token","code":401}"#
        );
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }
}
