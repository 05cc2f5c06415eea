//! [`CachedTokenStore`]: a bounded, short-lived cache in front of any [`TokenStore`].

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    num::NonZeroU64,
    sync::{
        RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{
            AtomicU64,
            Ordering::{AcqRel, Acquire, Release},
        },
    },
    time::Duration,
};

use async_trait::async_trait;

use super::{Rotation, StoredTokens, TokenStore};
use crate::{
    clock::{monotonic_nanos_now_or_earlier, monotonic_nanos_now_or_later},
    error::StoreError,
};

/// Default upper bound on cached clients.
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 10_000;
/// Default lifetime of a cached pair.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);
/// Default lifetime of a cached "nothing stored" answer.
pub const DEFAULT_CACHE_NEGATIVE_TTL: Duration = Duration::from_secs(1);

/// Shards spread concurrent requests over several locks.
const SHARDS: usize = 16;
/// TTLs above this are held to it: a year is longer than any token lives.
const LONGEST_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// A stored pair expires at the end of this many periods of `ttl / PERIODS_PER_TTL` (see
/// [`CachedTokenStore::revision`](TokenStore::revision)), so it is served for at least
/// seven eighths of the TTL (less two ticks of the coarse clock, src/clock.rs) and never
/// longer than the TTL.
const PERIODS_PER_TTL: u64 = 8;

/// Caches the answers of another [`TokenStore`]: a bounded, short-lived cache in front of
/// any store.
///
/// In stored mode the layer calls [`TokenStore::load`] on every protected request. With
/// a network store such as [`HttpTokenStore`](super::HttpTokenStore) that is one round
/// trip per request; this wrapper answers repeated loads of the same client from memory
/// (a read lock on one of several shards and a clone of the stored pair).
///
/// ```
/// use std::time::Duration;
/// use fastauth::{
///     FastAuth,
///     store::{CachedTokenStore, HttpTokenStore},
/// };
///
/// # fn main() -> Result<(), fastauth::ConfigError> {
/// let store = CachedTokenStore::builder(HttpTokenStore::new("http://127.0.0.1:6789/mydb/data")?)
///     .max_entries(50_000)
///     .ttl(Duration::from_secs(5))
///     .negative_ttl(Duration::from_secs(1))
///     .build();
/// let auth = FastAuth::builder()
///     .ignore_environment()
///     .cryptography_key("an example key of at least thirty-two bytes")
///     .access_paths(["/api"])
///     .store(store)
///     .build()?;
/// # let _ = auth;
/// # Ok(()) }
/// ```
///
/// # What is cached, and for how long
///
/// - A stored pair returned by the inner store is kept for the [`ttl`](CachedTokenStoreBuilder::ttl)
///   (default 5 s), or a little less: expiries are rounded down to an eighth of the TTL,
///   so an entry lives between seven eighths of the TTL and the whole of it. (The clock
///   is the kernel's coarse one on Linux, read once a request: an entry can end up to two
///   of its ticks, 1–10 ms each, before the seven eighths, never after the TTL.) That lets
///   the store keep a [revision](TokenStore::revision) that moves on when cached answers
///   may have expired, so the layer need not ask it about a token it already found
///   current, and still sees a revocation made elsewhere within the TTL.
/// - "Nothing stored" is kept for the shorter [`negative_ttl`](CachedTokenStoreBuilder::negative_ttl)
///   (default 1 s): a client that has just been issued a pair by another instance is
///   refused for at most that long.
/// - Errors of the inner store are never cached: the next call asks the inner store again.
/// - This instance's own [`save`](TokenStore::save), [`revoke`](TokenStore::revoke) and
///   [`rotate`](TokenStore::rotate) go to the inner store first and then update the
///   cache, so they take effect here immediately. If the inner store fails, the
///   client's entry is dropped (the write may or may not have happened), never kept.
/// - At most [`max_entries`](CachedTokenStoreBuilder::max_entries) clients (default
///   10 000) are held; when full, the oldest-inserted entries are evicted first, which,
///   as every entry lives for a fixed time, are also the first to expire.
///
/// # How stale another instance can be
///
/// Nothing tells this cache about writes made by *other* instances sharing the same
/// database. A pair revoked or replaced elsewhere is still accepted here until the
/// entry expires: **up to the TTL**. A pair issued elsewhere is refused here for up to
/// the negative TTL. That is the trade: one database round trip saved on nearly every
/// request, against a bounded delay before a revocation made elsewhere is seen. Choose
/// the TTL as the longest delay you accept for that; with a single instance, or when
/// every revocation goes through the instance that serves the client, nothing is stale.
///
/// A load that was already on its way to the inner store when this instance wrote the
/// same client never caches its (possibly older) answer.
///
/// The cache holds the tokens in memory in plain text, as the inner store's answers
/// are. The layer only loads after an access token's signature was verified, so
/// unauthenticated callers cannot fill the cache with entries of their choosing.
pub struct CachedTokenStore<S> {
    inner: S,
    shards: Box<[Stripe]>,
    /// Seeds the choice of shard.
    seed: u64,
    ttl: Duration,
    negative_ttl: Duration,
    max_entries: usize,
    /// Expiries of stored pairs and revisions count periods from here, on the coarse
    /// monotonic clock (src/clock.rs): the revision reads it on every protected request.
    created: u64,
    /// `ttl / PERIODS_PER_TTL` in nanoseconds; `None` when stored pairs are not cached.
    period: Option<NonZeroU64>,
}

