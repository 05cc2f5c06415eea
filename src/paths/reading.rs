//! The readings of a request path: every way a server in front of or behind the layer
//! may cut it into segments.
//!
//! Servers disagree. axum routes `{param}` on the raw text between two `/`, so `;x`,
//! `%2F`, `%5C` and `\` stay inside one segment; servlet containers strip `;params`; some
//! proxies and frameworks decode `%2F` or split on `\`; clients and proxies resolve `.`
//! and `..`, while axum routes `/admin/..` to `/admin/{id}`; `//` is an empty segment to
//! some servers and nothing to others. A single normal form is bound to be more lenient
//! than one of them, so the layer matches every combination of these four choices and
//! applies the strictest level any reading gives.
//!
//! In every reading, percent-encoded unreserved characters are decoded (`%61dmin` is
//! `admin`) and letter case is ignored: both only ever let a pattern match more.

use std::{borrow::Cow, ops::ControlFlow};

/// Paths with at most this many segments are read without allocating. Every request pays
/// for filling the array (32 slots were ~80 instructions); longer paths are rare and take
/// the general reading.
const INLINE_SEGMENTS: usize = 16;

/// Calls `visit` with the segments of each reading of `raw`, until it breaks.
pub(crate) fn each_reading<B>(raw: &str, mut visit: impl FnMut(&[&str]) -> ControlFlow<B>) -> ControlFlow<B> {
    match plain_reading(raw, &mut visit) {
        Some(done) => done,
        None => every_cut(raw, &mut visit),
    }
}

/// Every combination of the four choices, for any path.
fn every_cut<B>(raw: &str, visit: &mut impl FnMut(&[&str]) -> ControlFlow<B>) -> ControlFlow<B> {
    let bytes = raw.as_bytes();
    let other_separators = bytes.contains(&b'\\') || has_encoded_separator(bytes);
    let parameters = bytes.contains(&b';');
    for &split_all in choices(other_separators) {
        let separators = match split_all {
            true => Separators::All,
            false => Separators::Slash,
        };
        for &strip_parameters in choices(parameters) {
            let decoded: Vec<Cow<'_, str>> = pieces(raw, separators)
                .map(|piece| {
                    let piece = match strip_parameters {
                        // `;` starts path parameters, which servlet containers strip.
                        true => piece.split(';').next().unwrap_or_default(),
                        false => piece,
                    };
                    decode_unreserved(piece)
                })
                .collect();
            let views: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
            variants(&views, visit)?;
        }
    }
    ControlFlow::Continue(())
}

/// The usual path in one pass: no escapes, no `\\`, no `;`, at most
/// [`INLINE_SEGMENTS`] segments. Only the empty and dot segment choices can differ, and
/// usually there are none. `None` when the path is not such a path: [`every_cut`] reads
/// every path, this only saves its work (a test holds the two to the same readings).
fn plain_reading<B>(raw: &str, visit: &mut impl FnMut(&[&str]) -> ControlFlow<B>) -> Option<ControlFlow<B>> {
    // The piece before a leading `/` is not a segment (as in `pieces`).
    let body = raw.strip_prefix('/').unwrap_or(raw);
    let bytes = body.as_bytes();
    let mut inline = [""; INLINE_SEGMENTS];
    let (mut n, mut start) = (0usize, 0usize);
    let (mut empty, mut dots) = (false, false);
    let mut push = |end: usize| -> Option<()> {
        let segment = body.get(start..end)?;
        empty |= segment.is_empty();
        dots |= matches!(segment, "." | "..");
        *inline.get_mut(n)? = segment;
        n = n.saturating_add(1);
        start = end.saturating_add(1);
        Some(())
    };
    for (i, &b) in bytes.iter().enumerate() {
        match BYTE_CLASS.get(usize::from(b)) {
            Some(Class::Plain) => {}
            Some(Class::Slash) => push(i)?,
            Some(Class::Special) | None => return None,
        }
    }
    push(bytes.len())?;
    let segments = inline.get(..n)?;
    Some(match empty || dots {
        false => visit(segments),
        true => variants(segments, visit),
    })
}

#[derive(Clone, Copy)]
enum Class {
    Plain,
    Slash,
    /// `%`, `\\` and `;`: the path has more than one cut.
    Special,
}

