//! Token stores for the failure paths, and stored pairs.

use async_trait::async_trait;
use fastauth::store::{StoreError, StoredTokens, TokenStore};

/// A store whose backend cannot be reached: every call fails, as a database that is
/// down would. The layer must then fail closed (503), not open and not with a 401.
pub struct DownStore;

#[async_trait]
impl TokenStore for DownStore {
    async fn save(&self, _: &str, _: &StoredTokens) -> Result<(), StoreError> {
        Err(StoreError::new("connection refused"))
    }

    async fn load(&self, _: &str) -> Result<Option<StoredTokens>, StoreError> {
        Err(StoreError::new("connection refused"))
    }

    async fn revoke(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::new("connection refused"))
    }
}

/// A stored pair.
pub fn pair(access: &str, refresh: &str) -> StoredTokens {
    StoredTokens {
        access_token: access.into(),
        refresh_token: refresh.into(),
    }
}
