//! Where issued tokens live: the [`TokenStore`] trait and its implementations.
//!
//! In stored mode (the fastauth-api behaviour) a client has one live token pair: an
//! access token is accepted only if it equals the one stored for its `client_id`, and
//! issuing a new pair replaces (revokes) the old one. The trait is small on purpose:
//! a network store answers each call with one round trip, and [`TokenStore::rotate`]
//! is the one place where a store that can do compare-and-swap (Redis, SQL) should.
//!
//! | store | for |
//! |---|---|
//! | [`MemoryTokenStore`] | one instance; a restart logs every client out |
//! | [`HttpTokenStore`] (feature `http_store`, default) | fastauth-api's token-database HTTP API, unchanged (the `database_api_path` setting selects it) |
//! | `RedisTokenStore` (feature `redis`) | several instances sharing pairs and revocations; atomic rotation |
//! | [`CachedTokenStore`] | in front of a network store: repeated lookups from memory for a few seconds (the `store_cache_ttl_secs` setting puts one in front of the configured store) |
//! | [`EncryptedStore`] | around any store: tokens at rest as AES-256-GCM ciphertext |
//!
//! Stored mode needs a store: give one with
//! [`FastAuthBuilder::store`](crate::FastAuthBuilder::store) or `database_api_path`;
//! there is no default. Wrappers compose:
//! `CachedTokenStore::new(EncryptedStore::with_key(inner, &key)?)` caches in front of
//! an encrypted database.
//!
//! # A store of your own
//!
//! The trait's methods are `async`, so an implementation needs the
//! [`async_trait`](crate::async_trait) attribute, which fastauth re-exports (a plain
//! `async fn` in the `impl` does not match the trait). Three methods are required;
//! override [`rotate`](TokenStore::rotate) when the backend can compare and swap in one
//! step, as this one can under its lock:
//!
//! ```
//! use std::{collections::HashMap, sync::Mutex};
//!
//! use fastauth::store::{Rotation, StoreError, StoredTokens, TokenStore};
//!
//! #[derive(Default)]
//! struct MyStore {
//!     pairs: Mutex<HashMap<String, StoredTokens>>,
//! }
//!
//! impl MyStore {
//!     fn pairs(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, StoredTokens>>, StoreError> {
//!         self.pairs.lock().map_err(|_| StoreError::new("the store's lock is poisoned"))
//!     }
//! }
//!
//! #[fastauth::async_trait]
//! impl TokenStore for MyStore {
//!     async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
//!         self.pairs()?.insert(client_id.to_owned(), tokens.clone());
//!         Ok(())
//!     }
//!
//!     async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
//!         Ok(self.pairs()?.get(client_id).cloned())
//!     }
//!
//!     async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
//!         self.pairs()?.remove(client_id);
//!         Ok(())
//!     }
//!
//!     async fn rotate(&self, client_id: &str, presented: &str, new: &StoredTokens) -> Result<Rotation, StoreError> {
//!         let mut pairs = self.pairs()?;
//!         match pairs.get(client_id) {
//!             Some(current) if current.has_refresh_token(presented) => {
//!                 pairs.insert(client_id.to_owned(), new.clone());
//!                 Ok(Rotation::Rotated)
//!             }
//!             _ => Ok(Rotation::Stale),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = fastauth::FastAuth::builder()
//!     .ignore_environment()
//!     .cryptography_key("an example key of at least thirty-two bytes")
//!     .store(MyStore::default())
//!     .build()?;
//! let pair = auth.issue(Some("alice")).await?;
//! assert_eq!(auth.verify_access(&pair.access_token).await?.client_id(), "alice");
//! let refreshed = auth.refresh(&pair.refresh_token).await?;
//! assert!(auth.verify_access(&pair.access_token).await.is_err(), "rotated away");
//! assert!(auth.verify_access(&refreshed.access_token).await.is_ok());
//! # Ok(())
//! # }
//! ```
//!
//! `examples/custom-store` in the repository keeps the pairs in a JSON file that
//! survives restarts.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::error::StoreError;

mod cached;
mod encrypted;
#[cfg(feature = "http_store")]
mod http;
mod memory;
#[cfg(feature = "redis")]
mod redis;
pub(crate) mod rotation_lock;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{
    DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_TIMEOUT, DEFAULT_REDIS_TTL,
    RedisTokenStore, RedisTokenStoreBuilder,
};
pub use cached::{
    CachedTokenStore, CachedTokenStoreBuilder, DEFAULT_CACHE_MAX_ENTRIES, DEFAULT_CACHE_NEGATIVE_TTL,
    DEFAULT_CACHE_TTL,
};
pub use encrypted::EncryptedStore;
#[cfg(feature = "http_store")]
#[cfg_attr(docsrs, doc(cfg(feature = "http_store")))]
pub use http::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, HttpTokenStore, HttpTokenStoreBuilder};
pub use memory::MemoryTokenStore;

/// The pair stored for one client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    /// The client's current access token.
    pub access_token: String,
    /// The client's current refresh token.
    pub refresh_token: String,
}

