//! The level an OpenAPI path template may require (the `utoipa` addon).

use super::{
    Level, PathRules,
    pattern::{PathPattern, Subject, matches_prefix},
    reading::decode_unreserved,
};

/// One segment of a route template.
enum TemplateSegment {
    /// Lower case, unreserved escapes decoded.
    Literal(String),
    /// `{name}`, or any segment with a `{…}` in it: some single segment.
    Param,
    /// `{*name}` (axum's catch-all): any number of segments.
    Rest,
}

/// A template as "some path it describes": a parameter may be any segment.
struct Template(Vec<TemplateSegment>);

/// A template as "every path it describes": a parameter matches only `*` and `**`.
struct EveryPath<'a>(&'a [TemplateSegment]);

impl Subject for EveryPath<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn may_be(&self, i: usize, lit: &str) -> bool {
        matches!(self.0.get(i), Some(TemplateSegment::Literal(t)) if t == lit)
    }
}

impl Subject for Template {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn may_be(&self, i: usize, lit: &str) -> bool {
        match self.0.get(i) {
            Some(TemplateSegment::Literal(t)) => t == lit,
            Some(_) => true,
            None => false,
        }
    }

    fn is_catch_all(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(TemplateSegment::Rest))
    }

    fn has_catch_all(&self) -> bool {
        self.0.iter().any(|s| matches!(s, TemplateSegment::Rest))
    }
}

impl PathRules {
    /// The level an OpenAPI path template such as `/api/items/{id}` may require.
    ///
    /// A `{param}` segment stands for any single segment and `{*rest}` for any number of
    /// them. The answer is conservative: the strictest level any path the template
    /// describes may require. Paths left to the default level are public only when a
    /// public pattern covers every path the template describes.
    pub(crate) fn level_for_template(&self, template: &str) -> Level {
        let template = Template(template_segments(template));
        let reaches =
            |patterns: &[PathPattern]| patterns.iter().any(|p| matches_prefix(p.segments(), &template));
        if reaches(self.master()) {
            Level::Master
        } else if reaches(self.access()) {
            Level::Access
        } else if self.default_level() == Level::Public
            || self
                .public()
                .iter()
                .any(|p| matches_prefix(p.segments(), &EveryPath(&template.0)))
        {
            Level::Public
        } else {
            self.default_level()
        }
    }
}

fn template_segments(template: &str) -> Vec<TemplateSegment> {
    let mut out = Vec::new();
    for raw in template.split('/') {
        if raw.starts_with("{*") && raw.ends_with('}') {
            out.push(TemplateSegment::Rest);
            continue;
        }
        if raw.contains('{') {
            out.push(TemplateSegment::Param);
            continue;
        }
        match decode_unreserved(raw).as_ref() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            literal => out.push(TemplateSegment::Literal(literal.to_ascii_lowercase())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(master: &[&str], access: &[&str]) -> PathRules {
        with_default(master, access, &[], Level::Public)
    }

    fn with_default(master: &[&str], access: &[&str], public: &[&str], default: Level) -> PathRules {
        let strings = |p: &[&str]| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let (master, access, public) = (strings(master), strings(access), strings(public));
        let patterns = super::super::Patterns {
            master: &master,
            access: &access,
            public: &public,
        };
        PathRules::new(patterns, default).unwrap()
    }

    #[test]
    fn a_template_is_public_under_deny_by_default_only_if_every_path_is() {
        let rules = with_default(&[], &[], &["/health", "/docs/*"], Level::Access);
        assert_eq!(rules.level_for_template("/health"), Level::Public);
        assert_eq!(rules.level_for_template("/health/{part}"), Level::Public);
        assert_eq!(rules.level_for_template("/docs/{page}"), Level::Public);
        // `{section}` may be something other than `health`.
        assert_eq!(rules.level_for_template("/{section}"), Level::Access);
        assert_eq!(rules.level_for_template("/{*rest}"), Level::Access);
        assert_eq!(rules.level_for_template("/api/items"), Level::Access);
    }

    #[test]
    fn templates_match_like_the_paths_they_describe() {
        let rules = only(&["/admin"], &["/api", "/files/*/raw", "/x/**/y"]);
        assert_eq!(rules.level_for_template("/api/items"), Level::Access);
        assert_eq!(rules.level_for_template("/api/items/{id}"), Level::Access);
        assert_eq!(rules.level_for_template("/admin/stats"), Level::Master);
        assert_eq!(rules.level_for_template("/apis"), Level::Public);
        assert_eq!(rules.level_for_template("/administrator/{id}"), Level::Public);
        assert_eq!(rules.level_for_template("/health"), Level::Public);
        assert_eq!(rules.level_for_template("/"), Level::Public);
        assert_eq!(rules.level_for_template("/files/{id}/raw"), Level::Access);
        assert_eq!(
            rules.level_for_template("/files/{name}.json/raw/{part}"),
            Level::Access
        );
        assert_eq!(rules.level_for_template("/files/{id}"), Level::Public);
        assert_eq!(rules.level_for_template("/files/raw"), Level::Public);
        assert_eq!(rules.level_for_template("/x/y"), Level::Access);
        assert_eq!(rules.level_for_template("/x/{a}/{b}/y"), Level::Access);
        // `{a}` may be `y`.
        assert_eq!(rules.level_for_template("/x/{a}"), Level::Access);
        assert_eq!(rules.level_for_template("/x/z"), Level::Public);
        assert_eq!(rules.level_for_template("/API/%69tems"), Level::Access);
        assert_eq!(rules.level_for_template("/Admin/{id}"), Level::Master);
        assert_eq!(rules.level_for_template("//api/./x"), Level::Access);
        assert_eq!(rules.level_for_template("/public/../admin"), Level::Master);
    }

    #[test]
    fn a_template_parameter_may_stand_for_a_guarded_segment() {
        let rules = only(&["/admin"], &["/files/*/raw"]);
        // `{section}` could be `admin`: the stricter level is reported.
        assert_eq!(rules.level_for_template("/{section}/stats"), Level::Master);
        assert_eq!(rules.level_for_template("/{section}"), Level::Master);
        // A catch-all may reach anything below it.
        assert_eq!(rules.level_for_template("/{*path}"), Level::Master);
        assert_eq!(rules.level_for_template("/files/{*path}"), Level::Access);
        assert_eq!(rules.level_for_template("/static/{*path}"), Level::Public);
    }

    #[test]
    fn templates_master_wins_over_access() {
        let rules = only(&["/api/admin"], &["/api"]);
        assert_eq!(rules.level_for_template("/api/{section}"), Level::Master);
        assert_eq!(rules.level_for_template("/api/{section}/x"), Level::Master);
        assert_eq!(rules.level_for_template("/api/items/{id}"), Level::Access);
        assert_eq!(rules.level_for_template("/api"), Level::Access);
        assert_eq!(only(&[], &[]).level_for_template("/{*path}"), Level::Public);
    }

    #[test]
    fn many_double_stars_in_templates_stay_linear() {
        // Backtracking took ~0.3 s for 800 segments and three `**` (fuzzer finding); this
        // is 5,000 segments and six.
        let rules = only(&["/**/a/**/a/**/a/**/a/**/a/**/b"], &[]);
        let template = format!("{}/c", "/a".repeat(5000));
        assert_eq!(rules.level_for_template(&template), Level::Public);
        assert_eq!(
            rules.level_for_template(&format!("{template}/{{id}}")),
            Level::Master
        );
        assert_eq!(rules.level_for_template(&format!("{template}/b")), Level::Master);
    }
}
