//! Path patterns and the normalisation that makes them safe to match.
//!
//! A pattern is a path made of whole segments, where `*` stands for exactly one
//! segment and `**` for any number of segments (including none). A pattern matches
//! a path when it matches a *prefix* of the path's segments, so `/admin` guards
//! `/admin` and everything below it, as in fastauth-api, but never `/administrator`.
//!
//! Before matching, the request path is normalised so that no other spelling of a
//! protected path can slip past: percent-encoded unreserved characters are decoded,
//! empty segments (`//`) and `.` segments are dropped, `..` removes the segment
//! before it, `;parameters` are ignored, and the comparison ignores ASCII case.
//! Encoded or literal separators (`%2F`, `\`, `%5C`) split segments as `/` does.
//! Every one of these rules errs towards requiring a token: a spelling that the
//! inner service would not route anywhere at worst costs the caller a 401.

use std::fmt;

use crate::error::ConfigError;

/// The protection level a path requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The `MASTER-TOKEN` header must carry the configured master token.
    Master,
    /// A valid access token (`ACCESS-TOKEN` header or `Authorization: Bearer`).
    Access,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Master => "master",
            Level::Access => "access",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Any,
}

/// One compiled path pattern, such as `/api`, `/api/*/items` or `/files/**/raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
    /// No `*` or `**` (most patterns: `/api`, `/admin/users`), decided once here.
    literal_only: bool,
}

impl PathPattern {
    /// Compiles a pattern. It must start with `/`; `*` and `**` must stand alone in
    /// their segment, and the pattern must not contain `?`, `#`, `..` or `.` segments.
    pub fn new(pattern: &str) -> Result<Self, ConfigError> {
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
        let mut segments = Vec::new();
        for raw in split_segments(pattern) {
            let decoded = decode_segment(raw);
            match decoded.as_str() {
                "" => continue,
                "." | ".." => return Err(bad("'.' and '..' segments are not allowed")),
                "*" => segments.push(Segment::One),
                "**" => segments.push(Segment::Any),
                s if s.contains('*') => {
                    return Err(bad("'*' and '**' must be a whole segment"));
                }
                s => segments.push(Segment::Literal(s.to_ascii_lowercase())),
            }
        }
        Ok(Self {
            source: pattern.to_owned(),
            literal_only: segments.iter().all(|s| matches!(s, Segment::Literal(_))),
            segments,
        })
    }

    /// The pattern as it was written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether this pattern guards the given (already normalised) path.
    pub fn matches(&self, path: &NormalizedPath) -> bool {
        let segs: Vec<&str> = path.segments().collect();
        self.matches_segments(&segs)
    }

