//! A bounded cache of access tokens that passed verification.
//!
//! A client sends the same access token with every request until it expires, and
//! verifying it again — base64, HMAC-SHA256 over ~170 bytes, the claims parse — is most
//! of what the layer costs on a protected route. The cache keeps the claims of tokens
//! that were verified, so a repeat costs a lookup and a constant-time comparison.
//!
//! A hit accepts exactly what verifying again would accept:
//! - an entry is found only by the whole token, compared in constant time (a token with
//!   a borrowed signature and another payload is a miss, and then fails verification);
//! - `exp` is checked again on every hit, with the verifier's leeway;
//! - only accepted tokens are stored, never refusals, so a guess always pays for a full
//!   verification and cannot fill the cache;
//! - the keys of a [`FastAuth`](crate::FastAuth) never change, so a signature once valid
//!   stays valid until `exp`; in stored mode the store is still asked on every request,
//!   so a revoked token is refused at once.
//!
//! The cache is sharded by a keyed hash of the signature, each shard behind its own
//! `RwLock`, so hits on different cores rarely touch the same lock. A full shard first
//! drops its expired entries (at most one sweep a second), then an arbitrary one: with a few thousand entries the
//! clients that keep sending requests are back in the cache after one miss.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::RwLock,
};

use crate::{crypto::constant_time_eq_bytes, token::Claims};

/// The length of an HS256 signature in base64url without padding.
const SIGNATURE_LEN: usize = 43;

/// Shards: a power of two.
const SHARDS: usize = 16;

/// Longer tokens are verified every time: bounds the cache's memory at about
/// `capacity × 1.5 KiB`. fastauth's own access tokens are about 250 bytes.
const MAX_CACHED_TOKEN_LEN: usize = 1024;

/// The verified access tokens of one [`FastAuth`](crate::FastAuth).
pub(crate) struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    seeds: [u64; 2],
    leeway: u64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<u64, Entry, BuildHasherDefault<PreHashed>>,
    /// The second of the last sweep for expired entries: a full shard of live tokens
    /// (more clients than capacity) is swept at most once a second, not on every insert.
    swept_at: u64,
}

struct Entry {
    token: Box<str>,
    claims: Claims,
}

impl TokenCache {
    /// A cache of about `capacity` tokens (rounded up to a multiple of the shard count);
    /// `leeway` (seconds) as the verifier's. `None` for a capacity of zero.
    pub(crate) fn new(capacity: usize, leeway: u64) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        Some(Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            seeds: rand::random(),
            leeway,
        })
    }

    /// The claims of `token` if it was verified before and has not expired at `now`
    /// (seconds since the Unix epoch).
    pub(crate) fn get(&self, token: &[u8], now: u64) -> Option<Claims> {
        let key = self.key(token)?;
        // A poisoned lock only means another thread panicked while holding it; the map
        // itself is never left half-updated by the code below.
        let shard = self.shard(key)?.read().unwrap_or_else(|e| e.into_inner());
        let entry = shard.entries.get(&key)?;
        if !constant_time_eq_bytes(entry.token.as_bytes(), token)
            || entry.claims.expires_at() < now.saturating_sub(self.leeway)
        {
            return None;
        }
        Some(entry.claims.clone())
    }

    /// Remembers that `token` verified to `claims`.
    pub(crate) fn insert(&self, token: &str, claims: &Claims, now: u64) {
        let Some(key) = self.key(token.as_bytes()) else {
            return;
        };
        if token.len() > MAX_CACHED_TOKEN_LEN {
            return;
        }
        let Some(shard) = self.shard(key) else {
            return;
        };
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        let Shard { entries, swept_at } = &mut *shard;
        if entries.len() >= self.per_shard && !entries.contains_key(&key) {
            if *swept_at != now {
                *swept_at = now;
                let oldest_valid = now.saturating_sub(self.leeway);
                entries.retain(|_, entry| entry.claims.expires_at() >= oldest_valid);
            }
            if entries.len() >= self.per_shard
                && let Some(&victim) = entries.keys().next()
            {
                entries.remove(&victim);
            }
        }
        entries.insert(
            key,
            Entry {
                token: token.into(),
                claims: claims.clone(),
            },
        );
    }

    /// How many tokens are cached now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).entries.len())
            .sum()
    }

    fn shard(&self, key: u64) -> Option<&RwLock<Shard>> {
        // The map uses the low bits: pick the shard from others.
        self.shards.get((key >> 40) as usize & (SHARDS - 1))
    }

    /// A keyed hash of the signature's first 16 characters. An HS256 signature is 43
    /// characters of base64 of an HMAC output, so they carry 96 random bits; the seeds
    /// are random per cache, so nobody outside can aim at a slot. A token without such
    /// a signature is not a candidate (the fast verifier would not accept it either).
    fn key(&self, token: &[u8]) -> Option<u64> {
        // The signature is the last 43 characters, after a dot (no search needed).
        let at = token.len().checked_sub(SIGNATURE_LEN + 1)?;
        let (dot, signature) = token.get(at..)?.split_first()?;
        if *dot != b'.' {
            return None;
        }
        let (first, rest) = signature.split_first_chunk::<8>()?;
        let (second, _) = rest.split_first_chunk::<8>()?;
        let a = u64::from_le_bytes(*first) ^ self.seeds[0];
        let b = u64::from_le_bytes(*second) ^ self.seeds[1];
        // A 64×64 → 128-bit multiply cannot overflow.
        let product = u128::from(a).wrapping_mul(u128::from(b));
        Some((product as u64) ^ ((product >> 64) as u64))
    }
}

