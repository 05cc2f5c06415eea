//! [`TokenRouter`]: the token endpoints, as a tower [`Service`].
//!
//! | endpoint | needs | does |
//! |---|---|---|
//! | `GET {prefix}/token/new?client_id=<optional>` | master token | issues a pair (random UUIDv4 client id when absent) |
//! | `GET {prefix}/token/refresh?refresh_token=<jwt>` | a refresh token | rotates the client's pair |
//! | `POST` to either, the parameter in a form or JSON body | the same | the same |
//! | `POST {prefix}/token/revoke?client_id=<id>` | master token | revokes a client's tokens |
//! | `POST {prefix}/token/logout` | an access token | revokes the caller's own pair |
//!
//! The master token is checked by the router itself, wherever it is mounted. Answers use
//! fastauth-api's envelope:
//! `{"status":"success","message":"Token generated","code":200,"data":{"client_id":…,"access_token":…,"refresh_token":…}}`.
//! Failed credential checks count towards the brute-force protection
//! ([`FailureLimit`](crate::FailureLimit)); a locked-out address gets 429.
//!
//! A `GET` carries its parameters in the query string (fastauth-api's form), a `POST` in an
//! `application/x-www-form-urlencoded` or `application/json` body (at most 16 KiB), which
//! keeps tokens out of URLs and access logs. `HEAD` is refused: answering it would issue
//! or rotate a pair and then drop the body that carries it.
//!
//! The router accepts both the full path (`/auth/token/new`, when used as a plain
//! service or fallback) and the path below the prefix (`/token/new`, as axum's
//! `nest_service("/auth", …)` passes it).

mod params;

use std::{
    convert::Infallible,
    future::Future,
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_service::Service;

use http_body::Body;

use self::params::{ParamError, Params};
use crate::{
    auth::{FastAuth, IssueError, RefreshError},
    body::FullBody,
    config::TokenMode,
    error::AuthError,
    response::{Envelope, envelope_error, retry_after_value},
    service::access_token,
    token::{TokenError, TokenPair, check_client_id},
};

/// The token endpoints. Obtain it from [`FastAuth::token_router`].
#[derive(Debug, Clone)]
pub struct TokenRouter {
    auth: FastAuth,
}

/// The future of [`TokenRouter`].
pub type TokenRouterFuture =
    Pin<Box<dyn Future<Output = Result<Response<FullBody>, Infallible>> + Send + 'static>>;

#[derive(Clone, Copy)]
enum Endpoint {
    New,
    Refresh,
    Revoke,
    Logout,
}

impl Endpoint {
    fn allows(self, method: &Method) -> bool {
        match self {
            Endpoint::New | Endpoint::Refresh => matches!(*method, Method::GET | Method::POST),
            Endpoint::Revoke | Endpoint::Logout => *method == Method::POST,
        }
    }

    fn allow_header(self) -> &'static str {
        match self {
            Endpoint::New | Endpoint::Refresh => "GET, POST",
            Endpoint::Revoke | Endpoint::Logout => "POST",
        }
    }
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
            "/token/revoke" => Some(Endpoint::Revoke),
            "/token/logout" => Some(Endpoint::Logout),
            _ => None,
        }
    }
}

impl<B> Service<Request<B>> for TokenRouter
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<FullBody>;
    type Error = Infallible;
    type Future = TokenRouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let auth = self.auth.clone();
        let ip = auth.client_address(req.extensions());
        let query = req.uri().query().map(str::to_owned);
        let from_body = params::in_body(req.method());
        // Everything that needs the request is read here; the future owns only the job.
        let job = match self.endpoint(req.uri().path()) {
            None => Job::Done(envelope_error(StatusCode::NOT_FOUND, "Not found")),
            Some(endpoint) if !endpoint.allows(req.method()) => {
                let mut r = envelope_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(endpoint.allow_header()));
                Job::Done(r)
            }
            Some(endpoint @ (Endpoint::New | Endpoint::Revoke)) => {
                match auth.check_master_limited(req.headers(), ip) {
                    Err((e, retry_after)) => Job::Done(refusal(e, retry_after)),
                    Ok(()) if matches!(endpoint, Endpoint::New) => Job::New,
                    Ok(()) => Job::Revoke,
                }
            }
            Some(endpoint @ (Endpoint::Refresh | Endpoint::Logout)) => match auth.check_not_locked_out(ip) {
                Err((e, retry_after)) => Job::Done(refusal(e, Some(retry_after))),
                Ok(()) if matches!(endpoint, Endpoint::Refresh) => Job::Refresh,
                Ok(()) => Job::Logout(access_token(&req, false).and_then(|t| {
                    String::from_utf8(t.into_owned()).map_err(|_| AuthError::InvalidAccessToken)
                })),
            },
        };
        let (parts, body) = req.into_parts();
        Box::pin(async move {
            let params = || async {
                match from_body {
                    true => Params::from_body(&parts.headers, body).await,
                    false => Params::from_query(query.as_deref()),
                }
            };
            let response = match job {
                Job::Done(response) => response,
                Job::New => match params().await {
                    Ok(params) => new_token(&auth, params.get("client_id")).await,
                    Err(e) => bad_params(e),
                },
                Job::Refresh => match params().await {
                    Ok(params) => refresh_token(&auth, ip, params.get("refresh_token")).await,
                    Err(e) => bad_params(e),
                },
                Job::Revoke => revoke(&auth, query.as_deref()).await,
                Job::Logout(token) => logout(&auth, ip, token).await,
            };
            Ok(response.map(FullBody::new))
        })
    }
}

