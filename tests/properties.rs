//! Property-based tests (proptest, stable Rust, part of the normal test run).
//!
//! - Token verification never panics, on arbitrary bytes, strings and mutated tokens.
//! - The fast HS256 verifier agrees with the jsonwebtoken reference, on arbitrary input
//!   and on correctly signed tokens with generated headers and claims.
//! - A path's level is the strictest over every reading of it, computed here by an
//!   independent reference (a backtracking matcher over each combination of separators,
//!   `;params`, empty and dot segments); a protected path keeps at least its level under
//!   every generated spelling (case, percent-encoding, `//`, `/./`, `/x/../`, `;params`,
//!   other separators, trailing slash), and exactly its level under case and escapes.
//! - Issuing then verifying round-trips for every valid client id and lifetime.
//!
//! Case counts are kept small enough for the file to run in a few seconds in a debug
//! build; `PROPTEST_CASES` raises them for a longer run.

mod common;

use std::{sync::OnceLock, time::Duration};

use fastauth::{
    AuthError, FastAuth, Level,
    token::{MAX_CLIENT_ID_LEN, TokenError, TokenType},
};
use fastauth_testkit::{jwt::Reference, reference, router::Tag};
use proptest::prelude::*;

use common::{
    auth::{builder, key_ring},
    jwt::{b64, hs256, now},
    keys::{K1, K2, KEY, MASTER, OTHER_KEY},
    proptest_config::config,
};

/// A configured `FastAuth` and the reference built from the same keys.
struct Deployment {
    auth: FastAuth,
    reference: Reference,
}

impl std::ops::Deref for Deployment {
    type Target = FastAuth;

    fn deref(&self) -> &FastAuth {
        &self.auth
    }
}

/// A deployment without key ids (fastauth-api's tokens) and one with a key ring:
/// `k2` signs, `k1` and the kid-less `KEY` verify.
fn deployments() -> &'static [Deployment] {
    static AUTHS: OnceLock<Vec<Deployment>> = OnceLock::new();
    AUTHS.get_or_init(|| {
        let base = || {
            builder()
                .master_token(MASTER)
                .master_paths(["/admin", "/grpc.health.v1.Health/Watch"])
                .access_paths(["/api", "/files/*/raw", "/x/**/y"])
                .stateless()
        };
        vec![
            Deployment {
                auth: base().build().unwrap(),
                reference: Reference::new([(None, KEY)], 0),
            },
            Deployment {
                auth: key_ring(base()).build().unwrap(),
                reference: Reference::new([(Some("k2"), K2), (Some("k1"), K1), (None, KEY)], 0),
            },
        ]
    })
}

/// Everything a token can be verified with must return, not panic, and the level of any
/// path must be computable.
fn exercise(auth: &Deployment, input: &str) {
    for expected in [TokenType::Access, TokenType::Refresh] {
        let _ = fastauth::hooks::codec(auth).verify(input, expected);
        let _ = auth.reference.verify(input, expected);
    }
    let _ = fastauth::hooks::verify_access_token(auth, input);
    let _ = auth.level_for(input);
}

/// The fast verifier and the reference accept the same tokens with the same claims, and
/// refuse the others for the same reason (so with the same message).
fn assert_agree(auth: &Deployment, token: &str) -> Result<(), TestCaseError> {
    for expected in [TokenType::Access, TokenType::Refresh] {
        let fast = fastauth::hooks::codec(auth).verify(token, expected);
        let reference = auth.reference.verify(token, expected);
        match (&fast, &reference) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", token),
            (Err(a), Err(b)) => prop_assert_eq!(a, b, "{}: fast {:?}, reference {:?}", token, a, b),
            _ => prop_assert!(false, "{}: fast {:?}, reference {:?}", token, fast, reference),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Text that looks like a token more often than random text does.
fn token_like() -> impl Strategy<Value = String> {
    let segment = "[A-Za-z0-9_\\-=+/ ]{0,60}";
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_\\-=+/. ]{0,300}",
        (segment, segment, segment).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
        // Segments that decode, to JSON-ish text or not.
        (
            "[{}\":,a-zA-Z0-9 \\[\\]]{0,80}",
            "[{}\":,a-zA-Z0-9 \\[\\]]{0,120}",
            segment
        )
            .prop_map(|(h, p, s)| { format!("{}.{}.{s}", b64(h), b64(p)) }),
    ]
}

