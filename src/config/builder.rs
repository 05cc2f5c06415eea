//! [`FastAuthBuilder`]: the settings set in code, plus what no file can hold (the store,
//! closures), and the one place that checks everything and builds a [`FastAuth`].

use std::{
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use super::{PreviousKey, Settings, Sources};
use crate::{
    auth::FastAuth,
    credentials::MasterSecret,
    error::ConfigError,
    limiter::{FailureLimit, FailureLimiter},
    paths::{Level, PathRules, Patterns},
    response::Rejection,
    state::{AddressExtractor, FailureHandler, Shared, TokenMode},
    store::{CachedTokenStore, TokenStore, rotation_lock::RotationLocks},
    token::{cache::TokenCache, codec::TokenCodec, keys::KeyRing},
};

/// Stateless access tokens living longer than this get a warning at build time: a
/// leaked one cannot be revoked before it expires.
const STATELESS_LIFETIME_WARNING: Duration = Duration::from_secs(3600);

/// Builds a [`FastAuth`]. Start with [`FastAuth::builder`] or [`FastAuth::from_file`];
/// every setting has the name of its key in `fastauth.config.json`.
///
/// [`build`](Self::build) checks everything once and names any problem in a
/// [`ConfigError`]: no key or one under 32 bytes, an empty or whitespace-padded master
/// token, master paths without a master token, both `master_token` and
/// `master_token_sha256`, stored mode without a store (or with two, or a store in
/// stateless mode), a bad pattern, key id or header name. A configuration that builds
/// does not fail at the first request. [`FastAuth::from_file`] reports an unreadable
/// file, invalid JSON and unknown keys.
///
/// # Where settings come from
///
/// For every setting, **code (this builder) wins over the file, which wins over the
/// environment**, as in fastauth-api. The environment gives only `CRYPTOGRAPHY_KEY` and
/// `MASTER_TOKEN` ([`ignore_environment`](Self::ignore_environment) turns that off).
/// `build` logs where each secret came from at debug level (target `fastauth::config`),
/// never its value, and warns when stateless access tokens live longer than an hour.
///
/// # The configuration file
///
/// A JSON object. fastauth-api's files work as they are: each key is also accepted with
/// `-` for `_`, and under the other names in brackets; an unknown key is an error.
///
/// | file key | environment | builder | default |
/// |---|---|---|---|
/// | `cryptography_key` (`crypto_key`) | `CRYPTOGRAPHY_KEY` | [`cryptography_key`](Self::cryptography_key) | required, at least 32 bytes |
/// | `master_token` | `MASTER_TOKEN` | [`master_token`](Self::master_token) | none: master-level paths are a build error |
/// | `master_token_sha256` | | [`master_token_sha256`](Self::master_token_sha256) | none |
/// | `key_id` | | [`key_id`](Self::key_id) | none: tokens carry no `kid` |
/// | `previous_keys`, `[{"kid": "k1", "key": "…"}]` | | [`previous_key`](Self::previous_key), [`previous_key_without_kid`](Self::previous_key_without_kid) | none |
/// | `master_paths` (`master_token_paths`) | | [`master_paths`](Self::master_paths) | `[]` |
/// | `access_paths` (`access_token_paths`) | | [`access_paths`](Self::access_paths) | `[]` |
/// | `public_paths` | | [`public_paths`](Self::public_paths) | `[]` |
/// | `default_level`: `"public"`, `"access"` or `"master"` | | [`default_level`](Self::default_level) | `"public"` |
/// | `token_mode`: `"stored"` or `"stateless"` | | [`token_mode`](Self::token_mode), [`stateless`](Self::stateless) | `"stored"` |
/// | `database_api_path` (`database_api_url`) | | [`database_api_path`](Self::database_api_path), or [`store`](Self::store) | none: stored mode needs one of the two |
/// | `database_api_headers` (`headers`) | | [`database_api_headers`](Self::database_api_headers) | none |
/// | `store_cache_ttl_secs` | | [`store_cache_ttl`](Self::store_cache_ttl) | `0`: no cache |
/// | `token_prefix` | | [`token_prefix`](Self::token_prefix) | `"/auth"` |
/// | `access_token_lifetime_secs` | | [`access_token_lifetime`](Self::access_token_lifetime) | 2 592 000 (30 days) |
/// | `refresh_token_lifetime_secs` | | [`refresh_token_lifetime`](Self::refresh_token_lifetime) | 31 536 000 (365 days) |
/// | `leeway_secs` | | [`leeway`](Self::leeway) | `0` |
/// | `allow_query_token` (`query_token`) | | [`allow_query_token`](Self::allow_query_token) | `false` |
/// | `token_cache_capacity` | | [`token_cache_capacity`](Self::token_cache_capacity) | 4 096; `0`: off |
/// | `app_name` | | | accepted and ignored |
///
/// Only code can give a [`store`](Self::store), an alias of the master-token header
/// ([`master_token_header`](Self::master_token_header)), the brute-force protection's
/// settings ([`failure_limit`](Self::failure_limit), [`client_address`](Self::client_address))
/// and the refusal response ([`on_failure`](Self::on_failure)).
///
/// ```json
/// {
///     "cryptography_key": "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=",
///     "master_token_sha256": "<the hex SHA-256 digest of the master token>",
///     "master_paths": ["/admin"],
///     "access_paths": ["/api", "/ws"],
///     "database_api_path": "http://127.0.0.1:6789/mydb/data",
///     "headers": {"X-API-Key": "…"},
///     "store_cache_ttl_secs": 5
/// }
/// ```
///
/// # Path patterns
///
/// `master_paths`, `access_paths` and `public_paths` hold patterns: paths of whole
/// segments, where `*` matches one segment (`/api/*/items`) and `**` any number of them,
/// none included (`/files/**/raw`). A pattern guards a path and everything below it:
/// `/api` guards `/api` and `/api/items`, never `/apis`. Letter case is ignored and
/// percent-encoded unreserved characters are decoded, so `/ADMIN` and `/%61dmin` need
/// the master token too. Where several levels match, the strictest wins (master, then
/// access, then public); a path no pattern matches has the
/// [`default_level`](Self::default_level).
///
/// Servers read paths differently: axum keeps `;x`, `%2F` and `\` inside a `{param}`
/// segment and routes `/admin/..` to `/admin/{id}`, servlet containers strip
/// `;params`, proxies decode `%2F` or resolve dot segments. So the layer matches a request
/// path in every such reading (`;params` kept and stripped; `%2F`, `%5C` and `\` inside a
/// segment and as separators; `.` and `..` kept and resolved; empty segments kept and
/// dropped) and applies the strictest level any reading gives.
///
/// A pattern starts with `/` and separates its segments with `/` only: `\`, `;`, `%2F`,
/// `%5C`, `.` and `..` segments, a query, a fragment and control characters are refused,
/// and `*` and `**` must stand alone in their segment.
///
/// # Key rotation
///
/// Give the current key an id ([`key_id`](Self::key_id)) and issued tokens name it as
/// `kid` in their header; a key that signed tokens can then be replaced without logging
/// anyone out:
///
/// 1. Generate a new key (`fastauth keygen`). Configure it as the `cryptography_key`
///    with a new `key_id`, and keep the old one as a verification-only key:
///    [`previous_key("k1", old)`](Self::previous_key), or
///    [`previous_key_without_kid(old)`](Self::previous_key_without_kid) for a key that
///    never had an id (such as a key shared with fastauth-api, whose tokens have no
///    `kid`). In the file: `"previous_keys": [{"kid": "k1", "key": "…"}]`, without
///    `kid` for such a key.
/// 2. Deploy. New pairs are signed with the new key; the old key's tokens keep working,
///    and refreshing one returns a pair signed with the new key.
/// 3. After the refresh-token lifetime (or once every client has refreshed), remove the
///    old key and deploy again. Tokens it signed are refused from then on.
///
/// A token whose `kid` names no configured key is refused; a token without `kid` is
/// verified with the one key that has none.
///
/// ```
/// # use fastauth::FastAuth;
/// # let (new_key, old_key) = ("a new key of at least thirty-two bytes", "the old key of at least thirty-two bytes");
/// let auth = FastAuth::builder()
///     .cryptography_key(new_key)
///     .key_id("k2")
///     .previous_key("k1", old_key) // verifies the tokens it signed, signs nothing
/// #   .ignore_environment()
///     .stateless()
///     .build()?;
/// # let _ = auth;
/// # Ok::<(), fastauth::ConfigError>(())
/// ```
#[must_use]
pub struct FastAuthBuilder {
    code: Settings,
    file: Option<(PathBuf, Settings)>,
    use_environment: bool,
    store: Option<Arc<dyn TokenStore>>,
    master_token_headers: Vec<String>,
    failure_limit: Option<FailureLimit>,
    client_address: Option<AddressExtractor>,
    on_failure: Option<FailureHandler>,
}

impl fmt::Debug for FastAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastAuthBuilder")
            .field("file", &self.file.as_ref().map(|(path, _)| path))
            .field("master_paths", &self.code.master_paths)
            .field("access_paths", &self.code.access_paths)
            .field("public_paths", &self.code.public_paths)
            .field("default_level", &self.code.default_level)
            .field("token_mode", &self.code.token_mode)
            .finish_non_exhaustive()
    }
}

