//! The one decision every protected request and every token endpoint goes through: the
//! level a request needs, the credential it carries, whether that credential verifies
//! and, in stored mode, whether it is still its client's current token.
//!
//! The layer calls the inner service only with a [`Grant`], and only this module makes
//! one: for a public path, or once the credential the level asks for checked out. A
//! request for a protected path without a valid credential has no way through, whatever
//! its method or spelling.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use http::{Extensions, HeaderMap, Uri};

use crate::{
    clock::unix_secs_now_or_later,
    credentials,
    error::{AuthError, StoreError},
    paths::Level,
    state::Shared,
    token::{Claims, TokenType, cache::Lookup},
};

/// Leave to call the inner service, with the claims of the access token that earned it.
#[must_use]
pub(crate) struct Grant {
    claims: Option<Claims>,
}

impl Grant {
    pub(crate) fn into_claims(self) -> Option<Claims> {
        self.claims
    }
}

/// A refused request: why, at which level, and for a lockout how long it lasts.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: AuthError,
    pub(crate) level: Level,
    pub(crate) retry_after: Option<Duration>,
}

impl Refusal {
    fn new(error: AuthError, level: Level) -> Self {
        Self {
            error,
            level,
            retry_after: None,
        }
    }
}

/// What to do with a request.
pub(crate) enum Decision {
    Grant(Grant),
    Refuse(Refusal),
    /// Stored mode: the token verified, and only the store can say whether it is still
    /// the client's current one.
    AskStore(StoreCheck),
}

/// The store lookup a stored-mode request waits for.
pub(crate) struct StoreCheck {
    shared: Arc<Shared>,
    claims: Claims,
    token: String,
    /// For a cached token and a store with a revision: that revision, read before the
    /// store was asked, and when the token was verified.
    memo: Option<(u64, u64)>,
}

impl StoreCheck {
    pub(crate) async fn run(self) -> Result<Grant, Refusal> {
        match check_stored(&self.shared, self.claims.client_id(), &self.token).await {
            Ok(()) => {
                if let Some((revision, now)) = self.memo {
                    record_current(&self.shared, &self.token, revision, now);
                }
                log_accepted(self.claims.client_id(), "store");
                Ok(Grant {
                    claims: Some(self.claims),
                })
            }
            Err(error) => {
                tracing::debug!(
                    target: "fastauth",
                    outcome = "denied",
                    level = %Level::Access,
                    reason = error.reason(),
                    client_id = %self.claims.client_id(),
                    "request refused"
                );
                Err(Refusal::new(error, Level::Access))
            }
        }
    }
}