/// A shard, and its revision: read without the lock.
struct Stripe {
    shard: RwLock<Shard>,
    /// Moves on after every change of the shard's entries and in every new period.
    revision: AtomicU64,
    /// When the latest period the revision moved on for ends, in nanoseconds after
    /// `CachedTokenStore::created`: a comparison a request, not a division.
    period_ends: AtomicU64,
}

/// Configures a [`CachedTokenStore`]. Obtain it from [`CachedTokenStore::builder`].
#[must_use]
pub struct CachedTokenStoreBuilder<S> {
    inner: S,
    max_entries: usize,
    ttl: Duration,
    negative_ttl: Duration,
}

impl<S: fmt::Debug> fmt::Debug for CachedTokenStoreBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedTokenStoreBuilder")
            .field("inner", &self.inner)
            .field("max_entries", &self.max_entries)
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .finish()
    }
}

impl<S> CachedTokenStoreBuilder<S> {
    /// The most clients held at once (default 10 000). `0` disables caching.
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// How long a stored pair is served from the cache (default 5 s): the longest
    /// time a revocation made by another instance goes unseen here. Zero disables it.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long "nothing stored" is served from the cache (default 1 s): the longest
    /// time a pair issued by another instance is refused here. Zero disables it.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Builds the store with an empty cache.
    pub fn build(self) -> CachedTokenStore<S> {
        let ttl = self.ttl.min(LONGEST_TTL);
        let period = ttl.as_nanos().checked_div(u128::from(PERIODS_PER_TTL));
        let period = period
            .and_then(|nanos| u64::try_from(nanos).ok())
            .and_then(NonZeroU64::new);
        // Never more shards than entries, so the per-shard bounds add up to `max_entries`.
        let shards = SHARDS.min(self.max_entries).max(1);
        let shards = (0..shards)
            .map(|i| {
                // `shards` is at least 1.
                let share = self.max_entries.checked_div(shards).unwrap_or(0);
                let remainder = self.max_entries.checked_rem(shards).unwrap_or(0);
                let capacity = share.saturating_add(usize::from(i < remainder));
                Stripe {
                    shard: RwLock::new(Shard::new(capacity)),
                    revision: AtomicU64::new(0),
                    // The first period, 0, ends after one.
                    period_ends: AtomicU64::new(period.map_or(u64::MAX, NonZeroU64::get)),
                }
            })
            .collect();
        CachedTokenStore {
            inner: self.inner,
            shards,
            seed: rand::random(),
            ttl,
            negative_ttl: self.negative_ttl.min(LONGEST_TTL),
            max_entries: self.max_entries,
            created: monotonic_nanos_now_or_earlier(),
            period,
        }
    }
}

impl<S> CachedTokenStore<S> {
    /// A cache with the default bounds in front of `inner`.
    pub fn new(inner: S) -> Self {
        Self::builder(inner).build()
    }