    fn matches_segments(&self, path: &[&str]) -> bool {
        if self.literal_only {
            // No position sets needed: compare the leading segments directly.
            return self.segments.len() <= path.len()
                && self
                    .segments
                    .iter()
                    .zip(path)
                    .all(|(s, p)| matches!(s, Segment::Literal(lit) if lit.eq_ignore_ascii_case(p)));
        }
        matches_prefix(&self.segments, path)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Whether `pattern` matches a prefix of `path`. Runs in O(pattern × path) whatever the
/// number of `**` (a backtracking matcher is exponential in them, and paths come from
/// clients): it tracks the set of path positions each pattern prefix can end at.
fn matches_prefix(pattern: &[Segment], path: &[&str]) -> bool {
    if path.len() < 128 {
        matches_prefix_small(pattern, path)
    } else {
        matches_prefix_long(pattern, path)
    }
}

/// [`matches_prefix`] with the position set in one `u128`: no allocation.
fn matches_prefix_small(pattern: &[Segment], path: &[&str]) -> bool {
    let n = path.len();
    // Bits 0..=n: the positions that exist.
    let all: u128 = if n + 1 == 128 {
        u128::MAX
    } else {
        (1u128 << (n + 1)) - 1
    };
    let mut reach: u128 = 1;
    for segment in pattern {
        reach = match segment {
            Segment::Any => all & (u128::MAX << reach.trailing_zeros()),
            Segment::One => (reach << 1) & all,
            Segment::Literal(lit) => {
                let mut next = 0;
                let mut rest = reach & (all >> 1);
                while rest != 0 {
                    let i = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    if lit.eq_ignore_ascii_case(path[i]) {
                        next |= 1 << (i + 1);
                    }
                }
                next
            }
        };
        if reach == 0 {
            return false;
        }
    }
    true
}

fn matches_prefix_long(pattern: &[Segment], path: &[&str]) -> bool {
    // `reach[i]`: the pattern so far can end right before `path[i]`.
    let mut reach = vec![false; path.len() + 1];
    reach[0] = true;
    for segment in pattern {
        match segment {
            Segment::Any => {
                // From the first reachable position on, every later one is reachable.
                let Some(first) = reach.iter().position(|&r| r) else {
                    return false;
                };
                reach[first..].fill(true);
            }
            Segment::One | Segment::Literal(_) => {
                let mut any = false;
                for i in (0..path.len()).rev() {
                    let ok = reach[i]
                        && match segment {
                            Segment::One => true,
                            // Literals are stored in lower case; the path's segments may not be.
                            Segment::Literal(lit) => lit.eq_ignore_ascii_case(path[i]),
                            Segment::Any => unreachable!("handled above"),
                        };
                    reach[i + 1] = ok;
                    any |= ok;
                }
                reach[0] = false;
                if !any {
                    return false;
                }
            }
        }
    }
    reach.iter().any(|&r| r)
}

/// A request path in canonical form: lower-case segments, no empty, `.` or `..`
/// segments, unreserved characters decoded, `;parameters` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath {
    canonical: String,
}

impl NormalizedPath {
    /// Normalises a raw request path (as found in the request URI, still percent-encoded).
    pub fn new(raw: &str) -> Self {
        let segments = decoded_segments(raw);
        let mut canonical = String::with_capacity(raw.len());
        for seg in resolve_dots(&segments) {
            canonical.push('/');
            canonical.push_str(seg);
        }
        if canonical.is_empty() {
            canonical.push('/');
        }
        Self { canonical }
    }

    /// The canonical path, always starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The path's segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.canonical.split('/').filter(|s| !s.is_empty())
    }
}

/// Paths with more segments than this take the allocating path.
const PLAIN_MAX_SEGMENTS: usize = 32;

/// The segments of a path that needs no decoding (the usual case), without allocating:
/// ASCII only and none of `%`, `\` or `;`. Empty and `.` segments are skipped and `..`
/// removes the segment before it, exactly as [`NormalizedPath::new`] does; letter case
/// is left for the matcher, which ignores it. `None` sends the path the general way.
/// The flag tells whether a `.` or `..` segment was seen.
fn plain_segments<'a>(raw: &'a str, buf: &mut [&'a str; PLAIN_MAX_SEGMENTS]) -> Option<(usize, bool)> {
    let bytes = raw.as_bytes();
    let mut n: usize = 0;
    let mut dots = false;
    let mut start = 0;
    // One pass that both checks the bytes and splits at `/` (`str::split` costs more
    // than the whole match on short paths).
    for i in 0..=bytes.len() {
        match bytes.get(i) {
            Some(b'/') | None => {}
            Some(&b) if !b.is_ascii() || matches!(b, b'%' | b'\\' | b';') => return None,
            Some(_) => continue,
        }
        // Every byte so far is ASCII, so these are character boundaries.
        let segment = &raw[start..i];
        start = i + 1;
        match segment {
            "" => {}
            "." => dots = true,
            ".." => {
                dots = true;
                n = n.saturating_sub(1);
            }
            _ if n == PLAIN_MAX_SEGMENTS => return None,
            _ => {
                buf[n] = segment;
                n += 1;
            }
        }
    }
    Some((n, dots))
}

/// The stricter of two levels: master, then access, then none.
fn stricter(a: Option<Level>, b: Option<Level>) -> Option<Level> {
    match (a, b) {
        (Some(Level::Master), _) | (_, Some(Level::Master)) => Some(Level::Master),
        (Some(Level::Access), _) | (_, Some(Level::Access)) => Some(Level::Access),
        _ => None,
    }
}