/// One load per byte, measured faster than a `match` on the byte.
#[allow(
    clippy::indexing_slicing,
    reason = "constant indices below 256, evaluated at compile time"
)]
static BYTE_CLASS: [Class; 256] = {
    let mut table = [Class::Plain; 256];
    table[b'/' as usize] = Class::Slash;
    table[b'%' as usize] = Class::Special;
    table[b'\\' as usize] = Class::Special;
    table[b';' as usize] = Class::Special;
    table
};

/// The empty-segment and dot-segment choices over one cut of the path.
fn variants<B>(pieces: &[&str], visit: &mut impl FnMut(&[&str]) -> ControlFlow<B>) -> ControlFlow<B> {
    let empty = pieces.iter().any(|p| p.is_empty());
    let dots = pieces.iter().any(|p| matches!(*p, "." | ".."));
    if !empty && !dots {
        return visit(pieces);
    }
    let mut inline = [""; INLINE_SEGMENTS];
    let mut heap;
    let out: &mut [&str] = match inline.get_mut(..pieces.len()) {
        Some(out) => out,
        None => {
            heap = vec![""; pieces.len()];
            &mut heap
        }
    };
    for &keep_empty in choices(empty) {
        for &resolve_dots in choices(dots) {
            let n = rebuild(pieces, keep_empty, resolve_dots, out);
            visit(out.get(..n).unwrap_or_default())?;
        }
    }
    ControlFlow::Continue(())
}

/// Writes one reading's segments into `out` (as long as `pieces`) and returns how many.
fn rebuild<'a>(pieces: &[&'a str], keep_empty: bool, resolve_dots: bool, out: &mut [&'a str]) -> usize {
    let mut n: usize = 0;
    for &piece in pieces {
        match piece {
            "" if !keep_empty => {}
            "." if resolve_dots => {}
            // RFC 3986, section 5.2.4: `..` removes the segment before it.
            ".." if resolve_dots => n = n.saturating_sub(1),
            _ => {
                if let Some(slot) = out.get_mut(n) {
                    *slot = piece;
                    n = n.saturating_add(1);
                }
            }
        }
    }
    n
}

#[derive(Debug, Clone, Copy)]
enum Separators {
    /// `/` only, as axum and most routers cut.
    Slash,
    /// `/`, `\`, `%2F` and `%5C` (any case): every spelling some server treats as one.
    All,
}

/// The pieces between separators. The piece before a leading separator is not a segment;
/// the one after a trailing separator is (an empty one).
fn pieces(raw: &str, separators: Separators) -> impl Iterator<Item = &str> {
    let mut rest = Some(raw);
    let mut first = true;
    std::iter::from_fn(move || {
        loop {
            let text = rest?;
            let (piece, after) = match next_separator(text, separators) {
                Some((at, len)) => (text.get(..at)?, text.get(at.saturating_add(len)..)),
                None => (text, None),
            };
            rest = after;
            let leading = std::mem::replace(&mut first, false) && piece.is_empty() && after.is_some();
            if !leading {
                return Some(piece);
            }
        }
    })
}

/// Where the next separator starts, and how long it is.
fn next_separator(text: &str, separators: Separators) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .find_map(|(i, &b)| match (separators, b) {
            (_, b'/') | (Separators::All, b'\\') => Some((i, 1)),
            (Separators::All, b'%')
                if is_encoded_separator(bytes.get(i.saturating_add(1)..i.saturating_add(3))) =>
            {
                Some((i, 3))
            }
            _ => None,
        })
}

/// `[false]`, or `[false, true]` when the choice matters.
fn choices(matters: bool) -> &'static [bool] {
    match matters {
        true => &[false, true],
        false => &[false],
    }
}

fn is_encoded_separator(escape: Option<&[u8]>) -> bool {
    matches!(escape, Some([b'2', b'f' | b'F'] | [b'5', b'c' | b'C']))
}