impl FastAuth {
    /// A builder with nothing set (the environment fallbacks `MASTER_TOKEN` and
    /// `CRYPTOGRAPHY_KEY` still apply).
    pub fn builder() -> FastAuthBuilder {
        FastAuthBuilder {
            code: Settings::default(),
            file: None,
            use_environment: true,
            store: None,
            master_token_headers: Vec::new(),
            failure_limit: Some(FailureLimit::default()),
            client_address: None,
            on_failure: None,
        }
    }

    /// A builder pre-filled from a `fastauth.config.json` file (its keys are listed in
    /// [the configuration file](FastAuthBuilder#the-configuration-file)). Values set on
    /// the builder afterwards win over the file. An unreadable file, invalid JSON or an
    /// unknown key is an error here; everything else is checked by
    /// [`build`](FastAuthBuilder::build).
    pub fn from_file(path: impl AsRef<Path>) -> Result<FastAuthBuilder, ConfigError> {
        let path = path.as_ref();
        let settings = Settings::from_file(path)?;
        Ok(FastAuthBuilder {
            file: Some((path.to_owned(), settings)),
            ..FastAuth::builder()
        })
    }
}

impl FastAuthBuilder {
    /// Default lifetime of access tokens: 30 days, as in fastauth-api.
    pub const DEFAULT_ACCESS_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
    /// Default lifetime of refresh tokens: 365 days, as in fastauth-api.
    pub const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
    /// Default path prefix of the token router.
    pub const DEFAULT_TOKEN_PREFIX: &'static str = "/auth";
    /// Default number of verified access tokens remembered (about 1.5 MiB at most).
    pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 4096;