    /// A builder for a cache in front of `inner`.
    pub fn builder(inner: S) -> CachedTokenStoreBuilder<S> {
        CachedTokenStoreBuilder {
            inner,
            max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            ttl: DEFAULT_CACHE_TTL,
            negative_ttl: DEFAULT_CACHE_NEGATIVE_TTL,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Forgets what is cached for `client_id`, for example when another instance
    /// announces a revocation through a channel of your own.
    pub fn invalidate(&self, client_id: &str) {
        self.write(client_id).remove(client_id);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for stripe in self.shards.iter() {
            stripe.changed(lock_write(&stripe.shard)).clear();
        }
    }

    /// How many clients have an entry, expired ones that were not evicted yet included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock_read(&s.shard).map.len()).sum()
    }

    /// Whether no client has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stripe(&self, client_id: &str) -> &Stripe {
        // This only spreads clients over the locks (the maps inside hash with foldhash),
        // so a cheap seeded mix will do: a second SipHash per lookup showed in profiles.
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let (words, tail) = client_id.as_bytes().as_chunks::<8>();
        let mut h = self.seed;
        for word in words {
            h = (h ^ u64::from_le_bytes(*word)).wrapping_mul(K).rotate_left(29);
        }
        for &byte in tail {
            h = (h ^ u64::from(byte)).wrapping_mul(K).rotate_left(29);
        }
        let index = h.checked_rem(self.shards.len() as u64).unwrap_or(0) as usize;
        #[allow(
            clippy::indexing_slicing,
            reason = "the index is below the shard count, which build() makes at least 1"
        )]
        &self.shards[index]
    }

    /// The shard of `client_id`, locked for a change: its revision moves on when the
    /// change is done.
    fn write(&self, client_id: &str) -> Changing<'_> {
        let stripe = self.stripe(client_id);
        stripe.changed(lock_write(&stripe.shard))
    }

    /// Periods of `period` nanoseconds since the store was created, at `now`.
    fn period_at(&self, now: u64, period: NonZeroU64) -> u64 {
        now.saturating_sub(self.created) / period
    }

    /// When an answer read now stops being served: a stored pair at the end of the
    /// period `PERIODS_PER_TTL` after the current one, "nothing stored" after the
    /// negative TTL. `None`: not cached.
    fn expiry(&self, value: &Option<StoredTokens>) -> Option<u64> {
        // The earlier bound: an entry never outlives its TTL by the clock's tick.
        let now = monotonic_nanos_now_or_earlier();
        match value {
            Some(_) => {
                let period = self.period?;
                let end = self.period_at(now, period).checked_add(PERIODS_PER_TTL)?;
                self.created.checked_add(end.checked_mul(period.get())?)
            }
            None if self.negative_ttl.is_zero() => None,
            None => now.checked_add(u64::try_from(self.negative_ttl.as_nanos()).ok()?),
        }
    }

    fn cached(&self, client_id: &str) -> Lookup {
        let stripe = self.stripe(client_id);
        let shard = lock_read(&stripe.shard);
        match shard.map.get(client_id) {
            Some(entry) if entry.expires > monotonic_nanos_now_or_later() => Lookup::Hit(entry.value.clone()),
            // Read under the lock: a change moves the revision on before it unlocks.
            _ => Lookup::Miss {
                revision: stripe.revision.load(Acquire),
            },
        }
    }

    /// Records what this instance just wrote (or dropped the entry when the write
    /// failed), and makes loads that were in flight meanwhile discard their answers.
    fn after_write(&self, client_id: &str, written: Option<Option<StoredTokens>>) {
        let mut shard = self.write(client_id);
        match written {
            Some(value) => {
                let expires = self.expiry(&value);
                shard.insert(client_id, value, expires);
            }
            None => shard.remove(client_id),
        }
    }
}

impl Stripe {
    /// The shard, locked: when the guard is dropped, the change is done and visible to
    /// whoever takes the lock after reading the new revision.
    fn changed<'a>(&'a self, shard: RwLockWriteGuard<'a, Shard>) -> Changing<'a> {
        Changing {
            shard,
            revision: &self.revision,
        }
    }
}

/// A shard locked for a change; moves its revision on when dropped (with `Release`,
/// still holding the lock: fields drop after `drop` runs).
struct Changing<'a> {
    shard: RwLockWriteGuard<'a, Shard>,
    revision: &'a AtomicU64,
}

impl std::ops::Deref for Changing<'_> {
    type Target = Shard;

    fn deref(&self) -> &Shard {
        &self.shard
    }
}

impl std::ops::DerefMut for Changing<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}