/// An issued token with a few characters replaced, inserted or removed.
fn mutated_token() -> impl Strategy<Value = String> {
    let edit = (any::<prop::sample::Index>(), 0u8..3, prop::char::range('+', 'z'));
    (0usize..2, 0usize..2, prop::collection::vec(edit, 1..4)).prop_map(|(which, kind, edits)| {
        let auth = &deployments()[which];
        let pair = fastauth::hooks::codec(auth).issue_pair("mutated-client").unwrap();
        let mut chars: Vec<char> = if kind == 0 {
            pair.access_token
        } else {
            pair.refresh_token
        }
        .chars()
        .collect();
        for (at, op, c) in edits {
            let i = at.index(chars.len().max(1));
            match op {
                0 if !chars.is_empty() => chars[i] = c,
                1 => chars.insert(i, c),
                _ if !chars.is_empty() => {
                    chars.remove(i);
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

/// A JSON value for a numeric claim: relative to now (never within a few seconds of it,
/// as both verifiers read the clock separately), or one of the awkward spellings.
#[derive(Debug, Clone)]
enum Time {
    Relative(i64),
    Raw(&'static str),
}

impl Time {
    fn render(&self, now: u64) -> String {
        match self {
            Time::Relative(offset) => (now as i64 + offset).to_string(),
            Time::Raw(raw) => (*raw).to_owned(),
        }
    }
}

fn time() -> impl Strategy<Value = Time> {
    prop_oneof![
        4 => (5i64..1_000_000).prop_map(Time::Relative),
        4 => (5i64..1_000_000).prop_map(|s| Time::Relative(-s)),
        1 => prop::sample::select(vec![
            "0", "1", "-1", "18446744073709551615", "18446744073709551616", "1e400", "1.5",
            "1e10", "\"1\"", "null", "true", "[]", "{}", "9223372036854775807",
            "9223372036854775808", "-9223372036854775808",
        ])
        .prop_map(Time::Raw),
    ]
}

/// One member of the claims, or `None` to leave it out.
fn member(name: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.85, value.prop_map(move |v| format!("\"{name}\":{v}")))
}

#[derive(Debug, Clone)]
struct GeneratedToken {
    header: &'static str,
    claims: Vec<(Option<String>, Option<Time>)>,
    key: &'static str,
}

impl GeneratedToken {
    fn render(&self, now: u64) -> String {
        let members: Vec<String> = self
            .claims
            .iter()
            .filter_map(|(text, time)| match (text, time) {
                (Some(text), Some(time)) => Some(text.replace("{time}", &time.render(now))),
                (Some(text), None) => Some(text.clone()),
                _ => None,
            })
            .collect();
        hs256(self.header, &format!("{{{}}}", members.join(",")), self.key)
    }
}

fn generated_token() -> impl Strategy<Value = GeneratedToken> {
    let header = prop::sample::select(vec![
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#,
        r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
        r#"{"alg":"HS256","typ":"JWT","kid":"k9"}"#,
        r#"{"alg":"HS256","typ":"JWT","kid":null}"#,
        r#"{"alg":"HS384","typ":"JWT"}"#,
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"HS256","typ":"JWT","jku":"https://x.invalid"}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
    ]);
    let key = prop::sample::select(vec![KEY, KEY, KEY, K1, K2, OTHER_KEY]);
    let client_id = prop_oneof![
        "[a-z0-9-]{1,12}".prop_map(|s| format!("\"{s}\"")),
        Just("\"\"".to_owned()),
        Just("\"a\\u0000b\"".to_owned()),
        Just(format!("\"{}\"", "x".repeat(257))),
        Just(format!("\"{}\"", "x".repeat(256))),
        Just(format!("\"{}\"", "\\u00e9".repeat(128))),
        Just("7".to_owned()),
        Just("\"\\u00e9\\\"\"".to_owned()),
    ];
    let token_type = prop::sample::select(vec![
        "\"access\"",
        "\"refresh\"",
        "\"Access\"",
        "\"x\"",
        "7",
        "null",
        "\"\\u0061ccess\"",
    ])
    .prop_map(str::to_owned);
    // Long ones push the payload past the fast verifier's stack buffer (768 bytes).
    let jti = prop_oneof![
        prop::sample::select(vec!["\"j\"", "null", "7", "\"\""]).prop_map(str::to_owned),
        (500usize..1200).prop_map(|n| format!("\"{}\"", "j".repeat(n))),
        (100usize..300).prop_map(|n| format!("\"{}\"", "\\u00e9".repeat(n))),
    ];
    let extra = prop::sample::select(vec![
        "\"aud\":\"a\"",
        "\"sub\":\"s\"",
        "\"iss\":5",
        "\"extra\":{\"x\":[1,2]}",
        "\"client_id\":\"dup\"",
        "\"type\":\"refresh\"",
    ])
    .prop_map(str::to_owned);
    let timed = |name: &'static str| {
        (
            prop::option::weighted(0.85, Just(format!("\"{name}\":{{time}}"))),
            time().prop_map(Some),
        )
    };
    (
        header,
        key,
        member("client_id", client_id),
        member("type", token_type),
        timed("exp"),
        timed("iat"),
        prop::option::weighted(0.2, Just("\"nbf\":{time}".to_owned())),
        time(),
        member("jti", jti),
        prop::option::weighted(0.3, extra),
    )
        .prop_map(
            |(header, key, client_id, token_type, exp, iat, nbf, nbf_time, jti, extra)| GeneratedToken {
                header,
                key,
                claims: vec![
                    (client_id, None),
                    (token_type, None),
                    exp,
                    iat,
                    (nbf, Some(nbf_time)),
                    (jti, None),
                    (extra, None),
                ],
            },
        )
}

/// Raw paths: separators, dots, escapes (valid and broken) and parameters, densely, and
/// the hex digits and letters that can complete an escape next to a broken one.
fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[/\\\\.;=%0-9a-fA-FxX~_-]{0,40}",
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    "/", "\\", ".", "..", ";", "%", "%2", "%5", "2", "5", "c", "C", "e", "E", "f", "F"
                ])
                .prop_map(str::to_owned),
                "%[0-9a-fA-F]{2}",
                "%(3[0-9]|4[1-6]|6[1-6])",
                "[a-zA-Z0-9~_-]{1,4}",
            ],
            0..16
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// A path segment as the patterns write it: never `.` or `..`, no separators.
fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._~-]{0,7}"
}