fn bad_params(error: ParamError) -> Response<Bytes> {
    match error {
        ParamError::UnsupportedContentType => {
            envelope_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported content type")
        }
        ParamError::TooLarge => envelope_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
        ParamError::Malformed => envelope_error(StatusCode::BAD_REQUEST, "Malformed request body"),
    }
}

enum Job {
    Done(Response<Bytes>),
    New,
    Refresh,
    Revoke,
    Logout(Result<String, AuthError>),
}

/// A refusal in the envelope, with `Retry-After` for a locked-out address.
fn refusal(error: AuthError, retry_after: Option<std::time::Duration>) -> Response<Bytes> {
    tracing::debug!(target: "fastauth", outcome = "denied", reason = error.reason(), "token endpoint refused");
    let mut r = envelope_error(error.status(), error.message());
    if let Some(after) = retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, retry_after_value(after));
    }
    r
}

async fn new_token(auth: &FastAuth, client_id: Option<&str>) -> Response<Bytes> {
    match auth.issue(client_id).await {
        Ok(pair) => generated(pair),
        Err(IssueError::InvalidClientId) => envelope_error(StatusCode::BAD_REQUEST, "Invalid client_id"),
        Err(IssueError::Store) => store_unavailable(),
    }
}

async fn refresh_token(auth: &FastAuth, ip: Option<IpAddr>, token: Option<&str>) -> Response<Bytes> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return envelope_error(StatusCode::BAD_REQUEST, "Missing refresh_token");
    };
    match auth.refresh(token).await {
        Ok(pair) => generated(pair),
        Err(RefreshError::Invalid(TokenError::Expired)) => {
            envelope_error(StatusCode::UNAUTHORIZED, "Refresh token expired")
        }
        Err(RefreshError::Invalid(_) | RefreshError::Stale) => {
            auth.record_failure(ip);
            envelope_error(StatusCode::UNAUTHORIZED, "Invalid refresh token")
        }
        Err(RefreshError::Store) => store_unavailable(),
    }
}

async fn revoke(auth: &FastAuth, query: Option<&str>) -> Response<Bytes> {
    if auth.mode() == TokenMode::Stateless {
        return envelope_error(StatusCode::CONFLICT, "Revocation requires stored mode");
    }
    let params = Params::from_query(query).unwrap_or_default();
    let Some(client_id) = params.get("client_id").filter(|id| check_client_id(id).is_ok()) else {
        return envelope_error(StatusCode::BAD_REQUEST, "Invalid client_id");
    };
    revoke_and_answer(auth, client_id.to_owned(), "Tokens revoked").await
}

async fn logout(auth: &FastAuth, ip: Option<IpAddr>, token: Result<String, AuthError>) -> Response<Bytes> {
    if auth.mode() == TokenMode::Stateless {
        return envelope_error(StatusCode::CONFLICT, "Revocation requires stored mode");
    }
    let claims = match token {
        Ok(token) => auth.verify_access(&token).await,
        Err(e) => Err(e),
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(AuthError::StoreUnavailable) => return store_unavailable(),
        Err(e) => {
            if e != AuthError::MissingAccessToken {
                auth.record_failure(ip);
            }
            return refusal(e, None);
        }
    };
    revoke_and_answer(auth, claims.client_id, "Logged out").await
}

/// Revokes `client_id`'s tokens and answers with `message`, or 503 if the store failed
/// (`FastAuth::revoke` logs the cause).
async fn revoke_and_answer(auth: &FastAuth, client_id: String, message: &str) -> Response<Bytes> {
    match auth.revoke(&client_id).await {
        Ok(()) => revoked(message, client_id),
        Err(_) => store_unavailable(),
    }
}

fn revoked(message: &str, client_id: String) -> Response<Bytes> {
    #[derive(serde::Serialize)]
    struct Revoked {
        client_id: String,
    }
    Envelope {
        status: "success",
        message,
        code: 200,
        data: Some(Revoked { client_id }),
    }
    .into_response()
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