impl Changing<'_> {
    /// Whether nothing changed the shard since `revision` was read under its lock.
    fn unchanged_since(&self, revision: u64) -> bool {
        self.revision.load(Acquire) == revision
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.revision.fetch_add(1, Release);
    }
}

enum Lookup {
    Hit(Option<StoredTokens>),
    Miss { revision: u64 },
}

impl<S: fmt::Debug> fmt::Debug for CachedTokenStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedTokenStore")
            .field("inner", &self.inner)
            .field("max_entries", &self.max_entries)
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("len", &self.len())
            .finish()
    }
}

#[async_trait]
impl<S: TokenStore> TokenStore for CachedTokenStore<S> {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        let result = self.inner.save(client_id, tokens).await;
        self.after_write(client_id, result.is_ok().then(|| Some(tokens.clone())));
        result
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        let revision = match self.cached(client_id) {
            Lookup::Hit(value) => return Ok(value),
            Lookup::Miss { revision } => revision,
        };
        let value = self.inner.load(client_id).await?;
        let expires = self.expiry(&value);
        let mut shard = self.write(client_id);
        // A write to this shard since the lookup may have made `value` outdated (and in
        // a new period, the answer may be older than the entry's expiry allows for).
        if shard.unchanged_since(revision) {
            shard.insert(client_id, value.clone(), expires);
        }
        Ok(value)
    }

    async fn is_current(&self, client_id: &str, access_token: &str) -> Result<bool, StoreError> {
        if let Some(answer) = self.is_current_now(client_id, access_token) {
            return Ok(answer);
        }
        Ok(self
            .load(client_id)
            .await?
            .is_some_and(|stored| stored.has_access_token(access_token)))
    }

    fn is_current_now(&self, client_id: &str, access_token: &str) -> Option<bool> {
        // A hit compares under the read lock, without copying the pair.
        let shard = lock_read(&self.stripe(client_id).shard);
        let entry = shard.map.get(client_id)?;
        (entry.expires > monotonic_nanos_now_or_later()).then(|| {
            entry
                .value
                .as_ref()
                .is_some_and(|stored| stored.has_access_token(access_token))
        })
    }

    /// Moves on after every change of the client's shard (this instance's writes, loads
    /// from the inner store, evictions, [`invalidate`](Self::invalidate), [`clear`](Self::clear))
    /// and in every new eighth of the TTL. A stored pair expires at the end of such a
    /// period, so an answer the layer remembers with a revision ends no later than the
    /// entry it came from: a revocation made by another instance is still seen within the
    /// TTL. `None` when stored pairs are not cached (a zero TTL).
    fn revision(&self, client_id: &str) -> Option<u64> {
        let period = self.period?;
        let stripe = self.stripe(client_id);
        let now = monotonic_nanos_now_or_later();
        if now.saturating_sub(self.created) >= stripe.period_ends.load(Acquire) {
            let ends = self
                .period_at(now, period)
                .saturating_add(1)
                .saturating_mul(period.get());
            // Moved on before the new period is published, so whoever reads the new
            // period reads the new revision too, and whoever does not moves it on itself.
            stripe.revision.fetch_add(1, AcqRel);
            stripe.period_ends.fetch_max(ends, Release);
        }
        Some(stripe.revision.load(Acquire))
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        let result = self.inner.revoke(client_id).await;
        self.after_write(client_id, result.is_ok().then_some(None));
        result
    }

    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        // Always the inner store's own compare-and-swap, never against cached data.
        let result = self.inner.rotate(client_id, presented_refresh, new).await;
        // Stale: what is stored now is unknown here, so the entry goes.
        let written = matches!(result, Ok(Rotation::Rotated)).then(|| Some(new.clone()));
        self.after_write(client_id, written);
        result
    }
}

fn lock_read(shard: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    // Every mutation leaves the shard consistent between statements that could panic
    // (only allocation can), so a poisoned lock is still sound to use.
    shard.read().unwrap_or_else(|e| e.into_inner())
}

fn lock_write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    shard.write().unwrap_or_else(|e| e.into_inner())
}

struct Entry {
    value: Option<StoredTokens>,
    /// On the clock of `CachedTokenStore::created`.
    expires: u64,
    /// Matches the entry's newest record in `Shard::order`.
    stamp: u64,
}