fn has_encoded_separator(bytes: &[u8]) -> bool {
    bytes
        .windows(3)
        .any(|w| w.first() == Some(&b'%') && is_encoded_separator(w.get(1..)))
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986, section 2.3); every other
/// escape, and a `%` that starts none, stays as it is.
pub(crate) fn decode_unreserved(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let decoded = match escape.as_bytes() {
            [b'%', h, l, ..] => match (hex(*h), hex(*l)) {
                (Some(h), Some(l)) => Some((h << 4) | l),
                _ => None,
            },
            _ => None,
        };
        match decoded {
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                out.push(char::from(c));
                rest = escape.get(3..).unwrap_or_default();
            }
            _ => {
                out.push('%');
                rest = escape.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn collect(read: impl FnOnce(&mut dyn FnMut(&[&str]) -> ControlFlow<()>)) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        read(&mut |segments| {
            out.push(segments.iter().map(|s| s.to_string()).collect());
            ControlFlow::Continue(())
        });
        out
    }

    fn readings(raw: &str) -> Vec<Vec<String>> {
        collect(|visit| {
            let _ = each_reading(raw, visit);
        })
    }

    fn has(raw: &str, reading: &[&str]) -> bool {
        readings(raw).iter().any(|r| r == reading)
    }

    #[test]
    fn a_plain_path_has_one_reading() {
        assert_eq!(readings("/api/items"), [["api", "items"]]);
        assert_eq!(readings("*"), [["*"]]);
        // A trailing `/` ends in an empty segment, which some routers match as `{param}`.
        assert_eq!(readings("/"), [vec![], vec![String::new()]]);
        assert_eq!(readings("/api/"), [vec!["api"], vec!["api", ""]]);
    }

    #[test]
    fn every_server_s_cut_is_among_the_readings() {
        // axum: the raw segment, `;` and encoded separators inside it.
        assert!(has("/files/;/raw", &["files", ";", "raw"]));
        assert!(has("/files/a%2Fb/raw", &["files", "a%2Fb", "raw"]));
        assert!(has("/files/a\\b/raw", &["files", "a\\b", "raw"]));
        // Servlet containers: parameters stripped, an emptied segment kept or dropped.
        assert!(has("/files/;x/raw", &["files", "", "raw"]));
        assert!(has("/files/;x/raw", &["files", "raw"]));
        assert!(has("/admin;x/users", &["admin", "users"]));
        // Decoding proxies: encoded separators split.
        assert!(has("/files/a%2Fb/raw", &["files", "a", "b", "raw"]));
        assert!(has("/x%5cadmin", &["x", "admin"]));
        // Dots kept (axum) and resolved (clients, proxies).
        assert!(has("/admin/..", &["admin", ".."]));
        assert!(has("/a/./b/../admin", &["a", "admin"]));
        assert!(has("/admin/%2e%2e", &["admin", ".."]));
        assert!(has("/public/..;/admin", &["admin"]));
        // Empty segments kept or dropped.
        assert!(has("//admin//x/", &["admin", "x"]));
        assert!(has("/files//raw", &["files", "", "raw"]));
        // Unreserved escapes decoded in every reading.
        assert!(readings("/%61dmin").iter().all(|r| r == &["admin"]));
    }

    #[test]
    fn long_paths_are_read_the_same_way() {
        let raw = "/a".repeat(100) + "/../b";
        let readings = readings(&raw);
        assert_eq!(readings.len(), 2);
        assert!(
            readings
                .iter()
                .any(|r| r.len() == 100 && r.last().map(String::as_str) == Some("b"))
        );
        assert!(readings.iter().any(|r| r.len() == 102));
    }

    #[test]
    fn there_are_at_most_sixteen_readings() {
        assert_eq!(readings("/a%2Fb;x//./../c").len(), 16);
    }

    proptest! {
        // The fast reading is a shortcut through the general one, never a different answer:
        // a path it mis-cut could be read as less protected than the router reads it.
        #[test]
        fn the_plain_reading_reads_as_every_cut_does(
            raw in prop_oneof![
                // Mostly paths the fast reading takes, with every dot and empty-segment case.
                3 => "/?(a|B|\\.|\\*|/|é){0,40}",
                1 => "/?(a|B|\\.|\\*|/|;|%|2f|5C|\\\\|é){0,40}",
            ],
            long in any::<bool>(),
        ) {
            let raw = if long { raw.repeat(8) } else { raw };
            let mut plain = None;
            let fast = collect(|visit| plain = plain_reading(&raw, &mut |s: &[&str]| visit(s)).map(|_| ()));
            let general = collect(|visit| {
                let _ = every_cut(&raw, &mut |s: &[&str]| visit(s));
            });
            match plain {
                Some(()) => prop_assert_eq!(fast, general),
                None => prop_assert!(
                    raw.contains(['%', '\\', ';']) || general.iter().any(|r| r.len() > INLINE_SEGMENTS),
                    "the plain reading declined {:?}", raw
                ),
            }
        }
    }

    #[test]
    fn only_unreserved_escapes_are_decoded() {
        assert_eq!(decode_unreserved("%41%2d%7E%2F%20%zz%"), "A-~%2F%20%zz%");
        assert_eq!(decode_unreserved("%%32F"), "%2F");
        assert_eq!(decode_unreserved("é%41"), "éA");
    }
}
