//! Every public error of the crate: why a request was refused ([`AuthError`]), why a
//! configuration was refused ([`ConfigError`]), why a store could not answer
//! ([`StoreError`]), why a token was not accepted ([`TokenError`]), why issuing or
//! refreshing failed ([`IssueError`], [`RefreshError`]) and why a key or sealed value
//! was refused ([`CryptoError`]).

use std::{error::Error as StdError, fmt, path::PathBuf};

use http::StatusCode;

/// The shortest accepted cryptography key, in bytes: HS256 wants at least the hash size.
/// (Defined here, where the errors that name it are, so that this module imports nothing.)
pub const MIN_KEY_LEN: usize = 32;

/// A boxed error, as used by tower.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why the layer refused a request. Each variant has a stable message that is
/// part of this crate's documented interface (clients may match on it), and
/// never includes the token, the key or the text of an underlying library error.
///
/// | variant | HTTP | gRPC | message |
/// |---|---|---|---|
/// | `MissingMasterToken` | 401 | 16 | `Master token missing` |
/// | `InvalidMasterToken` | 401 | 16 | `Unauthorized Master Token` |
/// | `MissingAccessToken` | 401 | 16 | `Access token missing` |
/// | `InvalidAccessToken` | 401 | 16 | `Unauthorized Access Token` |
/// | `ExpiredAccessToken` | 401 | 16 | `Access token expired` |
/// | `WrongTokenType` | 401 | 16 | `Wrong token type` |
/// | `RevokedAccessToken` | 401 | 16 | `Access token revoked` |
/// | `StoreUnavailable` | 503 | 14 | `Token store unavailable` |
/// | `TooManyAttempts` | 429 | 8 | `Too many failed attempts` |
/// | `ClientAddressUnknown` | 500 | 13 | `Client address unknown: …` (names the fix) |
///
/// # The response
///
/// An HTTP request gets the status and fastauth-api's JSON body,
/// `{"detail":"<message>"}`. The access-level refusals (401) carry the
/// `WWW-Authenticate` challenge of RFC 6750 ([`www_authenticate`](Self::www_authenticate)),
/// `TooManyAttempts` carries `Retry-After` with the seconds the lockout has left, and
/// `StoreUnavailable` carries `Retry-After: 1`.
///
/// A gRPC request (`content-type: application/grpc…`) gets a trailers-only response:
/// HTTP 200, no body, the [`grpc_code`](Self::grpc_code) in `grpc-status` and the message
/// in `grpc-message`, so a tonic client sees `Code::Unauthenticated` (16),
/// `Code::Unavailable` (14) and so on.
///
/// The [`TokenRouter`](crate::TokenRouter) answers the same refusals in its own envelope.
/// To send another response, give [`FastAuthBuilder::on_failure`](crate::FastAuthBuilder::on_failure)
/// a function of the [`Rejection`](crate::response::Rejection), which can still render
/// this default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthError {
    /// A master-level path was requested without a `MASTER-TOKEN` header.
    MissingMasterToken,
    /// The `MASTER-TOKEN` header does not carry the configured master token, or no
    /// master token is configured.
    InvalidMasterToken,
    /// An access-level path was requested without an access token.
    MissingAccessToken,
    /// The access token is malformed, longer than [`MAX_TOKEN_LEN`](crate::token::MAX_TOKEN_LEN),
    /// not HS256, badly signed (or signed with a key it does not name), lacks `exp`, has
    /// an `nbf` in the future or an invalid `client_id` (see [`token`](crate::token)).
    InvalidAccessToken,
    /// The access token's `exp` has passed.
    ExpiredAccessToken,
    /// The token is a refresh token (or another type) where an access token is required.
    WrongTokenType,
    /// Stored mode: the token is not the one currently stored for its client.
    RevokedAccessToken,
    /// Stored mode: the token store could not be reached, so no decision could be made.
    StoreUnavailable,
    /// The client address failed too many credential checks and is locked out for a while
    /// (see [`FailureLimit`](crate::FailureLimit)).
    TooManyAttempts,
    /// The failure limit is on, but the server gives the layer no client address to
    /// count this request by: a server configuration error, refused until it is fixed
    /// rather than served unprotected (see [`FailureLimit`](crate::FailureLimit)).
    ClientAddressUnknown,
}

