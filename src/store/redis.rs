//! [`RedisTokenStore`]: one token store shared by several service instances through Redis.

use std::{fmt, future::Future, sync::LazyLock, time::Duration};

use ::redis::{
    Client, RedisError, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Rotation, StoredTokens, TokenStore};
use crate::error::StoreError;

/// The default key prefix.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "fastauth:tokens";
/// Default time a stored pair lives: 365 days, the default refresh token lifetime.
pub const DEFAULT_REDIS_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// The default bound on one store call, waiting for a reconnection included.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// The default bound on one attempt to open the connection.
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What stays readable in a key; everything else in a `client_id` is percent-encoded.
const CLIENT_ID_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest pause between reconnection attempts: short, so a restarted Redis is
/// noticed within about a second.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Beyond this Redis refuses the expiry; nobody means it anyway.
const MAX_TTL: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

/// KEYS[1] = key; ARGV = access token, refresh token, TTL in milliseconds.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('HSET', KEYS[1], 'access_token', ARGV[1], 'refresh_token', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// KEYS[1] = key; ARGV = presented refresh token, new access token, new refresh
/// token, TTL in milliseconds. Returns 1 when rotated, 0 when stale.
///
/// The tokens are compared through their SHA-1 digests so that how long the
/// comparison takes says nothing about how much of the stored token matches.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('HGET', KEYS[1], 'refresh_token')
if not current or current == '' or ARGV[1] == ''
    or redis.sha1hex(current) ~= redis.sha1hex(ARGV[1]) then
    return 0
end
redis.call('HSET', KEYS[1], 'access_token', ARGV[2], 'refresh_token', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
",
    )
});

/// A [`TokenStore`] in Redis, shared by every instance that points at the same
/// server and key prefix. Cheap to clone: clones share one connection.
///
/// # Key layout
///
/// Each client's pair is a Redis hash at `{prefix}:{client_id}` with the fields
/// `access_token` and `refresh_token`. The prefix is configurable (default
/// [`DEFAULT_REDIS_KEY_PREFIX`], `fastauth:tokens`). The `client_id` is percent-encoded
/// (everything but ASCII letters, digits and `-._~`), so a UUID stays readable in
/// `redis-cli` while `:`, spaces, newlines or `%` can neither collide with another
/// client's key nor escape the prefix: the encoded part never contains `:`, so the
/// key splits back into prefix and client at its last `:`.
///
/// Every write sets the key to expire after the configured TTL (default
/// [`DEFAULT_REDIS_TTL`], 365 days): set it to the refresh token lifetime of
/// the [`FastAuth`](crate::FastAuth) that uses the store, since a pair whose refresh
/// token has expired can never be used again. Revoking deletes the key.
///
/// # Concurrency
///
/// [`TokenStore::rotate`] runs as one Lua script (`EVALSHA`, loaded again by itself
/// after a Redis restart), so the comparison of the presented refresh token and the
/// write of the new pair are atomic: when two instances refresh the same token at
/// once, exactly one gets [`Rotation::Rotated`] and the other [`Rotation::Stale`].
///
/// # Failures
///
/// The store uses one multiplexed connection per store (a [`ConnectionManager`]) that
/// reconnects by itself, so a Redis restart heals without intervention. Each call is
/// bounded by a timeout (default [`DEFAULT_REDIS_TIMEOUT`]) that includes waiting for a
/// reconnection; a timeout or any Redis error is a [`StoreError`], which the layer
/// turns into its 503. Tokens never appear in errors or logs. As with any network
/// store, a write that timed out may still reach Redis later; for a rotation that
/// means the client's refresh token then counts as re-used and the client has to
/// get a new pair, which is the safe side.
///
/// Standalone Redis 4.0 or later (or Valkey) is required; Redis Cluster and Sentinel
/// are not supported.
///
/// # Example
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use fastauth::{FastAuth, store::RedisTokenStore};
///
/// let refresh_lifetime = Duration::from_secs(30 * 24 * 3600);
/// let store = RedisTokenStore::builder("redis://127.0.0.1:6379/0")
///     .key_prefix("myapp:tokens")
///     .ttl(refresh_lifetime)
///     .build()
///     .await?;
/// let auth = FastAuth::builder()
///     .refresh_token_lifetime(refresh_lifetime)
///     .access_paths(["/api"])
///     .store(store)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTokenStore {
    connection: ConnectionManager,
    key_prefix: String,
    ttl_ms: u64,
    timeout: Duration,
}

