//! Which level a request path requires.
//!
//! A pattern is a path made of whole segments, where `*` stands for exactly one segment
//! and `**` for any number of segments (including none). A pattern matches a path when
//! it matches a *prefix* of the path's segments, so `/admin` guards `/admin` and
//! everything below it, as in fastauth-api, but never `/administrator`. Letter case is
//! ignored, and percent-encoded unreserved characters are decoded.
//!
//! A request path is matched in every way a server may read it (see [`reading`]): with
//! `;params`, `%2F`, `%5C` and `\` inside a segment and with them stripped or split,
//! with `.`/`..` segments kept and resolved, with empty segments kept and dropped. The
//! strictest level any reading requires applies, so whichever way the router behind the
//! layer reads a path, the layer did not read it as less protected.

mod pattern;
mod reading;
#[cfg(feature = "utoipa")]
mod template;

use std::{fmt, ops::ControlFlow};

use crate::error::ConfigError;

use self::pattern::PathPattern;

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

/// The stricter of two levels: master, then access, then none.
fn stricter(a: Option<Level>, b: Option<Level>) -> Option<Level> {
    match (a, b) {
        (Some(Level::Master), _) | (_, Some(Level::Master)) => Some(Level::Master),
        (Some(Level::Access), _) | (_, Some(Level::Access)) => Some(Level::Access),
        _ => None,
    }
}

/// The compiled master and access patterns of one [`FastAuth`](crate::FastAuth).
#[derive(Debug, Clone, Default)]
pub(crate) struct PathRules {
    master: Vec<PathPattern>,
    access: Vec<PathPattern>,
}

impl PathRules {
    /// Compiles both lists of patterns.
    pub(crate) fn new<M, A>(master: M, access: A) -> Result<Self, ConfigError>
    where
        M: IntoIterator,
        M::Item: AsRef<str>,
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let compile = |patterns: Vec<String>| -> Result<Vec<PathPattern>, ConfigError> {
            patterns.iter().map(|p| PathPattern::new(p)).collect()
        };
        Ok(Self {
            master: compile(master.into_iter().map(|p| p.as_ref().to_owned()).collect())?,
            access: compile(access.into_iter().map(|p| p.as_ref().to_owned()).collect())?,
        })
    }

    /// The level a raw request path (as in the request URI, still percent-encoded)
    /// requires, if any: the strictest over every reading of the path.
    pub(crate) fn level_for(&self, raw_path: &str) -> Option<Level> {
        if self.master.is_empty() && self.access.is_empty() {
            return None;
        }
        let mut level = None;
        let _ = reading::each_reading(raw_path, |segments| {
            level = stricter(level, self.level_for_segments(segments));
            match level {
                Some(Level::Master) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        });
        level
    }

    /// Master wins where both match.
    fn level_for_segments(&self, segments: &[&str]) -> Option<Level> {
        if self.master.iter().any(|p| p.matches(segments)) {
            Some(Level::Master)
        } else if self.access.iter().any(|p| p.matches(segments)) {
            Some(Level::Access)
        } else {
            None
        }
    }

    /// The master-level patterns.
    pub(crate) fn master(&self) -> &[PathPattern] {
        &self.master
    }

    /// The access-level patterns.
    pub(crate) fn access(&self) -> &[PathPattern] {
        &self.access
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(master: &[&str], access: &[&str]) -> PathRules {
        PathRules::new(master, access).unwrap()
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let rules = rules(&["/admin"], &["/access", "/api/*/items", "/files/**/raw"]);
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
    fn every_spelling_of_a_protected_path_is_protected() {
        let rules = rules(&["/admin"], &["/api"]);
        for path in [
            "/ADMIN",
            "//admin",
            "/admin/",
            "/%61dmin",
            "/%2e/admin",
            "/x/../admin",
            "/admin;x",
            "/%2Fadmin",
            "/x/..%2fadmin",
            "/x%5c..%5Cadmin",
            "/x\\..\\admin",
            "/..;/admin",
            "/api/../admin",
        ] {
            assert_eq!(rules.level_for(path), Some(Level::Master), "{path}");
        }
    }

    #[test]
    fn wildcards_hold_whatever_a_segment_contains() {
        // The router sees one segment in each of these; the layer must too.
        let rules = rules(&["/tenants/*/admin"], &["/files/*/raw"]);
        for path in [
            "/files/;/raw",
            "/files/;jsessionid=1/raw",
            "/files/a%2Fb/raw",
            "/files/a%5Cb/raw",
            "/files/%2F/raw",
            "/files/a\\b/raw",
            "/files//raw",
            "/files/./raw",
            "/files/../raw",
        ] {
            assert_eq!(rules.level_for(path), Some(Level::Access), "{path}");
        }
        for path in ["/tenants/;/admin", "/tenants/a%2Fb/admin", "/tenants/x;y/admin"] {
            assert_eq!(rules.level_for(path), Some(Level::Master), "{path}");
        }
        // Two real segments where the pattern wants one: not this pattern's path.
        assert_eq!(rules.level_for("/files/a/b/raw"), None);
    }

    #[test]
    fn dot_segments_never_lower_the_level() {
        // axum routes `/admin/..` to `/admin/{id}`: resolving the dots alone would open it.
        let rules = rules(&["/admin"], &["/api", "/files/*/raw"]);
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
        // Resolution still counts too: the stricter of the readings applies.
        assert_eq!(rules.level_for("/api/../admin"), Some(Level::Master));
        assert_eq!(rules.level_for("/public/../api/x"), Some(Level::Access));
        assert_eq!(rules.level_for("/public/../health"), None);
    }

    #[test]
    fn master_wins_over_access() {
        let rules = rules(&["/api/admin"], &["/api"]);
        assert_eq!(rules.level_for("/api/admin/x"), Some(Level::Master));
        assert_eq!(rules.level_for("/api/x"), Some(Level::Access));
        assert_eq!(rules.level_for("/api/x/../admin"), Some(Level::Master));
    }

    #[test]
    fn root_pattern_guards_everything() {
        let rules = rules(&[], &["/"]);
        assert_eq!(rules.level_for("/"), Some(Level::Access));
        assert_eq!(rules.level_for("/anything/at/all"), Some(Level::Access));
    }

    #[test]
    fn grpc_paths_are_patterns_like_any_other() {
        let rules = rules(&["/grpc.health.v1.Health/Watch"], &["/grpc.health.v1.Health"]);
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
    fn long_hostile_paths_are_answered() {
        let rules = rules(&["/**/a/**/a/**/a/**/a/**/a/**/b"], &[]);
        let path = format!("{}/c", "/a".repeat(5000));
        assert_eq!(rules.level_for(&path), None);
        assert_eq!(rules.level_for(&format!("{path}/b")), Some(Level::Master));
        let spelled = format!("{}/b;x", "/a%2F..".repeat(2000));
        assert_eq!(rules.level_for(&spelled), Some(Level::Master));
    }
}
