//! [`FastAuth`]: token authentication, configured. The handle hands out layers and the
//! token router (in their own modules), and offers the checks and token operations
//! directly to code that wants them.

use std::{fmt, sync::Arc};

use http::HeaderMap;

use crate::{
    authorize,
    error::{AuthError, IssueError, RefreshError, StoreError},
    limiter::FailureLimitStats,
    paths::Level,
    state::{Shared, TokenMode},
    store::{Rotation, StoredTokens, TokenStore},
    token::{Claims, TokenPair, TokenType, random_client_id},
};

/// Token authentication, configured: hands out the [`FastAuthLayer`](crate::FastAuthLayer)
/// and the [`TokenRouter`](crate::TokenRouter), and offers the same checks to code that
/// wants them directly. Build one with [`FastAuth::builder`] or [`FastAuth::from_file`].
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
            .field("mode", &self.shared.mode())
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl FastAuth {
    pub(crate) fn from_shared(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The token router's prefix, such as `/auth`.
    pub fn token_prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Stored or stateless.
    pub fn mode(&self) -> TokenMode {
        self.shared.mode()
    }

    /// The level a request path requires: the strictest over every way a server may
    /// read it (see the crate documentation).
    pub fn level_for(&self, path: &str) -> Level {
        self.shared.rules.level_for(path)
    }

    /// The compiled path rules.
    #[cfg(feature = "utoipa")]
    pub(crate) fn rules(&self) -> &crate::paths::PathRules {
        &self.shared.rules
    }

    /// The token store (stored mode), or `None` (stateless mode).
    pub fn store(&self) -> Option<&Arc<dyn TokenStore>> {
        self.shared.store.as_ref()
    }

    /// Checks the `MASTER-TOKEN` header (or a configured alias such as `X-API-Key`) in
    /// constant time, as the layer does on master-level paths (without the brute-force
    /// protection, which needs the client address). Without a configured master token
    /// nothing ever matches.
    pub fn check_master(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        self.shared.master.check(headers)
    }

    /// Verifies an access token as the layer does: signature and claims and, in stored
    /// mode, that it is its client's current token.
    pub async fn verify_access(&self, token: &str) -> Result<Claims, AuthError> {
        authorize::verify_access(&self.shared, token).await
    }

    /// What the brute-force protection holds now, or `None` when it is off. A rising
    /// [`overflowed`](FailureLimitStats::overflowed) count means failures from more
    /// addresses than the table holds: an attack from many addresses.
    pub fn failure_limit_stats(&self) -> Option<FailureLimitStats> {
        self.shared.limiter.as_ref().map(|limiter| limiter.stats())
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
        if let Some(store) = &self.shared.store {
            store.save(&client_id, &stored(&pair)).await.map_err(|e| {
                authorize::log_store_error("save", &e);
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
        let client_id = claims.client_id();
        let pair = self
            .shared
            .codec
            .issue_pair(client_id)
            .map_err(RefreshError::Invalid)?;
        let Some(store) = &self.shared.store else {
            return Ok(pair);
        };
        // The store's rotate may be load-compare-save: one rotation per client at a time.
        let _serial = self.shared.rotations.lock(client_id).await;
        match store.rotate(client_id, refresh_token, &stored(&pair)).await {
            Ok(Rotation::Rotated) => {
                tracing::info!(target: "fastauth", client_id = %client_id, "token pair refreshed");
                Ok(pair)
            }
            Ok(Rotation::Stale) => {
                tracing::warn!(
                    target: "fastauth",
                    client_id = %client_id,
                    "stale refresh token presented (re-use or revoked): revoking the client's tokens"
                );
                if let Err(e) = store.revoke(client_id).await {
                    authorize::log_store_error("revoke", &e);
                    return Err(RefreshError::Store);
                }
                Err(RefreshError::Stale)
            }
            Err(e) => {
                authorize::log_store_error("rotate", &e);
                Err(RefreshError::Store)
            }
        }
    }

    /// Revokes the tokens of `client_id`. Stored mode only: in stateless mode tokens
    /// stay valid until they expire, and this is an error.
    pub async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        let Some(store) = &self.shared.store else {
            return Err(StoreError::new(
                "revocation requires stored mode: stateless tokens stay valid until they expire",
            ));
        };
        match store.revoke(client_id).await {
            Ok(()) => {
                tracing::info!(target: "fastauth", client_id = %client_id, "tokens revoked");
                Ok(())
            }
            Err(e) => {
                authorize::log_store_error("revoke", &e);
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