/// How one segment is re-spelt.
#[derive(Debug, Clone)]
struct Spelling {
    separator: &'static str,
    upper: Vec<bool>,
    encode: Vec<bool>,
    upper_hex: bool,
    detour: Option<String>,
    params: Option<String>,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        prop::sample::select(vec![
            "/",
            "/",
            "/",
            "//",
            "/./",
            "///",
            "/%2e/",
            "/%2E/",
            "\\",
            "%2F",
            "%2f",
            "%5C",
            "/x/.%2e/",
            "/x%2F%2E%2E/",
        ]),
        prop::collection::vec(any::<bool>(), 8),
        prop::collection::vec(prop::bool::weighted(0.3), 8),
        any::<bool>(),
        prop::option::weighted(0.2, segment()),
        prop::option::weighted(0.2, "[a-z0-9=,]{0,6}"),
    )
        .prop_map(|(separator, upper, encode, upper_hex, detour, params)| Spelling {
            separator,
            upper,
            encode,
            upper_hex,
            detour,
            params,
        })
}

/// `segments` spelt another way, meaning the same path.
fn respell(segments: &[String], spellings: &[Spelling], trailing: u8) -> String {
    let mut out = String::new();
    for (segment, s) in segments.iter().zip(spellings) {
        let separator = s.separator;
        // A path starts with '/', whatever separator follows.
        if out.is_empty() && !separator.starts_with('/') {
            out.push('/');
        }
        out.push_str(separator);
        if let Some(detour) = &s.detour {
            out.push_str(detour);
            out.push_str("/../");
        }
        for (i, c) in segment.chars().enumerate() {
            let c = if s.upper[i % 8] { c.to_ascii_uppercase() } else { c };
            if s.encode[i % 8] {
                if s.upper_hex {
                    out.push_str(&format!("%{:02X}", c as u32));
                } else {
                    out.push_str(&format!("%{:02x}", c as u32));
                }
            } else {
                out.push(c);
            }
        }
        if let Some(params) = &s.params {
            out.push(';');
            out.push_str(params);
        }
    }
    match trailing {
        1 => out.push('/'),
        2 => out.push_str("/."),
        3 => out.push_str("//"),
        _ => {}
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// A pattern guarding the first `len` of `segments`, some replaced by `*` or preceded by `**`.
fn pattern(segments: &[String], len: usize, wild: &[u8]) -> String {
    let mut pattern = String::new();
    for (i, segment) in segments[..len].iter().enumerate() {
        match wild[i % wild.len()] {
            1 => pattern.push_str("/*"),
            2 => {
                pattern.push_str("/**/");
                pattern.push_str(segment);
            }
            _ => {
                pattern.push('/');
                pattern.push_str(segment);
            }
        }
    }
    pattern
}

/// Unicode's format characters (general category Cf, Unicode 15.1), from its
/// DerivedGeneralCategory.txt.
fn is_format_char(c: char) -> bool {
    const CF: [(u32, u32); 21] = [
        (0xAD, 0xAD),
        (0x600, 0x605),
        (0x61C, 0x61C),
        (0x6DD, 0x6DD),
        (0x70F, 0x70F),
        (0x890, 0x891),
        (0x8E2, 0x8E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    CF.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)))
}

/// A client id as the crate accepts it: 1 to 256 bytes, no control characters.
fn client_id() -> impl Strategy<Value = String> {
    let non_control = any::<char>().prop_filter("no control or format characters", |c| {
        !c.is_control() && !is_format_char(*c)
    });
    prop_oneof![
        prop::collection::vec(non_control, 1..=MAX_CLIENT_ID_LEN).prop_map(|chars| {
            let mut id = String::new();
            for c in chars {
                if id.len() + c.len_utf8() > MAX_CLIENT_ID_LEN {
                    break;
                }
                id.push(c);
            }
            id
        }),
        "[ -~]{1,40}",
        Just("x".repeat(MAX_CLIENT_ID_LEN)),
        Just("\u{10FFFF}".repeat(MAX_CLIENT_ID_LEN / 4)),
        Just("\"\\'{}.%\u{2028}".to_owned()),
    ]
}

fn lifetime() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..120,
        1u64..100_000_000,
        Just(u64::MAX),
        Just(i64::MAX as u64),
        any::<u64>().prop_map(|l| l.max(1)),
    ]
}

