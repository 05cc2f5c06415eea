//! A model of what the layer must agree with: routes as an application declares them
//! (axum templates with `{param}` and `{*rest}`, nested routers, fallbacks), each tagged
//! with the level its author meant, the fastauth patterns derived from those routes
//! (`{param}` → `*`, `{*rest}` → `**`), and hostile spellings of paths that reach them.
//!
//! The oracle is not fastauth's matcher: the real axum router decides which handler a
//! request reaches, and each handler records the credential the request carried. A
//! handler tagged master reached without the master token, or one tagged access reached
//! with no credential at all, is a bypass.
//!
//! Cases are decoded from bytes, so the same generator serves proptest (random bytes)
//! and libFuzzer (its corpus).

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    http::{HeaderMap, Uri},
    routing::any,
};

/// The level a route's author meant it to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Public,
    Access,
    Master,
}

/// A credential a request carried, as the handler saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    None,
    Access,
    Master,
}

/// One request that reached a handler.
#[derive(Debug, Clone)]
pub struct Hit {
    pub tag: Tag,
    pub route: String,
    pub path: String,
    pub credential: Credential,
}

impl Hit {
    /// Whether the handler ran without the credential its tag demands.
    pub fn is_bypass(&self) -> bool {
        match self.tag {
            Tag::Public => false,
            Tag::Access => self.credential == Credential::None,
            Tag::Master => self.credential != Credential::Master,
        }
    }
}

/// What reached the handlers, and the credentials that count as valid.
#[derive(Debug, Clone)]
pub struct HitLog {
    hits: Arc<Mutex<Vec<Hit>>>,
    master_token: Arc<str>,
    access_token: Arc<str>,
}

impl HitLog {
    pub fn new(master_token: &str, access_token: &str) -> Self {
        Self {
            hits: Arc::default(),
            master_token: master_token.into(),
            access_token: access_token.into(),
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn bypasses(&self) -> Vec<Hit> {
        self.hits().into_iter().filter(Hit::is_bypass).collect()
    }

    fn record(&self, tag: Tag, route: &str, uri: &Uri, headers: &HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        let credential = if header("master-token") == Some(&*self.master_token) {
            Credential::Master
        } else if header("access-token") == Some(&*self.access_token) || bearer == Some(&*self.access_token) {
            Credential::Access
        } else {
            Credential::None
        };
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).push(Hit {
            tag,
            route: route.to_owned(),
            path: uri.path().to_owned(),
            credential,
        });
    }
}

/// A route: an axum template and its tag.
#[derive(Debug, Clone)]
pub struct Route {
    pub template: String,
    pub tag: Tag,
}

/// A nested router under `prefix`, with its own fallback.
#[derive(Debug, Clone)]
pub struct Nest {
    pub prefix: String,
    pub routes: Vec<Route>,
    pub fallback: Tag,
}

/// An application's routes.
#[derive(Debug, Clone, Default)]
pub struct RouteSet {
    pub routes: Vec<Route>,
    pub nests: Vec<Nest>,
}

const WORDS: [&str; 8] = [
    "admin",
    "api",
    "files",
    "raw",
    "v1",
    "Items",
    "x",
    "grpc.health.v1.Health",
];

/// Values a `{param}` is given: each one a single segment to axum.
const PARAMS: [&str; 22] = [
    "x", "X1", ";", ";x=1", "a;b", "a%2Fb", "%2F", "%2f%2f", "a%5Cb", "%5c", "a\\b", ".", "..", "%2E",
    "%2e%2e", ".%2E", "..;", "%61dmin", "admin", "%FF", "a%00b", "~",
];

/// How two segments are joined: most often as written.
const JOINS: [&str; 12] = [
    "/", "/", "/", "/", "//", "/./", "/x/../", "\\", "%2F", "%5c", "/;/", "/%2e/",
];

const ENDINGS: [&str; 6] = ["", "", "/", "/.", "/..", ";x"];

/// A cursor over fuzz or proptest bytes; past the end it reads zeros.
pub struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[self.below(options.len())]
    }

    fn tag(&mut self) -> Tag {
        self.pick(&[Tag::Public, Tag::Access, Tag::Master])
    }
}

impl RouteSet {
    /// Decodes a route set: one to five routes and at most one nested router.
    pub fn decode(input: &mut Input<'_>) -> Self {
        let mut set = RouteSet::default();
        for _ in 0..1 + input.below(5) {
            let route = Route {
                template: template(input),
                tag: input.tag(),
            };
            if !set.routes.iter().any(|r| r.template == route.template) {
                set.routes.push(route);
            }
        }
        if input.below(2) == 0 {
            let prefix = format!("/{}", input.pick(&WORDS));
            let mut routes: Vec<Route> = Vec::new();
            for _ in 0..1 + input.below(3) {
                let route = Route {
                    template: template(input),
                    tag: input.tag(),
                };
                if !routes.iter().any(|r| r.template == route.template) {
                    routes.push(route);
                }
            }
            set.nests.push(Nest {
                prefix,
                routes,
                fallback: input.tag(),
            });
        }
        set
    }

