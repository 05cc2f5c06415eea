//! [`TokenRouter`]: the token endpoints, as a tower [`Service`].
//!
//! - `GET {prefix}/token/new?client_id=<optional>`: master level, checked by the
//!   router itself wherever it is mounted. Without `client_id` a random UUIDv4 is used.
//! - `GET {prefix}/token/refresh?refresh_token=<jwt>`: a new pair for the refresh
//!   token's client.
//!
//! Answers use fastauth-api's envelope:
//! `{"status":"success","message":"Token generated","code":200,"data":{"client_id":…,"access_token":…,"refresh_token":…}}`.
//!
//! The router accepts both the full path (`/auth/token/new`, when used as a plain
//! service or fallback) and the path below the prefix (`/token/new`, as axum's
//! `nest_service("/auth", …)` passes it).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_service::Service;

use crate::{
    auth::{FastAuth, IssueError, RefreshError},
    body::FullBody,
    error::AuthError,
    response::{Envelope, envelope_error},
    token::{TokenError, TokenPair},
};

/// The token endpoints. Obtain it from [`FastAuth::token_router`].
#[derive(Debug, Clone)]
pub struct TokenRouter {
    auth: FastAuth,
}

/// The future of [`TokenRouter`].
pub type TokenRouterFuture =
    Pin<Box<dyn Future<Output = Result<Response<FullBody>, Infallible>> + Send + 'static>>;

enum Endpoint {
    New,
    Refresh,
}

impl TokenRouter {
    pub(crate) fn new(auth: FastAuth) -> Self {
        Self { auth }
    }

    fn endpoint(&self, path: &str) -> Option<Endpoint> {
        let prefix = self.auth.token_prefix();
        let below = path
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path);
        match below.trim_end_matches('/') {
            "/token/new" => Some(Endpoint::New),
            "/token/refresh" => Some(Endpoint::Refresh),
            _ => None,
        }
    }
}

impl<B> Service<Request<B>> for TokenRouter {
    type Response = Response<FullBody>;
    type Error = Infallible;
    type Future = TokenRouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let auth = self.auth.clone();
        let endpoint = self.endpoint(req.uri().path());
        let method_ok = matches!(*req.method(), Method::GET | Method::HEAD);
        let master = auth.check_master(req.headers());
        let query = req.uri().query().map(str::to_owned);
        Box::pin(async move {
            let response = match (endpoint, method_ok) {
                (None, _) => envelope_error(StatusCode::NOT_FOUND, "Not found"),
                (Some(_), false) => {
                    let mut r = envelope_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                    r
                }
                (Some(Endpoint::New), true) => new_token(&auth, master, query.as_deref()).await,
                (Some(Endpoint::Refresh), true) => refresh_token(&auth, query.as_deref()).await,
            };
            Ok(response.map(FullBody::new))
        })
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn new_token(auth: &FastAuth, master: Result<(), AuthError>, query: Option<&str>) -> Response<Bytes> {
    if let Err(e) = master {
        tracing::debug!(target: "fastauth", outcome = "denied", reason = e.reason(), "token/new refused");
        return envelope_error(StatusCode::UNAUTHORIZED, e.message());
    }
    let client_id = query_param(query, "client_id");
    match auth.issue(client_id.as_deref()).await {
        Ok(pair) => generated(pair),
        Err(IssueError::InvalidClientId) => envelope_error(StatusCode::BAD_REQUEST, "Invalid client_id"),
        Err(IssueError::Store) => store_unavailable(),
    }
}

async fn refresh_token(auth: &FastAuth, query: Option<&str>) -> Response<Bytes> {
    let Some(token) = query_param(query, "refresh_token").filter(|t| !t.is_empty()) else {
        return envelope_error(StatusCode::BAD_REQUEST, "Missing refresh_token");
    };
    match auth.refresh(&token).await {
        Ok(pair) => generated(pair),
        Err(RefreshError::Invalid(TokenError::Expired)) => {
            envelope_error(StatusCode::UNAUTHORIZED, "Refresh token expired")
        }
        Err(RefreshError::Invalid(_) | RefreshError::Stale) => {
            envelope_error(StatusCode::UNAUTHORIZED, "Invalid refresh token")
        }
        Err(RefreshError::Store) => store_unavailable(),
    }
}

fn store_unavailable() -> Response<Bytes> {
    let mut r = envelope_error(
        StatusCode::SERVICE_UNAVAILABLE,
        AuthError::StoreUnavailable.message(),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

fn generated(pair: TokenPair) -> Response<Bytes> {
    Envelope {
        status: "success",
        message: "Token generated",
        code: 200,
        data: Some(pair),
    }
    .into_response()
}