// ---------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn verification_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        for auth in deployments() {
            exercise(auth, &text);
        }
    }

    #[test]
    fn verification_never_panics_on_token_like_text(text in token_like()) {
        for auth in deployments() {
            exercise(auth, &text);
            // Nothing guessed at random is a valid token.
            prop_assert!(fastauth::hooks::verify_access_token(auth, &text).is_err(), "{}", text);
        }
    }

    #[test]
    fn the_fast_verifier_agrees_with_the_reference_on_arbitrary_text(text in token_like()) {
        for auth in deployments() {
            assert_agree(auth, &text)?;
        }
    }

    #[test]
    fn the_fast_verifier_agrees_with_the_reference_on_mutated_tokens(token in mutated_token()) {
        for auth in deployments() {
            exercise(auth, &token);
            assert_agree(auth, &token)?;
        }
    }

    #[test]
    fn the_fast_verifier_agrees_with_the_reference_on_signed_tokens(generated in generated_token()) {
        let token = generated.render(now());
        for auth in deployments() {
            assert_agree(auth, &token)?;
        }
    }

    #[test]
    fn level_for_is_total(path in raw_path()) {
        for auth in deployments() {
            let _ = auth.level_for(&path);
        }
    }

    /// `level_for` (with its allocation-free path for plain paths) gives the strictest
    /// level the reference gives any reading of the path.
    #[test]
    fn level_for_agrees_with_the_reference_over_every_reading(
        path in prop_oneof![
            raw_path(),
            prop::collection::vec(
                prop::sample::select(vec![
                    "admin", "ADMIN", "api", "files", "raw", "x", "y", "a", ".", "..", "", "a;b", ";", "%2e", "a%2Fb", "%5c",
                ]),
                0..40,
            )
            .prop_map(|segments| format!("/{}", segments.join("/"))),
        ]
    ) {
        let master = ["/admin", "/a/*/c", "/x/**/y/admin"];
        let access = ["/api", "/files/**/raw", "/x/**/y", "/files/*/raw"];
        let auth = rules(&master, &access);
        let expected = level_ref(&master, &access, &path);
        prop_assert_eq!(auth.level_for(&path), expected, "{:?}", path);
    }

    #[test]
    fn a_protected_path_keeps_its_level_under_every_spelling(
        segments in prop::collection::vec(segment(), 1..6),
        spellings in prop::collection::vec(spelling(), 6),
        protected_len in 1usize..6,
        wild in prop::collection::vec(prop::sample::select(vec![0u8, 0, 0, 1, 2]), 1..4),
        master in any::<bool>(),
        trailing in 0u8..4,
    ) {
        let len = protected_len.min(segments.len());
        let pattern = pattern(&segments, len, &wild);
        let (rules, level) = if master {
            (rules(&[pattern.as_str()], &["/unrelated"]), Level::Master)
        } else {
            (rules(&["/unrelated"], &[pattern.as_str()]), Level::Access)
        };
        let canonical = format!("/{}", segments.join("/"));
        prop_assert_eq!(rules.level_for(&canonical), level, "{} under {}", canonical, pattern);
        let spelt = respell(&segments, &spellings, trailing);
        let got = rules.level_for(&spelt);
        prop_assert!(rank(got) >= rank(level), "{} under {}: {:?}", spelt, pattern, got);
    }

    #[test]
    fn any_path_keeps_its_level_under_every_spelling(
        segments in prop::collection::vec(segment(), 1..5),
        spellings in prop::collection::vec(spelling(), 5),
        trailing in 0u8..4,
    ) {
        // Fixed rules; the generated path may or may not fall under them.
        let rules = rules(&["/a", "/b/*/c"], &["/0", "/a0/**/z"]);
        let canonical = format!("/{}", segments.join("/"));
        let spelt = respell(&segments, &spellings, trailing);
        // A re-spelling never lowers the level; one that changes only letter case and
        // escapes of unreserved characters keeps it exactly. (Separators, `;params`, dot
        // and empty segments may raise it: some server reads the path otherwise.)
        let (got, want) = (rules.level_for(&spelt), rules.level_for(&canonical));
        prop_assert!(rank(got) >= rank(want), "{} vs {}: {:?} < {:?}", spelt, canonical, got, want);
        if only_case_and_escapes(&spelt) {
            prop_assert_eq!(got, want, "{} vs {}", spelt, canonical);
        }
    }

    #[test]
    fn issue_then_verify_round_trips(
        client_id in client_id(),
        access in lifetime(),
        refresh in lifetime(),
        ring in any::<bool>(),
    ) {
        let mut builder = builder()
            .access_token_lifetime(Duration::from_secs(access))
            .refresh_token_lifetime(Duration::from_secs(refresh))
            .stateless();
        let reference = if ring {
            builder = builder.cryptography_key(K2).key_id("k2").previous_key_without_kid(KEY);
            Reference::new([(Some("k2"), K2), (None, KEY)], 0)
        } else {
            Reference::new([(None, KEY)], 0)
        };
        let auth = builder.build().unwrap();
        let before = now();
        let pair = fastauth::hooks::codec(&auth).issue_pair(&client_id).unwrap();
        let after = now();
        prop_assert_eq!(&pair.client_id, &client_id);

        let claims = fastauth::hooks::verify_access_token(&auth, &pair.access_token).unwrap();
        prop_assert_eq!(&claims.client_id(), &client_id);
        prop_assert_eq!(claims.token_type(), TokenType::Access);
        prop_assert!((before..=after).contains(&claims.issued_at()));
        prop_assert_eq!(claims.expires_at(), claims.issued_at().saturating_add(access));
        prop_assert_eq!(&reference.verify(&pair.access_token, TokenType::Access).unwrap(), &claims);

        let refreshed = fastauth::hooks::codec(&auth).verify(&pair.refresh_token, TokenType::Refresh).unwrap();
        prop_assert_eq!(&refreshed.client_id(), &client_id);
        prop_assert_eq!(refreshed.expires_at(), refreshed.issued_at().saturating_add(refresh));
        prop_assert_eq!(
            reference.verify(&pair.refresh_token, TokenType::Refresh).unwrap(),
            refreshed
        );

        // Each token only in its own role.
        prop_assert_eq!(
            fastauth::hooks::verify_access_token(&auth, &pair.refresh_token).unwrap_err(),
            AuthError::WrongTokenType
        );
        prop_assert_eq!(
            fastauth::hooks::codec(&auth).verify(&pair.access_token, TokenType::Refresh).unwrap_err(),
            TokenError::WrongType
        );
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// The deployments' rules against the reference, on the densest hostile spellings.
    #[test]
    fn the_deployments_agree_with_the_reference(path in raw_path()) {
        let expected = level_ref(
            &["/admin", "/grpc.health.v1.Health/Watch"],
            &["/api", "/files/*/raw", "/x/**/y"],
            &path,
        );
        for auth in deployments() {
            prop_assert_eq!(auth.level_for(&path), expected, "{:?}", path);
        }
    }

    /// A stray `%` never forms a new escape with what a decoding left behind
    /// (`/%%32F` is not `/%2F`, a separator, nor `/`).
    #[test]
    fn stray_percent_signs_are_read_as_written(path in raw_path()) {
        let master = ["/admin", "/a/*/c"];
        let access = ["/api", "/files/*/raw"];
        let auth = rules(&master, &access);
        for known in ["/%%32F", "/%2%46", "/%%35C", "/admin/%%32e%%32e", "/files/%%32F/raw"] {
            prop_assert_eq!(auth.level_for(known), level_ref(&master, &access, known), "{:?}", known);
        }
        prop_assert_eq!(auth.level_for(&path), level_ref(&master, &access, &path), "{:?}", path);
    }
}

