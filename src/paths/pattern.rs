//! One compiled path pattern, and the one matcher every pattern goes through.

use crate::error::ConfigError;

use super::reading::decode_unreserved;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Stored in lower case; matched ignoring ASCII case.
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: any number of segments, none included.
    Any,
}

/// One compiled path pattern, such as `/api`, `/api/*/items` or `/files/**/raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    /// As written, for `Debug`.
    source: String,
    segments: Vec<Segment>,
    /// How many segments come before the first `*` or `**` (all of them in most
    /// patterns: `/api`, `/admin/users`). These sit at fixed positions of the path.
    fixed: usize,
}

impl PathPattern {
    /// Compiles a pattern. It must start with `/` and separate its segments with `/` only;
    /// `*` and `**` must stand alone in their segment.
    pub(crate) fn new(pattern: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: why.to_owned(),
        };
        if !pattern.starts_with('/') {
            return Err(bad("a pattern must start with '/'"));
        }
        if pattern.contains(['?', '#']) {
            return Err(bad("a pattern is a path: no query string or fragment"));
        }
        if pattern.chars().any(char::is_control) {
            return Err(bad("control characters are not allowed"));
        }
        // Servers disagree on what these mean inside a path; a pattern must mean one thing.
        if pattern.contains(['\\', ';']) || has_encoded_separator(pattern) {
            return Err(bad(
                "segments are separated by '/' only: '\\', ';', %2F and %5C are not allowed",
            ));
        }
        let mut segments = Vec::new();
        for raw in pattern.split('/') {
            let decoded = decode_unreserved(raw);
            match decoded.as_ref() {
                "" => continue,
                "." | ".." => return Err(bad("'.' and '..' segments are not allowed")),
                "*" => segments.push(Segment::One),
                "**" => segments.push(Segment::Any),
                s if s.contains('*') => return Err(bad("'*' and '**' must be a whole segment")),
                s => segments.push(Segment::Literal(s.to_ascii_lowercase())),
            }
        }
        Ok(Self {
            source: pattern.to_owned(),
            fixed: segments
                .iter()
                .take_while(|s| matches!(s, Segment::Literal(_)))
                .count(),
            segments,
        })
    }

    #[cfg(feature = "utoipa")]
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this pattern matches a prefix of `path` (a reading's segments).
    pub(crate) fn matches(&self, path: &[&str]) -> bool {
        // Most paths are told apart by the fixed segments, without the position-set walk.
        let (fixed, wild) = self.segments.split_at(self.fixed.min(self.segments.len()));
        let fixed_match = fixed.len() <= path.len()
            && fixed
                .iter()
                .zip(path)
                .all(|(s, p)| matches!(s, Segment::Literal(lit) if lit.eq_ignore_ascii_case(p)));
        if !fixed_match || wild.is_empty() {
            return fixed_match;
        }
        path.get(fixed.len()..)
            .is_some_and(|rest| matches_prefix(wild, &Segments(rest)))
    }
}

fn has_encoded_separator(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| matches!(w, [b'%', b'2', b'f' | b'F'] | [b'%', b'5', b'c' | b'C']))
}

/// What a pattern is matched against: a request path's segments or, for the OpenAPI
/// addon, a route template's.
pub(crate) trait Subject {
    /// The number of segments.
    fn len(&self) -> usize;
    /// Whether segment `i` may be the (lower-case) literal `lit`.
    fn may_be(&self, i: usize, lit: &str) -> bool;
    /// Whether segment `i` stands for any number of segments (a template's `{*rest}`).
    fn is_catch_all(&self, _i: usize) -> bool {
        false
    }
    /// Whether any segment is a catch-all (lets request paths skip the check).
    fn has_catch_all(&self) -> bool {
        false
    }
}

/// A request path's segments.
struct Segments<'a, 'b>(&'a [&'b str]);

impl Subject for Segments<'_, '_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn may_be(&self, i: usize, lit: &str) -> bool {
        self.0.get(i).is_some_and(|s| lit.eq_ignore_ascii_case(s))
    }
}

/// Position sets up to this many positions live on the stack.
const INLINE_WORDS: usize = 4;

/// Whether `pattern` matches a prefix of `subject`.
///
/// Runs in O(pattern × subject) whatever the number of `**` (a backtracking matcher is
/// exponential in them, and paths come from clients): it tracks, as a bit set, the
/// positions of the subject that each prefix of the pattern can end at.
pub(crate) fn matches_prefix(pattern: &[Segment], subject: &impl Subject) -> bool {
    // Positions 0..=len, 64 to a word.
    let words = (subject.len() / 64).saturating_add(1);
    let (mut inline_reach, mut inline_next) = ([0u64; INLINE_WORDS], [0u64; INLINE_WORDS]);
    let (mut heap_reach, mut heap_next);
    let (reach, next): (&mut [u64], &mut [u64]) =
        match (inline_reach.get_mut(..words), inline_next.get_mut(..words)) {
            (Some(reach), Some(next)) => (reach, next),
            _ => {
                heap_reach = vec![0; words];
                heap_next = vec![0; words];
                (&mut heap_reach, &mut heap_next)
            }
        };
    walk(pattern, subject, reach, next)
}

