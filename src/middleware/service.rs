//! [`FastAuthService`], the middleware a [`FastAuthLayer`](crate::FastAuthLayer) makes.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use crate::{
    auth::FastAuth,
    authorize::{self, Decision, Refusal},
    body::RefusalBody,
    paths::Level,
    response::{Protocol, Rejection},
};

/// Which level a service asks of each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The level the configured patterns (and default level) give the request's path.
    Patterns,
    /// This level, whatever the path.
    Fixed(Level),
}

/// The middleware produced by [`FastAuthLayer`](crate::FastAuthLayer).
#[derive(Debug, Clone)]
pub struct FastAuthService<S> {
    inner: S,
    auth: FastAuth,
    guard: Guard,
}

impl<S> FastAuthService<S> {
    pub(crate) fn new(inner: S, auth: FastAuth, guard: Guard) -> Self {
        Self { inner, auth, guard }
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

    fn level<B>(&self, req: &Request<B>) -> Level {
        match self.guard {
            Guard::Patterns => self.auth.shared().rules.level_for(req.uri().path()),
            Guard::Fixed(level) => level,
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FastAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: RefusalBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let shared = self.auth.shared();
        let level = self.level(&req);
        match authorize::decide(shared, level, req.uri(), req.headers(), req.extensions()) {
            Decision::Grant(grant) => ResponseFuture::call(&mut self.inner, grant, req),
            Decision::Refuse(refusal) => {
                ResponseFuture::reject(render(&self.auth, refusal, Protocol::of(req.headers())))
            }
            Decision::AskStore(check) => {
                // The service polled ready is the one that must be called: keep it for
                // after the lookup and leave a fresh clone in its place.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let protocol = Protocol::of(req.headers());
                let auth = self.auth.clone();
                let lookup = Box::pin(async move {
                    check
                        .run()
                        .await
                        .map_err(|refusal| render(&auth, refusal, protocol))
                });
                ResponseFuture::after_lookup(lookup, ready, req)
            }
        }
    }
}

fn render(auth: &FastAuth, refusal: Refusal, protocol: Protocol) -> Response<bytes::Bytes> {
    let rejection = Rejection {
        error: refusal.error,
        level: refusal.level,
        protocol,
        retry_after: refusal.retry_after,
    };
    match &auth.shared().on_failure {
        Some(handler) => handler(&rejection),
        None => rejection.default_response(),
    }
}

#[cfg(feature = "tonic")]
impl<S: tonic::server::NamedService> tonic::server::NamedService for FastAuthService<S> {
    const NAME: &'static str = S::NAME;
}
