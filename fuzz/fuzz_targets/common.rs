//! What the two token targets share: the `FastAuth` instances under test and the
//! differential check of the fast verifier against the jsonwebtoken reference.

#![allow(dead_code)] // each target uses only part of it

use std::{
    sync::OnceLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use fastauth::{
    FastAuth,
    token::{TokenType, check_client_id},
};
use fastauth_testkit::jwt::Reference;

/// The key of the Python-compatible setup (no `kid`); also the rotating setup's
/// retired key without `kid`.
pub const KEY0: &str = "fuzz-key-0-python-compatible-0000000000";
/// A previous key of the rotating setup, `kid` `k1`.
pub const KEY1: &str = "fuzz-key-1-previous-with-kid-1111111111";
/// The current key of the rotating setup, `kid` `k2`.
pub const KEY2: &str = "fuzz-key-2-current-with-kid-22222222222";
/// A key no setup knows.
pub const UNKNOWN_KEY: &str = "fuzz-key-x-nobody-knows-this-xxxxxxxxx";

/// One configuration under test and the leeway it was built with.
pub struct Setup {
    pub name: &'static str,
    pub auth: FastAuth,
    /// jsonwebtoken's decoding with the same keys and leeway.
    pub reference: Reference,
    pub leeway: u64,
}

/// Both setups: a single key without `kid` (fastauth-api's tokens), and key rotation
/// (`k2` signs, `k1` and a key without `kid` still verify) with a leeway.
pub fn setups() -> &'static [Setup] {
    static SETUPS: OnceLock<Vec<Setup>> = OnceLock::new();
    SETUPS.get_or_init(|| {
        let plain = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY0)
            .stateless()
            .build()
            .expect("plain setup builds");
        let rotating = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY2)
            .key_id("k2")
            .previous_key("k1", KEY1)
            .previous_key_without_kid(KEY0)
            .leeway(Duration::from_secs(30))
            .stateless()
            .build()
            .expect("rotating setup builds");
        vec![
            Setup {
                name: "plain",
                auth: plain,
                reference: Reference::new([(None, KEY0)], 0),
                leeway: 0,
            },
            Setup {
                name: "rotating",
                auth: rotating,
                reference: Reference::new([(Some("k2"), KEY2), (Some("k1"), KEY1), (None, KEY0)], 30),
                leeway: 30,
            },
        ]
    })
}

pub fn now_secs() -> u64 {
    secs_at(SystemTime::now())
}

fn secs_at(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How far ahead of `SystemTime::now()` fastauth's checks may read the time: one tick of
/// the kernel's coarse clock (src/clock.rs), at most 10 ms (HZ = 100).
const CHECK_CLOCK_AHEAD: Duration = Duration::from_millis(10);

/// The fast verifier, the jsonwebtoken reference and `verify_access_stateless` agree on
/// accept/reject for both token types, accepted claims are equal and sane.
pub fn check_agreement(setup: &Setup, token: &str) {
    let codec = fastauth::hooks::codec(&setup.auth);
    // Fast path and reference read the clock separately, and fastauth's reading may be
    // up to a tick ahead: a token expiring in the second between them would look like a
    // disagreement, so rounds that end within a tick of a new second are redone.
    for _ in 0..10 {
        let before = now_secs();
        let access = (
            codec.verify(token, TokenType::Access),
            setup.reference.verify(token, TokenType::Access),
        );
        let refresh = (
            codec.verify(token, TokenType::Refresh),
            setup.reference.verify(token, TokenType::Refresh),
        );
        let stateless = fastauth::hooks::verify_access_token(&setup.auth, token);
        let after = secs_at(SystemTime::now() + CHECK_CLOCK_AHEAD);
        if before != after {
            continue;
        }
        for (expected, (fast, reference)) in [(TokenType::Access, &access), (TokenType::Refresh, &refresh)] {
            assert_eq!(
                fast.is_ok(),
                reference.is_ok(),
                "[{}] {expected}: fast {fast:?} vs reference {reference:?} for {token:?}",
                setup.name
            );
            if let (Ok(a), Ok(b)) = (fast, reference) {
                assert_eq!(a, b, "[{}] claims differ for {token:?}", setup.name);
                assert_eq!(a.token_type(), expected, "[{}] {token:?}", setup.name);
                assert!(
                    check_client_id(&a.client_id()).is_ok(),
                    "[{}] {token:?}",
                    setup.name
                );
                assert!(
                    a.expires_at().saturating_add(setup.leeway) >= before,
                    "[{}] expired token accepted: {a:?}",
                    setup.name
                );
            }
        }
        assert!(
            !(access.0.is_ok() && refresh.0.is_ok()),
            "[{}] one token accepted as both types: {token:?}",
            setup.name
        );
        assert_eq!(
            stateless.is_ok(),
            access.0.is_ok(),
            "[{}] verify_access_stateless {stateless:?} vs codec {:?} for {token:?}",
            setup.name,
            access.0
        );
        if let (Ok(a), Ok(b)) = (&stateless, &access.0) {
            assert_eq!(a, b);
        }
        return;
    }
    panic!("the clock moved on every attempt");
}