impl StoredTokens {
    /// Whether `token` is this pair's access token (constant-time comparison).
    pub fn has_access_token(&self, token: &str) -> bool {
        crate::crypto::constant_time_eq(&self.access_token, token)
    }

    /// Whether `token` is this pair's refresh token (constant-time comparison).
    pub fn has_refresh_token(&self, token: &str) -> bool {
        crate::crypto::constant_time_eq(&self.refresh_token, token)
    }
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// What [`TokenStore::rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented refresh token was the stored one; the new pair replaced it.
    Rotated,
    /// The presented refresh token is not the stored one (rotated earlier, revoked, or
    /// never stored); nothing was written.
    Stale,
}

/// Persistence for issued tokens, one pair per client.
///
/// Implementations must be cheap to call concurrently; the layer calls
/// [`load`](TokenStore::load) once per protected request in stored mode.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Stores `tokens` as the live pair of `client_id`, replacing any earlier pair.
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError>;

    /// The live pair of `client_id`, or `None` when nothing is stored.
    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError>;

    /// Removes the live pair of `client_id`: its tokens stop being accepted.
    async fn revoke(&self, client_id: &str) -> Result<(), StoreError>;

    /// Whether `access_token` is the live access token of `client_id`: what the layer
    /// asks on every protected request in stored mode. The default loads and compares
    /// in constant time; stores holding pairs in memory answer without copying them.
    async fn is_current(&self, client_id: &str, access_token: &str) -> Result<bool, StoreError> {
        Ok(self
            .load(client_id)
            .await?
            .is_some_and(|stored| stored.has_access_token(access_token)))
    }

    /// [`is_current`](TokenStore::is_current) without waiting, for stores that can
    /// answer from memory: `Some(answer)` when it is known now (an in-memory store, a
    /// cache hit), `None` when only `is_current` can tell. The layer asks this first, so
    /// an answer from memory costs no future, no copy of the token and no clone of the
    /// inner service. When it answers, it must answer as `is_current` would. The default
    /// is `None`.
    fn is_current_now(&self, client_id: &str, access_token: &str) -> Option<bool> {
        let _ = (client_id, access_token);
        None
    }

    /// A number that changes whenever an answer of [`is_current`](TokenStore::is_current)
    /// for `client_id` may change, or `None` (the default) when the store cannot tell, as
    /// when other processes write to it. A store whose answers expire with time (a cache)
    /// must also change it by the time an answer given at the old revision expires.
    ///
    /// While it stays the same, the layer does not ask again about an access token (one
    /// in its token cache) that the store found current at that revision: a stored-mode
    /// request with a token the layer has seen costs what a stateless one does, and a
    /// revocation is still seen by the next request. So after a write that can change an
    /// answer, it must change before the call that wrote returns, and not before the write
    /// is visible to `is_current` and `is_current_now` to whoever reads the new value: a
    /// change made too early lets the layer pair the new revision with the old answer and
    /// keep it. `MemoryTokenStore` increments with `Release` while it still holds the
    /// write lock, and reads with `Acquire`. It must never return to an earlier value.
    /// Clients may share a revision (a write then makes the layer ask again about the
    /// others' tokens too, which costs only time). [`MemoryTokenStore`] and
    /// [`CachedTokenStore`] keep one; [`EncryptedStore`] has its inner store's. A store
    /// that wraps another and answers from its records alone should forward it too: the
    /// default, `None`, is always correct but makes the layer ask on every request.
    fn revision(&self, client_id: &str) -> Option<u64> {
        let _ = client_id;
        None
    }

    /// Replaces the pair of `client_id` with `new` only if its refresh token is
    /// `presented_refresh`.
    ///
    /// The default implementation loads, compares in constant time and saves, across two
    /// awaits: two calls racing can both win, even in one process.
    /// [`FastAuth::refresh`](crate::FastAuth::refresh) therefore runs one rotation per
    /// client at a time in its process, which makes the default safe for a single
    /// instance. Instances sharing a store are only ordered by the store itself: a store
    /// that can compare-and-swap atomically (as `RedisTokenStore` does) should override
    /// this.
    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        match self.load(client_id).await? {
            Some(current) if current.has_refresh_token(presented_refresh) => {
                self.save(client_id, new).await?;
                Ok(Rotation::Rotated)
            }
            _ => Ok(Rotation::Stale),
        }
    }
}

#[async_trait]
impl<T: TokenStore + ?Sized> TokenStore for std::sync::Arc<T> {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        (**self).save(client_id, tokens).await
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        (**self).load(client_id).await
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        (**self).revoke(client_id).await
    }

    async fn is_current(&self, client_id: &str, access_token: &str) -> Result<bool, StoreError> {
        (**self).is_current(client_id, access_token).await
    }

    fn is_current_now(&self, client_id: &str, access_token: &str) -> Option<bool> {
        (**self).is_current_now(client_id, access_token)
    }

    fn revision(&self, client_id: &str) -> Option<u64> {
        (**self).revision(client_id)
    }

    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        (**self).rotate(client_id, presented_refresh, new).await
    }
}
