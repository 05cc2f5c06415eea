//! An in-process store: for tests, single-instance services and development.

use std::{collections::HashMap, sync::RwLock};

use foldhash::fast::RandomState;

use async_trait::async_trait;

use super::{Rotation, StoredTokens, TokenStore};
use crate::error::StoreError;

/// Keeps token pairs in memory. Nothing survives a restart, and instances do not
/// share it: use [`HttpTokenStore`](crate::store) or another shared store for that.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    /// foldhash, randomly seeded: every access-level request in stored mode looks its
    /// client up here, and std's SipHash was a tenth of the layer's cost.
    pairs: RwLock<HashMap<String, StoredTokens, RandomState>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many clients have a live pair.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no client has a live pair.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, StoredTokens, RandomState>> {
        // A panic while holding the lock cannot leave a half-written map behind
        // (every write is a single insert or remove), so a poisoned lock is still sound.
        self.pairs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self, client_id: &str, access_token: &str) -> bool {
        self.read()
            .get(client_id)
            .is_some_and(|stored| stored.has_access_token(access_token))
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, StoredTokens, RandomState>> {
        self.pairs.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        self.write().insert(client_id.to_owned(), tokens.clone());
        Ok(())
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        Ok(self.read().get(client_id).cloned())
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        self.write().remove(client_id);
        Ok(())
    }

    async fn is_current(&self, client_id: &str, access_token: &str) -> Result<bool, StoreError> {
        Ok(self.current(client_id, access_token))
    }

    fn is_current_now(&self, client_id: &str, access_token: &str) -> Option<bool> {
        Some(self.current(client_id, access_token))
    }

    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        // One write lock for compare and swap: concurrent refreshes, exactly one wins.
        let mut pairs = self.write();
        match pairs.get_mut(client_id) {
            Some(current) if current.has_refresh_token(presented_refresh) => {
                *current = new.clone();
                Ok(Rotation::Rotated)
            }
            _ => Ok(Rotation::Stale),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, r: &str) -> StoredTokens {
        StoredTokens {
            access_token: a.into(),
            refresh_token: r.into(),
        }
    }

    #[tokio::test]
    async fn save_load_revoke() {
        let store = MemoryTokenStore::new();
        assert_eq!(store.load("c").await.unwrap(), None);
        store.save("c", &pair("a1", "r1")).await.unwrap();
        assert_eq!(store.load("c").await.unwrap(), Some(pair("a1", "r1")));
        store.save("c", &pair("a2", "r2")).await.unwrap();
        assert_eq!(store.load("c").await.unwrap(), Some(pair("a2", "r2")));
        assert_eq!(store.len(), 1);
        store.revoke("c").await.unwrap();
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn the_answer_without_waiting_is_the_awaited_one() {
        let store = MemoryTokenStore::new();
        store.save("c", &pair("a1", "r1")).await.unwrap();
        for (client, token, expected) in [
            ("c", "a1", true),
            ("c", "a2", false),
            ("c", "r1", false),
            ("d", "a1", false),
        ] {
            assert_eq!(store.is_current(client, token).await.unwrap(), expected);
            assert_eq!(store.is_current_now(client, token), Some(expected));
        }
        store.revoke("c").await.unwrap();
        assert_eq!(store.is_current_now("c", "a1"), Some(false));
    }

    #[tokio::test]
    async fn rotate_compares_and_swaps() {
        let store = MemoryTokenStore::new();
        assert_eq!(
            store.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
            Rotation::Stale
        );
        store.save("c", &pair("a1", "r1")).await.unwrap();
        assert_eq!(
            store.rotate("c", "r0", &pair("a2", "r2")).await.unwrap(),
            Rotation::Stale
        );
        assert_eq!(
            store.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(
            store.rotate("c", "r1", &pair("a3", "r3")).await.unwrap(),
            Rotation::Stale
        );
        assert_eq!(store.load("c").await.unwrap(), Some(pair("a2", "r2")));
    }
}
