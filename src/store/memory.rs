//! An in-process store: for tests, single-instance services and development.

use std::{
    collections::HashMap,
    fmt,
    hash::BuildHasher,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

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
    revisions: Revisions,
}

/// The store's [revisions](TokenStore::revision): one counter for each of a fixed number
/// of stripes of clients, so that issuing tokens to one client makes the layer ask again
/// about the tokens of a few others, not of all.
struct Revisions {
    stripes: [AtomicU64; STRIPES],
    hasher: RandomState,
}

const STRIPES: usize = 64;

impl Revisions {
    fn of(&self, client_id: &str) -> &AtomicU64 {
        let stripe = self.hasher.hash_one(client_id) as usize % STRIPES;
        #[allow(clippy::indexing_slicing, reason = "the index is below STRIPES")]
        &self.stripes[stripe]
    }
}

impl Default for Revisions {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| AtomicU64::new(0)),
            hasher: RandomState::default(),
        }
    }
}

impl fmt::Debug for Revisions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revisions")
            .field("stripes", &STRIPES)
            .finish_non_exhaustive()
    }
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

    /// Marks a change to `client_id`'s pair. Called with the write lock still held, so a
    /// reader that sees the new revision and then takes the read lock sees the change.
    fn changed(&self, client_id: &str) {
        self.revisions.of(client_id).fetch_add(1, Ordering::Release);
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        let mut pairs = self.write();
        pairs.insert(client_id.to_owned(), tokens.clone());
        self.changed(client_id);
        Ok(())
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        Ok(self.read().get(client_id).cloned())
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        let mut pairs = self.write();
        if pairs.remove(client_id).is_some() {
            self.changed(client_id);
        }
        Ok(())
    }

    async fn is_current(&self, client_id: &str, access_token: &str) -> Result<bool, StoreError> {
        Ok(self.current(client_id, access_token))
    }

    fn is_current_now(&self, client_id: &str, access_token: &str) -> Option<bool> {
        Some(self.current(client_id, access_token))
    }

    fn revision(&self, client_id: &str) -> Option<u64> {
        Some(self.revisions.of(client_id).load(Ordering::Acquire))
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
                self.changed(client_id);
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

    #[tokio::test]
    async fn the_revision_moves_on_every_write_and_only_then() {
        let store = MemoryTokenStore::new();
        let revision = |store: &MemoryTokenStore| store.revision("c").unwrap();
        let start = revision(&store);
        // Nothing to revoke, reads, and a stale rotation write nothing.
        store.revoke("c").await.unwrap();
        assert_eq!(revision(&store), start);
        store.save("c", &pair("a1", "r1")).await.unwrap();
        let saved = revision(&store);
        assert!(saved > start);
        store.load("c").await.unwrap();
        assert!(store.is_current("c", "a1").await.unwrap());
        assert_eq!(store.is_current_now("c", "a1"), Some(true));
        assert_eq!(
            store.rotate("c", "wrong", &pair("a2", "r2")).await.unwrap(),
            Rotation::Stale
        );
        assert_eq!(revision(&store), saved);
        assert_eq!(
            store.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
            Rotation::Rotated
        );
        let rotated = revision(&store);
        assert!(rotated > saved);
        store.revoke("c").await.unwrap();
        assert!(revision(&store) > rotated);
    }
}
