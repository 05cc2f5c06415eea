//! fastauth's path semantics written the plain way: every combination of the four
//! reading choices spelled out (separators, `;params`, empty and dot segments), and a
//! recursive matcher, memoised. Slow, and independent of the crate's code: the reference
//! its `level_for` is checked against.
use std::collections::HashMap;

use crate::router::Tag;

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(c) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
                && (c.is_ascii_alphanumeric() || b"-._~".contains(&c))
            {
                out.push(c);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn readings(raw: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for split_all in [false, true] {
        let cut = if split_all {
            let mut s = raw.to_owned();
            for sep in ["%2F", "%2f", "%5C", "%5c", "\\"] {
                s = s.replace(sep, "/");
            }
            s
        } else {
            raw.to_owned()
        };
        let mut pieces: Vec<&str> = cut.split('/').collect();
        if pieces.len() > 1 && pieces[0].is_empty() {
            pieces.remove(0);
        }
        for strip in [false, true] {
            let pieces: Vec<String> = pieces
                .iter()
                .map(|p| decode(if strip { p.split(';').next().unwrap() } else { p }))
                .collect();
            for keep_empty in [false, true] {
                for resolve in [false, true] {
                    let mut segments: Vec<String> = Vec::new();
                    for p in &pieces {
                        match p.as_str() {
                            "" if !keep_empty => {}
                            "." if resolve => {}
                            ".." if resolve => {
                                segments.pop();
                            }
                            _ => segments.push(p.clone()),
                        }
                    }
                    out.push(segments);
                }
            }
        }
    }
    out
}

/// Whether `pattern` matches a prefix of `path`. Memoised on what is left of each (both
/// are always suffixes of the originals): without it, a pattern of several `**` tries every
/// way of splitting a long path, O(n^k), and the `path_match` fuzz target's regression input
/// `double-star-backtracking` (three `**`, 400 segments) ran for minutes.
fn matches(pattern: &[&str], path: &[String]) -> bool {
    matches_rest(pattern, path, &mut HashMap::new())
}

fn matches_rest(pattern: &[&str], path: &[String], memo: &mut HashMap<(usize, usize), bool>) -> bool {
    let key = (pattern.len(), path.len());
    if let Some(&known) = memo.get(&key) {
        return known;
    }
    let result = match pattern.split_first() {
        None => true,
        // `**` matches no segment, or one more and then still `**`.
        Some((&"**", rest)) => {
            matches_rest(rest, path, memo) || (!path.is_empty() && matches_rest(pattern, &path[1..], memo))
        }
        Some((&segment, rest)) => match path.split_first() {
            None => false,
            Some((first, tail)) => {
                (segment == "*" || decode(segment).eq_ignore_ascii_case(first))
                    && matches_rest(rest, tail, memo)
            }
        },
    };
    memo.insert(key, result);
    result
}

fn guarded(patterns: &[&str], path: &[String]) -> bool {
    patterns.iter().any(|p| {
        let segments: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        matches(&segments, path)
    })
}

/// The strictest level over every reading: master, then access, then none.
pub fn level(master: &[&str], access: &[&str], raw: &str) -> Tag {
    let readings = readings(raw);
    if readings.iter().any(|r| guarded(master, r)) {
        Tag::Master
    } else if readings.iter().any(|r| guarded(access, r)) {
        Tag::Access
    } else {
        Tag::Public
    }
}
