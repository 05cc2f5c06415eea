//! axum extractors for what the layer validated (feature `axum`).
//!
//! ```
//! use axum::{Router, routing::get};
//! use fastauth::{Claims, ClientId};
//!
//! async fn me(ClientId(id): ClientId) -> String {
//!     id
//! }
//!
//! async fn maybe(claims: Option<Claims>) -> String {
//!     claims.map_or_else(|| "anonymous".to_owned(), |c| c.client_id)
//! }
//!
//! let app: Router = Router::new().route("/me", get(me)).route("/maybe", get(maybe));
//! # let _ = app;
//! ```

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::request::Parts;

use crate::{
    error::AuthError,
    paths::Level,
    response::{Protocol, Rejection},
    token::Claims,
};

/// The client id of a request that passed the access level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

/// Rejection of the [`Claims`] and [`ClientId`] extractors: the route was reached
/// without a validated access token (it is not covered by an access-level pattern).
/// Answered like the layer's own refusal: 401 `{"detail":"Access token missing"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingClaims;

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        let response: http::Response<Bytes> =
            Rejection::new(AuthError::MissingAccessToken, Level::Access, Protocol::Http).default_response();
        response.map(axum_core::body::Body::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Claims>().cloned().ok_or(MissingClaims)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientId {
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Claims>()
            .map(|c| ClientId(c.client_id.clone()))
            .ok_or(MissingClaims)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Claims>()
            .map(|c| ClientId(c.client_id.clone())))
    }
}