impl fmt::Debug for RedisTokenStore {
    // The connection's own Debug shows the URL, which may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("key_prefix", &self.key_prefix)
            .field("ttl", &Duration::from_millis(self.ttl_ms))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisTokenStore`]. Obtain it from [`RedisTokenStore::builder`].
#[must_use]
pub struct RedisTokenStoreBuilder {
    url: String,
    key_prefix: String,
    ttl: Duration,
    timeout: Duration,
    connect_timeout: Duration,
}

impl fmt::Debug for RedisTokenStoreBuilder {
    // The URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStoreBuilder")
            .field("key_prefix", &self.key_prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisTokenStoreBuilder {
    /// The prefix of every key (default [`DEFAULT_REDIS_KEY_PREFIX`]). Instances that
    /// should share tokens must use the same prefix; different deployments on one
    /// Redis should use different ones.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long a stored pair lives after its last write (default
    /// [`DEFAULT_REDIS_TTL`]). Use the refresh token lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The bound on one store call, waiting for a reconnection included
    /// (default [`DEFAULT_REDIS_TIMEOUT`]). It also bounds each Redis response.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bound on one attempt to open the connection (default [`DEFAULT_REDIS_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the settings and connects. Fails if Redis cannot be reached within the
    /// timeout, so that a misconfigured service stops at startup.
    pub async fn build(self) -> Result<RedisTokenStore, StoreError> {
        let (client, config, parts) = self.prepare()?;
        let timeout = parts.timeout;
        let connection = tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| StoreError::new(format!("cannot connect to Redis: no answer within {timeout:?}")))?
            .map_err(|e| StoreError::with_source("cannot connect to Redis", e))?;
        Ok(parts.with(connection))
    }

    /// Checks the settings without connecting: the connection opens on first use,
    /// so the service can start while Redis is still down (its requests get 503
    /// until Redis answers). Must be called within a Tokio runtime.
    pub fn build_lazy(self) -> Result<RedisTokenStore, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::new(
                "RedisTokenStoreBuilder::build_lazy must be called within a Tokio runtime",
            ));
        }
        let (client, config, parts) = self.prepare()?;
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::with_source("cannot set up the Redis connection", e))?;
        Ok(parts.with(connection))
    }

    fn prepare(self) -> Result<(Client, ConnectionManagerConfig, Parts), StoreError> {
        if self.ttl < Duration::from_millis(1) {
            return Err(StoreError::new(
                "the Redis key TTL must be at least one millisecond",
            ));
        }
        if self.ttl > MAX_TTL {
            return Err(StoreError::new("the Redis key TTL must be at most 100 years"));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(StoreError::new("the Redis timeouts must not be zero"));
        }
        // Not the URL itself in the message: it may carry a password.
        let client =
            Client::open(self.url.as_str()).map_err(|e| StoreError::with_source("invalid Redis URL", e))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(self.connect_timeout))
            .set_max_delay(MAX_RECONNECT_DELAY);
        let parts = Parts {
            key_prefix: self.key_prefix,
            ttl_ms: u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
            timeout: self.timeout,
        };
        Ok((client, config, parts))
    }
}

struct Parts {
    key_prefix: String,
    ttl_ms: u64,
    timeout: Duration,
}

impl Parts {
    fn with(self, connection: ConnectionManager) -> RedisTokenStore {
        RedisTokenStore {
            connection,
            key_prefix: self.key_prefix,
            ttl_ms: self.ttl_ms,
            timeout: self.timeout,
        }
    }
}

impl RedisTokenStore {
    /// A store at `url` (such as `redis://127.0.0.1:6379/0` or `rediss://…`) with the
    /// default prefix, TTL and timeouts.
    pub async fn new(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).build().await
    }

    /// A builder for a store at `url`.
    pub fn builder(url: impl Into<String>) -> RedisTokenStoreBuilder {
        RedisTokenStoreBuilder {
            url: url.into(),
            key_prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
            ttl: DEFAULT_REDIS_TTL,
            timeout: DEFAULT_REDIS_TIMEOUT,
            connect_timeout: DEFAULT_REDIS_CONNECT_TIMEOUT,
        }
    }

    /// The Redis key that holds the pair of `client_id`.
    pub fn key_for(&self, client_id: &str) -> String {
        format!(
            "{}:{}",
            self.key_prefix,
            utf8_percent_encode(client_id, CLIENT_ID_ENCODE)
        )
    }

    /// The configured key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The configured key TTL.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms)
    }

    /// Runs one Redis call under the store's timeout.
    async fn call<T>(
        &self,
        operation: &str,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StoreError::with_source(format!("Redis {operation} failed"), e)),
            Err(_) => Err(StoreError::new(format!(
                "Redis {operation}: no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let key = self.key_for(client_id);
        self.call(
            "save",
            SAVE.key(&key)
                .arg(&tokens.access_token)
                .arg(&tokens.refresh_token)
                .arg(self.ttl_ms)
                .invoke_async::<()>(&mut connection),
        )
        .await
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        let mut connection = self.connection.clone();
        let key = self.key_for(client_id);
        let (access, refresh): (Option<String>, Option<String>) = self
            .call(
                "load",
                ::redis::cmd("HMGET")
                    .arg(&key)
                    .arg("access_token")
                    .arg("refresh_token")
                    .query_async(&mut connection),
            )
            .await?;
        Ok(match access {
            // An empty access token never matches; treat it like no pair at all.
            Some(access_token) if !access_token.is_empty() => Some(StoredTokens {
                access_token,
                refresh_token: refresh.unwrap_or_default(),
            }),
            _ => None,
        })
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let key = self.key_for(client_id);
        self.call(
            "revoke",
            ::redis::cmd("DEL").arg(&key).exec_async(&mut connection),
        )
        .await
    }

    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        let mut connection = self.connection.clone();
        let key = self.key_for(client_id);
        let rotated: i64 = self
            .call(
                "rotate",
                ROTATE
                    .key(&key)
                    .arg(presented_refresh)
                    .arg(&new.access_token)
                    .arg(&new.refresh_token)
                    .arg(self.ttl_ms)
                    .invoke_async(&mut connection),
            )
            .await?;
        Ok(if rotated == 1 {
            Rotation::Rotated
        } else {
            Rotation::Stale
        })
    }
}
