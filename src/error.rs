//! Errors: why a request was refused ([`AuthError`]), why a configuration was
//! refused ([`ConfigError`]) and why a store could not answer ([`StoreError`]).

use std::{error::Error as StdError, fmt, path::PathBuf};

use http::StatusCode;

/// A boxed error, as used by tower.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthError {
    /// A master-level path was requested without a `MASTER-TOKEN` header.
    MissingMasterToken,
    /// The `MASTER-TOKEN` header does not carry the configured master token.
    InvalidMasterToken,
    /// An access-level path was requested without an access token.
    MissingAccessToken,
    /// The access token is malformed, not HS256, badly signed or lacks a required claim.
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
        }
    }

    /// The HTTP status: 401 for a decided "no", 503 when no decision could be made,
    /// 429 for a locked-out address.
    pub const fn status(self) -> StatusCode {
        match self {
            AuthError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The gRPC status code: 16 (UNAUTHENTICATED), 14 (UNAVAILABLE) or 8 (RESOURCE_EXHAUSTED).
    pub const fn grpc_code(self) -> i32 {
        match self {
            AuthError::StoreUnavailable => 14,
            AuthError::TooManyAttempts => 8,
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
    /// Master-level paths are listed but no master token is configured: they would be unreachable.
    MasterPathsWithoutMasterToken,
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
    /// The JWT crypto backend of `jsonwebtoken` is not usable in this process.
    CryptoBackend(String),
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
                "the cryptography key is {len} bytes long; at least 32 are required \
                 (generate one with fastauth::crypto::generate_cryptography_key)"
            ),
            ConfigError::EmptyMasterToken => {
                f.write_str("the master token is empty: an empty master token would never be safe")
            }
            ConfigError::AmbiguousMasterToken => f.write_str(
                "both a master token and a master token hash are configured: keep only one",
            ),
            ConfigError::MasterPathsWithoutMasterToken => f.write_str(
                "master_token_paths are configured but no master token is: set `master_token` \
                 in fastauth.config.json, the MASTER_TOKEN environment variable, or FastAuthBuilder::master_token",
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
            ConfigError::CryptoBackend(why) => write!(f, "JWT crypto backend unusable: {why}"),
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