    /// `master_token`: the master token, required by master-level paths and the token
    /// endpoints that issue and revoke. Surrounding whitespace is an error: HTTP strips
    /// it from header values, so such a token could never match.
    ///
    /// It is hashed at build time and held only as its SHA-256 digest; a presented token
    /// is hashed too and the two 32-byte digests are compared in constant time, so the
    /// comparison tells nothing about the token's length. A presented value over 1 KiB
    /// is refused without hashing. Use a long random token (`fastauth keygen` makes
    /// one); wrong guesses count towards the [`FailureLimit`].
    pub fn master_token(mut self, token: impl Into<String>) -> Self {
        self.code.master_token = Some(token.into());
        self
    }

    /// `master_token_sha256`: the master token given only as the hex SHA-256 digest of
    /// its UTF-8 bytes (`printf %s "$MASTER_TOKEN" | sha256sum`), so the configuration
    /// holds no usable secret. The master token must then be a long random string: a
    /// digest does not slow down guessing of a weak one.
    pub fn master_token_sha256(mut self, hex_digest: impl Into<String>) -> Self {
        self.code.master_token_sha256 = Some(hex_digest.into());
        self
    }

    /// Also accept the master token from this header (for example `X-API-Key`, for
    /// clients of an older API). `MASTER-TOKEN` is always accepted and checked first.
    pub fn master_token_header(mut self, name: impl Into<String>) -> Self {
        self.master_token_headers.push(name.into());
        self
    }

