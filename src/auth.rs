//! [`FastAuth`]: the built configuration, shared by the layer and the token router,
//! and the decisions both of them make.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
    time::Duration,
};

use http::HeaderMap;

use crate::{
    config::{FastAuthBuilder, TokenMode},
    crypto::constant_time_eq_bytes,
    error::{AuthError, ConfigError, StoreError},
    layer::FastAuthLayer,
    limiter::{FailureLimitStats, FailureLimiter},
    paths::{Level, PathRules},
    response::Rejection,
    rotation_lock::RotationLocks,
    router::TokenRouter,
    store::{Rotation, StoredTokens, TokenStore},
    token::{Claims, TokenCodec, TokenError, TokenPair, TokenType, now_secs, random_client_id},
    token_cache::TokenCache,
};

pub(crate) type FailureHandler =
    Arc<dyn Fn(&Rejection) -> http::Response<bytes::Bytes> + Send + Sync + 'static>;

pub(crate) type AddressExtractor = Arc<dyn Fn(&http::Extensions) -> Option<IpAddr> + Send + Sync + 'static>;

/// The longest master token header accepted; longer ones are refused before any work.
pub const MAX_MASTER_TOKEN_LEN: usize = 1024;

/// The configured master secret, held only as the SHA-256 digest of its UTF-8 bytes
/// (configured as such, or hashed at build time). Comparing two digests of equal length
/// tells nothing about the secret's length, which comparing the tokens themselves would.
pub(crate) enum MasterSecret {
    None,
    Sha256 {
        digest: [u8; 32],
        /// Configured as a digest (`master_token_sha256`), for the configuration log.
        given_hashed: bool,
    },
}

impl MasterSecret {
    pub(crate) fn plain(token: &str) -> Self {
        MasterSecret::Sha256 {
            digest: sha256(token),
            given_hashed: false,
        }
    }

    pub(crate) fn is_none(&self) -> bool {
        matches!(self, MasterSecret::None)
    }

    fn matches(&self, presented: &str) -> bool {
        if presented.is_empty() || presented.len() > MAX_MASTER_TOKEN_LEN {
            return false;
        }
        match self {
            MasterSecret::None => false,
            MasterSecret::Sha256 { digest, .. } => constant_time_eq_bytes(&sha256(presented), digest),
        }
    }
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

pub(crate) struct Shared {
    pub(crate) rules: PathRules,
    pub(crate) master: MasterSecret,
    pub(crate) codec: TokenCodec,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) mode: TokenMode,
    pub(crate) prefix: String,
    pub(crate) query_token: bool,
    pub(crate) on_failure: Option<FailureHandler>,
    pub(crate) extra_master_headers: Vec<http::HeaderName>,
    pub(crate) limiter: Option<FailureLimiter>,
    pub(crate) client_address: Option<AddressExtractor>,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) rotations: RotationLocks,
}

/// Token authentication, configured: hands out the [`FastAuthLayer`] and the
/// [`TokenRouter`], and offers the same checks to code that wants them directly.
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct FastAuth {
    shared: Arc<Shared>,
}

impl fmt::Debug for FastAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastAuth")
            .field("rules", &self.shared.rules)
            .field(
                "master_token",
                &(!self.shared.master.is_none()).then_some("<redacted>"),
            )
            .field("codec", &self.shared.codec)
            .field("mode", &self.shared.mode)
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

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

impl FastAuth {
    /// A builder with nothing set (environment fallbacks still apply).
    pub fn builder() -> FastAuthBuilder {
        FastAuthBuilder::default()
    }