impl AuthError {
    /// The stable, documented message sent to the client.
    pub const fn message(self) -> &'static str {
        match self {
            AuthError::MissingMasterToken => "Master token missing",
            AuthError::InvalidMasterToken => "Unauthorized Master Token",
            AuthError::MissingAccessToken => "Access token missing",
            AuthError::InvalidAccessToken => "Unauthorized Access Token",
            AuthError::ExpiredAccessToken => "Access token expired",
            AuthError::WrongTokenType => "Wrong token type",
            AuthError::RevokedAccessToken => "Access token revoked",
            AuthError::StoreUnavailable => "Token store unavailable",
            AuthError::TooManyAttempts => "Too many failed attempts",
            AuthError::ClientAddressUnknown => {
                "Client address unknown: the failure limit cannot count this request. Serve with the \
                 client address (axum: into_make_service_with_connect_info::<SocketAddr>()), set \
                 FastAuthBuilder::client_address, or turn the limit off with failure_limit(None)"
            }
        }
    }

    /// A short machine-readable reason, used in logs and metrics.
    pub const fn reason(self) -> &'static str {
        match self {
            AuthError::MissingMasterToken => "missing_master_token",
            AuthError::InvalidMasterToken => "invalid_master_token",
            AuthError::MissingAccessToken => "missing_access_token",
            AuthError::InvalidAccessToken => "invalid_access_token",
            AuthError::ExpiredAccessToken => "expired_access_token",
            AuthError::WrongTokenType => "wrong_token_type",
            AuthError::RevokedAccessToken => "revoked_access_token",
            AuthError::StoreUnavailable => "store_unavailable",
            AuthError::TooManyAttempts => "too_many_attempts",
            AuthError::ClientAddressUnknown => "client_address_unknown",
        }
    }

    /// The HTTP status: 401 for a decided "no", 503 when no decision could be made,
    /// 429 for a locked-out address, 500 when the server's setup keeps the layer from
    /// deciding.
    pub const fn status(self) -> StatusCode {
        match self {
            AuthError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AuthError::ClientAddressUnknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The gRPC status code: 16 (UNAUTHENTICATED), 14 (UNAVAILABLE), 8
    /// (RESOURCE_EXHAUSTED) or 13 (INTERNAL).
    pub const fn grpc_code(self) -> i32 {
        match self {
            AuthError::StoreUnavailable => 14,
            AuthError::TooManyAttempts => 8,
            AuthError::ClientAddressUnknown => 13,
            _ => 16,
        }
    }

    /// The `WWW-Authenticate` value RFC 6750 asks for, on access-level failures.
    pub const fn www_authenticate(self) -> Option<&'static str> {
        match self {
            AuthError::MissingAccessToken => Some("Bearer"),
            AuthError::InvalidAccessToken => {
                Some("Bearer error=\"invalid_token\", error_description=\"Unauthorized Access Token\"")
            }
            AuthError::ExpiredAccessToken => {
                Some("Bearer error=\"invalid_token\", error_description=\"Access token expired\"")
            }
            AuthError::WrongTokenType => {
                Some("Bearer error=\"invalid_token\", error_description=\"Wrong token type\"")
            }
            AuthError::RevokedAccessToken => {
                Some("Bearer error=\"invalid_token\", error_description=\"Access token revoked\"")
            }
            _ => None,
        }
    }
}

