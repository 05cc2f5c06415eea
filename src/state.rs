//! What one configured [`FastAuth`](crate::FastAuth) holds, shared (behind one `Arc`)
//! by its layers, its token router and the handle itself.

use std::{net::IpAddr, sync::Arc};

use serde::Deserialize;

use crate::{
    credentials::MasterSecret,
    limiter::FailureLimiter,
    paths::PathRules,
    response::Rejection,
    store::{TokenStore, rotation_lock::RotationLocks},
    token::{cache::TokenCache, codec::TokenCodec},
};

/// How access tokens are checked: `token_mode` in the configuration file (`"stored"` or
/// `"stateless"`), [`FastAuthBuilder::token_mode`](crate::FastAuthBuilder::token_mode) in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenMode {
    /// Signature and claims, and the token must equal the one stored for its client
    /// (fastauth-api's behaviour: one live pair per client, revocable). Issuing or
    /// refreshing replaces the client's pair, and revoking removes it. The default; it
    /// needs a [`TokenStore`](crate::store::TokenStore), which is asked on every
    /// protected request: a store that cannot answer gets the request a 503 (fail
    /// closed), never a pass.
    #[default]
    Stored,
    /// Signature and claims only: no store round trip, and no revocation before `exp`
    /// (the token router's `revoke` and `logout` answer 409). Keep access tokens
    /// short-lived here: `build` warns above an hour.
    Stateless,
}

pub(crate) type FailureHandler =
    Arc<dyn Fn(&Rejection) -> http::Response<bytes::Bytes> + Send + Sync + 'static>;

pub(crate) type AddressExtractor = Arc<dyn Fn(&http::Extensions) -> Option<IpAddr> + Send + Sync + 'static>;

pub(crate) struct Shared {
    pub(crate) rules: PathRules,
    pub(crate) master: MasterSecret,
    pub(crate) codec: TokenCodec,
    /// `Some` in stored mode, `None` in stateless mode.
    pub(crate) store: Option<Arc<dyn TokenStore>>,
    pub(crate) prefix: String,
    pub(crate) allow_query_token: bool,
    pub(crate) on_failure: Option<FailureHandler>,
    pub(crate) limiter: Option<FailureLimiter>,
    pub(crate) client_address: Option<AddressExtractor>,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) rotations: RotationLocks,
}

impl Shared {
    pub(crate) fn mode(&self) -> TokenMode {
        match self.store {
            Some(_) => TokenMode::Stored,
            None => TokenMode::Stateless,
        }
    }
}