    /// A builder pre-filled from a `fastauth.config.json` file. Values set on the
    /// builder afterwards win over the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<FastAuthBuilder, ConfigError> {
        FastAuthBuilder::with_file(path.as_ref())
    }

    pub(crate) fn from_shared(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The tower layer that protects the configured paths.
    pub fn layer(&self) -> FastAuthLayer {
        FastAuthLayer::new(self.clone())
    }

    /// The token endpoints (`{prefix}/token/new`, `{prefix}/token/refresh`) as a tower service.
    pub fn token_router(&self) -> TokenRouter {
        TokenRouter::new(self.clone())
    }

    /// The configured token router prefix, such as `/auth`.
    pub fn token_prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Stored or stateless.
    pub fn mode(&self) -> TokenMode {
        self.shared.mode
    }

    /// The level a request path requires, after normalisation.
    pub fn level_for(&self, path: &str) -> Option<Level> {
        self.shared.rules.level_for(path)
    }

    /// The compiled path rules.
    #[cfg(feature = "utoipa")]
    pub(crate) fn rules(&self) -> &PathRules {
        &self.shared.rules
    }

    /// The token codec (issuing and verifying with the configured key).
    pub fn codec(&self) -> &TokenCodec {
        &self.shared.codec
    }

    /// The token store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.shared.store
    }

    /// Checks the `MASTER-TOKEN` header (or a configured alias such as `X-API-Key`) in
    /// constant time. Without a configured master token nothing ever matches.
    pub fn check_master(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let presented = headers
            .get(crate::service::MASTER_TOKEN_NAME)
            .or_else(|| {
                self.shared
                    .extra_master_headers
                    .iter()
                    .find_map(|h| headers.get(h))
            })
            .ok_or(AuthError::MissingMasterToken)?;
        let presented = presented.to_str().map_err(|_| AuthError::InvalidMasterToken)?;
        if self.shared.master.matches(presented) {
            Ok(())
        } else {
            Err(AuthError::InvalidMasterToken)
        }
    }

    /// The client address of a request, for the brute-force protection: the configured
    /// extractor, else a `SocketAddr` or `IpAddr` in the extensions, else (feature
    /// `axum`) axum's `ConnectInfo<SocketAddr>`.
    pub fn client_address(&self, extensions: &http::Extensions) -> Option<IpAddr> {
        if let Some(extract) = &self.shared.client_address {
            return extract(extensions);
        }
        if let Some(addr) = extensions.get::<SocketAddr>() {
            return Some(addr.ip());
        }
        if let Some(ip) = extensions.get::<IpAddr>() {
            return Some(*ip);
        }
        #[cfg(feature = "axum")]
        if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
            return Some(info.0.ip());
        }
        None
    }

    /// What the brute-force protection holds now, or `None` when it is off. A rising
    /// [`overflowed`](FailureLimitStats::overflowed) count means failures
    /// from more addresses than the table holds: an attack from many addresses.
    pub fn failure_limit_stats(&self) -> Option<FailureLimitStats> {
        self.shared.limiter.as_ref().map(FailureLimiter::stats)
    }

    /// Refuses a locked-out address before any credential work.
    pub(crate) fn check_not_locked_out(&self, ip: Option<IpAddr>) -> Result<(), (AuthError, Duration)> {
        match (&self.shared.limiter, ip) {
            (Some(limiter), Some(ip)) => limiter
                .check(ip)
                .map_err(|retry_after| (AuthError::TooManyAttempts, retry_after)),
            _ => Ok(()),
        }
    }

    /// Counts a failed credential check of `ip`.
    pub(crate) fn record_failure(&self, ip: Option<IpAddr>) {
        let Some(limiter) = &self.shared.limiter else {
            return;
        };
        match ip {
            Some(ip) => {
                if limiter.record_failure(ip).is_err() {
                    tracing::warn!(target: "fastauth", client_ip = %ip, "too many failed attempts: address locked out");
                }
            }
            None => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(
                        target: "fastauth",
                        "a credential check failed on a request without a client address: brute-force \
                         protection cannot count it (serve with connect info, or set client_address)"
                    );
                });
            }
        }
    }

    /// The master check with brute-force protection: a locked-out address is refused
    /// first, and a wrong master token counts as a failure.
    pub(crate) fn check_master_limited(
        &self,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> Result<(), (AuthError, Option<Duration>)> {
        self.check_not_locked_out(ip).map_err(|(e, d)| (e, Some(d)))?;
        match self.check_master(headers) {
            Err(AuthError::InvalidMasterToken) => {
                self.record_failure(ip);
                Err((AuthError::InvalidMasterToken, None))
            }
            other => other.map_err(|e| (e, None)),
        }
    }

    /// Verifies an access token's signature and claims (no store lookup).
    pub fn verify_access_stateless(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_presented(token.as_bytes())
    }

    /// [`verify_access_stateless`](Self::verify_access_stateless) of a token as presented
    /// in a header: a token the cache holds is recognised by its bytes, so only a new one
    /// pays for UTF-8 validation.
    pub(crate) fn verify_presented(&self, token: &[u8]) -> Result<Claims, AuthError> {
        let cache = self.shared.token_cache.as_ref();
        let now = now_secs();
        if let Some(claims) = cache.and_then(|cache| cache.get(token, now)) {
            return Ok(claims);
        }
        let token = std::str::from_utf8(token).map_err(|_| AuthError::InvalidAccessToken)?;
        let claims = self
            .shared
            .codec
            .verify(token, TokenType::Access)
            .map_err(access_error)?;
        if let Some(cache) = cache {
            cache.insert(token, &claims, now);
        }
        Ok(claims)
    }

    /// Verifies an access token as the layer does: signature and claims and, in
    /// stored mode, that it is the client's current token.
    pub async fn verify_access(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify_access_stateless(token)?;
        if self.shared.mode == TokenMode::Stored {
            self.check_stored(&claims.client_id, token).await?;
        }
        Ok(claims)
    }

    pub(crate) async fn check_stored(&self, client_id: &str, token: &str) -> Result<(), AuthError> {
        // Stores that can answer from memory do so inside `is_current`; the layer asks
        // `is_current_now` itself before it comes to this.
        match self.shared.store.is_current(client_id, token).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AuthError::RevokedAccessToken),
            Err(e) => {
                log_store_error("load", &e);
                Err(AuthError::StoreUnavailable)
            }
        }
    }

    /// Issues a pair for `client_id` (a random UUIDv4 when `None`) and, in stored mode,
    /// saves it, which revokes the client's previous pair.
    pub async fn issue(&self, client_id: Option<&str>) -> Result<TokenPair, IssueError> {
        let client_id = match client_id {
            Some(id) => id.to_owned(),
            None => random_client_id(),
        };
        let pair = self
            .shared
            .codec
            .issue_pair(&client_id)
            .map_err(|_| IssueError::InvalidClientId)?;
        if self.shared.mode == TokenMode::Stored {
            self.shared
                .store
                .save(&client_id, &stored(&pair))
                .await
                .map_err(|e| {
                    log_store_error("save", &e);
                    IssueError::Store
                })?;
        }
        tracing::info!(target: "fastauth", client_id = %client_id, "token pair issued");
        Ok(pair)
    }

    /// Exchanges a refresh token for a new pair. In stored mode the refresh token must
    /// be the client's current one; presenting an already rotated one is treated as
    /// theft (re-use) and revokes the client's tokens.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let claims = self
            .shared
            .codec
            .verify(refresh_token, TokenType::Refresh)
            .map_err(RefreshError::Invalid)?;
        let pair = self
            .shared
            .codec
            .issue_pair(&claims.client_id)
            .map_err(RefreshError::Invalid)?;
        if self.shared.mode == TokenMode::Stateless {
            return Ok(pair);
        }
        let store = &self.shared.store;
        // The store's rotate may be load-compare-save: one rotation per client at a time.
        let _serial = self.shared.rotations.lock(&claims.client_id).await;
        match store
            .rotate(&claims.client_id, refresh_token, &stored(&pair))
            .await
        {
            Ok(Rotation::Rotated) => {
                tracing::info!(target: "fastauth", client_id = %claims.client_id, "token pair refreshed");
                Ok(pair)
            }
            Ok(Rotation::Stale) => {
                tracing::warn!(
                    target: "fastauth",
                    client_id = %claims.client_id,
                    "stale refresh token presented (re-use or revoked): revoking the client's tokens"
                );
                if let Err(e) = store.revoke(&claims.client_id).await {
                    log_store_error("revoke", &e);
                    return Err(RefreshError::Store);
                }
                Err(RefreshError::Stale)
            }
            Err(e) => {
                log_store_error("rotate", &e);
                Err(RefreshError::Store)
            }
        }
    }

    /// Revokes the tokens of `client_id` (stored mode; in stateless mode tokens stay
    /// valid until they expire).
    pub async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        match self.shared.store.revoke(client_id).await {
            Ok(()) => {
                tracing::info!(target: "fastauth", client_id = %client_id, "tokens revoked");
                Ok(())
            }
            Err(e) => {
                log_store_error("revoke", &e);
                Err(e)
            }
        }
    }
}

