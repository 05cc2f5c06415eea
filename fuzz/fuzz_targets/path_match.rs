//! Path matching: `FastAuth::level_for` gives the level the reference gives (every
//! reading of the path spelled out, a backtracking matcher: fastauth-testkit's
//! `reference`), for fixed rules and for a rule made of the fuzzer's own pattern when it
//! compiles. Never panics, whatever the bytes.
//!
//! Input, one item a line (readable, so seeds and crashes are easy to write and read):
//!
//! ```text
//! PATH        the raw request path, still percent-encoded
//! PATTERN     optional: a pattern of the fuzzer's own
//! ```
#![no_main]

use std::sync::OnceLock;

use fastauth::{FastAuth, Level};
use fastauth_testkit::{reference, router::Tag};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "fuzz-key-0123456789-0123456789-0123456789";
const MASTER: [&str; 4] = [
    "/admin",
    "/api/*/keys",
    "/x/**/root",
    "/grpc.health.v1.Health/Watch",
];
const ACCESS: [&str; 6] = [
    "/api",
    "/files/**/raw",
    "/a%20b",
    "/%7Euser",
    "/grpc.health.v1.Health",
    "/*/private",
];

fn auth(master: &[&str], access: &[&str]) -> Option<FastAuth> {
    FastAuth::builder()
        .ignore_environment()
        .cryptography_key(KEY)
        .master_token("fuzz-master-token")
        .stateless()
        .master_paths(master.iter().copied())
        .access_paths(access.iter().copied())
        .build()
        .ok()
}

fn fixed() -> &'static FastAuth {
    static AUTH: OnceLock<FastAuth> = OnceLock::new();
    AUTH.get_or_init(|| auth(&MASTER, &ACCESS).expect("the fixed rules compile"))
}

fn tag(level: Level) -> Tag {
    match level {
        Level::Master => Tag::Master,
        Level::Access => Tag::Access,
        _ => Tag::Public,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or_default();
    assert_eq!(
        tag(fixed().level_for(path)),
        reference::level(&MASTER, &ACCESS, path),
        "fixed rules, path {path:?}"
    );
    if let Some(pattern) = lines.next().filter(|p| !p.is_empty())
        && let Some(own) = auth(&[pattern], &["/api"])
    {
        assert_eq!(
            tag(own.level_for(path)),
            reference::level(&[pattern], &["/api"], path),
            "pattern {pattern:?}, path {path:?}"
        );
    }
});
