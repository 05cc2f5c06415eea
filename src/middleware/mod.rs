//! The middleware: [`FastAuthLayer`](crate::FastAuthLayer) makes a
//! [`FastAuthService`](crate::FastAuthService) around the inner service; its
//! [`ResponseFuture`](crate::future::ResponseFuture) answers a refusal itself or calls the
//! inner service, which only a grant from the one decision (`authorize`) allows.

pub(crate) mod future;
pub(crate) mod layer;
pub(crate) mod service;