fn stored(pair: &TokenPair) -> StoredTokens {
    StoredTokens {
        access_token: pair.access_token.clone(),
        refresh_token: pair.refresh_token.clone(),
    }
}

fn access_error(e: TokenError) -> AuthError {
    match e {
        TokenError::Expired => AuthError::ExpiredAccessToken,
        TokenError::WrongType => AuthError::WrongTokenType,
        _ => AuthError::InvalidAccessToken,
    }
}

fn log_store_error(operation: &str, e: &StoreError) {
    tracing::error!(target: "fastauth", operation, error = %e, "token store error");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_master_token_is_held_and_compared_as_its_digest() {
        let secret = MasterSecret::plain("the-master-token");
        assert!(matches!(
            secret,
            MasterSecret::Sha256 { digest, given_hashed: false } if digest == sha256("the-master-token")
        ));
        assert!(secret.matches("the-master-token"));
        // Prefixes, extensions and other lengths: one 32-byte comparison each.
        for wrong in [
            "the-master-toke",
            "the-master-token!",
            "t",
            "THE-MASTER-TOKEN",
            &"x".repeat(1024),
        ] {
            assert!(!secret.matches(wrong), "{wrong}");
        }
        assert!(!secret.matches(""));
        assert!(!MasterSecret::None.matches("anything"));
    }
}
