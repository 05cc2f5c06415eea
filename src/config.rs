//! Configuration: the builder, the `fastauth.config.json` file and environment fallbacks.
//!
//! Precedence, per setting: a value set in code (the builder) wins over the file, which
//! wins over the environment (`MASTER_TOKEN`, `CRYPTOGRAPHY_KEY`), as fastauth-api's
//! README documents. Which source each secret came from is logged at debug level; the
//! value never is. Every problem is reported by [`FastAuthBuilder::build`], naming it.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::Deserialize;

use crate::{
    auth::{AddressExtractor, FailureHandler, FastAuth, MasterSecret, Shared},
    error::ConfigError,
    keys::KeyRing,
    limiter::{FailureLimit, FailureLimiter},
    paths::PathRules,
    response::Rejection,
    store::{CachedTokenStore, HttpTokenStore, MemoryTokenStore, TokenStore},
    token::TokenCodec,
    token_cache::TokenCache,
};

/// Default lifetime of access tokens: 30 days, as in fastauth-api.
pub const DEFAULT_ACCESS_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default lifetime of refresh tokens: 365 days, as in fastauth-api.
pub const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Default path prefix of the token router.
pub const DEFAULT_TOKEN_PREFIX: &str = "/auth";
/// The shortest accepted cryptography key, in bytes (HS256 wants at least the hash size).
pub const MIN_KEY_LEN: usize = 32;
/// Default number of verified access tokens remembered (about 1.5 MiB at most).
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 4096;

/// How access tokens are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenMode {
    /// Signature and claims, and the token must equal the one stored for its client
    /// (fastauth-api's behaviour: one live pair per client, revocable). The default.
    #[default]
    Stored,
    /// Signature and claims only: no store round trip, no revocation before `exp`.
    Stateless,
}

/// `fastauth.config.json`, with both the snake_case keys fastauth-api's code reads and
/// the hyphenated keys its README documents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(alias = "master-token")]
    master_token: Option<String>,
    #[serde(alias = "master-token-sha256")]
    master_token_sha256: Option<String>,
    #[serde(alias = "cryptography-key", alias = "crypto-key", alias = "crypto_key")]
    cryptography_key: Option<String>,
    #[serde(
        alias = "database-api-url",
        alias = "database_api_url",
        alias = "database-api-path"
    )]
    database_api_path: Option<String>,
    #[serde(alias = "master-token-paths")]
    master_token_paths: Option<Vec<String>>,
    #[serde(alias = "access-token-paths")]
    access_token_paths: Option<Vec<String>>,
    #[serde(alias = "app-name")]
    #[allow(dead_code)] // accepted for compatibility; fastauth-api uses it for its OpenAPI title
    app_name: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    #[serde(alias = "token-mode")]
    token_mode: Option<TokenMode>,
    #[serde(alias = "token-prefix")]
    token_prefix: Option<String>,
    #[serde(alias = "access-token-lifetime-secs")]
    access_token_lifetime_secs: Option<u64>,
    #[serde(alias = "refresh-token-lifetime-secs")]
    refresh_token_lifetime_secs: Option<u64>,
    #[serde(alias = "query-token")]
    query_token: Option<bool>,
    #[serde(alias = "store-cache-ttl-secs")]
    store_cache_ttl_secs: Option<u64>,
    #[serde(alias = "token-cache-capacity")]
    token_cache_capacity: Option<usize>,
    #[serde(alias = "key-id")]
    key_id: Option<String>,
    #[serde(alias = "previous-keys")]
    previous_keys: Option<Vec<PreviousKey>>,
}

/// An older key in the configuration file: `{"kid": "k1", "key": "…"}` (`kid` optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviousKey {
    kid: Option<String>,
    key: String,
}

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Code,
    File,
    Environment,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Code => "code",
            Source::File => "config file",
            Source::Environment => "environment",
        })
    }
}

/// Builds a [`FastAuth`]. Start with [`FastAuth::builder`] or [`FastAuth::from_file`].
#[must_use]
pub struct FastAuthBuilder {
    file: FileConfig,
    file_path: Option<PathBuf>,
    master_token: Option<String>,
    cryptography_key: Option<String>,
    master_paths: Option<Vec<String>>,
    access_paths: Option<Vec<String>>,
    store: Option<Arc<dyn TokenStore>>,
    database_api_path: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    mode: Option<TokenMode>,
    token_prefix: Option<String>,
    access_lifetime: Option<Duration>,
    refresh_lifetime: Option<Duration>,
    leeway: Duration,
    query_token: Option<bool>,
    use_environment: bool,
    on_failure: Option<FailureHandler>,
    extra_master_headers: Vec<String>,
    master_token_sha256: Option<String>,
    failure_limit: Option<FailureLimit>,
    client_address: Option<AddressExtractor>,
    key_id: Option<String>,
    previous_keys: Option<Vec<(Option<String>, String)>>,
    store_cache_ttl: Option<Duration>,
    token_cache_capacity: Option<usize>,
}

