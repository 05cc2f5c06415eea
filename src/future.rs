//! The futures of [`FastAuthService`](crate::FastAuthService) and
//! [`TokenRouter`](crate::TokenRouter).

pub use crate::{middleware::future::ResponseFuture, router::TokenRouterFuture};