/// Levels are ordered, public < access < master.
fn rank(level: Level) -> Level {
    level
}

proptest! {
    #![proptest_config(config(256))]

    /// `..` resolution alone would drop the protected segment before it, while axum routes
    /// `/admin/..` to `/admin/{id}` (see `tests/attack_corpus.rs`,
    /// `dot_segments_cannot_remove_a_protected_segment`). A dot segment must never lower
    /// the level.
    #[test]
    fn dot_segments_never_lower_the_level(
        segments in prop::collection::vec(segment(), 1..5),
        protected_len in 1usize..5,
        master in any::<bool>(),
        at in any::<prop::sample::Index>(),
        dots in prop::sample::select(vec!["..", "%2e%2e", ".%2E", "..;x", "%2E%2E;"]),
        tail in prop::collection::vec(segment(), 0..3),
    ) {
        let len = protected_len.min(segments.len());
        let pattern = format!("/{}", segments[..len].join("/"));
        let rules = if master {
            rules(&[pattern.as_str()], &["/unrelated"])
        } else {
            rules(&["/unrelated"], &[pattern.as_str()])
        };
        let cut = len + at.index(segments.len() - len + 1);
        let prefix = format!("/{}", segments[..cut].join("/"));
        let with_dots = format!("{prefix}/{dots}/{}", tail.join("/"));
        prop_assert!(
            rank(rules.level_for(&with_dots)) >= rank(rules.level_for(&prefix)),
            "{} is {:?} but {} is {:?} (pattern {})",
            with_dots,
            rules.level_for(&with_dots),
            prefix,
            rules.level_for(&prefix),
            pattern
        );
    }
}

