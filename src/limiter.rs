//! Brute-force protection: failed credential checks per client address. What it counts,
//! how it bounds its memory and where the address comes from is documented on
//! [`FailureLimit`], where docs.rs shows it.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Settings of the brute-force protection. On by default
/// ([`FailureLimit::default`]); turn it off with
/// [`FastAuthBuilder::failure_limit(None)`](crate::FastAuthBuilder::failure_limit).
///
/// # What counts
///
/// Failed credential checks, per client address: a wrong master token (on master-level
/// paths and the token router's `new` and `revoke`), an invalid or already rotated
/// refresh token, and a logout with an invalid access token. After
/// [`max_failures`](Self::max_failures) failures within [`window`](Self::window) (10 in
/// 60 s), the address is refused with 429
/// ([`AuthError::TooManyAttempts`](crate::AuthError::TooManyAttempts), with
/// `Retry-After`) for [`lockout`](Self::lockout) (300 s) on master-level paths and every
/// token endpoint, even with the right credentials, so guessing the master token or a
/// refresh token costs the guesser time. Access-level paths are neither counted nor
/// locked. IPv6 addresses count per /64, the block one host usually has.
///
/// # Memory
///
/// At most [`max_tracked`](Self::max_tracked) addresses (10 000) are remembered; when
/// the table is full, expired entries go first, then the unlocked entry whose window
/// started first. A locked-out address is never forgotten before its lockout ends, or
/// failures from other addresses would give it a fresh budget. When the table is full of
/// lockouts, a newcomer's failures are counted against its network (/24 for IPv4, /48
/// for IPv6, at most `max_tracked` networks), which can be locked out as a whole, and
/// beyond that against all further newcomers together: neither unlimited guesses nor
/// everyone locked out. Each such lockout is logged at error level and counted in
/// [`FailureLimitStats::overflowed`] ([`FastAuth::failure_limit_stats`](crate::FastAuth::failure_limit_stats)).
///
/// # The client address
///
/// The server must give the layer the client address: axum's
/// `into_make_service_with_connect_info::<SocketAddr>()` (read with the `axum` feature),
/// tonic's server (read with the `tonic` feature), a `SocketAddr` or `IpAddr` your hyper
/// accept loop inserts into the request extensions, or
/// [`FastAuthBuilder::client_address`](crate::FastAuthBuilder::client_address) (behind a
/// trusted proxy). A request to a master-level path or a token endpoint that comes
/// without one is refused with [`AuthError::ClientAddressUnknown`](crate::AuthError::ClientAddressUnknown) (500,
/// the fix in the message, logged at error level once): served, it would leave the
/// protection silently off.
///
/// Change a setting on the default value:
///
/// ```
/// let mut limit = fastauth::FailureLimit::default();
/// limit.max_failures = 5;
/// # let _ = limit;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureLimit {
    /// Failures allowed within the window before the address is locked out (default 10).
    pub max_failures: u32,
    /// The window failures are counted in (default 60 s).
    pub window: Duration,
    /// How long a locked-out address is refused (default 300 s).
    pub lockout: Duration,
    /// The most addresses remembered at once (default 10 000), and the most overflow
    /// networks (see [Memory](Self#memory)).
    pub max_tracked: usize,
}

impl Default for FailureLimit {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            max_tracked: 10_000,
        }
    }
}

/// What the brute-force protection holds now (see [`FastAuth::failure_limit_stats`](crate::FastAuth::failure_limit_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureLimitStats {
    /// Addresses (and overflow networks) with failures counted.
    pub tracked: usize,
    /// Of those, how many are locked out now.
    pub locked: usize,
    /// Failures counted against a whole network because the table was full of lockouts,
    /// since start. Anything above zero means an attack from many addresses.
    pub overflowed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            window_start: now,
            blocked_until: None,
        }
    }

    fn expired(&self, now: Instant, limit: &FailureLimit) -> bool {
        match self.blocked_until {
            Some(until) => now >= until,
            None => now.duration_since(self.window_start) >= limit.window,
        }
    }

    fn locked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Counts one failure; `Some(lockout)` if it locked the entry.
    fn fail(&mut self, now: Instant, limit: &FailureLimit) -> Option<Duration> {
        if self.expired(now, limit) {
            *self = Entry::new(now);
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= limit.max_failures && self.blocked_until.is_none() {
            self.blocked_until = now.checked_add(limit.lockout);
            return Some(limit.lockout);
        }
        None
    }
}

/// Entries under one kind of key, at most `max_tracked` of them.
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<IpAddr, Entry>,
}