/// Decides a request that requires `level`.
pub(crate) fn decide(
    shared: &Arc<Shared>,
    level: Level,
    uri: &Uri,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Decision {
    let refuse = |refusal: Refusal| {
        tracing::debug!(
            target: "fastauth",
            outcome = "denied",
            level = %refusal.level,
            reason = refusal.error.reason(),
            path = uri.path(),
            "request refused"
        );
        Decision::Refuse(refusal)
    };
    match level {
        Level::Public => Decision::Grant(Grant { claims: None }),
        Level::Master => match check_master(shared, headers, client_address(shared, extensions)) {
            Ok(()) => {
                tracing::debug!(target: "fastauth", outcome = "allowed", %level, "master token accepted");
                Decision::Grant(Grant { claims: None })
            }
            Err(refusal) => refuse(refusal),
        },
        Level::Access => {
            let token = match credentials::access_token(uri, headers, shared.allow_query_token) {
                Ok(token) => token,
                Err(error) => return refuse(Refusal::new(error, level)),
            };
            let verified = match verify_access_token(shared, &token) {
                Ok(verified) => verified,
                Err(error) => return refuse(Refusal::new(error, level)),
            };
            let Some(store) = &shared.store else {
                let claims = verified.claims;
                log_accepted(claims.client_id(), "signature");
                return Decision::Grant(Grant { claims: Some(claims) });
            };
            let Some(token) = verified.token() else {
                return refuse(Refusal::new(AuthError::InvalidAccessToken, level));
            };
            let client_id = verified.claims.client_id();
            // Read before the store is asked: a write after this read changes it.
            let revision = store.revision(client_id);
            if revision.is_some() && revision == verified.current_at {
                log_accepted(client_id, "store (unchanged since it was asked)");
                return Decision::Grant(Grant {
                    claims: Some(verified.claims),
                });
            }
            match store.is_current_now(client_id, token) {
                Some(true) => {
                    verified.found_current(shared, revision);
                    log_accepted(client_id, "store");
                    Decision::Grant(Grant {
                        claims: Some(verified.claims),
                    })
                }
                Some(false) => refuse(Refusal::new(AuthError::RevokedAccessToken, level)),
                None => {
                    let token = token.to_owned();
                    let memo = revision
                        .filter(|_| verified.checked.is_none())
                        .map(|revision| (revision, verified.now));
                    Decision::AskStore(StoreCheck {
                        shared: shared.clone(),
                        claims: verified.claims,
                        token,
                        memo,
                    })
                }
            }
        }
    }
}

/// The client address of a request, for the brute-force protection: the configured
/// extractor, else a `SocketAddr` or `IpAddr` in the extensions, else (feature `axum`)
/// axum's `ConnectInfo<SocketAddr>`, else (feature `tonic`) the peer address tonic's
/// server records for TCP connections.
pub(crate) fn client_address(shared: &Shared, extensions: &Extensions) -> Option<IpAddr> {
    if let Some(extract) = &shared.client_address {
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
    #[cfg(feature = "tonic")]
    if let Some(addr) = extensions
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
    {
        return Some(addr.ip());
    }
    None
}

/// Refuses a locked-out address before any credential work, and a request the failure
/// limit cannot count because the server gives no client address: served, it would make
/// the protection that is on by default silently off.
pub(crate) fn check_not_locked_out(shared: &Shared, ip: Option<IpAddr>, level: Level) -> Result<(), Refusal> {
    match (&shared.limiter, ip) {
        (Some(limiter), Some(ip)) => limiter.check(ip).map_err(|retry_after| Refusal {
            error: AuthError::TooManyAttempts,
            level,
            retry_after: Some(retry_after),
        }),
        (Some(_), None) => {
            static LOGGED: std::sync::Once = std::sync::Once::new();
            LOGGED.call_once(|| {
                tracing::error!(
                    target: "fastauth",
                    "a request the failure limit counts came without a client address, so it is \
                     refused (500), as is every such request: serve with the client address (axum: \
                     into_make_service_with_connect_info::<SocketAddr>(); hyper: insert the peer's \
                     SocketAddr into the request extensions), set FastAuthBuilder::client_address, \
                     or turn the limit off with failure_limit(None)"
                );
            });
            Err(Refusal::new(AuthError::ClientAddressUnknown, level))
        }
        (None, _) => Ok(()),
    }
}

/// Counts a failed credential check of `ip` (a request without one was refused before
/// its credential was checked).
pub(crate) fn record_failure(shared: &Shared, ip: Option<IpAddr>) {
    if let (Some(limiter), Some(ip)) = (&shared.limiter, ip)
        && limiter.record_failure(ip).is_err()
    {
        tracing::warn!(target: "fastauth", client_ip = %ip, "too many failed attempts: address locked out");
    }
}

/// The master check with brute-force protection: a locked-out address is refused
/// first, and a wrong master token counts as a failure.
pub(crate) fn check_master(shared: &Shared, headers: &HeaderMap, ip: Option<IpAddr>) -> Result<(), Refusal> {
    check_not_locked_out(shared, ip, Level::Master)?;
    shared.master.check(headers).map_err(|error| {
        if error == AuthError::InvalidMasterToken {
            record_failure(shared, ip);
        }
        Refusal::new(error, Level::Master)
    })
}

/// An access token that verified, and its claims.
pub(crate) struct Verified<'t> {
    pub(crate) claims: Claims,
    /// The request's token as a `str`, when it was verified now; the claims of a cache
    /// hit carry the token instead (the store's lookup takes a `str`).
    checked: Option<&'t str>,
    /// A cache hit's: the store's revision when it last found the token current.
    current_at: Option<u64>,
    /// When it was verified (seconds since the Unix epoch).
    now: u64,
}

impl Verified<'_> {
    /// The token that verified, as a `str`, without checking its bytes again.
    pub(crate) fn token(&self) -> Option<&str> {
        self.checked.or_else(|| self.claims.carried_token())
    }

    /// Records in the token cache that the store found a cached token current at
    /// `revision`. Only for a cache hit: a token seen for the first time may not have
    /// been admitted, and its second request records it.
    fn found_current(&self, shared: &Shared, revision: Option<u64>) {
        if let (None, Some(revision), Some(token)) = (self.checked, revision, self.token()) {
            record_current(shared, token, revision, self.now);
        }
    }
}