    /// `cryptography_key`: the key string that signs tokens (its UTF-8 bytes are the
    /// HMAC key, as in fastauth-api), at least 32 bytes. Generate one with
    /// `fastauth keygen` or [`crypto::generate_cryptography_key`](crate::crypto::generate_cryptography_key).
    pub fn cryptography_key(mut self, key: impl Into<String>) -> Self {
        self.code.cryptography_key = Some(key.into());
        self
    }

    /// `key_id`: the key id (`kid`) of the current key, 1 to 64 characters of `A-Z`,
    /// `a-z`, `0-9`, `-`, `_` and `.`. With one, issued tokens name their key in their
    /// header, which is what lets the key be rotated later (see
    /// [key rotation](Self#key-rotation)). Without one, tokens have fastauth-api's header.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.code.key_id = Some(kid.into());
        self
    }

    /// `previous_keys`: an older key that still verifies the tokens it signed (those whose
    /// header names `kid`), but signs nothing. Remove it to retire it (see
    /// [key rotation](Self#key-rotation)). Replaces the file's list. Key ids must be
    /// unique.
    pub fn previous_key(mut self, kid: impl Into<String>, key: impl Into<String>) -> Self {
        self.code
            .previous_keys
            .get_or_insert_with(Vec::new)
            .push(PreviousKey {
                kid: Some(kid.into()),
                key: key.into(),
            });
        self
    }

    /// `previous_keys` without `kid`: an older key that verifies tokens whose header has
    /// no `kid` (such as every token fastauth-api issued), for the first rotation away
    /// from such a key (see [key rotation](Self#key-rotation)). At most one configured
    /// key may lack a `kid`.
    pub fn previous_key_without_kid(mut self, key: impl Into<String>) -> Self {
        self.code
            .previous_keys
            .get_or_insert_with(Vec::new)
            .push(PreviousKey {
                kid: None,
                key: key.into(),
            });
        self
    }

    /// `master_paths`: [path patterns](Self#path-patterns) that require the master token
    /// (replaces the file's list).
    pub fn master_paths<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.code.master_paths = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// `access_paths`: [path patterns](Self#path-patterns) that require an access token
    /// (replaces the file's list).
    pub fn access_paths<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.code.access_paths = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// `public_paths`: [path patterns](Self#path-patterns) that need no credential, carved out of the
    /// [default level](Self::default_level) (a master or access pattern still wins over
    /// them). The token router's own endpoints are public at the layer already: they
    /// check their credentials themselves.
    pub fn public_paths<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.code.public_paths = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// `default_level`: the level of paths no pattern matches. `Level::Public` by
    /// default, as in fastauth-api; `Level::Access` (deny by default, with the paths that
    /// need nothing listed in [`public_paths`](Self::public_paths)) is what new services
    /// should use: a route added later is protected until someone decides otherwise.
    pub fn default_level(mut self, level: Level) -> Self {
        self.code.default_level = Some(level);
        self
    }

    /// `token_mode`: stored (default) or stateless verification.
    pub fn token_mode(mut self, mode: TokenMode) -> Self {
        self.code.token_mode = Some(mode);
        self
    }

    /// Shorthand for `.token_mode(TokenMode::Stateless)`.
    pub fn stateless(self) -> Self {
        self.token_mode(TokenMode::Stateless)
    }

    /// The token store of stored mode, such as a
    /// [`MemoryTokenStore`](crate::store::MemoryTokenStore) (one instance; a restart
    /// logs every client out) or a [`RedisTokenStore`](crate::store) (several
    /// instances). `database_api_path` selects an
    /// [`HttpTokenStore`](crate::store::HttpTokenStore) instead. Stored mode without a
    /// store is an error at build time. An `Arc<dyn TokenStore>` is a store too.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// `database_api_path`: the base URL of a fastauth-api token database (selects an
    /// [`HttpTokenStore`](crate::store::HttpTokenStore), with its default timeouts).
    /// Needs the `http_store` feature (a default one; without it this is a build error
    /// that names the feature); an `https://` URL needs the `rustls` feature.
    pub fn database_api_path(mut self, url: impl Into<String>) -> Self {
        self.code.database_api_path = Some(url.into());
        self
    }

    /// `database_api_headers` (fastauth-api's `headers`): headers sent on every call to
    /// the token database API.
    pub fn database_api_headers<I, K, V>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.code.database_api_headers =
            Some(headers.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    /// `store_cache_ttl_secs`: puts a [`CachedTokenStore`](crate::store::CachedTokenStore)
    /// with this TTL (and the default size bounds) in front of the store; zero, the
    /// default, means none. A revocation made by another instance is then seen here up
    /// to the TTL later.
    pub fn store_cache_ttl(mut self, ttl: Duration) -> Self {
        self.code.store_cache_ttl_secs = Some(ttl.as_secs());
        self
    }

    /// `token_prefix`: the token router's prefix (default `/auth`).
    pub fn token_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.code.token_prefix = Some(prefix.into());
        self
    }

    /// `access_token_lifetime_secs`: lifetime of issued access tokens (default 30 days).
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.code.access_token_lifetime_secs = Some(lifetime.as_secs());
        self
    }

    /// `refresh_token_lifetime_secs`: lifetime of issued refresh tokens (default 365 days).
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.code.refresh_token_lifetime_secs = Some(lifetime.as_secs());
        self
    }

    /// `leeway_secs`: clock skew tolerated on `exp` and `nbf` (default none).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.code.leeway_secs = Some(leeway.as_secs());
        self
    }

    /// `allow_query_token`: accept the access token from an `access_token` query
    /// parameter too, for browser WebSockets, which cannot set headers. Off by default:
    /// URLs end up in logs.
    pub fn allow_query_token(mut self, allow: bool) -> Self {
        self.code.allow_query_token = Some(allow);
        self
    }

    /// `token_cache_capacity`: how many verified access tokens to remember, so that a
    /// client's next request with the same token skips base64, HMAC-SHA256 and the claims
    /// parse (default [`DEFAULT_TOKEN_CACHE_CAPACITY`](Self::DEFAULT_TOKEN_CACHE_CAPACITY);
    /// `0` turns the cache off). A remembered token is found only by the whole token,
    /// compared in constant time, and only accepted tokens are remembered, so guesses
    /// cannot fill the cache. It is still checked for expiry on every request and, in
    /// stored mode, against the store, so a revoked token is refused at once. With far
    /// more live tokens than the capacity, the cache mostly misses: it then looks up only
    /// one request in 64, and resumes when those hit, so it never costs much more than no
    /// cache (BENCHMARKS.md, "As the number of live tokens grows").
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.code.token_cache_capacity = Some(capacity);
        self
    }

    /// Brute-force protection on master-token checks and the token endpoints (on by
    /// default, see [`FailureLimit`]); `None` turns it off.
    pub fn failure_limit(mut self, limit: Option<FailureLimit>) -> Self {
        self.failure_limit = limit;
        self
    }

    /// How to find a request's client address for the brute-force protection, when it is
    /// not a `SocketAddr`/`IpAddr` extension, axum's `ConnectInfo<SocketAddr>` (feature
    /// `axum`) or tonic's `TcpConnectInfo` (feature `tonic`): behind a trusted proxy, for
    /// example, from the header it sets. When given, it is the only source asked.
    pub fn client_address<F>(mut self, extract: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.client_address = Some(Arc::new(extract));
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

    /// Ignore the `MASTER_TOKEN` and `CRYPTOGRAPHY_KEY` environment variables.
    pub fn ignore_environment(mut self) -> Self {
        self.use_environment = false;
        self
    }

    fn sources(&mut self) -> (Option<PathBuf>, Sources) {
        let (file_path, file) = self.file.take().unzip();
        let sources = Sources {
            code: std::mem::take(&mut self.code),
            file: file.unwrap_or_default(),
            environment: match self.use_environment {
                true => Settings::from_environment(),
                false => Settings::default(),
            },
        };
        (file_path, sources)
    }

    /// Only the key ring and the lifetimes, and the configured mode: what the
    /// `fastauth` command-line tool needs to issue and inspect tokens.
    pub(crate) fn build_codec(mut self) -> Result<(TokenCodec, TokenMode), ConfigError> {
        let (_, sources) = self.sources();
        let settings = sources.merge();
        let mode = settings.token_mode.unwrap_or_default();
        let (codec, _) = codec(&settings)?;
        Ok((codec, mode))
    }

    /// Checks everything and builds the configured [`FastAuth`].
    pub fn build(mut self) -> Result<FastAuth, ConfigError> {
        let (file_path, sources) = self.sources();
        let key_source = sources.source_of(|s| s.cryptography_key.is_some());
        let master_source = sources.source_of(|s| s.master_token.is_some());
        let settings = sources.merge();
        let (codec, previous_keys) = codec(&settings)?;

        let master = master_secret(settings.master_token, settings.master_token_sha256)?
            .with_aliases(header_names(&self.master_token_headers)?);

        let prefix = normalise_prefix(
            settings
                .token_prefix
                .as_deref()
                .unwrap_or(Self::DEFAULT_TOKEN_PREFIX),
        )?;
        let master_paths = settings.master_paths.unwrap_or_default();
        let access_paths = settings.access_paths.unwrap_or_default();
        // The token router checks the credentials of its endpoints itself.
        let mut public_paths = settings.public_paths.unwrap_or_default();
        public_paths.extend(
            ["new", "refresh", "revoke", "logout"]
                .iter()
                .map(|endpoint| format!("{prefix}/token/{endpoint}")),
        );
        let default_level = settings.default_level.unwrap_or(Level::Public);
        let rules = PathRules::new(
            Patterns {
                master: &master_paths,
                access: &access_paths,
                public: &public_paths,
            },
            default_level,
        )?;
        if (!master_paths.is_empty() || default_level == Level::Master) && master.is_none() {
            return Err(ConfigError::MasterPathsWithoutMasterToken);
        }

        let mode = settings.token_mode.unwrap_or_default();
        let store = match (mode, self.store, settings.database_api_path) {
            (TokenMode::Stateless, None, None) => None,
            (TokenMode::Stateless, _, _) => {
                return Err(ConfigError::InvalidValue {
                    field: "token_mode",
                    reason: "stateless mode uses no token store, but one is configured (a store or \
                             database_api_path): remove it, or use stored mode"
                        .into(),
                });
            }
            (TokenMode::Stored, Some(_), Some(_)) => {
                return Err(ConfigError::InvalidValue {
                    field: "database_api_path",
                    reason: "both a store and database_api_path are configured: keep one".into(),
                });
            }
            (TokenMode::Stored, Some(store), None) => Some(store),
            #[cfg(feature = "http_store")]
            (TokenMode::Stored, None, Some(url)) => Some(Arc::new(
                crate::store::HttpTokenStore::builder(&url)
                    .headers(settings.database_api_headers.unwrap_or_default())
                    .build()?,
            ) as Arc<dyn TokenStore>),
            #[cfg(not(feature = "http_store"))]
            (TokenMode::Stored, None, Some(_)) => {
                return Err(ConfigError::FeatureDisabled {
                    field: "database_api_path",
                    feature: "http_store",
                });
            }
            (TokenMode::Stored, None, None) => return Err(ConfigError::MissingStore),
        };
        let cache_ttl = settings
            .store_cache_ttl_secs
            .filter(|&secs| secs > 0)
            .map(Duration::from_secs);
        let store = match (store, cache_ttl) {
            (Some(store), Some(ttl)) => {
                Some(Arc::new(CachedTokenStore::builder(store).ttl(ttl).build()) as Arc<dyn TokenStore>)
            }
            (store, _) => store,
        };
        let access_lifetime = codec.access_lifetime();
        if store.is_none() && access_lifetime > STATELESS_LIFETIME_WARNING {
            tracing::warn!(
                target: "fastauth::config",
                access_token_lifetime_secs = access_lifetime.as_secs(),
                "stateless mode: a leaked access token cannot be revoked before it expires, and these \
                 live {} s; use a short access_token_lifetime (minutes) with refresh tokens, or stored mode",
                access_lifetime.as_secs()
            );
        }

        let token_cache_capacity = settings
            .token_cache_capacity
            .unwrap_or(Self::DEFAULT_TOKEN_CACHE_CAPACITY);
        tracing::debug!(
            target: "fastauth::config",
            file = ?file_path,
            cryptography_key_source = %key_source,
            master_token_source = %master_source,
            master_token_hashed = master.given_hashed(),
            master_paths = master_paths.len(),
            access_paths = access_paths.len(),
            public_paths = public_paths.len(),
            %default_level,
            ?mode,
            store_cache_ttl = ?cache_ttl,
            token_cache_capacity,
            key_id = ?settings.key_id,
            previous_keys,
            "fastauth configured"
        );

        Ok(FastAuth::from_shared(Shared {
            rules,
            master,
            codec,
            store,
            prefix,
            allow_query_token: settings.allow_query_token.unwrap_or(false),
            on_failure: self.on_failure,
            limiter: self.failure_limit.map(FailureLimiter::new),
            client_address: self.client_address,
            token_cache: TokenCache::new(token_cache_capacity, settings.leeway_secs.unwrap_or(0)),
            rotations: RotationLocks::default(),
        }))
    }
}