impl Table {
    /// The entry of `key`, made if there is room. A full table first forgets expired
    /// entries, then the unlocked entry whose window started first; a locked entry is
    /// never forgotten before its lockout ends (or forgetting would reset it).
    fn entry(&mut self, key: IpAddr, now: Instant, limit: &FailureLimit) -> Option<&mut Entry> {
        if !self.entries.contains_key(&key) && self.entries.len() >= limit.max_tracked {
            self.entries.retain(|_, e| !e.expired(now, limit));
            if self.entries.len() >= limit.max_tracked {
                let oldest_unlocked = self
                    .entries
                    .iter()
                    .filter(|(_, e)| e.blocked_until.is_none())
                    .min_by_key(|(_, e)| e.window_start)
                    .map(|(k, _)| *k);
                self.entries.remove(&oldest_unlocked?);
            }
        }
        Some(self.entries.entry(key).or_insert_with(|| Entry::new(now)))
    }

    fn locked(&self, key: IpAddr, now: Instant) -> Option<Duration> {
        self.entries.get(&key).and_then(|e| e.locked(now))
    }
}

/// Addresses first; when their table is full of lockouts, newcomers are counted per
/// network; when that table is full of lockouts too, all further newcomers together.
#[derive(Debug)]
struct Tables {
    addresses: Table,
    networks: Table,
    everyone_else: Entry,
}

#[derive(Debug)]
pub(crate) struct FailureLimiter {
    limit: FailureLimit,
    tables: Mutex<Tables>,
    overflowed: AtomicU64,
    /// When the last lockout to end ends, in nanoseconds after `created` (0: none yet).
    /// Until then nobody can be locked out, and `check` answers without the clock or the
    /// lock: a master-level request would otherwise take one global mutex.
    lockouts_end: AtomicU64,
    created: Instant,
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 prefix.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The overflow key: IPv4 by its /24, IPv6 by its /48.
fn network(ip: IpAddr) -> IpAddr {
    match bucket(ip) {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1))),
    }
}

