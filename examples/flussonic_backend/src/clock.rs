//! Timestamps: RFC 3339 in UTC with microseconds, always the same width
//! (`2025-01-31T12:00:00.000000Z`), so that stored text sorts chronologically and SQLite
//! compares instants as plain strings, with no conversion on the hot path.
//!
//! Instants are [`UtcDateTime`]s, so writing one needs no conversion, and arithmetic on
//! them saturates. The one conversion, of input with an offset, is checked in
//! [`parse`]: an offset can carry a valid local time (`9999-12-31T23:59:59-23:59`) past
//! what a date can hold in UTC, where an unchecked conversion panics.

use std::fmt::Write as _;

use time::{Duration, OffsetDateTime, UtcDateTime, UtcOffset, format_description::well_known::Rfc3339};

/// The years an instant read from input may fall in (in UTC).
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// The current instant.
pub fn now() -> UtcDateTime {
    UtcDateTime::now()
}

/// The canonical stored and displayed form of an instant.
pub fn stamp(t: UtcDateTime) -> String {
    let mut out = String::with_capacity(27);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    );
    out
}

/// `t` plus `secs` seconds, rounded up to the whole second, in the canonical form.
pub fn stamp_after_ceil(t: UtcDateTime, secs: u64) -> String {
    let later = t.saturating_add(Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)));
    let whole = later.truncate_to_second();
    if whole == later {
        stamp(later)
    } else {
        stamp(whole.saturating_add(Duration::SECOND))
    }
}

/// `t` minus `days` days, in the canonical form.
pub fn stamp_before_days(t: UtcDateTime, days: u32) -> String {
    stamp(t.saturating_sub(Duration::days(i64::from(days))))
}

/// Reads an instant from API input: RFC 3339 with any offset (converted to UTC, so
/// `+03:00` is honoured), a space instead of `T`, or no offset at all, read as UTC.
pub fn parse(input: &str) -> Result<String, String> {
    parse_naive_at(input, UtcOffset::UTC)
}

/// [`parse`], reading an instant written without an offset (`2026-11-28 12:12:13.911504`,
/// as the Python backend stored them) as a time at `offset`.
pub fn parse_naive_at(input: &str, offset: UtcOffset) -> Result<String, String> {
    let s = input.trim();
    let mut text = match (s.get(..10), s.get(10..11), s.get(11..)) {
        (Some(date), Some(" "), Some(time)) => format!("{date}T{time}"),
        _ => s.to_owned(),
    };
    // `get`, not indexing: a multi-byte character at 19 must be a parse error, not a panic.
    if text.get(19..).is_some_and(|tail| !has_offset(tail)) {
        if offset == UtcOffset::UTC {
            text.push('Z');
        } else {
            let (hours, minutes, _) = offset.as_hms();
            // Writing to a String cannot fail.
            let _ = write!(
                text,
                "{}{:02}:{:02}",
                if offset.is_negative() { '-' } else { '+' },
                hours.unsigned_abs(),
                minutes.unsigned_abs()
            );
        }
    }
    let t = OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|_| format!("{input:?} is not an RFC 3339 timestamp (like 2025-01-31T12:00:00Z)"))?;
    in_range(t.checked_to_utc())
}

/// Reads an instant given as seconds since the Unix epoch.
pub fn from_unix(secs: i64) -> Result<String, String> {
    in_range(UtcDateTime::from_unix_timestamp(secs).ok())
}

/// The canonical form of `t` if it is an instant in [`YEARS`]; `None`: it is not an
/// instant at all (out of what a date can hold).
fn in_range(t: Option<UtcDateTime>) -> Result<String, String> {
    match t {
        Some(t) if YEARS.contains(&t.year()) => Ok(stamp(t)),
        _ => Err(format!(
            "must lie between the years {} and {} (in UTC)",
            YEARS.start(),
            YEARS.end()
        )),
    }
}

fn has_offset(tail: &str) -> bool {
    tail.contains(['Z', 'z', '+', '-'])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_utc() {
        assert_eq!(
            parse("2025-03-01T15:00:00+03:00").unwrap(),
            "2025-03-01T12:00:00.000000Z"
        );
        assert_eq!(
            parse("2025-03-01 12:00:00.5").unwrap(),
            "2025-03-01T12:00:00.500000Z"
        );
        assert_eq!(
            parse("2025-03-01T12:00:00Z").unwrap(),
            "2025-03-01T12:00:00.000000Z"
        );
        assert!(parse("yesterday").is_err());
        assert!(parse("2025-13-01T00:00:00Z").is_err());
        assert_eq!(from_unix(0).unwrap(), "1970-01-01T00:00:00.000000Z");
        // The Python backend's naive timestamps, at the offset of its server's clock.
        let moscow = UtcOffset::from_hms(3, 0, 0).unwrap();
        let newfoundland = UtcOffset::from_hms(-3, -30, 0).unwrap();
        assert_eq!(
            parse_naive_at("2026-11-28 12:12:13.911504", moscow).unwrap(),
            "2026-11-28T09:12:13.911504Z"
        );
        assert_eq!(
            parse_naive_at("2026-11-28 12:12:13", newfoundland).unwrap(),
            "2026-11-28T15:42:13.000000Z"
        );
        // An offset written in the text wins.
        assert_eq!(
            parse_naive_at("2026-11-28T12:12:13Z", moscow).unwrap(),
            "2026-11-28T12:12:13.000000Z"
        );
        assert!(parse_naive_at("2026-11-28", moscow).is_err());
        assert!(parse("2025-03-01T12:00:0\u{e9}0Z").is_err());
        assert!(parse("2025-03-01T12:00:00\u{e9}").is_err());
    }

    #[test]
    fn expiries_round_up_to_the_second() {
        let t = UtcDateTime::from_unix_timestamp_nanos(1_000_000_000_250_000_000).unwrap();
        assert_eq!(stamp_after_ceil(t, 10), "2001-09-09T01:46:51.000000Z");
        let whole = UtcDateTime::from_unix_timestamp(1_000_000_000).unwrap();
        assert_eq!(stamp_after_ceil(whole, 10), "2001-09-09T01:46:50.000000Z");
        // Past the largest instant: the largest instant, not a panic.
        assert_eq!(
            stamp_after_ceil(UtcDateTime::MAX, u64::MAX),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            stamp_before_days(UtcDateTime::MIN, u32::MAX),
            "-9999-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn offsets_past_the_range_are_errors_not_panics() {
        for input in [
            "9999-12-31T23:59:59-23:59",
            "9999-12-31T23:59:59-00:01",
            "9999-12-31 23:30:00-00:30",
            "0000-01-01T00:00:00+23:59",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(
                parse(input).unwrap_err(),
                "must lie between the years 1970 and 9999 (in UTC)",
                "{input}"
            );
        }
        assert_eq!(
            parse("9999-12-31T23:59:59+00:01").unwrap(),
            "9999-12-31T23:58:59.000000Z"
        );
        for secs in [i64::MIN, -1, 253_402_300_800, i64::MAX] {
            assert!(from_unix(secs).is_err(), "{secs}");
        }
        assert_eq!(from_unix(253_402_300_799).unwrap(), "9999-12-31T23:59:59.000000Z");
    }
}