/// The codec of these settings, and how many previous keys it verifies with.
fn codec(settings: &Settings) -> Result<(TokenCodec, usize), ConfigError> {
    let key = settings
        .cryptography_key
        .as_deref()
        .ok_or(ConfigError::MissingKey)?;
    let leeway = settings.leeway_secs.unwrap_or(0);
    let previous_keys: Vec<(Option<String>, String)> = settings
        .previous_keys
        .iter()
        .flatten()
        .map(|k| (k.kid.clone(), k.key.clone()))
        .collect();
    let keys = KeyRing::new(key, settings.key_id.as_deref(), &previous_keys, leeway)?;
    let access_lifetime = settings
        .access_token_lifetime_secs
        .map_or(FastAuthBuilder::DEFAULT_ACCESS_LIFETIME, Duration::from_secs);
    let refresh_lifetime = settings
        .refresh_token_lifetime_secs
        .map_or(FastAuthBuilder::DEFAULT_REFRESH_LIFETIME, Duration::from_secs);
    if access_lifetime.is_zero() || refresh_lifetime.is_zero() {
        return Err(ConfigError::InvalidValue {
            field: "token lifetime",
            reason: "must be at least one second".into(),
        });
    }
    let codec = TokenCodec::new(keys, access_lifetime, refresh_lifetime);
    Ok((codec, previous_keys.len()))
}

