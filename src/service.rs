//! [`FastAuthService`], the middleware the layer produces.

use std::{
    borrow::Cow,
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderName, Request, Response, header};
use tower_service::Service;

use crate::{
    auth::FastAuth,
    body::ResponseBody,
    config::TokenMode,
    error::AuthError,
    future::ResponseFuture,
    paths::Level,
    response::{Protocol, Rejection},
};

/// Header carrying the master token.
pub const MASTER_TOKEN_HEADER: &str = "master-token";
/// Header carrying an access token (fastauth-api's).
pub const ACCESS_TOKEN_HEADER: &str = "access-token";
/// Query parameter carrying an access token, when allowed.
pub const ACCESS_TOKEN_QUERY: &str = "access_token";

// Looking a header up by `&str` parses and validates the name on every request.
pub(crate) const ACCESS_TOKEN_NAME: HeaderName = HeaderName::from_static(ACCESS_TOKEN_HEADER);
pub(crate) const MASTER_TOKEN_NAME: HeaderName = HeaderName::from_static(MASTER_TOKEN_HEADER);

/// The middleware produced by [`FastAuthLayer`](crate::FastAuthLayer).
#[derive(Debug, Clone)]
pub struct FastAuthService<S> {
    inner: S,
    auth: FastAuth,
}

impl<S> FastAuthService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, auth: FastAuth) -> Self {
        Self { inner, auth }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

enum Decision {
    Pass,
    Reject(Rejection),
    /// Stored mode: the token is valid, and must still be the client's current one.
    Lookup {
        client_id: String,
        token: String,
        protocol: Protocol,
    },
}

impl<S> FastAuthService<S> {
    fn decide<B>(&self, req: &mut Request<B>) -> Decision {
        let shared = self.auth.shared();
        let Some(level) = shared.rules.level_for(req.uri().path()) else {
            return Decision::Pass;
        };
        // The protocol only shapes a refusal: not read on the way through.
        let reject_after = |error: AuthError, retry_after| {
            tracing::debug!(
                target: "fastauth",
                outcome = "denied",
                %level,
                reason = error.reason(),
                path = req.uri().path(),
                "request refused"
            );
            let mut rejection = Rejection::new(error, level, Protocol::of(req.headers()));
            rejection.retry_after = retry_after;
            Decision::Reject(rejection)
        };
        let reject = |error: AuthError| reject_after(error, None);
        match level {
            Level::Master => {
                let ip = self.auth.client_address(req.extensions());
                match self.auth.check_master_limited(req.headers(), ip) {
                    Ok(()) => {
                        tracing::debug!(target: "fastauth", outcome = "allowed", %level, "master token accepted");
                        Decision::Pass
                    }
                    Err((e, retry_after)) => reject_after(e, retry_after),
                }
            }
            Level::Access => {
                let token = match access_token(req, shared.query_token) {
                    Ok(token) => token,
                    Err(e) => return reject(e),
                };
                let claims = match self.auth.verify_presented(&token) {
                    Ok(claims) => claims,
                    Err(e) => return reject(e),
                };
                let decision = match shared.mode {
                    TokenMode::Stateless => {
                        log_accepted(&claims.client_id, "signature");
                        Decision::Pass
                    }
                    // Verified, so UTF-8; checked again only because the cache compared bytes.
                    TokenMode::Stored => {
                        let Ok(token) = std::str::from_utf8(&token) else {
                            return reject(AuthError::InvalidAccessToken);
                        };
                        match shared.store.is_current_now(&claims.client_id, token) {
                            Some(true) => {
                                log_accepted(&claims.client_id, "store");
                                Decision::Pass
                            }
                            Some(false) => return reject(AuthError::RevokedAccessToken),
                            None => Decision::Lookup {
                                client_id: claims.client_id.clone(),
                                token: token.to_owned(),
                                protocol: Protocol::of(req.headers()),
                            },
                        }
                    }
                };
                req.extensions_mut().insert(claims);
                decision
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FastAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.decide(&mut req) {
            Decision::Pass => ResponseFuture::call(self.inner.call(req)),
            Decision::Reject(rejection) => ResponseFuture::reject(render(&self.auth, &rejection)),
            Decision::Lookup {
                client_id,
                token,
                protocol,
            } => {
                // The service polled ready is the one that must be called: keep it for
                // after the lookup and leave a fresh clone in its place.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let auth = self.auth.clone();
                let lookup = Box::pin(async move {
                    match auth.check_stored(&client_id, &token).await {
                        Ok(()) => {
                            log_accepted(&client_id, "store");
                            Ok(())
                        }
                        Err(error) => {
                            tracing::debug!(
                                target: "fastauth",
                                outcome = "denied",
                                level = %Level::Access,
                                reason = error.reason(),
                                client_id = %client_id,
                                "request refused"
                            );
                            Err(render(&auth, &Rejection::new(error, Level::Access, protocol)))
                        }
                    }
                });
                ResponseFuture::lookup(lookup, ready, req)
            }
        }
    }
}

/// `checked`: what the token was checked against (`signature`, or also the `store`).
fn log_accepted(client_id: &str, checked: &'static str) {
    tracing::debug!(
        target: "fastauth",
        outcome = "allowed",
        level = %Level::Access,
        client_id,
        checked,
        "access token accepted"
    );
}

fn render(auth: &FastAuth, rejection: &Rejection) -> Response<bytes::Bytes> {
    match &auth.shared().on_failure {
        Some(handler) => handler(rejection),
        None => rejection.default_response(),
    }
}

/// Finds the access token: `ACCESS-TOKEN`, then `Authorization: Bearer`, then (if
/// allowed) the `access_token` query parameter. Bytes, not text: a token seen before is
/// recognised without validating its UTF-8 again (see [`FastAuth::verify_presented`]).
pub(crate) fn access_token<B>(req: &Request<B>, allow_query: bool) -> Result<Cow<'_, [u8]>, AuthError> {
    if let Some(token) = header_token(req.headers()) {
        return Ok(Cow::Borrowed(token));
    }
    if allow_query
        && let Some(query) = req.uri().query()
        && let Some((_, value)) =
            form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == ACCESS_TOKEN_QUERY)
        && !value.is_empty()
    {
        return Ok(match value {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        });
    }
    Err(AuthError::MissingAccessToken)
}

/// The token of `ACCESS-TOKEN` or `Authorization: Bearer`, without surrounding spaces.
/// A value with bytes `HeaderValue::to_str` would refuse (non-ASCII) cannot pass: tokens
/// are base64url, and nothing else is ever cached or verifies.
fn header_token(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(value) = headers.get(ACCESS_TOKEN_NAME) {
        let token = value.as_bytes().trim_ascii();
        if !token.is_empty() {
            return Some(token);
        }
    }
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = (&value[..space], value[space + 1..].trim_ascii());
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

#[cfg(feature = "tonic")]
impl<S: tonic::server::NamedService> tonic::server::NamedService for FastAuthService<S> {
    const NAME: &'static str = S::NAME;
}
