#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
// User input must never reach a panic: outside tests, every indexing, unwrap, panic and
// unchecked arithmetic is a compile error, and each exception names its reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod authorize;
pub mod body;
mod config;
mod credentials;
pub mod crypto;
mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;
pub mod future;
#[doc(hidden)]
pub mod hooks;
mod jwt_backend;
mod limiter;
mod middleware;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod paths;
pub mod response;
mod router;
mod state;
pub mod store;
pub mod token;

/// The attribute a [`TokenStore`](store::TokenStore) implementation needs on its `impl`
/// block (the trait's methods are `async`), re-exported so that a custom store needs no
/// dependency of its own.
pub use async_trait::async_trait;
pub use auth::FastAuth;
pub use config::FastAuthBuilder;
pub use error::{AuthError, ConfigError, IssueError, RefreshError};
pub use limiter::{FailureLimit, FailureLimitStats};
pub use middleware::{layer::FastAuthLayer, service::FastAuthService};
pub use paths::Level;
pub use router::TokenRouter;
pub use state::TokenMode;
pub use token::{Claims, TokenPair};