fn master_secret(token: Option<String>, digest: Option<String>) -> Result<MasterSecret, ConfigError> {
    if let Some(token) = &token {
        if token.trim().is_empty() {
            return Err(ConfigError::EmptyMasterToken);
        }
        // HTTP strips a header value's surrounding whitespace: such a token never matches
        // (a `.env` line with a trailing space or a file with a final newline, typically).
        if token.trim() != token {
            return Err(ConfigError::InvalidValue {
                field: "master_token",
                reason: "it starts or ends with whitespace, which HTTP strips from header values, \
                         so it could never match"
                    .into(),
            });
        }
    }
    match (token, digest) {
        (Some(_), Some(_)) => Err(ConfigError::AmbiguousMasterToken),
        (Some(token), None) => Ok(MasterSecret::plain(&token)),
        (None, Some(hex)) => Ok(MasterSecret::hashed(parse_sha256(&hex)?)),
        (None, None) => Ok(MasterSecret::none()),
    }
}

fn header_names(names: &[String]) -> Result<Vec<http::HeaderName>, ConfigError> {
    names
        .iter()
        .map(|name| {
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConfigError::InvalidValue {
                field: "master_token_header",
                reason: format!("{name:?} is not a valid header name"),
            })
        })
        .collect()
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
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(digest)
}

fn normalise_prefix(prefix: &str) -> Result<String, ConfigError> {
    let trimmed = prefix.trim_end_matches('/');
    if !prefix.starts_with('/') || trimmed.contains(['?', '#', '*', ';', '\\']) {
        return Err(ConfigError::InvalidValue {
            field: "token_prefix",
            reason: format!("{prefix:?} must be a path starting with '/'"),
        });
    }
    Ok(trimmed.to_owned())
}
