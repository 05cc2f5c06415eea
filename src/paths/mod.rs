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

/// What a request must carry to reach the inner service, from least to most: levels
/// are ordered, and where several apply the strictest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    /// Nothing: the request passes untouched.
    Public,
    /// A valid access token (`ACCESS-TOKEN` header or `Authorization: Bearer`).
    Access,
    /// The `MASTER-TOKEN` header must carry the configured master token.
    Master,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Public => "public",
            Level::Access => "access",
            Level::Master => "master",
        })
    }
}

/// The compiled patterns of one [`FastAuth`](crate::FastAuth), and the level of paths
/// that none matches.
#[derive(Debug, Clone)]
pub(crate) struct PathRules {
    master: Vec<PathPattern>,
    access: Vec<PathPattern>,
    public: Vec<PathPattern>,
    default: Level,
}

/// The patterns of each level, as configured.
#[derive(Debug, Default)]
pub(crate) struct Patterns<'a> {
    pub(crate) master: &'a [String],
    pub(crate) access: &'a [String],
    pub(crate) public: &'a [String],
}

impl PathRules {
    /// Compiles the patterns. A path that no pattern matches requires `default`.
    pub(crate) fn new(patterns: Patterns<'_>, default: Level) -> Result<Self, ConfigError> {
        let compile = |patterns: &[String]| -> Result<Vec<PathPattern>, ConfigError> {
            patterns.iter().map(|p| PathPattern::new(p)).collect()
        };
        Ok(Self {
            master: compile(patterns.master)?,
            access: compile(patterns.access)?,
            public: compile(patterns.public)?,
            default,
        })
    }

