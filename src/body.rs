//! Response bodies: how the layer writes its refusals in the inner service's body type.
//!
//! [`FastAuthService`](crate::FastAuthService) answers with the inner service's own
//! response body type, so a framework takes its responses as they are: axum does not box
//! them once more per response, tonic gets its own `Body`. The layer writes its refusals
//! through [`RefusalBody`], implemented for the bodies of axum, tonic and
//! `http-body-util`. For any other body, wrap the inner service's bodies in
//! [`ResponseBody`]:
//!
//! ```
//! use fastauth::body::ResponseBody;
//! use tower::ServiceBuilder;
//! # use std::convert::Infallible;
//! # use http::{Request, Response};
//! # struct MyBody;
//! # impl http_body::Body for MyBody {
//! #     type Data = bytes::Bytes;
//! #     type Error = Infallible;
//! #     fn poll_frame(
//! #         self: std::pin::Pin<&mut Self>,
//! #         _: &mut std::task::Context<'_>,
//! #     ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
//! #         std::task::Poll::Ready(None)
//! #     }
//! # }
//!
//! # fn wrap(auth: &fastauth::FastAuth) {
//! let service = ServiceBuilder::new()
//!     .layer(auth.layer())
//!     // Inside the layer: the inner service's bodies become `ResponseBody<MyBody>`.
//!     .map_response(|response: Response<MyBody>| response.map(ResponseBody::new))
//!     .service(tower::service_fn(|_: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(MyBody))
//!     }));
//! # let _ = service;
//! # }
//! ```

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

/// A body held in memory in one piece: the token router's answers, and the layer's own
/// inside [`ResponseBody`]. It is `http-body-util`'s `Full`.
pub type FullBody = http_body_util::Full<Bytes>;

/// A response body type the layer can write its own answers in: its refusals (JSON over
/// HTTP, an empty body for gRPC), or what an [`on_failure`](crate::FastAuthBuilder::on_failure)
/// handler returns.
///
/// [`FastAuthService`](crate::FastAuthService) answers with the inner service's body type,
/// so that type must implement this. It is implemented for axum's `Body` (feature
/// `axum`), tonic's `Body` (feature `tonic`), `http-body-util`'s `Full<Bytes>` ([`FullBody`]),
/// `BoxBody` and `UnsyncBoxBody`, and for [`ResponseBody`], which wraps any other body. Implement it
/// for a body type of your own.
#[diagnostic::on_unimplemented(
    message = "fastauth cannot write its refusals in a `{Self}` response body",
    label = "the inner service answers with this body type",
    note = "with axum, enable fastauth's `axum` feature; with tonic, its `tonic` feature",
    note = "for any other body, wrap the inner service's bodies in `fastauth::body::ResponseBody` \
            (`.map_response(|r| r.map(ResponseBody::new))` inside the layer)"
)]
pub trait RefusalBody: Sized {
    /// A body of exactly these bytes.
    fn from_refusal(bytes: Bytes) -> Self;
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl RefusalBody for axum_core::body::Body {
    fn from_refusal(bytes: Bytes) -> Self {
        Self::from(bytes)
    }
}

#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl RefusalBody for tonic::body::Body {
    fn from_refusal(bytes: Bytes) -> Self {
        // An empty `Full` is `Body::empty()`, without a box.
        Self::new(FullBody::new(bytes))
    }
}

impl RefusalBody for FullBody {
    fn from_refusal(bytes: Bytes) -> Self {
        Self::new(bytes)
    }
}

impl<E: 'static> RefusalBody for http_body_util::combinators::BoxBody<Bytes, E> {
    fn from_refusal(bytes: Bytes) -> Self {
        Self::new(FullBody::new(bytes).map_err(|never| match never {}))
    }
}

impl<E: 'static> RefusalBody for http_body_util::combinators::UnsyncBoxBody<Bytes, E> {
    fn from_refusal(bytes: Bytes) -> Self {
        Self::new(FullBody::new(bytes).map_err(|never| match never {}))
    }
}

impl<B> RefusalBody for ResponseBody<B> {
    fn from_refusal(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

pin_project! {
    /// Another service's body, or a complete body written by fastauth: for an inner
    /// service whose body type is not a [`RefusalBody`] (see the [module docs](self)).
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { body: FullBody },
    }
}

impl<B> ResponseBody<B> {
    /// Wraps another service's body.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Full {
                body: FullBody::new(data),
            },
        }
    }
}

impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        ResponseBody::new(B::default())
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { body } => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { body } => body.size_hint(),
        }
    }
}
