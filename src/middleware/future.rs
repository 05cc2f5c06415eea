//! [`ResponseFuture`] of [`FastAuthService`](crate::FastAuthService).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::{authorize::Grant, body::RefusalBody};

type Lookup = Pin<Box<dyn Future<Output = Result<Grant, Response<Bytes>>> + Send + 'static>>;

pin_project! {
    /// Response future of [`FastAuthService`](crate::FastAuthService).
    pub struct ResponseFuture<F, S, ReqBody> {
        #[pin]
        state: State<F, S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, ReqBody> {
        Call { #[pin] future: F },
        Reject { response: Option<Response<Bytes>> },
        Lookup {
            lookup: Lookup,
            service: Option<S>,
            request: Option<Request<ReqBody>>,
        },
    }
}

/// Calls the inner service: only with a [`Grant`], whose claims go into the request.
#[inline]
fn call_granted<S, ReqBody>(service: &mut S, grant: Grant, mut request: Request<ReqBody>) -> S::Future
where
    S: Service<Request<ReqBody>>,
{
    if let Some(claims) = grant.into_claims() {
        request.extensions_mut().insert(claims);
    }
    service.call(request)
}

impl<F, S, ReqBody> ResponseFuture<F, S, ReqBody>
where
    S: Service<Request<ReqBody>, Future = F>,
{
    pub(crate) fn call(service: &mut S, grant: Grant, request: Request<ReqBody>) -> Self {
        Self {
            state: State::Call {
                future: call_granted(service, grant, request),
            },
        }
    }

    /// Calls `service` with `request` once `lookup` grants it.
    pub(crate) fn after_lookup(lookup: Lookup, service: S, request: Request<ReqBody>) -> Self {
        Self {
            state: State::Lookup {
                lookup,
                service: Some(service),
                request: Some(request),
            },
        }
    }
}

impl<F, S, ReqBody> ResponseFuture<F, S, ReqBody> {
    pub(crate) fn reject(response: Response<Bytes>) -> Self {
        Self {
            state: State::Reject {
                response: Some(response),
            },
        }
    }
}

impl<F, S, ReqBody, ResBody, E> Future for ResponseFuture<F, S, ReqBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    S: Service<Request<ReqBody>, Future = F, Response = Response<ResBody>, Error = E>,
    ResBody: RefusalBody,
{
    type Output = Result<Response<ResBody>, E>;

    #[allow(
        clippy::expect_used,
        reason = "polling a future after it completed is the caller's bug, as with any future"
    )]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Call { future } => {
                    return future.poll(cx);
                }
                StateProj::Reject { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ResBody::from_refusal)));
                }
                StateProj::Lookup {
                    lookup,
                    service,
                    request,
                } => match ready!(lookup.as_mut().poll(cx)) {
                    Ok(grant) => {
                        let mut service = service.take().expect("polled after completion");
                        let request = request.take().expect("polled after completion");
                        let future = call_granted(&mut service, grant, request);
                        this.state.set(State::Call { future });
                    }
                    Err(response) => {
                        this.state.set(State::Reject {
                            response: Some(response),
                        });
                    }
                },
            }
        }
    }
}