/// The map's keys are hashes already.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are ever hashed; fold anything else in, so it is still correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenType;

    fn claims(client_id: &str, exp: u64) -> Claims {
        Claims::new(crate::token::ClaimsData {
            client_id: client_id.to_owned(),
            token_type: TokenType::Access,
            exp,
            iat: 0,
            jti: None,
        })
    }

    const TOKEN: &str =
        "eyJhbGciOiJIUzI1NiJ9.eyJjbGllbnRfaWQiOiJhIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn a_verified_token_is_found_with_its_claims() {
        let cache = TokenCache::new(64, 0).unwrap();
        assert_eq!(cache.get(TOKEN.as_bytes(), 100), None);
        cache.insert(TOKEN, &claims("a", 200), 100);
        assert_eq!(cache.get(TOKEN.as_bytes(), 100), Some(claims("a", 200)));
    }

    #[test]
    fn the_same_signature_on_another_payload_is_a_miss() {
        let cache = TokenCache::new(64, 0).unwrap();
        cache.insert(TOKEN, &claims("a", 200), 100);
        let (_, signature) = TOKEN.rsplit_once('.').unwrap();
        let forged = format!("eyJhbGciOiJIUzI1NiJ9.eyJjbGllbnRfaWQiOiJiIn0.{signature}");
        assert_eq!(cache.key(forged.as_bytes()), cache.key(TOKEN.as_bytes()));
        assert_eq!(cache.get(forged.as_bytes(), 100), None);
        // A prefix or an extension of the cached token is no hit either.
        assert_eq!(cache.get(&TOKEN.as_bytes()[..TOKEN.len() - 1], 100), None);
        assert_eq!(cache.get(format!("{TOKEN}A").as_bytes(), 100), None);
    }

    #[test]
    fn an_expired_entry_is_not_returned() {
        let cache = TokenCache::new(64, 0).unwrap();
        cache.insert(TOKEN, &claims("a", 200), 100);
        assert!(
            cache.get(TOKEN.as_bytes(), 200).is_some(),
            "exp itself is still valid, as in the verifier"
        );
        assert_eq!(cache.get(TOKEN.as_bytes(), 201), None);
        let lenient = TokenCache::new(64, 30).unwrap();
        lenient.insert(TOKEN, &claims("a", 200), 100);
        assert!(lenient.get(TOKEN.as_bytes(), 230).is_some());
        assert_eq!(lenient.get(TOKEN.as_bytes(), 231), None);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = TokenCache::new(32, 0).unwrap();
        let tokens: Vec<String> = (0..1000)
            .map(|i| format!("h.p.{i:016}{}", "s".repeat(27)))
            .collect();
        for token in &tokens {
            cache.insert(token, &claims("a", 200), 100);
        }
        assert!(cache.len() <= 32, "{} entries", cache.len());
        assert!(cache.len() >= 16, "{} entries", cache.len());
        // The last one inserted is always there.
        assert!(cache.get(tokens.last().unwrap().as_bytes(), 100).is_some());
    }

    #[test]
    fn a_full_shard_drops_expired_entries_before_live_ones() {
        let cache = TokenCache::new(2 * SHARDS, 0).unwrap(); // two entries per shard
        let tokens: Vec<String> = (0..500)
            .map(|i| format!("h.p.{i:016}{}", "s".repeat(27)))
            .collect();
        let shard_of = |t: &String| (cache.key(t.as_bytes()).unwrap() >> 40) as usize & (SHARDS - 1);
        let same: Vec<&String> = tokens
            .iter()
            .filter(|t| shard_of(t) == shard_of(&tokens[0]))
            .collect();
        let (live, old, new) = (same[0], same[1], same[2]);
        cache.insert(live, &claims("live", 1_000), 100);
        cache.insert(old, &claims("old", 150), 100);
        // At 500 the shard is full and `old` has expired: it goes, `live` stays.
        cache.insert(new, &claims("new", 1_000), 500);
        assert_eq!(cache.get(live.as_bytes(), 500), Some(claims("live", 1_000)));
        assert_eq!(cache.get(new.as_bytes(), 500), Some(claims("new", 1_000)));
        assert_eq!(
            cache.get(old.as_bytes(), 140),
            None,
            "the expired entry was removed"
        );
    }

    #[test]
    fn tokens_without_a_signature_or_too_long_are_not_cached() {
        let cache = TokenCache::new(64, 0).unwrap();
        cache.insert("no-dots-at-all", &claims("a", 200), 100);
        cache.insert("h.p.short", &claims("a", 200), 100);
        cache.insert(&format!("h.p-{}", "s".repeat(43)), &claims("a", 200), 100);
        let long = format!("h.{}.{}", "p".repeat(MAX_CACHED_TOKEN_LEN), "s".repeat(43));
        cache.insert(&long, &claims("a", 200), 100);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_capacity_of_zero_is_no_cache() {
        assert!(TokenCache::new(0, 0).is_none());
    }
}