/// Decoded, lower-cased, non-empty segments without `;parameters`, dot segments kept
/// as they are (not resolved).
fn decoded_segments(raw: &str) -> Vec<String> {
    split_segments(raw)
        .filter_map(|raw_segment| {
            // `;` starts path parameters, which some servers strip before routing.
            let without_params = raw_segment.split(';').next().unwrap_or("");
            let decoded = decode_segment(without_params);
            (!decoded.is_empty()).then(|| decoded.to_ascii_lowercase())
        })
        .collect()
}

/// Resolves `.` and `..` segments as RFC 3986 section 5.2.4 does.
fn resolve_dots(segments: &[String]) -> Vec<&str> {
    let mut stack = Vec::with_capacity(segments.len());
    for segment in segments {
        match segment.as_str() {
            "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    stack
}

/// Splits on `/`, `\`, `%2F` and `%5C` (any case): every spelling a server might
/// treat as a separator.
fn split_segments(raw: &str) -> impl Iterator<Item = &str> {
    let bytes = raw.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut out = Vec::new();
    while i < bytes.len() {
        let sep_len = match bytes[i] {
            b'/' | b'\\' => 1,
            b'%' if is_encoded_separator(bytes.get(i + 1..i + 3)) => 3,
            _ => 0,
        };
        if sep_len > 0 {
            out.push(&raw[start..i]);
            i += sep_len;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&raw[start..]);
    out.into_iter()
}

fn is_encoded_separator(escape: Option<&[u8]>) -> bool {
    matches!(escape, Some([b'2', b'f' | b'F']) | Some([b'5', b'c' | b'C']))
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986 section 2.3) and
/// upper-cases the hex digits of every other escape, so equal paths compare equal.
fn decode_segment(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let c = (h << 4) | l;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(c as char);
            } else {
                out.push('%');
                out.push(bytes[i + 1].to_ascii_uppercase() as char);
                out.push(bytes[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        if bytes[i] == b'%' {
            // A `%` that starts no escape is escaped itself: left bare, it could form a
            // new escape with what follows once decoded (`%%32F`), and normalising the
            // result again would change it.
            out.push_str("%25");
            i += 1;
            continue;
        }
        // Request paths are ASCII on the wire; anything else is kept as it is.
        let Some(ch) = raw[i..].chars().next() else {
            break;
        };
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The compiled master and access patterns of one [`FastAuth`](crate::FastAuth).
#[derive(Debug, Clone, Default)]
pub struct PathRules {
    master: Vec<PathPattern>,
    access: Vec<PathPattern>,
}

impl PathRules {
    /// Compiles both lists of patterns.
    pub fn new<M, A>(master: M, access: A) -> Result<Self, ConfigError>
    where
        M: IntoIterator,
        M::Item: AsRef<str>,
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let compile = |items: Vec<String>| -> Result<Vec<PathPattern>, ConfigError> {
            items.iter().map(|p| PathPattern::new(p)).collect()
        };
        Ok(Self {
            master: compile(master.into_iter().map(|p| p.as_ref().to_owned()).collect())?,
            access: compile(access.into_iter().map(|p| p.as_ref().to_owned()).collect())?,
        })
    }

    /// The level a raw request path requires, if any. Master wins where both match:
    /// the stricter level always applies.
    pub fn level_for(&self, raw_path: &str) -> Option<Level> {
        if self.master.is_empty() && self.access.is_empty() {
            return None;
        }
        // A dot segment is resolved here, but routers differ: axum routes `/admin/..` to
        // `/admin/{id}`. So with dot segments the path is also matched with them kept as
        // plain segments, and the stricter level applies: a `..` never lowers the level.
        let mut buf = [""; PLAIN_MAX_SEGMENTS];
        if let Some((n, dots)) = plain_segments(raw_path, &mut buf) {
            let resolved = self.level_for_segments(&buf[..n]);
            if !dots || resolved == Some(Level::Master) {
                return resolved;
            }
            let kept: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
            return stricter(resolved, self.level_for_segments(&kept));
        }
        let segments = decoded_segments(raw_path);
        let resolved = self.level_for_segments(&resolve_dots(&segments));
        if resolved == Some(Level::Master) || !segments.iter().any(|s| s == "." || s == "..") {
            return resolved;
        }
        let kept: Vec<&str> = segments.iter().map(String::as_str).collect();
        stricter(resolved, self.level_for_segments(&kept))
    }

    fn level_for_segments(&self, segments: &[&str]) -> Option<Level> {
        if self.master.iter().any(|p| p.matches_segments(segments)) {
            Some(Level::Master)
        } else if self.access.iter().any(|p| p.matches_segments(segments)) {
            Some(Level::Access)
        } else {
            None
        }
    }

    /// The master-level patterns.
    pub fn master(&self) -> &[PathPattern] {
        &self.master
    }

    /// The access-level patterns.
    pub fn access(&self) -> &[PathPattern] {
        &self.access
    }
}

/// One segment of an OpenAPI path template.
enum TemplateSegment {
    Literal(String),
    /// `{name}`, or any segment with a `{…}` in it: some single segment.
    Param,
    /// `{*name}` (axum's catch-all): any number of segments.
    Rest,
}

impl PathRules {
    /// The level an OpenAPI path template such as `/api/items/{id}` may require.
    ///
    /// A `{param}` segment stands for any single segment and `{*rest}` for any number
    /// of them; literal segments are normalised as request paths are. The answer is
    /// conservative: if any path the template describes is guarded, that level is
    /// reported, and master wins over access.
    pub fn level_for_template(&self, template: &str) -> Option<Level> {
        let segments = template_segments(template);
        let reaches = |patterns: &[PathPattern]| patterns.iter().any(|p| could_match(&p.segments, &segments));
        if reaches(&self.master) {
            Some(Level::Master)
        } else if reaches(&self.access) {
            Some(Level::Access)
        } else {
            None
        }
    }
}

fn template_segments(template: &str) -> Vec<TemplateSegment> {
    let mut out = Vec::new();
    for raw in split_segments(template) {
        if raw.starts_with("{*") && raw.ends_with('}') {
            out.push(TemplateSegment::Rest);
            continue;
        }
        if raw.contains('{') {
            out.push(TemplateSegment::Param);
            continue;
        }
        let without_params = raw.split(';').next().unwrap_or("");
        let decoded = decode_segment(without_params);
        match decoded.as_str() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(TemplateSegment::Literal(decoded.to_ascii_lowercase())),
        }
    }
    out
}

/// Whether some path the template describes has a prefix the pattern matches.
///
/// The same position-set walk as [`matches_prefix_long`], O(pattern × template): a
/// backtracking matcher is exponential in the number of `**`.
fn could_match(pattern: &[Segment], template: &[TemplateSegment]) -> bool {
    // `reach[i]`: the pattern so far can end right before `template[i]`.
    let mut reach = vec![false; template.len() + 1];
    reach[0] = true;
    // A catch-all the pattern can reach spells out whatever the rest of the pattern needs.
    let at_catch_all = |reach: &[bool]| {
        template
            .iter()
            .zip(reach)
            .any(|(t, &r)| r && matches!(t, TemplateSegment::Rest))
    };
    for segment in pattern {
        if at_catch_all(&reach) {
            return true;
        }
        match segment {
            Segment::Any => {
                let Some(first) = reach.iter().position(|&r| r) else {
                    return false;
                };
                reach[first..].fill(true);
            }
            Segment::One | Segment::Literal(_) => {
                let mut any = false;
                for i in (0..template.len()).rev() {
                    let ok = reach[i]
                        && match (segment, &template[i]) {
                            (Segment::Literal(lit), TemplateSegment::Literal(t)) => lit == t,
                            _ => true,
                        };
                    reach[i + 1] = ok;
                    any |= ok;
                }
                reach[0] = false;
                if !any {
                    return false;
                }
            }
        }
    }
    reach.iter().any(|&r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        NormalizedPath::new(p).as_str().to_owned()
    }

    #[test]
    fn normalises_every_spelling() {
        assert_eq!(norm("/admin"), "/admin");
        assert_eq!(norm("//admin//x/"), "/admin/x");
        assert_eq!(norm("/a/./b/../admin"), "/a/admin");
        assert_eq!(norm("/%61dmin"), "/admin");
        assert_eq!(norm("/%2e%2e/admin"), "/admin");
        assert_eq!(norm("/ADMIN/"), "/admin");
        assert_eq!(norm("/admin;jsessionid=1/x"), "/admin/x");
        assert_eq!(norm("/x%2Fadmin"), "/x/admin");
        assert_eq!(norm("/x%5cadmin"), "/x/admin");
        assert_eq!(norm("/x\\admin"), "/x/admin");
        assert_eq!(norm("/a%20b"), "/a%20b");
        assert_eq!(norm("/a%2db"), "/a-b");
        assert_eq!(norm(""), "/");
        assert_eq!(norm("/../../"), "/");
        assert_eq!(norm("/%"), "/%25");
        assert_eq!(norm("/%4"), "/%254");
        assert_eq!(norm("/é/%zz"), "/é/%25zz");
        // A stray `%` is escaped, so the result normalises to itself.
        assert_eq!(norm("/%%32F"), "/%252f");
        assert_eq!(norm("/%252f"), "/%252f");
    }

    #[test]
    fn normalisation_is_idempotent() {
        for p in ["/a/../b/%2e/c", "//X%2fY", "/a;b/c;d", "/%41%42", "/a%25b"] {
            let once = norm(p);
            assert_eq!(norm(&once), once, "{p}");
        }
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let rules = PathRules::new(["/admin"], ["/access", "/api/*/items", "/files/**/raw"]).unwrap();
        assert_eq!(rules.level_for("/admin"), Some(Level::Master));
        assert_eq!(rules.level_for("/admin/users"), Some(Level::Master));
        assert_eq!(rules.level_for("/administrator"), None);
        assert_eq!(rules.level_for("/access/health"), Some(Level::Access));
        assert_eq!(rules.level_for("/accessories"), None);
        assert_eq!(rules.level_for("/api/v1/items"), Some(Level::Access));
        assert_eq!(rules.level_for("/api/v1/items/3"), Some(Level::Access));
        assert_eq!(rules.level_for("/api/v1/other"), None);
        assert_eq!(rules.level_for("/api/items"), None);
        assert_eq!(rules.level_for("/files/raw"), Some(Level::Access));
        assert_eq!(rules.level_for("/files/a/b/c/raw/x"), Some(Level::Access));
        assert_eq!(rules.level_for("/files/a/b"), None);
        assert_eq!(rules.level_for("/"), None);
    }

    #[test]
    fn dot_segments_never_lower_the_level() {
        // axum routes `/admin/..` to `/admin/{id}`: resolving the dots alone would open it.
        let rules = PathRules::new(["/admin"], ["/api", "/files/*/raw"]).unwrap();
        for path in [
            "/admin/..",
            "/admin/%2e%2e",
            "/admin/.%2E",
            "/admin/..;x",
            "/admin/%2F..",
            "/admin/%5C..",
            "/admin/.",
        ] {
            assert_eq!(rules.level_for(path), Some(Level::Master), "{path}");
        }
        for path in [
            "/api/../items",
            "/api/%2e%2e/items",
            "/files/../raw",
            "/files/./raw",
        ] {
            assert_eq!(rules.level_for(path), Some(Level::Access), "{path}");
        }
        // Resolution still counts too: the stricter of both readings applies.
        assert_eq!(rules.level_for("/api/../admin"), Some(Level::Master));
        assert_eq!(rules.level_for("/public/../api/x"), Some(Level::Access));
        assert_eq!(rules.level_for("/public/../health"), None);
    }

    #[test]
    fn both_matchers_agree() {
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
        for pattern in patterns {
            let compiled = PathPattern::new(pattern).unwrap();
            for len in 0..6usize {
                for combo in 0..4usize.pow(len as u32) {
                    let path: Vec<&str> = (0..len)
                        .map(|i| words[(combo / 4usize.pow(i as u32)) % 4])
                        .collect();
                    assert_eq!(
                        matches_prefix_small(&compiled.segments, &path),
                        matches_prefix_long(&compiled.segments, &path),
                        "{pattern} on {path:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn many_double_stars_stay_linear() {
        // A backtracking matcher takes exponential time here (found by the path fuzzer).
        let rules = PathRules::new(["/**/a/**/a/**/a/**/a/**/a/**/b"], Vec::<String>::new()).unwrap();
        let path = format!("{}/c", "/a".repeat(5000));
        assert_eq!(rules.level_for(&path), None);
        assert_eq!(rules.level_for(&format!("{path}/b")), Some(Level::Master));
        let hit = format!("{}/b/c", "/a".repeat(5000));
        assert_eq!(rules.level_for(&hit), Some(Level::Master));
    }

    /// The recursive definition the template matcher replaced: the reference it must agree with.
    fn could_match_by_backtracking(pattern: &[Segment], template: &[TemplateSegment]) -> bool {
        match (pattern.split_first(), template.split_first()) {
            (None, _) => true,
            (_, Some((TemplateSegment::Rest, _))) => true,
            (Some((Segment::Any, rest)), _) => {
                (0..=template.len()).any(|skip| could_match_by_backtracking(rest, &template[skip..]))
            }
            (Some(_), None) => false,
            (Some((seg, rest)), Some((first, tail))) => {
                let head_ok = match (seg, first) {
                    (Segment::Literal(lit), TemplateSegment::Literal(t)) => lit == t,
                    _ => true,
                };
                head_ok && could_match_by_backtracking(rest, tail)
            }
        }
    }

    #[test]
    fn the_template_matcher_agrees_with_its_recursive_definition() {
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
        let words = ["a", "b", "{p}", "{*rest}"];
        for pattern in patterns {
            let compiled = PathPattern::new(pattern).unwrap();
            for len in 0..6usize {
                for combo in 0..4usize.pow(len as u32) {
                    let template: String = (0..len)
                        .map(|i| format!("/{}", words[(combo / 4usize.pow(i as u32)) % 4]))
                        .collect();
                    let segments = template_segments(&template);
                    assert_eq!(
                        could_match(&compiled.segments, &segments),
                        could_match_by_backtracking(&compiled.segments, &segments),
                        "{pattern} on {template:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn many_double_stars_in_templates_stay_linear() {
        // Backtracking took ~0.3 s for 800 segments and three `**` (fuzzer finding); this
        // is 5,000 segments and six.
        let rules = PathRules::new(["/**/a/**/a/**/a/**/a/**/a/**/b"], Vec::<String>::new()).unwrap();
        let template = format!("{}/c", "/a".repeat(5000));
        assert_eq!(rules.level_for_template(&template), None);
        assert_eq!(
            rules.level_for_template(&format!("{template}/{{id}}")),
            Some(Level::Master)
        );
        assert_eq!(
            rules.level_for_template(&format!("{template}/b")),
            Some(Level::Master)
        );
    }

    #[test]
    fn master_wins_over_access() {
        let rules = PathRules::new(["/api/admin"], ["/api"]).unwrap();
        assert_eq!(rules.level_for("/api/admin/x"), Some(Level::Master));
        assert_eq!(rules.level_for("/api/x"), Some(Level::Access));
        assert_eq!(rules.level_for("/api/x/../admin"), Some(Level::Master));
    }

    #[test]
    fn root_pattern_guards_everything() {
        let rules = PathRules::new(Vec::<String>::new(), ["/"]).unwrap();
        assert_eq!(rules.level_for("/"), Some(Level::Access));
        assert_eq!(rules.level_for("/anything/at/all"), Some(Level::Access));
    }

    #[test]
    fn grpc_paths_are_patterns_like_any_other() {
        let rules = PathRules::new(["/grpc.health.v1.Health/Watch"], ["/grpc.health.v1.Health"]).unwrap();
        assert_eq!(
            rules.level_for("/grpc.health.v1.Health/Watch"),
            Some(Level::Master)
        );
        assert_eq!(
            rules.level_for("/grpc.health.v1.Health/Check"),
            Some(Level::Access)
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for p in ["admin", "/a?b", "/a/../b", "/a*", "/x#y", "/a\u{0}"] {
            let err = PathPattern::new(p).unwrap_err();
            assert!(err.to_string().contains(p.trim_end_matches('\u{0}')), "{err}");
        }
    }

    #[test]
    fn templates_match_like_the_paths_they_describe() {
        let rules = PathRules::new(["/admin"], ["/api", "/files/*/raw", "/x/**/y"]).unwrap();
        assert_eq!(rules.level_for_template("/api/items"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/api/items/{id}"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/admin/stats"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/apis"), None);
        assert_eq!(rules.level_for_template("/administrator/{id}"), None);
        assert_eq!(rules.level_for_template("/health"), None);
        assert_eq!(rules.level_for_template("/"), None);
        assert_eq!(rules.level_for_template("/files/{id}/raw"), Some(Level::Access));
        assert_eq!(
            rules.level_for_template("/files/{name}.json/raw/{part}"),
            Some(Level::Access)
        );
        assert_eq!(rules.level_for_template("/files/{id}"), None);
        assert_eq!(rules.level_for_template("/files/raw"), None);
        assert_eq!(rules.level_for_template("/x/y"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/x/{a}/{b}/y"), Some(Level::Access));
        // `{a}` may be `y`.
        assert_eq!(rules.level_for_template("/x/{a}"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/x/z"), None);
        assert_eq!(rules.level_for_template("/API/%69tems"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/Admin/{id}"), Some(Level::Master));
        assert_eq!(rules.level_for_template("//api/./x"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/public/../admin"), Some(Level::Master));
    }

    #[test]
    fn a_template_parameter_may_stand_for_a_guarded_segment() {
        let rules = PathRules::new(["/admin"], ["/files/*/raw"]).unwrap();
        // `{section}` could be `admin`: the stricter level is reported.
        assert_eq!(rules.level_for_template("/{section}/stats"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/{section}"), Some(Level::Master));
        // A catch-all may reach anything below it.
        assert_eq!(rules.level_for_template("/{*path}"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/files/{*path}"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/static/{*path}"), None);
    }

    #[test]
    fn templates_master_wins_over_access() {
        let rules = PathRules::new(["/api/admin"], ["/api"]).unwrap();
        assert_eq!(rules.level_for_template("/api/{section}"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/api/{section}/x"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/api/items/{id}"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/api"), Some(Level::Access));
        let none = PathRules::default();
        assert_eq!(none.level_for_template("/{*path}"), None);
    }

    #[test]
    fn the_allocation_free_path_agrees_with_normalisation() {
        let rules = PathRules::new(["/admin", "/a/*/c"], ["/api", "/files/**/raw", "/"]).unwrap();
        let only_api = PathRules::new(["/admin"], ["/api"]).unwrap();
        for raw in [
            "/admin",
            "/ADMIN/x",
            "//admin",
            "/x/../admin",
            "/./admin/.",
            "/api/../admin",
            "/a/b/c",
            "/a/b/../b/c",
            "/files/x/y/raw",
            "/",
            "",
            "/../..",
            "/apix",
            "/api.",
            "/api/",
            "admin",
            "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/1/2/3/4/5/6/7/8",
        ] {
            let mut buf = [""; PLAIN_MAX_SEGMENTS];
            if let Some((n, _)) = plain_segments(raw, &mut buf) {
                let normalised = NormalizedPath::new(raw);
                let expected: Vec<String> = normalised.segments().map(str::to_owned).collect();
                let got: Vec<String> = buf[..n].iter().map(|s| s.to_ascii_lowercase()).collect();
                assert_eq!(got, expected, "{raw}");
            }
            for r in [&rules, &only_api] {
                let slow = {
                    let path = NormalizedPath::new(raw);
                    let resolved: Vec<&str> = path.segments().collect();
                    let kept = decoded_segments(raw);
                    let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
                    stricter(r.level_for_segments(&resolved), r.level_for_segments(&kept))
                };
                assert_eq!(r.level_for(raw), slow, "{raw}");
            }
        }
    }
}
