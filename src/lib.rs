#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
pub mod body;
mod config;
pub mod crypto;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
mod future;
mod jwt_backend;
mod keys;
mod layer;
mod limiter;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod paths;
pub mod response;
mod rotation_lock;
mod router;
mod service;
pub mod store;
pub mod token;
mod token_cache;
mod verify;

pub use auth::{FastAuth, IssueError, RefreshError};
pub use config::{
    DEFAULT_ACCESS_LIFETIME, DEFAULT_REFRESH_LIFETIME, DEFAULT_TOKEN_CACHE_CAPACITY, DEFAULT_TOKEN_PREFIX,
    FastAuthBuilder, MIN_KEY_LEN, TokenMode,
};
pub use error::{AuthError, ConfigError, StoreError};
#[cfg(feature = "axum")]
pub use extract::ClientId;
pub use future::ResponseFuture;
pub use jwt_backend::backend_name as jwt_backend_name;
pub use layer::FastAuthLayer;
pub use limiter::{FailureLimit, FailureLimitStats};
pub use paths::Level;
pub use router::{TokenRouter, TokenRouterFuture};
pub use service::{ACCESS_TOKEN_HEADER, ACCESS_TOKEN_QUERY, FastAuthService, MASTER_TOKEN_HEADER};
pub use store::EncryptedStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::RedisTokenStore;
pub use store::{CachedTokenStore, HttpTokenStore, MemoryTokenStore, TokenStore};
pub use token::{Claims, TokenPair, TokenType};