    /// The level a raw request path (as in the request URI, still percent-encoded)
    /// requires: the strictest over every reading of the path.
    pub(crate) fn level_for(&self, raw_path: &str) -> Level {
        if self.master.is_empty() && self.access.is_empty() && self.public.is_empty() {
            return self.default;
        }
        let mut level = Level::Public;
        let _ = reading::each_reading(raw_path, |segments| {
            level = level.max(self.level_for_segments(segments));
            match level {
                Level::Master => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        });
        level
    }

    /// A protected pattern beats a public one, which beats the default: a public
    /// pattern carves paths out of the default, never out of another pattern.
    fn level_for_segments(&self, segments: &[&str]) -> Level {
        if self.master.iter().any(|p| p.matches(segments)) {
            Level::Master
        } else if self.access.iter().any(|p| p.matches(segments)) {
            Level::Access
        } else if self.public.iter().any(|p| p.matches(segments)) {
            Level::Public
        } else {
            self.default
        }
    }

    /// The master-level patterns.
    #[cfg(feature = "utoipa")]
    pub(crate) fn master(&self) -> &[PathPattern] {
        &self.master
    }

    /// The access-level patterns.
    #[cfg(feature = "utoipa")]
    pub(crate) fn access(&self) -> &[PathPattern] {
        &self.access
    }

    /// The public patterns.
    #[cfg(feature = "utoipa")]
    pub(crate) fn public(&self) -> &[PathPattern] {
        &self.public
    }

    /// The level of paths no pattern matches.
    #[cfg(feature = "utoipa")]
    pub(crate) fn default_level(&self) -> Level {
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(patterns: &[&str]) -> Vec<String> {
        patterns.iter().map(|p| p.to_string()).collect()
    }

    fn rules(master: &[&str], access: &[&str]) -> PathRules {
        with_default(master, access, &[], Level::Public)
    }

    fn with_default(master: &[&str], access: &[&str], public: &[&str], default: Level) -> PathRules {
        let (master, access, public) = (strings(master), strings(access), strings(public));
        let patterns = Patterns {
            master: &master,
            access: &access,
            public: &public,
        };
        PathRules::new(patterns, default).unwrap()
    }

    #[test]
    fn deny_by_default_with_public_carve_outs() {
        let rules = with_default(
            &["/admin"],
            &[],
            &["/health", "/auth/token/refresh"],
            Level::Access,
        );
        assert_eq!(rules.level_for("/health"), Level::Public);
        assert_eq!(rules.level_for("/health/live"), Level::Public);
        assert_eq!(rules.level_for("/auth/token/refresh"), Level::Public);
        assert_eq!(rules.level_for("/anything"), Level::Access);
        assert_eq!(rules.level_for("/"), Level::Access);
        assert_eq!(rules.level_for("/admin"), Level::Master);
        // A reading outside the carve-out keeps the default: `;x` is another segment to axum.
        assert_eq!(rules.level_for("/health;x"), Level::Access);
        assert_eq!(rules.level_for("/healthz"), Level::Access);
        // A protected pattern beats a public one.
        let rules = with_default(
            &["/admin"],
            &["/api"],
            &["/api/docs", "/admin/login"],
            Level::Access,
        );
        assert_eq!(rules.level_for("/api/docs"), Level::Access);
        assert_eq!(rules.level_for("/admin/login"), Level::Master);
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let rules = rules(&["/admin"], &["/access", "/api/*/items", "/files/**/raw"]);
        assert_eq!(rules.level_for("/admin"), Level::Master);
        assert_eq!(rules.level_for("/admin/users"), Level::Master);
        assert_eq!(rules.level_for("/administrator"), Level::Public);
        assert_eq!(rules.level_for("/access/health"), Level::Access);
        assert_eq!(rules.level_for("/accessories"), Level::Public);
        assert_eq!(rules.level_for("/api/v1/items"), Level::Access);
        assert_eq!(rules.level_for("/api/v1/items/3"), Level::Access);
        assert_eq!(rules.level_for("/api/v1/other"), Level::Public);
        assert_eq!(rules.level_for("/api/items"), Level::Public);
        assert_eq!(rules.level_for("/files/raw"), Level::Access);
        assert_eq!(rules.level_for("/files/a/b/c/raw/x"), Level::Access);
        assert_eq!(rules.level_for("/files/a/b"), Level::Public);
        assert_eq!(rules.level_for("/"), Level::Public);
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
            assert_eq!(rules.level_for(path), Level::Master, "{path}");
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
            assert_eq!(rules.level_for(path), Level::Access, "{path}");
        }
        for path in ["/tenants/;/admin", "/tenants/a%2Fb/admin", "/tenants/x;y/admin"] {
            assert_eq!(rules.level_for(path), Level::Master, "{path}");
        }
        // Two real segments where the pattern wants one: not this pattern's path.
        assert_eq!(rules.level_for("/files/a/b/raw"), Level::Public);
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
            assert_eq!(rules.level_for(path), Level::Master, "{path}");
        }
        for path in [
            "/api/../items",
            "/api/%2e%2e/items",
            "/files/../raw",
            "/files/./raw",
        ] {
            assert_eq!(rules.level_for(path), Level::Access, "{path}");
        }
        // Resolution still counts too: the stricter of the readings applies.
        assert_eq!(rules.level_for("/api/../admin"), Level::Master);
        assert_eq!(rules.level_for("/public/../api/x"), Level::Access);
        assert_eq!(rules.level_for("/public/../health"), Level::Public);
    }

    #[test]
    fn master_wins_over_access() {
        let rules = rules(&["/api/admin"], &["/api"]);
        assert_eq!(rules.level_for("/api/admin/x"), Level::Master);
        assert_eq!(rules.level_for("/api/x"), Level::Access);
        assert_eq!(rules.level_for("/api/x/../admin"), Level::Master);
    }

    #[test]
    fn root_pattern_guards_everything() {
        let rules = rules(&[], &["/"]);
        assert_eq!(rules.level_for("/"), Level::Access);
        assert_eq!(rules.level_for("/anything/at/all"), Level::Access);
    }

    #[test]
    fn grpc_paths_are_patterns_like_any_other() {
        let rules = rules(&["/grpc.health.v1.Health/Watch"], &["/grpc.health.v1.Health"]);
        assert_eq!(rules.level_for("/grpc.health.v1.Health/Watch"), Level::Master);
        assert_eq!(rules.level_for("/grpc.health.v1.Health/Check"), Level::Access);
    }

    #[test]
    fn long_hostile_paths_are_answered() {
        let rules = rules(&["/**/a/**/a/**/a/**/a/**/a/**/b"], &[]);
        let path = format!("{}/c", "/a".repeat(5000));
        assert_eq!(rules.level_for(&path), Level::Public);
        assert_eq!(rules.level_for(&format!("{path}/b")), Level::Master);
        let spelled = format!("{}/b;x", "/a%2F..".repeat(2000));
        assert_eq!(rules.level_for(&spelled), Level::Master);
    }
}
