//! Path normalisation and matching: normalising is idempotent; a raw path and its
//! normal form require the same level, or, with dot segments (which may raise the level,
//! never lower it), the raw path at least as strict a one; respellings of a normal form
//! (case, encoding, doubled or other separators, `;parameters`) require that level too,
//! and with added dot segments at least that level; a path below a guarded path is
//! guarded at least as strictly. Never panics.
//!
//! Input, one item a line (readable, so seeds and crashes are easy to write and read):
//!
//! ```text
//! PATH        the raw request path, still percent-encoded
//! PATTERN     optional: a pattern of the fuzzer's own, checked like the fixed rules
//! SPELLINGS   optional: one byte per segment of the normal form, how to write it again
//! ```
#![no_main]

use fastauth::{
    Level,
    paths::{NormalizedPath, PathPattern, PathRules},
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// How one segment of a normal form is written again.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    AsIs,
    Upper,
    /// `%XX` for the n-th unreserved character, with lower- or upper-case hex.
    Encode(u8, bool),
    Param,
    DotBefore,
    DoubleSlash,
    UpAndBack,
    Backslash,
    EncodedSlash(bool),
    EncodedBackslash,
}

impl Spelling {
    fn from_byte(b: u8) -> Self {
        match b % 12 {
            0 => Spelling::AsIs,
            1 => Spelling::Upper,
            2 => Spelling::Encode(b / 12, false),
            3 => Spelling::Encode(b / 12, true),
            4 => Spelling::Param,
            5 => Spelling::DotBefore,
            6 => Spelling::DoubleSlash,
            7 => Spelling::UpAndBack,
            8 => Spelling::Backslash,
            9 => Spelling::EncodedSlash(true),
            10 => Spelling::EncodedSlash(false),
            _ => Spelling::EncodedBackslash,
        }
    }
}

fn rules() -> &'static PathRules {
    static RULES: OnceLock<PathRules> = OnceLock::new();
    RULES.get_or_init(|| {
        PathRules::new(
            [
                "/admin",
                "/api/*/keys",
                "/x/**/root",
                "/grpc.health.v1.Health/Watch",
            ],
            [
                "/api",
                "/files/**/raw",
                "/a%20b",
                "/%7Euser",
                "/grpc.health.v1.Health",
                "/*/private",
            ],
        )
        .expect("the fixed rules compile")
    })
}

/// Whether `raw` may hold a `.` or `..` segment, in any spelling.
fn may_have_dots(raw: &str) -> bool {
    raw.contains('.') || raw.to_ascii_lowercase().contains("%2e")
}

