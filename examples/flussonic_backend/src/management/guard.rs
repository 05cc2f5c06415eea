//! The guard of the management API: a `FastAuth` at master level over `/api`, the key
//! accepted as `X-API-Key` (the old clients) or `MASTER-TOKEN`. After repeated wrong
//! keys from one address, that address gets 429 for a while.
//!
//! The one module of the backend that uses fastauth's API.

use std::net::SocketAddr;

use axum::{Router, extract::ConnectInfo};
use fastauth::FastAuth;

use super::api_key;

/// `router` with the guard around every route (so that no spelling of an `/api` path
/// reaches a handler unchecked): `/api` needs `key`, the rest passes.
pub fn protect<S>(router: Router<S>, key: &str) -> Result<Router<S>, String>
where
    S: Clone + Send + Sync + 'static,
{
    // Only the master level is used: the signing key it requires is random, since this
    // app issues no access tokens.
    let auth = FastAuth::builder()
        .ignore_environment()
        .cryptography_key(api_key::generate())
        .master_token(key)
        .master_token_header("X-API-Key")
        .master_paths(["/api"])
        // Brute-force protection counts wrong keys per client address (see `app::serve`).
        .client_address(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
        .stateless()
        .build()
        .map_err(|e| format!("management API: {e}"))?;
    Ok(router.layer(auth.layer()))
}
