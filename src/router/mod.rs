//! [`TokenRouter`]: the token endpoints, as a tower [`Service`]. This module is private;
//! what the endpoints do is documented on the type, where docs.rs shows it.

mod params;

use std::{
    convert::Infallible,
    future::Future,
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use self::params::{ParamError, Params};
use crate::{
    auth::FastAuth,
    authorize::{self, Refusal},
    body::FullBody,
    credentials,
    error::{AuthError, IssueError, RefreshError},
    response::envelope,
    token::{TokenError, check_client_id},
};

/// The token endpoints, as a tower `Service`. Obtain it from [`FastAuth::token_router`].
///
/// | endpoint | needs | does |
/// |---|---|---|
/// | `GET {prefix}/token/new?client_id=<optional>` | the master token | issues a pair; without `client_id`, to a random UUIDv4 |
/// | `GET {prefix}/token/refresh?refresh_token=<jwt>` | a refresh token | a new pair for its client |
/// | `POST` to either, the parameter in a form or JSON body | the same | the same |
/// | `POST {prefix}/token/revoke?client_id=<id>` | the master token | revokes a client's tokens |
/// | `POST {prefix}/token/logout` | an access token (`ACCESS-TOKEN` or `Authorization: Bearer`) | revokes the caller's own pair |
///
/// `{prefix}` is the [`token_prefix`](FastAuth::token_prefix), `/auth` by default. Mount
/// the router there with axum's `nest_service(auth.token_prefix(), auth.token_router())`,
/// or use it as a service or fallback of its own: it accepts both the full path
/// (`/auth/token/new`) and the path below the prefix (`/token/new`, as `nest_service`
/// passes it). The [`FastAuthLayer`](crate::FastAuthLayer) lets these four paths through
/// whatever the patterns say: the router checks their credentials itself, wherever it is
/// mounted.
///
/// # Parameters
///
/// A `GET` reads its parameter from the query string only (fastauth-api's form). A `POST`
/// reads it from an `application/x-www-form-urlencoded` or `application/json` body only
/// (a JSON object; members that are not strings are ignored), at most 16 KiB, where a
/// name given twice is refused: this keeps refresh tokens out of URLs and access logs.
/// `revoke` reads `client_id` from the query string. `HEAD` is refused with 405:
/// answering it would issue or rotate a pair and then drop the body that carries it.
///
/// # Answers
///
/// fastauth-api's envelope, with `Cache-Control: no-store` and `Pragma: no-cache`:
///
/// ```json
/// {"status":"success","message":"Token generated","code":200,"data":{"client_id":"…","access_token":"…","refresh_token":"…"}}
/// {"status":"success","message":"Tokens revoked","code":200,"data":{"client_id":"…"}}
/// {"status":"error","message":"Invalid refresh token","code":401}
/// ```
///
/// `logout` answers `"message":"Logged out"` with the same `data`. The errors:
///
/// | message | status | when |
/// |---|---|---|
/// | `Master token missing`, `Unauthorized Master Token` | 401 | `new`, `revoke`: no or the wrong master token |
/// | `Invalid client_id` | 400 | empty, over [`MAX_CLIENT_ID_LEN`](crate::token::MAX_CLIENT_ID_LEN) bytes, control or Unicode format characters (bidi overrides, zero-width spaces…); `revoke` without one |
/// | `Missing refresh_token` | 400 | `refresh` without one |
/// | `Malformed request body` | 400 | a JSON body that is not an object, or a name given twice |
/// | `Unsupported content type` | 415 | a `POST` body that is neither a form nor JSON |
/// | `Request body too large` | 413 | over 16 KiB |
/// | `Invalid refresh token` | 401 | not a valid refresh token of this deployment (an access token included); in stored mode, not the client's current one |
/// | `Refresh token expired` | 401 | its `exp` has passed |
/// | the access-token messages of [`AuthError`] | 401 | `logout` without a valid access token |
/// | `Token store unavailable` | 503 | the store did not answer (`Retry-After: 1`) |
/// | `Too many failed attempts` | 429 | the client address is locked out (`Retry-After`) |
/// | `Client address unknown: …` | 500 | see [`AuthError::ClientAddressUnknown`] |
/// | `Revocation requires stored mode` | 409 | `revoke` and `logout` in stateless mode |
/// | `Not found` | 404 | another path |
/// | `Method not allowed` | 405 | another method (`HEAD` included), with `Allow` |
///
/// # Rotation, re-use and revocation
///
/// In stored mode a refresh *rotates* the pair: the old access and refresh tokens stop
/// working at once. Presenting a refresh token that was already rotated away is treated
/// as theft: it is refused and the client's tokens are revoked (see
/// [`FastAuth::refresh`]). In stateless mode a refresh issues a new pair and the old
/// tokens stay valid until they expire.
///
/// A revocation or logout takes effect at once on the instance that performed it; other
/// instances sharing the store see it at their next store lookup, so within the TTL of
/// a [`CachedTokenStore`](crate::store::CachedTokenStore) if they use one.
///
/// Wrong master tokens, invalid refresh tokens and failed logouts count towards the
/// brute-force protection ([`FailureLimit`](crate::FailureLimit)); a locked-out address
/// gets 429 from every endpoint. The tokens themselves are described in [`token`](crate::token).
#[derive(Debug, Clone)]
pub struct TokenRouter {
    auth: FastAuth,
}

/// The future of [`TokenRouter`].
pub type TokenRouterFuture =
    Pin<Box<dyn Future<Output = Result<Response<FullBody>, Infallible>> + Send + 'static>>;

impl FastAuth {
    /// The token endpoints (`{prefix}/token/new`, `/refresh`, `/revoke`, `/logout`) as a
    /// tower service, to mount at [`token_prefix`](FastAuth::token_prefix).
    pub fn token_router(&self) -> TokenRouter {
        TokenRouter { auth: self.clone() }
    }
}

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

/// What is left to do once the request has been read.
enum Job {
    Done(Response<Bytes>),
    New,
    Refresh,
    Revoke,
    Logout(Result<String, AuthError>),
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
        let shared = auth.shared();
        let ip = authorize::client_address(shared, req.extensions());
        let query = req.uri().query().map(str::to_owned);
        let from_body = params::in_body(req.method());
        // Everything that needs the request's head is read here; the future owns the rest.
        let job = match self.endpoint(req.uri().path()) {
            None => Job::Done(envelope::not_found()),
            Some(endpoint) if !endpoint.allows(req.method()) => {
                Job::Done(envelope::method_not_allowed(endpoint.allow_header()))
            }
            Some(endpoint @ (Endpoint::New | Endpoint::Revoke)) => {
                match authorize::check_master(shared, req.headers(), ip) {
                    Err(refusal) => Job::Done(refused(refusal)),
                    Ok(()) if matches!(endpoint, Endpoint::New) => Job::New,
                    Ok(()) => Job::Revoke,
                }
            }
            Some(endpoint @ (Endpoint::Refresh | Endpoint::Logout)) => {
                match authorize::check_not_locked_out(shared, ip, crate::paths::Level::Access) {
                    Err(refusal) => Job::Done(refused(refusal)),
                    Ok(()) if matches!(endpoint, Endpoint::Refresh) => Job::Refresh,
                    Ok(()) => Job::Logout(
                        credentials::access_token(req.uri(), req.headers(), false).and_then(|t| {
                            String::from_utf8(t.into_owned()).map_err(|_| AuthError::InvalidAccessToken)
                        }),
                    ),
                }
            }
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

fn refused(refusal: Refusal) -> Response<Bytes> {
    tracing::debug!(
        target: "fastauth",
        outcome = "denied",
        reason = refusal.error.reason(),
        "token endpoint refused"
    );
    envelope::refusal(refusal.error, refusal.retry_after)
}

fn bad_params(error: ParamError) -> Response<Bytes> {
    match error {
        ParamError::UnsupportedContentType => envelope::unsupported_content_type(),
        ParamError::TooLarge => envelope::body_too_large(),
        ParamError::Malformed => envelope::bad_request("Malformed request body"),
    }
}

async fn new_token(auth: &FastAuth, client_id: Option<&str>) -> Response<Bytes> {
    match auth.issue(client_id).await {
        Ok(pair) => envelope::token_pair(pair),
        Err(IssueError::InvalidClientId) => envelope::bad_request("Invalid client_id"),
        Err(IssueError::Store) => envelope::store_unavailable(),
    }
}

async fn refresh_token(auth: &FastAuth, ip: Option<IpAddr>, token: Option<&str>) -> Response<Bytes> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return envelope::bad_request("Missing refresh_token");
    };
    match auth.refresh(token).await {
        Ok(pair) => envelope::token_pair(pair),
        Err(RefreshError::Invalid(TokenError::Expired)) => envelope::unauthorized("Refresh token expired"),
        Err(RefreshError::Invalid(_) | RefreshError::Stale) => {
            authorize::record_failure(auth.shared(), ip);
            envelope::unauthorized("Invalid refresh token")
        }
        Err(RefreshError::Store) => envelope::store_unavailable(),
    }
}

async fn revoke(auth: &FastAuth, query: Option<&str>) -> Response<Bytes> {
    if auth.store().is_none() {
        return envelope::revocation_needs_stored_mode();
    }
    let params = Params::from_query(query).unwrap_or_default();
    let Some(client_id) = params.get("client_id").filter(|id| check_client_id(id).is_ok()) else {
        return envelope::bad_request("Invalid client_id");
    };
    revoke_and_answer(auth, client_id, "Tokens revoked").await
}

async fn logout(auth: &FastAuth, ip: Option<IpAddr>, token: Result<String, AuthError>) -> Response<Bytes> {
    if auth.store().is_none() {
        return envelope::revocation_needs_stored_mode();
    }
    let claims = match token {
        Ok(token) => auth.verify_access(&token).await,
        Err(e) => Err(e),
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(AuthError::StoreUnavailable) => return envelope::store_unavailable(),
        Err(e) => {
            if e != AuthError::MissingAccessToken {
                authorize::record_failure(auth.shared(), ip);
            }
            return refused(Refusal {
                error: e,
                level: crate::paths::Level::Access,
                retry_after: None,
            });
        }
    };
    revoke_and_answer(auth, claims.client_id(), "Logged out").await
}

/// Revokes `client_id`'s tokens and answers with `message`, or 503 if the store failed
/// (`FastAuth::revoke` logs the cause).
async fn revoke_and_answer(auth: &FastAuth, client_id: &str, message: &str) -> Response<Bytes> {
    match auth.revoke(client_id).await {
        Ok(()) => envelope::revoked(message, client_id),
        Err(_) => envelope::store_unavailable(),
    }
}