impl fmt::Debug for FastAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastAuthBuilder")
            .field("file_path", &self.file_path)
            .field("master_paths", &self.master_paths)
            .field("access_paths", &self.access_paths)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Default for FastAuthBuilder {
    fn default() -> Self {
        Self {
            file: FileConfig::default(),
            file_path: None,
            master_token: None,
            cryptography_key: None,
            master_paths: None,
            access_paths: None,
            store: None,
            database_api_path: None,
            headers: None,
            mode: None,
            token_prefix: None,
            access_lifetime: None,
            refresh_lifetime: None,
            leeway: Duration::ZERO,
            query_token: None,
            use_environment: true,
            on_failure: None,
            extra_master_headers: Vec::new(),
            master_token_sha256: None,
            failure_limit: Some(FailureLimit::default()),
            client_address: None,
            key_id: None,
            previous_keys: None,
            store_cache_ttl: None,
            token_cache_capacity: None,
        }
    }
}

impl FastAuthBuilder {
    pub(crate) fn with_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let file: FileConfig = serde_json::from_str(&text).map_err(|source| ConfigError::ParseFile {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            file,
            file_path: Some(path.to_owned()),
            ..Self::default()
        })
    }

    /// The master token, required by master-level paths and `/auth/token/new`.
    pub fn master_token(mut self, token: impl Into<String>) -> Self {
        self.master_token = Some(token.into());
        self
    }

    /// The key string that signs tokens (its UTF-8 bytes are the HMAC key, as in fastauth-api).
    pub fn cryptography_key(mut self, key: impl Into<String>) -> Self {
        self.cryptography_key = Some(key.into());
        self
    }

    /// The master token given only as the hex SHA-256 digest of its UTF-8 bytes
    /// (`fastauth hash-master-token` prints it), so the configuration holds no usable
    /// secret. The master token must then be a long random string: a digest does not
    /// slow down guessing of a weak one.
    pub fn master_token_sha256(mut self, hex_digest: impl Into<String>) -> Self {
        self.master_token_sha256 = Some(hex_digest.into());
        self
    }

    /// Brute-force protection on master-token checks and the token endpoints (on by
    /// default, see [`FailureLimit`]); `None` turns it off.
    pub fn failure_limit(mut self, limit: Option<FailureLimit>) -> Self {
        self.failure_limit = limit;
        self
    }

    /// How to find a request's client address for the brute-force protection, when it is
    /// not a `SocketAddr`/`IpAddr` extension or axum's `ConnectInfo` (for example tonic's
    /// `TcpConnectInfo`, or a trusted proxy header).
    pub fn client_address<F>(mut self, extract: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<std::net::IpAddr> + Send + Sync + 'static,
    {
        self.client_address = Some(Arc::new(extract));
        self
    }

    /// The key id (`kid`) of the current key. With one, issued tokens name their key in
    /// their header, which is what lets the key be rotated later (see
    /// [`previous_key`](Self::previous_key)). Without one, tokens have fastauth-api's header.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// An older key that still verifies the tokens it signed (those whose header names
    /// `kid`), but signs nothing. Remove it to retire it. Replaces the file's list.
    pub fn previous_key(mut self, kid: impl Into<String>, key: impl Into<String>) -> Self {
        self.previous_keys
            .get_or_insert_with(Vec::new)
            .push((Some(kid.into()), key.into()));
        self
    }

    /// An older key without key id: it verifies tokens whose header has no `kid` (such as
    /// every token fastauth-api issued), for the first rotation away from such a key.
    pub fn previous_key_without_kid(mut self, key: impl Into<String>) -> Self {
        self.previous_keys
            .get_or_insert_with(Vec::new)
            .push((None, key.into()));
        self
    }

    /// Path patterns that require the master token (replaces the file's list).
    pub fn master_paths<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.master_paths = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// Path patterns that require an access token (replaces the file's list).
    pub fn access_paths<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.access_paths = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// The token store. Without one, `database_api_path` from the file selects an
    /// [`HttpTokenStore`], and otherwise a [`MemoryTokenStore`] is used.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Puts a [`CachedTokenStore`](crate::CachedTokenStore) with this TTL (and the
    /// default size bounds) in front of the store; zero means no cache, the default.
    /// A revocation made by another instance is then seen here up to the TTL later.
    pub fn store_cache(mut self, ttl: Duration) -> Self {
        self.store_cache_ttl = Some(ttl);
        self
    }

    /// The token store, already shared.
    pub fn shared_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The base URL of a fastauth-api token database (selects an [`HttpTokenStore`]).
    pub fn database_api_path(mut self, url: impl Into<String>) -> Self {
        self.database_api_path = Some(url.into());
        self
    }

    /// Headers sent on every call to the token database API.
    pub fn database_api_headers<I, K, V>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.headers = Some(headers.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// Stored (default) or stateless verification.
    pub fn mode(mut self, mode: TokenMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Shorthand for `.mode(TokenMode::Stateless)`.
    pub fn stateless(self) -> Self {
        self.mode(TokenMode::Stateless)
    }

    /// The token router's prefix (default `/auth`).
    pub fn token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.token_prefix = Some(prefix.into());
        self
    }

    /// Lifetime of issued access tokens (default 30 days).
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_lifetime = Some(lifetime);
        self
    }

    /// Lifetime of issued refresh tokens (default 365 days).
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = Some(lifetime);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default none).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Accept the access token from an `access_token` query parameter too, for browser
    /// WebSockets, which cannot set headers. Off by default: URLs end up in logs.
    pub fn allow_query_token(mut self, allow: bool) -> Self {
        self.query_token = Some(allow);
        self
    }

    /// Also accept the master token from this header (for example `X-API-Key`, for
    /// clients of an older API). `MASTER-TOKEN` is always accepted and checked first.
    pub fn master_token_header(mut self, name: impl Into<String>) -> Self {
        self.extra_master_headers.push(name.into());
        self
    }

    /// Ignore the `MASTER_TOKEN` and `CRYPTOGRAPHY_KEY` environment variables.
    pub fn ignore_environment(mut self) -> Self {
        self.use_environment = false;
        self
    }

    /// Replaces the response sent when a request is refused. The function receives the
    /// [`Rejection`] (which can still render the default response) and returns the
    /// response to send.
    pub fn on_failure<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> http::Response<bytes::Bytes> + Send + Sync + 'static,
    {
        self.on_failure = Some(Arc::new(f));
        self
    }

    /// How many verified access tokens to remember, so that a client's next request
    /// with the same token skips the signature check (default
    /// [`DEFAULT_TOKEN_CACHE_CAPACITY`]; `0` turns the cache off). A remembered token is
    /// still checked for expiry on every request and, in stored mode, against the store.
    /// File key: `token_cache_capacity`.
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.token_cache_capacity = Some(capacity);
        self
    }

    /// Checks everything and builds the shared state.
    pub fn build(self) -> Result<FastAuth, ConfigError> {
        crate::jwt_backend::ensure_ready()?;
        let file = self.file;

        let (key, key_source) = pick(
            self.cryptography_key,
            file.cryptography_key,
            self.use_environment,
            "CRYPTOGRAPHY_KEY",
        );
        let key = key.ok_or(ConfigError::MissingKey)?;
        let key_id = self.key_id.or(file.key_id);
        let previous_keys = self
            .previous_keys
            .or_else(|| {
                file.previous_keys
                    .map(|keys| keys.into_iter().map(|k| (k.kid, k.key)).collect())
            })
            .unwrap_or_default();
        let keys = KeyRing::new(&key, key_id.as_deref(), &previous_keys, self.leeway.as_secs())?;

        let (master_token, master_source) = pick(
            self.master_token,
            file.master_token,
            self.use_environment,
            "MASTER_TOKEN",
        );
        if master_token.as_ref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::EmptyMasterToken);
        }
        // HTTP strips a header value's surrounding whitespace: such a token never matches
        // (a `.env` line with a trailing space or a file with a final newline, typically).
        if master_token.as_ref().is_some_and(|t| t.trim() != t) {
            return Err(ConfigError::InvalidValue {
                field: "master_token",
                reason: "it starts or ends with whitespace, which HTTP strips from header values, \
                         so it could never match"
                    .into(),
            });
        }
        let master_digest = self.master_token_sha256.or(file.master_token_sha256);
        let master = match (master_token, master_digest) {
            (Some(_), Some(_)) => return Err(ConfigError::AmbiguousMasterToken),
            (Some(token), None) => MasterSecret::plain(&token),
            (None, Some(hex)) => MasterSecret::Sha256 {
                digest: parse_sha256(&hex)?,
                given_hashed: true,
            },
            (None, None) => MasterSecret::None,
        };

        let master_paths = self.master_paths.or(file.master_token_paths).unwrap_or_default();
        let access_paths = self.access_paths.or(file.access_token_paths).unwrap_or_default();
        let rules = PathRules::new(&master_paths, &access_paths)?;
        if !rules.master().is_empty() && master.is_none() {
            return Err(ConfigError::MasterPathsWithoutMasterToken);
        }

        let prefix = self
            .token_prefix
            .or(file.token_prefix)
            .unwrap_or_else(|| DEFAULT_TOKEN_PREFIX.to_owned());
        let prefix = normalise_prefix(&prefix)?;

        let access_lifetime = self
            .access_lifetime
            .or(file.access_token_lifetime_secs.map(Duration::from_secs))
            .unwrap_or(DEFAULT_ACCESS_LIFETIME);
        let refresh_lifetime = self
            .refresh_lifetime
            .or(file.refresh_token_lifetime_secs.map(Duration::from_secs))
            .unwrap_or(DEFAULT_REFRESH_LIFETIME);
        if access_lifetime.is_zero() || refresh_lifetime.is_zero() {
            return Err(ConfigError::InvalidValue {
                field: "token lifetime",
                reason: "must be at least one second".into(),
            });
        }

        let extra_master_headers = self
            .extra_master_headers
            .iter()
            .map(|name| {
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConfigError::InvalidValue {
                    field: "master_token_header",
                    reason: format!("{name:?} is not a valid header name"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mode = self.mode.or(file.token_mode).unwrap_or_default();
        let database_api_path = self.database_api_path.or(file.database_api_path);
        let headers = self.headers.or(file.headers).unwrap_or_default();
        let (store, store_kind): (Arc<dyn TokenStore>, &str) = match (self.store, database_api_path) {
            (Some(store), _) => (store, "custom"),
            (None, Some(url)) => (
                Arc::new(HttpTokenStore::builder(&url).headers(headers).build()?),
                "http",
            ),
            (None, None) => (Arc::new(MemoryTokenStore::new()), "memory"),
        };
        let cache_ttl = self
            .store_cache_ttl
            .or(file.store_cache_ttl_secs.map(Duration::from_secs))
            .filter(|ttl| !ttl.is_zero());
        let store: Arc<dyn TokenStore> = match cache_ttl {
            Some(ttl) => Arc::new(CachedTokenStore::builder(store).ttl(ttl).build()),
            None => store,
        };

        let token_cache_capacity = self
            .token_cache_capacity
            .or(file.token_cache_capacity)
            .unwrap_or(DEFAULT_TOKEN_CACHE_CAPACITY);

        tracing::debug!(
            target: "fastauth::config",
            file = ?self.file_path,
            cryptography_key_source = %key_source.expect("a key was found"),
            master_token_source = %master_source.map_or("unset".to_owned(), |s| s.to_string()),
            master_token_hashed = matches!(master, MasterSecret::Sha256 { given_hashed: true, .. }),
            master_paths = rules.master().len(),
            access_paths = rules.access().len(),
            ?mode,
            store = store_kind,
            store_cache_ttl = ?cache_ttl,
            token_cache_capacity,
            key_id = ?key_id,
            previous_keys = previous_keys.len(),
            jwt_backend = crate::jwt_backend::backend_name(),
            "fastauth configured"
        );

        Ok(FastAuth::from_shared(Shared {
            rules,
            master,
            codec: TokenCodec::new(keys, access_lifetime, refresh_lifetime, self.leeway),
            store,
            mode,
            prefix,
            query_token: self.query_token.or(file.query_token).unwrap_or(false),
            on_failure: self.on_failure,
            extra_master_headers,
            limiter: self.failure_limit.map(FailureLimiter::new),
            client_address: self.client_address,
            token_cache: TokenCache::new(token_cache_capacity, self.leeway.as_secs()),
            rotations: Default::default(),
        }))
    }
}

/// Code > file > environment.
fn pick(
    code: Option<String>,
    file: Option<String>,
    use_env: bool,
    env_name: &str,
) -> (Option<String>, Option<Source>) {
    if let Some(v) = code {
        return (Some(v), Some(Source::Code));
    }
    if let Some(v) = file {
        return (Some(v), Some(Source::File));
    }
    if use_env && let Ok(v) = std::env::var(env_name) {
        return (Some(v), Some(Source::Environment));
    }
    (None, None)
}

fn parse_sha256(hex: &str) -> Result<[u8; 32], ConfigError> {
    let hex = hex.trim();
    let invalid = || ConfigError::InvalidValue {
        field: "master_token_sha256",
        reason: "must be 64 hexadecimal digits (the SHA-256 digest of the master token)".into(),
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(invalid());
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
    }
    Ok(digest)
}

fn normalise_prefix(prefix: &str) -> Result<String, ConfigError> {
    let trimmed = prefix.trim_end_matches('/');
    if !prefix.starts_with('/') || trimmed.contains(['?', '#', '*']) {
        return Err(ConfigError::InvalidValue {
            field: "token_prefix",
            reason: format!("{prefix:?} must be a path starting with '/'"),
        });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

    fn write(json: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(json)
    }

    /// A tiny temp-file helper so the unit tests need no extra crate.
    mod tempfile_path {
        use std::path::PathBuf;
        pub struct TempPath(pub PathBuf);
        impl TempPath {
            pub fn with(text: &str) -> Self {
                let path = std::env::temp_dir().join(format!(
                    "fastauth-config-{}-{}.json",
                    std::process::id(),
                    crate::token::random_client_id()
                ));
                std::fs::write(&path, text).unwrap();
                Self(path)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn both_key_spellings_are_read() {
        let snake = write(&format!(
            r#"{{"master_token":"m","cryptography_key":"{KEY}","master_token_paths":["/master"],"access_token_paths":["/access"]}}"#
        ));
        let hyphen = write(&format!(
            r#"{{"master-token":"m","cryptography-key":"{KEY}","master-token-paths":["/master"],"access-token-paths":["/access"],"app-name":"x","headers":{{"X-A":"1"}}}}"#
        ));
        for file in [&snake, &hyphen] {
            let auth = FastAuth::from_file(&file.0)
                .unwrap()
                .ignore_environment()
                .build()
                .unwrap();
            assert_eq!(auth.level_for("/master/x"), Some(crate::Level::Master));
            assert_eq!(auth.level_for("/access/x"), Some(crate::Level::Access));
        }
    }

    #[test]
    fn code_wins_over_file() {
        let file = write(&format!(
            r#"{{"master_token":"file","cryptography_key":"{KEY}","access_token_paths":["/file"]}}"#
        ));
        let auth = FastAuth::from_file(&file.0)
            .unwrap()
            .ignore_environment()
            .access_paths(["/code"])
            .build()
            .unwrap();
        assert_eq!(auth.level_for("/code"), Some(crate::Level::Access));
        assert_eq!(auth.level_for("/file"), None);
    }

    #[test]
    fn problems_are_named_at_build_time() {
        let err = FastAuth::builder().ignore_environment().build().unwrap_err();
        assert!(matches!(err, ConfigError::MissingKey), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key("short")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .master_token("  ")
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::EmptyMasterToken), "{err}");
        for padded in [" token", "token ", "token\n", "\ttoken"] {
            let err = FastAuth::builder()
                .ignore_environment()
                .cryptography_key(KEY)
                .master_token(padded)
                .build()
                .unwrap_err();
            assert!(
                err.to_string().contains("master_token") && err.to_string().contains("whitespace"),
                "{padded:?}: {err}"
            );
        }
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .master_paths(["/admin"])
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::MasterPathsWithoutMasterToken), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .access_paths(["api"])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("\"api\""), "{err}");
        let err = FastAuth::from_file(Path::new("/nonexistent/fastauth.config.json")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/fastauth.config.json"),
            "{err}"
        );
        let bad = write(r#"{"master_token": 3}"#);
        let err = FastAuth::from_file(&bad.0).unwrap_err();
        assert!(matches!(err, ConfigError::ParseFile { .. }), "{err}");
        let typo = write(r#"{"master_tokn": "x"}"#);
        let err = FastAuth::from_file(&typo.0).unwrap_err();
        assert!(err.to_string().contains("master_tokn"), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .token_prefix("auth")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("token_prefix"), "{err}");
    }
}