fn rank(level: Option<Level>) -> u8 {
    match level {
        None => 0,
        Some(Level::Access) => 1,
        Some(Level::Master) => 2,
    }
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn respell(normal: &NormalizedPath, spellings: &[Spelling]) -> String {
    let mut out = String::new();
    for (i, segment) in normal.segments().enumerate() {
        let spelling = spellings.get(i).copied().unwrap_or(Spelling::AsIs);
        let separator = match spelling {
            Spelling::Backslash => "\\",
            Spelling::EncodedSlash(true) => "%2F",
            Spelling::EncodedSlash(false) => "%2f",
            Spelling::EncodedBackslash => "%5c",
            Spelling::DoubleSlash => "//",
            Spelling::DotBefore => "/./",
            Spelling::UpAndBack => "/zz/../",
            _ => "/",
        };
        out.push_str(separator);
        match spelling {
            Spelling::Upper => out.push_str(&segment.to_ascii_uppercase()),
            Spelling::Encode(n, upper) => {
                // Not the hex digits of an escape already there: `%25` is not `%%325`.
                let bytes = segment.as_bytes();
                let in_escape =
                    |i: usize| (i >= 1 && bytes[i - 1] == b'%') || (i >= 2 && bytes[i - 2] == b'%');
                let candidates: Vec<usize> = segment
                    .char_indices()
                    .filter(|(i, c)| is_unreserved(*c) && !in_escape(*i))
                    .map(|(i, _)| i)
                    .collect();
                if candidates.is_empty() {
                    out.push_str(segment);
                } else {
                    let at = candidates[usize::from(n) % candidates.len()];
                    let byte = segment.as_bytes()[at];
                    out.push_str(&segment[..at]);
                    if upper {
                        out.push_str(&format!("%{byte:02X}"));
                    } else {
                        out.push_str(&format!("%{byte:02x}"));
                    }
                    out.push_str(&segment[at + 1..]);
                }
            }
            Spelling::Param => {
                out.push_str(segment);
                out.push_str(";jsessionid=1");
            }
            _ => out.push_str(segment),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `spelled_with_dots`: the spelling added `.` or `..` segments.
fn check(
    rules: &PathRules,
    raw: &str,
    normal: &NormalizedPath,
    spelled: &str,
    spelled_with_dots: bool,
) {
    let level = rules.level_for(normal.as_str());
    // Dot segments are resolved, and also matched as plain segments (axum routes
    // `/admin/..` to `/admin/{id}`): they may raise the level, never lower it.
    let raw_level = rules.level_for(raw);
    if may_have_dots(raw) {
        assert!(
            rank(raw_level) >= rank(level),
            "{raw:?} ({raw_level:?}) is guarded less than its normal form {:?} ({level:?})",
            normal.as_str()
        );
    } else {
        assert_eq!(
            raw_level,
            level,
            "{raw:?} and its normal form {:?} require different levels",
            normal.as_str()
        );
    }
    let spelled_level = rules.level_for(spelled);
    if spelled_with_dots {
        assert!(
            rank(spelled_level) >= rank(level),
            "{spelled:?} ({spelled_level:?}), a spelling of {:?} ({level:?}), is guarded less",
            normal.as_str()
        );
    } else {
        assert_eq!(
            spelled_level,
            level,
            "{spelled:?} (a spelling of {:?}) requires another level",
            normal.as_str()
        );
    }
    let below = format!("{}/zz", normal.as_str().trim_end_matches('/'));
    assert!(
        rank(rules.level_for(&below)) >= rank(level),
        "{below:?} is guarded less than {:?}",
        normal.as_str()
    );
    // A template without parameters or dot segments describes one path: the level
    // reported for it is at least that path's.
    if !raw.contains(['{', '}']) && !may_have_dots(raw) {
        assert!(
            rank(rules.level_for_template(raw)) >= rank(raw_level),
            "template {raw:?} is reported less strict than the path"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(3, '\n');
    let raw = lines.next().unwrap_or("");
    let own_pattern = lines.next();
    let spellings: Vec<Spelling> = lines
        .next()
        .unwrap_or("")
        .bytes()
        .map(Spelling::from_byte)
        .collect();
    let normal = NormalizedPath::new(raw);
    let canonical = normal.as_str();
    assert!(canonical.starts_with('/'), "{raw:?} -> {canonical:?}");
    assert!(
        canonical == "/" || !canonical.ends_with('/'),
        "{raw:?} -> {canonical:?}"
    );
    assert!(!canonical.contains("//"), "{raw:?} -> {canonical:?}");
    assert!(!canonical.contains(['\\', ';']), "{raw:?} -> {canonical:?}");
    for segment in normal.segments() {
        assert!(segment != "." && segment != "..", "{raw:?} -> {canonical:?}");
        assert!(
            !segment.bytes().any(|b| b.is_ascii_uppercase()),
            "{raw:?} -> {canonical:?}"
        );
    }
    let again = NormalizedPath::new(canonical);
    assert_eq!(
        again,
        normal,
        "normalising {raw:?} twice: {canonical:?} then {:?}",
        again.as_str()
    );

    let spelled = respell(&normal, &spellings);
    let spelled_with_dots = spellings
        .iter()
        .take(normal.segments().count())
        .any(|s| matches!(s, Spelling::DotBefore | Spelling::UpAndBack));
    assert_eq!(
        NormalizedPath::new(&spelled),
        normal,
        "{spelled:?} (a spelling of {canonical:?}) normalises elsewhere"
    );

    check(rules(), raw, &normal, &spelled, spelled_with_dots);
    if let Some(Ok(pattern)) = own_pattern.map(PathPattern::new) {
        let _ = pattern.matches(&normal);
        let own = PathRules::new([pattern.as_str()], ["/api"]).expect("a pattern that compiles compiles");
        check(&own, raw, &normal, &spelled, spelled_with_dots);
    }
});