    /// The axum router, or `None` when axum refuses the set (overlapping routes).
    pub fn router(&self, log: &HitLog) -> Option<Router> {
        let build = || {
            let mut router = Router::new();
            for route in &self.routes {
                router = router.route(&route.template, handler(log, route.tag, &route.template));
            }
            for nest in &self.nests {
                let mut inner = Router::new();
                for route in &nest.routes {
                    let full = format!("{}{}", nest.prefix, route.template);
                    inner = inner.route(&route.template, handler(log, route.tag, &full));
                }
                let fallback_name = format!("{} (fallback)", nest.prefix);
                inner = inner.fallback(handler(log, nest.fallback, &fallback_name));
                router = router.nest(&nest.prefix, inner);
            }
            // Unrouted paths land here: public, as an application's 404 page is.
            router.fallback(handler(log, Tag::Public, "(fallback)"))
        };
        // axum reports conflicting routes by panicking; such a set is no application.
        // (A fuzz target, whose panic hook aborts, swaps the hook around this call.)
        catch_unwind(AssertUnwindSafe(build)).ok()
    }

    /// The patterns an application author derives from the tagged routes: master first,
    /// then access.
    pub fn patterns(&self) -> (Vec<String>, Vec<String>) {
        let mut master = Vec::new();
        let mut access = Vec::new();
        let mut add = |tag: Tag, pattern: String| match tag {
            Tag::Master => master.push(pattern),
            Tag::Access => access.push(pattern),
            Tag::Public => {}
        };
        for route in &self.routes {
            add(route.tag, pattern_of(&route.template));
        }
        for nest in &self.nests {
            for route in &nest.routes {
                add(
                    route.tag,
                    pattern_of(&format!("{}{}", nest.prefix, route.template)),
                );
            }
            // The nest's fallback answers everything below the prefix.
            add(nest.fallback, nest.prefix.clone());
        }
        (master, access)
    }

    /// Request targets aimed at every route, hostile spellings included.
    pub fn paths(&self, input: &mut Input<'_>) -> Vec<Vec<u8>> {
        let mut templates: Vec<String> = self.routes.iter().map(|r| r.template.clone()).collect();
        for nest in &self.nests {
            templates.extend(
                nest.routes
                    .iter()
                    .map(|r| format!("{}{}", nest.prefix, r.template)),
            );
            templates.push(format!("{}/{{fallback}}", nest.prefix));
        }
        let mut paths = Vec::new();
        for template in &templates {
            for _ in 0..3 {
                paths.push(spell(template, input));
            }
        }
        // A raw non-UTF-8 byte in the request target.
        if let Some(template) = templates.first() {
            let mut raw = spell(template, input);
            raw.push(0xFF);
            paths.push(raw);
        }
        paths
    }
}

fn template(input: &mut Input<'_>) -> String {
    let len = 1 + input.below(4);
    let mut out = String::new();
    for depth in 0..len {
        out.push('/');
        match input.below(8) {
            4..=6 => out.push_str(&format!("{{p{depth}}}")),
            7 if depth + 1 == len => out.push_str("{*rest}"),
            _ => out.push_str(input.pick(&WORDS)),
        }
    }
    out
}

/// The fastauth pattern for a route template.
pub fn pattern_of(template: &str) -> String {
    let segments: Vec<&str> = template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            s if s.starts_with("{*") => "**",
            s if s.starts_with('{') => "*",
            s => s,
        })
        .collect();
    format!("/{}", segments.join("/"))
}

/// One spelling of a path the template describes: letter case, escapes, separators,
/// dot and empty segments, `;params`, hostile `{param}` values.
pub fn spell(template: &str, input: &mut Input<'_>) -> Vec<u8> {
    let mut out = String::new();
    for segment in template.split('/').filter(|s| !s.is_empty()) {
        out.push_str(input.pick(&JOINS));
        if segment.starts_with("{*") {
            for i in 0..1 + input.below(3) {
                if i > 0 {
                    out.push('/');
                }
                out.push_str(input.pick(&PARAMS));
            }
        } else if segment.starts_with('{') {
            out.push_str(input.pick(&PARAMS));
        } else {
            for c in segment.chars() {
                match input.below(6) {
                    0 => out.push(c.to_ascii_uppercase()),
                    1 => out.push(c.to_ascii_lowercase()),
                    2 if c.is_ascii_alphanumeric() => out.push_str(&format!("%{:02X}", u32::from(c))),
                    _ => out.push(c),
                }
            }
        }
    }
    out.push_str(input.pick(&ENDINGS));
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out.into_bytes()
}

fn handler(log: &HitLog, tag: Tag, route: &str) -> axum::routing::MethodRouter {
    let (log, route) = (log.clone(), route.to_owned());
    any(move |uri: Uri, headers: HeaderMap| {
        let (log, route) = (log.clone(), route.clone());
        async move {
            log.record(tag, &route, &uri, &headers);
            route
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_the_templates() {
        assert_eq!(pattern_of("/files/{p1}/raw"), "/files/*/raw");
        assert_eq!(pattern_of("/a/{*rest}"), "/a/**");
        assert_eq!(pattern_of("/api"), "/api");
    }
}
