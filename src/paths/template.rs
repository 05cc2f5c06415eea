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

struct Template(Vec<TemplateSegment>);

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
    /// them. The answer is conservative: if any path the template describes is guarded,
    /// that level is reported, and master wins over access.
    pub(crate) fn level_for_template(&self, template: &str) -> Option<Level> {
        let template = Template(template_segments(template));
        let reaches =
            |patterns: &[PathPattern]| patterns.iter().any(|p| matches_prefix(p.segments(), &template));
        if reaches(self.master()) {
            Some(Level::Master)
        } else if reaches(self.access()) {
            Some(Level::Access)
        } else {
            None
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

    fn rules(master: &[&str], access: &[&str]) -> PathRules {
        PathRules::new(master, access).unwrap()
    }

    #[test]
    fn templates_match_like_the_paths_they_describe() {
        let rules = rules(&["/admin"], &["/api", "/files/*/raw", "/x/**/y"]);
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
        let rules = rules(&["/admin"], &["/files/*/raw"]);
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
        let rules = rules(&["/api/admin"], &["/api"]);
        assert_eq!(rules.level_for_template("/api/{section}"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/api/{section}/x"), Some(Level::Master));
        assert_eq!(rules.level_for_template("/api/items/{id}"), Some(Level::Access));
        assert_eq!(rules.level_for_template("/api"), Some(Level::Access));
        assert_eq!(PathRules::default().level_for_template("/{*path}"), None);
    }

    #[test]
    fn many_double_stars_in_templates_stay_linear() {
        // Backtracking took ~0.3 s for 800 segments and three `**` (fuzzer finding); this
        // is 5,000 segments and six.
        let rules = rules(&["/**/a/**/a/**/a/**/a/**/a/**/b"], &[]);
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
}
