//! Brute-force protection: failed credential checks per client address.
//!
//! After [`FailureLimit::max_failures`] failures within [`FailureLimit::window`], an
//! address is refused with 429 (and `Retry-After`) for [`FailureLimit::lockout`], even
//! with correct credentials, so guessing the master token or refresh tokens costs the
//! guesser time. IPv6 addresses are counted per /64, the block one host usually has.
//! Memory is bounded: at most [`FailureLimit::max_tracked`] addresses are remembered;
//! when full, expired entries go first, then the oldest.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Settings of the brute-force protection. On by default
/// ([`FailureLimit::default`]); turn it off with
/// [`FastAuthBuilder::failure_limit(None)`](crate::FastAuthBuilder::failure_limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimit {
    /// Failures allowed within the window before the address is locked out (default 10).
    pub max_failures: u32,
    /// The window failures are counted in (default 60 s).
    pub window: Duration,
    /// How long a locked-out address is refused (default 300 s).
    pub lockout: Duration,
    /// The most addresses remembered at once (default 10 000).
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

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant, limit: &FailureLimit) -> bool {
        match self.blocked_until {
            Some(until) => now >= until,
            None => now.duration_since(self.window_start) >= limit.window,
        }
    }
}

#[derive(Debug)]
pub(crate) struct FailureLimiter {
    limit: FailureLimit,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 prefix.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl FailureLimiter {
    pub(crate) fn new(limit: FailureLimit) -> Self {
        Self {
            limit,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // Every update is a single insert or field write: a poisoned map is still sound.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(retry_after)` while the address is locked out.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let entries = self.entries();
        match entries.get(&bucket(ip)).and_then(|e| e.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts one failure; returns `Err(retry_after)` if this failure locked the address out.
    pub(crate) fn record_failure(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let key = bucket(ip);
        let mut entries = self.entries();
        if !entries.contains_key(&key) && entries.len() >= self.limit.max_tracked {
            self.make_room(&mut entries, now);
        }
        let entry = entries.entry(key).or_insert(Entry {
            failures: 0,
            window_start: now,
            blocked_until: None,
        });
        if entry.expired(now, &self.limit) {
            *entry = Entry {
                failures: 0,
                window_start: now,
                blocked_until: None,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= self.limit.max_failures {
            entry.blocked_until = Some(now + self.limit.lockout);
            return Err(self.limit.lockout);
        }
        Ok(())
    }

    fn make_room(&self, entries: &mut HashMap<IpAddr, Entry>, now: Instant) {
        entries.retain(|_, e| !e.expired(now, &self.limit));
        if entries.len() >= self.limit.max_tracked {
            // Still full of live entries: forget the one whose window started first.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.window_start)
                .map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries().len()
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
    fn memory_is_bounded() {
        let l = limiter(5, 100);
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = l.record_failure(ip);
            assert!(l.tracked() <= 100);
        }
    }
}