fn record_current(shared: &Shared, token: &str, revision: u64, now: u64) {
    if let Some(cache) = &shared.token_cache {
        cache.found_current(token.as_bytes(), revision, now);
    }
}

/// An access token's signature and claims (no store): a token the cache holds is
/// recognised by its bytes, so only a new one pays for UTF-8 validation and the HMAC.
pub(crate) fn verify_access_token<'t>(shared: &Shared, token: &'t [u8]) -> Result<Verified<'t>, AuthError> {
    let cache = shared.token_cache.as_ref();
    let now = unix_secs_now_or_later();
    let miss = match cache.map(|cache| cache.lookup(token, now)) {
        Some(Lookup::Hit(hit)) => {
            return Ok(Verified {
                claims: hit.claims,
                checked: None,
                current_at: hit.current_at,
                now,
            });
        }
        Some(Lookup::Miss(sample)) => Some(sample),
        Some(Lookup::Skipped) | None => None,
    };
    let token = std::str::from_utf8(token).map_err(|_| AuthError::InvalidAccessToken)?;
    let claims = shared
        .codec
        .verify_at(token, TokenType::Access, now)
        .map_err(AuthError::from_access_token)?;
    if let (Some(cache), Some(sample)) = (cache, miss) {
        cache.insert_verified(sample, token, &claims, now);
    }
    Ok(Verified {
        claims,
        checked: Some(token),
        current_at: None,
        now,
    })
}

/// An access token as the layer checks it: signature and claims and, in stored mode,
/// that it is its client's current token.
pub(crate) async fn verify_access(shared: &Shared, token: &str) -> Result<Claims, AuthError> {
    let claims = verify_access_token(shared, token.as_bytes())?.claims;
    if shared.store.is_some() {
        check_stored(shared, claims.client_id(), token).await?;
    }
    Ok(claims)
}

async fn check_stored(shared: &Shared, client_id: &str, token: &str) -> Result<(), AuthError> {
    let Some(store) = &shared.store else {
        return Ok(());
    };
    // Stores that can answer from memory do so inside `is_current`; the layer asks
    // `is_current_now` itself before it comes to this.
    match store.is_current(client_id, token).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(AuthError::RevokedAccessToken),
        Err(e) => {
            log_store_error("load", &e);
            Err(AuthError::StoreUnavailable)
        }
    }
}

/// `checked`: what the token was checked against (`signature`, or also the `store`).
fn log_accepted(client_id: &str, checked: &'static str) {
    tracing::debug!(
        target: "fastauth",
        outcome = "allowed",
        level = %Level::Access,
        client_id,
        checked,
        "access token accepted"
    );
}

pub(crate) fn log_store_error(operation: &str, e: &StoreError) {
    tracing::error!(target: "fastauth", operation, error = %e, "token store error");
}
