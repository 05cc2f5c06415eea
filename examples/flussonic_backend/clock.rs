//! Timestamps: RFC 3339 in UTC with microseconds, always the same width
//! (`2025-01-31T12:00:00.000000Z`), so that stored text sorts chronologically and SQLite
//! compares instants as plain strings, with no conversion on the hot path.

use std::fmt::Write as _;

use time::{Duration, OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339};

/// The current instant.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The canonical stored and displayed form of an instant.
pub fn stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
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
pub fn stamp_after_ceil(t: OffsetDateTime, secs: u64) -> String {
    let later = t + Duration::seconds(secs.min(i64::MAX as u64) as i64);
    let fraction = Duration::nanoseconds(i64::from(later.nanosecond()));
    if fraction.is_zero() {
        stamp(later)
    } else {
        stamp(later - fraction + Duration::SECOND)
    }
}

/// `t` minus `days` days, in the canonical form.
pub fn stamp_before_days(t: OffsetDateTime, days: u32) -> String {
    stamp(t - Duration::days(i64::from(days)))
}

/// Reads an instant from API input: RFC 3339 with any offset (converted to UTC, so
/// `+03:00` is honoured), a space instead of `T`, or no offset at all, read as UTC.
pub fn parse(input: &str) -> Result<String, String> {
    let s = input.trim();
    let mut text = s.to_owned();
    if text.len() > 10 && text.as_bytes()[10] == b' ' {
        text.replace_range(10..11, "T");
    }
    // `get`, not indexing: a multi-byte character at 19 must be a parse error, not a panic.
    if text.get(19..).is_some_and(|tail| !has_offset(tail)) {
        text.push('Z');
    }
    let t = OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|_| format!("{input:?} is not an RFC 3339 timestamp (like 2025-01-31T12:00:00Z)"))?;
    check_range(t)
}

/// Reads an instant given as seconds since the Unix epoch.
pub fn from_unix(secs: i64) -> Result<String, String> {
    let t = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| format!("{secs} is out of range"))?;
    check_range(t)
}

fn check_range(t: OffsetDateTime) -> Result<String, String> {
    let utc = t.to_offset(UtcOffset::UTC);
    if !(1970..=9999).contains(&utc.year()) {
        return Err("must lie between the years 1970 and 9999".to_owned());
    }
    Ok(stamp(utc))
}

fn has_offset(tail: &str) -> bool {
    tail.contains(['Z', 'z', '+', '-'])
}

#[cfg(test)]
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
        assert!(parse("2025-03-01T12:00:0\u{e9}0Z").is_err());
        assert!(parse("2025-03-01T12:00:00\u{e9}").is_err());
    }

    #[test]
    fn expiries_round_up_to_the_second() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_000_000_000_250_000_000).unwrap();
        assert_eq!(stamp_after_ceil(t, 10), "2001-09-09T01:46:51.000000Z");
        let whole = OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap();
        assert_eq!(stamp_after_ceil(whole, 10), "2001-09-09T01:46:50.000000Z");
    }
}