/// One lock's worth of entries, evicted in insertion order.
struct Shard {
    /// Randomly seeded foldhash: SipHash was a tenth of a hit's cost.
    map: HashMap<String, Entry, foldhash::fast::RandomState>,
    /// Insertion order; records whose stamp no longer matches the entry are stale
    /// and skipped (the entry was re-inserted or removed since).
    order: VecDeque<(String, u64)>,
    capacity: usize,
    next_stamp: u64,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::default(),
            order: VecDeque::new(),
            capacity,
            next_stamp: 0,
        }
    }

    /// Holds `value` until `expires`; `None`: not cached (the entry goes).
    fn insert(&mut self, client_id: &str, value: Option<StoredTokens>, expires: Option<u64>) {
        let Some(expires) = expires.filter(|_| self.capacity > 0) else {
            self.map.remove(client_id);
            return;
        };
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        let entry = Entry {
            value,
            expires,
            stamp,
        };
        match self.map.get_mut(client_id) {
            Some(existing) => *existing = entry,
            None => {
                self.map.insert(client_id.to_owned(), entry);
            }
        }
        self.order.push_back((client_id.to_owned(), stamp));
        while self.map.len() > self.capacity {
            let Some((oldest, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&oldest).is_some_and(|e| e.stamp == stamp) {
                self.map.remove(&oldest);
            }
        }
        // Re-inserted and removed keys leave stale records behind; keep `order` bounded.
        if self.order.len() > self.capacity.saturating_mul(2).saturating_add(16) {
            let map = &self.map;
            self.order
                .retain(|(key, stamp)| map.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }

    fn remove(&mut self, client_id: &str) {
        self.map.remove(client_id);
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicBool, AtomicUsize, Ordering},
        },
        time::Instant,
    };

    use tokio::sync::{Notify, Semaphore};

    use super::*;
    use crate::store::MemoryTokenStore;

    fn pair(a: &str, r: &str) -> StoredTokens {
        StoredTokens {
            access_token: a.into(),
            refresh_token: r.into(),
        }
    }

    /// A memory store that counts loads and fails on demand.
    #[derive(Default)]
    struct Probe {
        store: MemoryTokenStore,
        loads: AtomicUsize,
        fail: AtomicBool,
    }

    impl Probe {
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }

        fn fail(&self, fail: bool) {
            self.fail.store(fail, Ordering::SeqCst);
        }

        fn check(&self) -> Result<(), StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                Err(StoreError::new("injected fault"))
            } else {
                Ok(())
            }
        }
    }

    #[async_trait]
    impl TokenStore for Probe {
        async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
            self.check()?;
            self.store.save(client_id, tokens).await
        }

        async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            self.check()?;
            self.store.load(client_id).await
        }

        async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
            self.check()?;
            self.store.revoke(client_id).await
        }

        async fn rotate(
            &self,
            client_id: &str,
            presented_refresh: &str,
            new: &StoredTokens,
        ) -> Result<Rotation, StoreError> {
            self.check()?;
            self.store.rotate(client_id, presented_refresh, new).await
        }
    }

    fn cached(ttl: Duration, negative_ttl: Duration) -> CachedTokenStore<Arc<Probe>> {
        CachedTokenStore::builder(Arc::new(Probe::default()))
            .ttl(ttl)
            .negative_ttl(negative_ttl)
            .build()
    }

    const LONG: Duration = Duration::from_secs(600);

    /// Polls until `f` holds, giving up (and failing) after a generous bound.
    async fn eventually(mut f: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f().await {
            assert!(Instant::now() < deadline, "condition not reached in 10 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn a_hit_does_not_reach_the_inner_store() {
        let cache = cached(LONG, LONG);
        cache.inner().store.save("c", &pair("a", "r")).await.unwrap();
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a", "r")));
        assert_eq!(cache.inner().loads(), 1);
        for _ in 0..3 {
            assert_eq!(cache.load("c").await.unwrap(), Some(pair("a", "r")));
        }
        assert_eq!(cache.inner().loads(), 1);
        // Another client is a miss of its own.
        assert_eq!(cache.load("d").await.unwrap(), None);
        assert_eq!(cache.inner().loads(), 2);
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn only_a_live_hit_is_answered_without_waiting() {
        let cache = cached(LONG, LONG);
        cache.inner().store.save("c", &pair("a", "r")).await.unwrap();
        assert_eq!(
            cache.is_current_now("c", "a"),
            None,
            "a miss needs the inner store"
        );
        assert!(cache.is_current("c", "a").await.unwrap());
        assert_eq!(cache.is_current_now("c", "a"), Some(true));
        assert_eq!(cache.is_current_now("c", "r"), Some(false));
        assert_eq!(cache.is_current_now("c", "other"), Some(false));
        cache.revoke("c").await.unwrap();
        assert_eq!(cache.is_current_now("c", "a"), Some(false));

        let cache = cached(Duration::from_millis(5), LONG);
        cache.inner().store.save("c", &pair("a", "r")).await.unwrap();
        assert!(cache.is_current("c", "a").await.unwrap());
        eventually(async || cache.is_current_now("c", "a").is_none()).await;
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let cache = cached(Duration::from_millis(5), LONG);
        cache.inner().store.save("c", &pair("a1", "r1")).await.unwrap();
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a1", "r1")));
        // Written behind the cache's back, as another instance would.
        cache.inner().store.save("c", &pair("a2", "r2")).await.unwrap();
        eventually(async || cache.load("c").await.unwrap() == Some(pair("a2", "r2"))).await;
        assert!(cache.inner().loads() >= 2);
    }

    #[tokio::test]
    async fn the_revision_moves_on_with_every_change_and_only_then() {
        // Periods of 75 s: none begins while this runs.
        let cache = cached(LONG, LONG);
        let revision = || cache.revision("c").unwrap();
        let mut last = revision();
        let mut moved = |what: &str, expected: bool| {
            let now = revision();
            assert_eq!(now != last, expected, "{what}: {last} -> {now}");
            last = now;
        };
        moved("nothing", false);
        cache.inner().store.save("c", &pair("a1", "r1")).await.unwrap();
        moved("a write behind the cache's back (seen as the TTL allows)", false);
        cache.load("c").await.unwrap();
        moved("a load from the inner store", true);
        cache.load("c").await.unwrap();
        assert_eq!(cache.is_current_now("c", "a1"), Some(true));
        moved("answers from the cache", false);
        cache.save("c", &pair("a2", "r2")).await.unwrap();
        moved("save", true);
        cache.rotate("c", "r2", &pair("a3", "r3")).await.unwrap();
        moved("rotate", true);
        cache.revoke("c").await.unwrap();
        moved("revoke", true);
        cache.invalidate("c");
        moved("invalidate", true);
        cache.clear();
        moved("clear", true);

        let uncached = cached(Duration::ZERO, LONG);
        assert_eq!(uncached.revision("c"), None, "pairs are not cached");
    }

    #[tokio::test]
    async fn the_revision_moves_on_in_every_period_and_not_within_one() {
        // Periods of 20 ms; a read a little over a period after the last is in the next.
        let ttl = Duration::from_millis(160);
        let period = ttl / 8;
        let cache = cached(ttl, LONG);
        let revision = || cache.revision("c").unwrap();
        let mut last = revision();
        for round in 0..6 {
            tokio::time::sleep(period + 2 * crate::clock::tick() + Duration::from_millis(2)).await;
            // Three reads in a row: a period boundary falls between two of them at most.
            let (first, second, third) = (revision(), revision(), revision());
            assert_ne!(first, last, "round {round}: a new period and the same revision");
            assert!(
                first == second || second == third,
                "round {round}: moved on within a period: {first}, {second}, {third}"
            );
            last = third;
        }
    }

    #[tokio::test]
    async fn a_pair_is_served_for_seven_eighths_of_the_ttl_to_all_of_it_and_the_revision_ends_with_it() {
        let ttl = Duration::from_millis(160);
        let cache = cached(ttl, LONG);
        // Into the first period (of 20 ms): a pair held for exactly the TTL would then
        // expire in the middle of one, after the layer remembered it in that period.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = Instant::now();
        cache.save("c", &pair("a", "r")).await.unwrap();
        let after = Instant::now();
        let deadline = after + Duration::from_secs(10);
        // The revision read before the latest answer that found the pair current: what
        // the layer would remember it by.
        let mut remembered = None;
        loop {
            let read = cache.revision("c");
            let asked = Instant::now();
            let answer = cache.is_current_now("c", "a");
            let answered = Instant::now();
            match answer {
                Some(true) => {
                    assert!(
                        asked < after + ttl,
                        "served {:?} after it was cached",
                        asked - after
                    );
                    remembered = read;
                }
                None => {
                    assert!(
                        // The coarse clock's bounds are a tick apart (src/clock.rs).
                        answered + 2 * crate::clock::tick() >= before + ttl * 7 / 8,
                        "expired {:?} after it was cached",
                        answered - before
                    );
                    assert_ne!(
                        cache.revision("c"),
                        remembered,
                        "the entry expired and the revision it was found current at did not move on"
                    );
                    break;
                }
                Some(false) => panic!("the pair is current"),
            }
            assert!(Instant::now() < deadline, "never expired");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn nothing_stored_is_cached_for_the_negative_ttl() {
        let cache = cached(LONG, LONG);
        assert_eq!(cache.load("c").await.unwrap(), None);
        cache.inner().store.save("c", &pair("a", "r")).await.unwrap();
        assert_eq!(cache.load("c").await.unwrap(), None, "negative answer cached");
        assert_eq!(cache.inner().loads(), 1);

        let cache = cached(LONG, Duration::from_millis(5));
        assert_eq!(cache.load("c").await.unwrap(), None);
        cache.inner().store.save("c", &pair("a", "r")).await.unwrap();
        eventually(async || cache.load("c").await.unwrap().is_some()).await;
        // Now positive, and held for the long TTL.
        let loads = cache.inner().loads();
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a", "r")));
        assert_eq!(cache.inner().loads(), loads);
    }

    #[tokio::test]
    async fn zero_ttls_disable_caching() {
        let cache = cached(Duration::ZERO, Duration::ZERO);
        cache.save("c", &pair("a", "r")).await.unwrap();
        cache.load("c").await.unwrap();
        cache.load("c").await.unwrap();
        cache.load("d").await.unwrap();
        cache.load("d").await.unwrap();
        assert_eq!(cache.inner().loads(), 4);
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn own_writes_update_the_cache() {
        let cache = cached(LONG, LONG);
        assert_eq!(cache.load("c").await.unwrap(), None);

        cache.save("c", &pair("a1", "r1")).await.unwrap();
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a1", "r1")));

        assert_eq!(
            cache.rotate("c", "r1", &pair("a2", "r2")).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a2", "r2")));

        cache.revoke("c").await.unwrap();
        assert_eq!(cache.load("c").await.unwrap(), None);

        // All answered from the cache after the first miss.
        assert_eq!(cache.inner().loads(), 1);
        assert_eq!(cache.inner().store.load("c").await.unwrap(), None);
    }

    #[tokio::test]
    async fn rotate_uses_the_inner_store_not_the_cache() {
        let cache = cached(LONG, LONG);
        cache.save("c", &pair("a1", "r1")).await.unwrap();
        // Rotated elsewhere: the cache still holds r1.
        cache.inner().store.save("c", &pair("a2", "r2")).await.unwrap();
        assert_eq!(
            cache.rotate("c", "r1", &pair("a3", "r3")).await.unwrap(),
            Rotation::Stale
        );
        // The stale verdict drops the outdated entry.
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a2", "r2")));
        assert_eq!(
            cache.inner().store.load("c").await.unwrap(),
            Some(pair("a2", "r2"))
        );
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = cached(LONG, LONG);
        cache.inner().store.save("c", &pair("a", "r")).await.unwrap();
        cache.inner().fail(true);
        assert!(cache.load("c").await.is_err());
        assert!(cache.load("c").await.is_err());
        assert_eq!(cache.inner().loads(), 2);
        assert!(cache.is_empty());
        cache.inner().fail(false);
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a", "r")));
    }

    #[tokio::test]
    async fn a_failed_write_drops_the_entry() {
        let cache = cached(LONG, LONG);
        cache.save("c", &pair("a1", "r1")).await.unwrap();
        cache.save("d", &pair("d1", "e1")).await.unwrap();
        cache.save("e", &pair("e1", "f1")).await.unwrap();
        // The inner store may have applied a write that reported an error (a timeout
        // after the database wrote it): here it did.
        cache.inner().store.save("c", &pair("a2", "r2")).await.unwrap();
        cache.inner().store.revoke("d").await.unwrap();
        cache.inner().store.save("e", &pair("e2", "f2")).await.unwrap();
        cache.inner().fail(true);
        assert!(cache.save("c", &pair("a2", "r2")).await.is_err());
        assert!(cache.revoke("d").await.is_err());
        assert!(cache.rotate("e", "f1", &pair("e3", "f3")).await.is_err());
        assert!(cache.is_empty());
        cache.inner().fail(false);
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a2", "r2")));
        assert_eq!(cache.load("d").await.unwrap(), None);
        assert_eq!(cache.load("e").await.unwrap(), Some(pair("e2", "f2")));
        assert_eq!(cache.inner().loads(), 3);
    }

    #[tokio::test]
    async fn size_stays_bounded() {
        for max in [1, 7, 16, 100] {
            let cache = CachedTokenStore::builder(Arc::new(Probe::default()))
                .max_entries(max)
                .ttl(LONG)
                .negative_ttl(LONG)
                .build();
            for i in 0..(max * 5) {
                let id = format!("client-{i}");
                cache.save(&id, &pair(&id, "r")).await.unwrap();
                // Re-inserts and removals must not grow the bookkeeping either.
                cache.save(&id, &pair(&id, "r2")).await.unwrap();
                assert!(cache.len() <= max, "{} entries with max {max}", cache.len());
            }
            assert!(!cache.is_empty());
            let order: usize = cache.shards.iter().map(|s| lock_read(&s.shard).order.len()).sum();
            assert!(
                order <= 2 * max + 16 * cache.shards.len(),
                "order grew to {order}"
            );
            // The newest entry survived, the oldest was evicted.
            let loads = cache.inner().loads();
            let newest = format!("client-{}", max * 5 - 1);
            assert_eq!(cache.load(&newest).await.unwrap(), Some(pair(&newest, "r2")));
            assert_eq!(cache.inner().loads(), loads);
        }
        let disabled = CachedTokenStore::builder(Arc::new(Probe::default()))
            .max_entries(0)
            .build();
        disabled.save("c", &pair("a", "r")).await.unwrap();
        disabled.load("c").await.unwrap();
        disabled.load("c").await.unwrap();
        assert_eq!(disabled.inner().loads(), 2);
        assert!(disabled.is_empty());
    }

    #[tokio::test]
    async fn the_oldest_entry_is_evicted_first() {
        let cache = CachedTokenStore::builder(Arc::new(Probe::default()))
            .max_entries(1)
            .ttl(LONG)
            .build();
        cache.save("c", &pair("a", "r")).await.unwrap();
        cache.save("d", &pair("b", "s")).await.unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.load("d").await.unwrap(), Some(pair("b", "s")));
        assert_eq!(cache.inner().loads(), 0);
        assert_eq!(cache.load("c").await.unwrap(), Some(pair("a", "r")));
        assert_eq!(cache.inner().loads(), 1);
    }

    #[tokio::test]
    async fn invalidate_and_clear() {
        let cache = cached(LONG, LONG);
        cache.save("c", &pair("a", "r")).await.unwrap();
        cache.save("d", &pair("b", "s")).await.unwrap();
        cache.invalidate("c");
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty());
    }

    /// A store whose loads wait until released, to interleave a write with a load.
    struct Gated {
        store: MemoryTokenStore,
        started: Notify,
        release: Semaphore,
    }

    #[async_trait]
    impl TokenStore for Gated {
        async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
            self.store.save(client_id, tokens).await
        }

        async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
            let answer = self.store.load(client_id).await;
            self.started.notify_one();
            self.release.acquire().await.unwrap().forget();
            answer
        }

        async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
            self.store.revoke(client_id).await
        }
    }

    #[tokio::test]
    async fn a_load_racing_a_write_does_not_cache_the_older_answer() {
        let cache = Arc::new(
            CachedTokenStore::builder(Gated {
                store: MemoryTokenStore::new(),
                started: Notify::new(),
                release: Semaphore::new(0),
            })
            .ttl(LONG)
            .negative_ttl(LONG)
            .build(),
        );
        cache.inner().store.save("c", &pair("a1", "r1")).await.unwrap();
        let load = tokio::spawn({
            let cache = cache.clone();
            async move { cache.load("c").await }
        });
        // The load has read a1 from the inner store but not returned yet.
        cache.inner().started.notified().await;
        cache.revoke("c").await.unwrap();
        cache.inner().release.add_permits(1);
        assert_eq!(load.await.unwrap().unwrap(), Some(pair("a1", "r1")));
        // The revocation stands; the older answer was not cached over it.
        assert_eq!(cache.load("c").await.unwrap(), None);
    }
}
