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

use crate::body::ResponseBody;

type Lookup = Pin<Box<dyn Future<Output = Result<(), Response<Bytes>>> + Send + 'static>>;

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
        /// The inner service is handling the request.
        Call { #[pin] future: F },
        /// Refused: the response is ready.
        Reject { response: Option<Response<Bytes>> },
        /// Stored mode: waiting for the token store before calling the inner service.
        Lookup {
            lookup: Lookup,
            service: Option<S>,
            request: Option<Request<ReqBody>>,
        },
    }
}

impl<F, S, ReqBody> ResponseFuture<F, S, ReqBody> {
    pub(crate) fn call(future: F) -> Self {
        Self {
            state: State::Call { future },
        }
    }

    pub(crate) fn reject(response: Response<Bytes>) -> Self {
        Self {
            state: State::Reject {
                response: Some(response),
            },
        }
    }

    pub(crate) fn lookup(lookup: Lookup, service: S, request: Request<ReqBody>) -> Self {
        Self {
            state: State::Lookup {
                lookup,
                service: Some(service),
                request: Some(request),
            },
        }
    }
}

impl<F, S, ReqBody, ResBody, E> Future for ResponseFuture<F, S, ReqBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    S: Service<Request<ReqBody>, Future = F, Response = Response<ResBody>, Error = E>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Call { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Reject { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::full)));
                }
                StateProj::Lookup {
                    lookup,
                    service,
                    request,
                } => match ready!(lookup.as_mut().poll(cx)) {
                    Ok(()) => {
                        let mut service = service.take().expect("polled after completion");
                        let request = request.take().expect("polled after completion");
                        let future = service.call(request);
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
