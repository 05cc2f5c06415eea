//! The clocks fastauth reads: those of the per-request paths (a token's `exp`,
//! `CachedTokenStore`'s periods), and the precise one issuing reads.
//!
//! `SystemTime::now()` and `Instant::now()` read the precise clocks: ~23 ns each on this
//! project's benchmark machine, and an ordered read of the CPU's counter that holds up
//! the work around it (a cached token's check got 30–40 ns cheaper without it;
//! BENCHMARKS.md, "The clock"). On Linux (and Android, FreeBSD) the per-request paths
//! read the kernel's coarse clocks instead, ~8 ns: the time of the last timer tick, no
//! counter read. A coarse reading lags the precise one by up to one tick (1–10 ms,
//! `clock_getres`), so each reading comes as two bounds of the precise time:
//! `…_now_or_earlier` is the coarse reading, `…_now_or_later` adds a tick. A check reads
//! the later bound (an `exp` is refused no later than the precise clock would refuse
//! it), and whatever sets a deadline reads the earlier one (it ends no later than one
//! set from the precise clock). Elsewhere both bounds are the precise clock. The
//! timestamps written into a token are off the per-request path and read the precise
//! clock ([`unix_secs`]): an `iat` must be neither late nor early (fastauth-api's
//! verifier refuses one in the future, and users compare it with `SystemTime::now()`).

/// Seconds since the Unix epoch, `SystemTime::now()`'s: for timestamps written into a
/// token. `0` for a clock set before 1970.
pub(crate) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Seconds since the Unix epoch, never behind `SystemTime::now()` (see the module docs):
/// for checking an expiry. `0` for a clock set before 1970.
#[inline]
pub(crate) fn unix_secs_now_or_later() -> u64 {
    coarse::realtime_nanos().saturating_add(coarse::tick()) / NANOS_PER_SEC
}

/// Nanoseconds on a monotonic clock from an arbitrary origin, never behind
/// `Instant::now()` against the same origin: for checking a deadline.
#[inline]
pub(crate) fn monotonic_nanos_now_or_later() -> u64 {
    coarse::monotonic_nanos().saturating_add(coarse::tick())
}

/// Nanoseconds on the monotonic clock of [`monotonic_nanos_now_or_later`], never ahead of
/// `Instant::now()`: for setting a deadline.
#[inline]
pub(crate) fn monotonic_nanos_now_or_earlier() -> u64 {
    coarse::monotonic_nanos()
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod coarse {
    use std::sync::OnceLock;

    use rustix::time::{ClockId, Timespec, clock_getres, clock_gettime};

    use super::NANOS_PER_SEC;

    pub(super) fn realtime_nanos() -> u64 {
        nanos(clock_gettime(ClockId::RealtimeCoarse))
    }

    pub(super) fn monotonic_nanos() -> u64 {
        nanos(clock_gettime(ClockId::MonotonicCoarse))
    }

    /// The coarse clocks' resolution, the most they lag: asked once (the vDSO answers
    /// `clock_gettime`, but `clock_getres` may be a system call).
    pub(super) fn tick() -> u64 {
        static TICK: OnceLock<u64> = OnceLock::new();
        *TICK.get_or_init(|| nanos(clock_getres(ClockId::RealtimeCoarse)))
    }

    /// Negative (before 1970) reads as 0.
    fn nanos(time: Timespec) -> u64 {
        let secs = u64::try_from(time.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(time.tv_nsec).unwrap_or(0);
        secs.saturating_mul(NANOS_PER_SEC).saturating_add(nanos)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod coarse {
    use std::{
        sync::OnceLock,
        time::{Instant, SystemTime, UNIX_EPOCH},
    };

    pub(super) fn realtime_nanos() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn monotonic_nanos() -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The precise clocks do not lag.
    pub(super) fn tick() -> u64 {
        0
    }
}

/// How far apart the two bounds of a reading are.
#[cfg(test)]
pub(crate) fn tick() -> std::time::Duration {
    std::time::Duration::from_nanos(coarse::tick())
}

/// `SystemTime::now()` since the Unix epoch, to the nanosecond.
#[cfg(test)]
fn precise() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
}

/// Calls `check` with the precise time since the Unix epoch, over and over around two
/// second boundaries: right after the precise clock enters a new second is when the
/// coarse clock still shows the old one. Sleeps through the middle of each second.
#[cfg(test)]
pub(crate) fn around_second_boundaries(mut check: impl FnMut(std::time::Duration)) {
    use std::time::{Duration, Instant};

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = precise().as_secs();
    let mut crossings = 0;
    while crossings < 2 {
        assert!(
            Instant::now() < deadline,
            "two second boundaries not crossed in 3 s"
        );
        let now = precise();
        check(now);
        if now.as_secs() != last {
            crossings += 1;
            last = now.as_secs();
        }
        let into = now.subsec_millis();
        if (150..850).contains(&into) {
            std::thread::sleep(Duration::from_millis(u64::from(850 - into)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_seconds_a_check_reads_are_never_behind_the_precise_clock() {
        assert!(tick() <= Duration::from_millis(100), "a tick of {:?}", tick());
        around_second_boundaries(|before| {
            let later = unix_secs_now_or_later();
            let after = precise();
            assert!(later >= before.as_secs(), "{later} behind {before:?}");
            assert!(
                later <= (after + tick()).as_secs(),
                "{later} more than a tick ahead of {after:?}"
            );
        });
    }

    #[test]
    fn the_monotonic_bounds_hold_the_precise_clock_between_them() {
        // The later bound is a coarse reading taken between two others, plus a tick (a
        // tick may pass between the reads, so no tighter).
        let tick = tick().as_nanos() as u64;
        let (before, later, after) = (
            monotonic_nanos_now_or_earlier(),
            monotonic_nanos_now_or_later(),
            monotonic_nanos_now_or_earlier(),
        );
        assert!(
            before + tick <= later && later <= after + tick,
            "{before} {later} {after}, a tick of {tick}"
        );

        // Against `Instant` over a sleep, each reading taken between two precise ones: the
        // earlier bound at the start and the later at the end span at least the precise
        // interval inside, the other way round at most the one outside.
        let outer_start = Instant::now();
        let (start_earlier, start_later) = (monotonic_nanos_now_or_earlier(), monotonic_nanos_now_or_later());
        let inner_start = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let inner_end = Instant::now();
        let (end_earlier, end_later) = (monotonic_nanos_now_or_earlier(), monotonic_nanos_now_or_later());
        let outer_end = Instant::now();
        let inner = (inner_end - inner_start).as_nanos() as u64;
        let outer = (outer_end - outer_start).as_nanos() as u64;
        assert!(
            end_later - start_earlier >= inner,
            "{} < {inner}",
            end_later - start_earlier
        );
        assert!(
            end_earlier.saturating_sub(start_later) <= outer,
            "{} > {outer}",
            end_earlier - start_later
        );

        let mut last = monotonic_nanos_now_or_later();
        for _ in 0..100_000 {
            let now = monotonic_nanos_now_or_later();
            assert!(now >= last, "went back from {last} to {now}");
            last = now;
        }
    }
}