impl AuthError {
    /// The refusal an access token that failed verification gets.
    pub(crate) fn from_access_token(error: TokenError) -> Self {
        match error {
            TokenError::Expired => AuthError::ExpiredAccessToken,
            TokenError::WrongType => AuthError::WrongTokenType,
            _ => AuthError::InvalidAccessToken,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl StdError for AuthError {}

/// A configuration that cannot work. Returned by [`FastAuthBuilder::build`](crate::FastAuthBuilder::build),
/// never at the first request.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// No cryptography key in code, config file or `CRYPTOGRAPHY_KEY`.
    MissingKey,
    /// The cryptography key is too short to be a secret.
    WeakKey {
        /// The key's length in bytes.
        len: usize,
    },
    /// A master token was configured but is empty (or only whitespace).
    EmptyMasterToken,
    /// Both a master token and its hash were configured: which one counts would be a guess.
    AmbiguousMasterToken,
    /// Master-level paths are listed (or master is the default level) but no master token
    /// is configured: they would be unreachable.
    MasterPathsWithoutMasterToken,
    /// Stored mode (the default) without a token store: set one with
    /// `FastAuthBuilder::store` or `database_api_path`, or use stateless mode.
    MissingStore,
    /// A path pattern cannot be compiled.
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value is out of range or malformed.
    InvalidValue {
        /// The setting's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration file cannot be read.
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid JSON of the expected shape.
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// A setting needs a cargo feature of fastauth that this build leaves out.
    FeatureDisabled {
        /// The setting's name.
        field: &'static str,
        /// The feature it needs.
        feature: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingKey => f.write_str(
                "no cryptography key: set `cryptography_key` in fastauth.config.json, \
                 the CRYPTOGRAPHY_KEY environment variable, or FastAuthBuilder::cryptography_key",
            ),
            ConfigError::WeakKey { len } => write!(
                f,
                "the cryptography key is {len} bytes long; at least {MIN_KEY_LEN} are required \
                 (generate one with `fastauth keygen` or fastauth::crypto::generate_cryptography_key)"
            ),
            ConfigError::EmptyMasterToken => {
                f.write_str("the master token is empty: an empty master token would never be safe")
            }
            ConfigError::AmbiguousMasterToken => {
                f.write_str("both a master token and a master token hash are configured: keep only one")
            }
            ConfigError::MasterPathsWithoutMasterToken => f.write_str(
                "master-level paths are configured (master_paths, or default_level master) but no master \
                 token is: set `master_token` in fastauth.config.json, the MASTER_TOKEN environment \
                 variable, or FastAuthBuilder::master_token",
            ),
            ConfigError::MissingStore => f.write_str(
                "stored mode (the default) needs a token store: set one with FastAuthBuilder::store \
                 (MemoryTokenStore for a single instance, RedisTokenStore for several) or \
                 `database_api_path`, or choose stateless mode (FastAuthBuilder::stateless)",
            ),
            ConfigError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid path pattern {pattern:?}: {reason}")
            }
            ConfigError::InvalidValue { field, reason } => write!(f, "invalid {field}: {reason}"),
            ConfigError::ReadFile { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ConfigError::ParseFile { path, source } => {
                write!(f, "cannot parse {}: {source}", path.display())
            }
            ConfigError::FeatureDisabled { field, feature } => write!(
                f,
                "`{field}` needs fastauth's `{feature}` feature, which this build leaves out: \
                 enable it in Cargo.toml (fastauth = {{ features = [\"{feature}\"] }})"
            ),
        }
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ConfigError::ReadFile { source, .. } => Some(source),
            ConfigError::ParseFile { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A [`TokenStore`](crate::store::TokenStore) could not answer. The layer turns it into
/// a 503 ([`AuthError::StoreUnavailable`]) and logs the cause; the client never sees it.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<BoxError>,
}

impl StoreError {
    /// A store error with a message for the log.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A store error caused by another error.
    pub fn with_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// Why a token was not accepted. The `Display` texts are this crate's own and never
/// carry the token or a library's internal message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed JWT of the expected shape (including oversized tokens).
    Malformed,
    /// A header `alg` other than HS256 (including `none`).
    UnsupportedAlgorithm,
    /// The signature does not match the configured key.
    InvalidSignature,
    /// `exp` is missing.
    MissingExpiry,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// The token's `type` is not the one this use requires.
    WrongType,
    /// The `client_id` claim is empty or too long.
    InvalidClientId,
    /// The header's `kid` names no configured key (or the token has no `kid` and every
    /// configured key has one).
    UnknownKey,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::UnsupportedAlgorithm => "unsupported algorithm",
            TokenError::InvalidSignature => "invalid signature",
            TokenError::MissingExpiry => "missing exp claim",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::WrongType => "wrong token type",
            TokenError::InvalidClientId => "invalid client_id",
            TokenError::UnknownKey => "unknown key id",
        })
    }
}

impl std::error::Error for TokenError {}

/// Why a refresh was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshError {
    /// Not a valid, unexpired refresh token of this deployment.
    Invalid(TokenError),
    /// Stored mode: not the client's current refresh token. It was rotated already
    /// (re-use: the client's tokens have been revoked) or revoked.
    Stale,
    /// The store could not be reached.
    Store,
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshError::Invalid(e) => write!(f, "invalid refresh token: {e}"),
            RefreshError::Stale => f.write_str("refresh token already rotated or revoked"),
            RefreshError::Store => f.write_str("token store unavailable"),
        }
    }
}

impl std::error::Error for RefreshError {}

/// Why issuing a pair failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueError {
    /// The `client_id` is empty, too long or contains control characters.
    InvalidClientId,
    /// The store could not save the pair.
    Store,
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IssueError::InvalidClientId => "invalid client_id",
            IssueError::Store => "token store unavailable",
        })
    }
}

impl std::error::Error for IssueError {}

/// Why a sealing key could not be made or a sealed value could not be opened.
///
/// The messages never include the key, the sealed value or the plaintext. Opening
/// distinguishes "this is not a sealed value at all" from "this is a sealed value that
/// does not authenticate", but never says which part of a sealed value was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key string is shorter than [`MIN_KEY_LEN`] bytes.
    WeakKey {
        /// The key's length in bytes.
        len: usize,
    },
    /// Not a sealed value: the `v1.` prefix is missing, the rest is not URL-safe base64
    /// without padding, or it is too short to hold a nonce and a tag (truncated).
    Malformed,
    /// A sealed value of a format version this build does not know (such as `v2.`).
    UnsupportedVersion,
    /// The value does not authenticate: sealed with another key, tampered with or
    /// truncated, or opened with other associated data than it was sealed with.
    Unauthentic,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::WeakKey { len } => write!(
                f,
                "the key is {len} bytes long; at least {MIN_KEY_LEN} are required"
            ),
            CryptoError::Malformed => f.write_str("not a sealed value"),
            CryptoError::UnsupportedVersion => f.write_str("unsupported sealed value version"),
            CryptoError::Unauthentic => {
                f.write_str("sealed value does not authenticate (wrong key or tampered)")
            }
        }
    }
}

impl std::error::Error for CryptoError {}