fn walk(pattern: &[Segment], subject: &impl Subject, reach: &mut [u64], next: &mut [u64]) -> bool {
    let n = subject.len();
    set(reach, 0);
    for segment in pattern {
        // A catch-all the pattern can reach spells out whatever the rest of it needs.
        if subject.has_catch_all() && positions(reach).any(|i| subject.is_catch_all(i)) {
            return true;
        }
        next.fill(0);
        match segment {
            Segment::Any => {
                if let Some(first) = positions(reach).next() {
                    for i in first..=n {
                        set(next, i);
                    }
                }
            }
            Segment::One => {
                for i in positions(reach).filter(|&i| i < n) {
                    set(next, i.saturating_add(1));
                }
            }
            Segment::Literal(lit) => {
                for i in positions(reach).filter(|&i| subject.may_be(i, lit)) {
                    set(next, i.saturating_add(1));
                }
            }
        }
        reach.copy_from_slice(next);
        if reach.iter().all(|&w| w == 0) {
            return false;
        }
    }
    true
}

fn set(bits: &mut [u64], i: usize) {
    if let Some(word) = bits.get_mut(i / 64) {
        *word |= 1 << (i % 64);
    }
}

/// The set positions, in increasing order.
fn positions(bits: &[u64]) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros() as usize;
            // Clears the lowest set bit (`rest` is not zero here).
            rest &= rest.wrapping_sub(1);
            Some(w.saturating_mul(64).saturating_add(bit))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> PathPattern {
        PathPattern::new(p).unwrap()
    }

    /// The recursive definition the position-set matcher replaced: the reference it must
    /// agree with.
    fn matches_by_backtracking(pattern: &[Segment], path: &[&str]) -> bool {
        match pattern.split_first() {
            None => true,
            Some((Segment::Any, rest)) => {
                (0..=path.len()).any(|skip| matches_by_backtracking(rest, &path[skip..]))
            }
            Some((segment, rest)) => match path.split_first() {
                None => false,
                Some((first, tail)) => {
                    let head = match segment {
                        Segment::Literal(lit) => lit.eq_ignore_ascii_case(first),
                        _ => true,
                    };
                    head && matches_by_backtracking(rest, tail)
                }
            },
        }
    }

    #[test]
    fn the_matcher_agrees_with_its_recursive_definition() {
        let patterns = [
            "/",
            "/a",
            "/*",
            "/**",
            "/a/**",
            "/**/b",
            "/a/*/c",
            "/**/a/**/b",
            "/*/*/*",
            "/a/**/**/c",
        ];
        let words = ["a", "b", "c", "A"];
        for p in patterns {
            let compiled = pattern(p);
            for len in 0..6usize {
                for combo in 0..4usize.pow(len as u32) {
                    let path: Vec<&str> = (0..len)
                        .map(|i| words[(combo / 4usize.pow(i as u32)) % 4])
                        .collect();
                    assert_eq!(
                        matches_prefix(&compiled.segments, &Segments(&path)),
                        matches_by_backtracking(&compiled.segments, &path),
                        "{p} on {path:?}"
                    );
                    assert_eq!(
                        compiled.matches(&path),
                        matches_by_backtracking(&compiled.segments, &path),
                        "{p} on {path:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn long_paths_use_the_heap_and_agree() {
        let compiled = pattern("/**/a/*/b");
        for len in [200usize, 255, 256, 257, 1000] {
            let mut path = vec!["x"; len];
            assert!(!compiled.matches(&path), "{len}");
            path[len - 3] = "a";
            path[len - 1] = "b";
            assert!(compiled.matches(&path), "{len}");
        }
    }

    #[test]
    fn many_double_stars_stay_linear() {
        // A backtracking matcher takes exponential time here (found by the path fuzzer).
        let compiled = pattern("/**/a/**/a/**/a/**/a/**/a/**/b");
        let mut path = vec!["a"; 5000];
        path.push("c");
        assert!(!compiled.matches(&path));
        path.push("b");
        assert!(compiled.matches(&path));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for p in [
            "admin", "/a?b", "/a/../b", "/a*", "/x#y", "/a\u{0}", "/a;b", "/a\\b", "/a%2Fb", "/a%5cb",
        ] {
            let err = PathPattern::new(p).unwrap_err();
            assert!(err.to_string().contains(&format!("{p:?}")), "{err}");
        }
    }

    #[test]
    fn literals_are_decoded_and_lowered_once() {
        assert_eq!(
            pattern("/%41pi//Items/").segments,
            [Segment::Literal("api".into()), Segment::Literal("items".into())]
        );
    }
}