impl FailureLimiter {
    pub(crate) fn new(limit: FailureLimit) -> Self {
        Self {
            limit,
            tables: Mutex::new(Tables {
                addresses: Table::default(),
                networks: Table::default(),
                everyone_else: Entry::new(Instant::now()),
            }),
            overflowed: AtomicU64::new(0),
            lockouts_end: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    /// `at` in nanoseconds after `created`, at least 1 (0 means no lockout).
    fn offset(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.created).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // Every update is a single insert or field write: a poisoned map is still sound.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(retry_after)` while the address is locked out: its own entry or, for an
    /// address without one, the overflow that would count it.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let end = self.lockouts_end.load(Ordering::Acquire);
        if end == 0 {
            return Ok(());
        }
        let now = Instant::now();
        // `locked` needs `until > now`; every lockout's `until` is at most `end`.
        if self.offset(now) >= end {
            return Ok(());
        }
        let tables = self.tables();
        let key = bucket(ip);
        let locked = match tables.addresses.entries.get(&key) {
            Some(entry) => entry.locked(now),
            None => tables
                .networks
                .locked(network(ip), now)
                .or_else(|| tables.everyone_else.locked(now)),
        };
        locked.map_or(Ok(()), Err)
    }

    /// Counts one failure; returns `Err(retry_after)` if this failure locked the address
    /// (or its overflow) out.
    pub(crate) fn record_failure(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let counted = self.count_failure(ip, now);
        if let Err(lockout) = counted {
            // Rounded up a nanosecond, so `check`'s fast path never ends a lockout early.
            let until = now.checked_add(lockout).unwrap_or(now);
            let end = self.offset(until).saturating_add(1);
            self.lockouts_end.fetch_max(end, Ordering::Release);
        }
        counted
    }

    fn count_failure(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let limit = &self.limit;
        let mut tables = self.tables();
        let tables = &mut *tables;
        if let Some(entry) = tables.addresses.entry(bucket(ip), now, limit) {
            return entry.fail(now, limit).map_or(Ok(()), Err);
        }
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        let net = network(ip);
        let (counted_as, locked) = match tables.networks.entry(net, now, limit) {
            Some(entry) => (Some(net), entry.fail(now, limit)),
            None => (None, tables.everyone_else.fail(now, limit)),
        };
        if let Some(lockout) = locked {
            tracing::error!(
                target: "fastauth",
                network = ?counted_as,
                client_ip = %ip,
                "brute-force protection: the address table is full of lockouts, so failures are \
                 counted per network, and this one is now locked out (an attack from many addresses?)"
            );
            return Err(lockout);
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> FailureLimitStats {
        let now = Instant::now();
        let tables = self.tables();
        let live = |table: &Table| {
            table
                .entries
                .values()
                .filter(|e| !e.expired(now, &self.limit))
                .count()
        };
        let locked = |table: &Table| table.entries.values().filter(|e| e.locked(now).is_some()).count();
        FailureLimitStats {
            tracked: live(&tables.addresses).saturating_add(live(&tables.networks)),
            locked: locked(&tables.addresses)
                .saturating_add(locked(&tables.networks))
                .saturating_add(usize::from(tables.everyone_else.locked(now).is_some())),
            overflowed: self.overflowed.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        let tables = self.tables();
        tables.addresses.entries.len() + tables.networks.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_failures: u32, max_tracked: usize) -> FailureLimiter {
        FailureLimiter::new(FailureLimit {
            max_failures,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            max_tracked,
        })
    }

    #[test]
    fn locks_out_after_the_limit_and_only_that_address() {
        let l = limiter(3, 100);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.record_failure(a).is_ok());
        assert!(l.record_failure(a).is_ok());
        assert!(l.check(a).is_ok());
        let retry = l.record_failure(a).unwrap_err();
        assert_eq!(retry, Duration::from_secs(300));
        let retry = l.check(a).unwrap_err();
        assert!(retry <= Duration::from_secs(300) && retry > Duration::from_secs(290));
        assert!(l.check(b).is_ok());
    }

    #[test]
    fn a_lockout_holds_until_it_ends_and_a_later_one_holds_again() {
        let l = FailureLimiter::new(FailureLimit {
            max_failures: 1,
            window: Duration::from_secs(60),
            lockout: Duration::from_millis(200),
            max_tracked: 10,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.check(a).is_ok());
        assert!(l.record_failure(a).is_err());
        assert!(l.check(a).is_err());
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.check(a).is_ok());
        assert!(l.record_failure(a).is_err());
        assert!(l.check(a).is_err());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = limiter(2, 100);
        l.record_failure("2001:db8::1".parse().unwrap()).unwrap();
        assert!(l.record_failure("2001:db8::ffff:1".parse().unwrap()).is_err());
        assert!(l.check("2001:db8::2".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
        // An IPv4-mapped address counts as its IPv4 address.
        l.record_failure("::ffff:192.0.2.1".parse().unwrap()).unwrap();
        assert!(l.record_failure("192.0.2.1".parse().unwrap()).is_err());
    }

    #[test]
    fn a_lockout_outlives_a_full_table() {
        let l = limiter(2, 10);
        let attacker: IpAddr = "198.51.100.7".parse().unwrap();
        l.record_failure(attacker).unwrap();
        assert!(l.record_failure(attacker).is_err());
        for i in 0..1000u32 {
            let _ = l.record_failure(IpAddr::V4(Ipv4Addr::from(i)));
        }
        assert!(l.check(attacker).is_err(), "the lockout was forgotten");
    }

    #[test]
    fn a_full_table_of_lockouts_counts_newcomers_per_network_then_together() {
        let l = limiter(2, 4);
        for i in 0..4u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, i));
            l.record_failure(ip).unwrap();
            assert!(l.record_failure(ip).is_err());
        }
        // 203.0.113.0/24: two newcomers, one failure each, lock the network.
        l.record_failure("203.0.113.1".parse().unwrap()).unwrap();
        assert!(l.record_failure("203.0.113.2".parse().unwrap()).is_err());
        assert!(l.check("203.0.113.99".parse().unwrap()).is_err());
        assert!(l.check("203.0.114.1".parse().unwrap()).is_ok());
        // IPv6 networks are /48s.
        l.record_failure("2001:db8:1:1::1".parse().unwrap()).unwrap();
        assert!(l.record_failure("2001:db8:1:2::1".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:1:ffff::1".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:2::1".parse().unwrap()).is_ok());
        // Fill the network table with lockouts too: further newcomers count together.
        for net in 0..2u8 {
            let ip = |host| IpAddr::V4(Ipv4Addr::new(100, 64, net, host));
            l.record_failure(ip(1)).unwrap();
            assert!(l.record_failure(ip(2)).is_err());
        }
        l.record_failure("172.16.0.1".parse().unwrap()).unwrap();
        assert!(l.record_failure("172.31.0.1".parse().unwrap()).is_err());
        assert!(l.check("10.9.9.9".parse().unwrap()).is_err());
        // Those with an entry of their own keep their own verdict.
        assert!(l.check("192.0.2.0".parse().unwrap()).is_err());
        let stats = l.stats();
        assert_eq!(stats.tracked, 8);
        assert_eq!(stats.locked, 9);
        assert_eq!(stats.overflowed, 10);
    }

    #[test]
    fn memory_stays_bounded_under_lockouts() {
        let l = limiter(1, 100);
        for i in 0..10_000u32 {
            let _ = l.record_failure(IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761))));
            assert!(l.tracked() <= 200);
        }
    }

    #[test]
    fn memory_is_bounded() {
        let l = limiter(5, 100);
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = l.record_failure(ip);
            assert!(l.tracked() <= 100);
        }
    }
}
