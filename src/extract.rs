//! axum extractors for what the layer verified (feature `axum`).
//!
//! A handler behind the layer at access level takes [`Claims`] (or `Option<Claims>` where
//! the token is optional) or [`ClientId`]:
//!
//! ```
//! use axum::{Router, routing::get};
//! use fastauth::{Claims, extract::ClientId};
//!
//! async fn me(client_id: ClientId) -> String {
//!     format!("hello, {client_id}")
//! }
//!
//! async fn maybe(claims: Option<Claims>) -> String {
//!     claims.map_or_else(|| "anonymous".to_owned(), |c| c.client_id().to_owned())
//! }
//!
//! let app: Router = Router::new().route("/me", get(me)).route("/maybe", get(maybe));
//! # let _ = app;
//! ```
//!
//! Without claims in the request (a handler that is not behind the layer at access level)
//! the extractor answers 401 like the layer would, never 500.

use std::{fmt, ops::Deref};

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use http::request::Parts;

use crate::{
    error::AuthError,
    paths::Level,
    response::{Protocol, Rejection},
    token::Claims,
};

/// The `client_id` of a request that passed the access level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(Claims);

impl ClientId {
    /// The client id.
    pub fn as_str(&self) -> &str {
        self.0.client_id()
    }
}

impl Deref for ClientId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The extractors' rejection: no verified access token in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingClaims;

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        let rejection = Rejection {
            error: AuthError::MissingAccessToken,
            level: Level::Access,
            protocol: Protocol::Http,
            retry_after: None,
        };
        rejection.default_response().map(axum_core::body::Body::from)
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
            .cloned()
            .map(ClientId)
            .ok_or(MissingClaims)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims>().cloned().map(ClientId))
    }
}