/// Client ids outside the accepted set are refused when issuing, and the crate never
/// signs a token it would not verify.
#[test]
fn invalid_client_ids_are_refused_when_issuing() {
    let auth = &deployments()[0];
    for bad in [
        String::new(),
        "x".repeat(MAX_CLIENT_ID_LEN + 1),
        "\u{10FFFF}".repeat(MAX_CLIENT_ID_LEN / 4) + "x",
        "a\u{0}b".to_owned(),
        "a\nb".to_owned(),
        "\u{7f}".to_owned(),
        "\u{85}".to_owned(),
        "\u{202E}evil".to_owned(),
        "a\u{200B}b".to_owned(),
        "\u{E0041}".to_owned(),
    ] {
        assert_eq!(
            fastauth::hooks::codec(auth).issue_pair(&bad).unwrap_err(),
            TokenError::InvalidClientId,
            "{bad:?}"
        );
    }
}

/// Whether the spelling differs from a plain path only by letter case and escapes of
/// unreserved characters (no other separator, `;params`, dot or empty segment).
fn only_case_and_escapes(path: &str) -> bool {
    let lowered = path.to_ascii_lowercase();
    if lowered.contains(['\\', ';']) || lowered.contains("%2f") || lowered.contains("%5c") {
        return false;
    }
    let decoded = lowered.replace("%2e", ".");
    decoded
        .strip_prefix('/')
        .is_some_and(|rest| rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."))
}

/// A stateless deployment with these patterns.
fn rules(master: &[&str], access: &[&str]) -> FastAuth {
    let mut builder = builder().stateless().access_paths(access.iter().copied());
    if !master.is_empty() {
        builder = builder.master_token(MASTER).master_paths(master.iter().copied());
    }
    builder.build().unwrap()
}

/// The reference's answer in the crate's terms.
fn level_ref(master: &[&str], access: &[&str], raw: &str) -> Level {
    match reference::level(master, access, raw) {
        Tag::Master => Level::Master,
        Tag::Access => Level::Access,
        Tag::Public => Level::Public,
    }
}
