//! Correctly signed tokens with fuzzed headers and claims, so the fuzzer gets past the
//! signature check: the fast verifier must agree with the jsonwebtoken reference on
//! every claim spelling (types, numbers, duplicates, unknown members, trailing data),
//! every header (algorithms, `kid`s, forbidden members) and segment tweaks; and claims
//! signed by a setup's own codec verify back to themselves (claims too large for
//! `MAX_TOKEN_LEN` are refused by `sign` itself).
//!
//! Input, one item a line (readable, so seeds and crashes are easy to write and read):
//!
//! ```text
//! KEY       0, 1, 2 or x (unknown): sign the header and claims below by hand;
//!           c0 or c2: sign the claims with the plain (c0) or rotating (c2) setup's codec
//! HEADER    the header JSON, as is (ignored for c0/c2)
//! CLAIMS    the claims JSON; `$now`, `$now+N`, `$now-N` become the current Unix time
//! TWEAK     optional: applied to the signed token (see `tweak`)
//! ```
#![no_main]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fastauth::{
    hooks::ClaimsData,
    token::{MAX_TOKEN_LEN, TokenError, check_client_id},
};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;

mod common;

/// Replaces `$now[+-N]` with the current time plus N, so expiry stays interesting
/// whenever the input is run.
fn with_now(text: &str, now: i64) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find("$now") {
        out.push_str(&rest[..at]);
        rest = &rest[at + 4..];
        let sign = match rest.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => 0,
        };
        let mut offset = 0i64;
        if sign != 0 {
            let digits = rest[1..].bytes().take(12).take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                offset = rest[1..1 + digits].parse::<i64>().unwrap_or(0) * sign;
                rest = &rest[1 + digits..];
            }
        }
        out.push_str(&now.saturating_add(offset).to_string());
    }
    out.push_str(rest);
    out
}

fn sign(secret: &str, header: &str, claims: &str) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        Algorithm::HS256,
    )
    .expect("HS256 signing cannot fail");
    format!("{message}.{signature}")
}

/// Encoding-level variations of a signed token.
fn tweak(token: String, how: &str) -> String {
    let (message, signature) = token.rsplit_once('.').expect("a signed token has dots");
    match how.as_bytes().first() {
        None => token,
        Some(b'=') => format!("{token}="),
        Some(b'p') => format!("{message}=.{signature}"),
        Some(b'.') => format!("{token}."),
        Some(b'^') => format!(".{token}"),
        Some(b' ') => format!(" {token} "),
        Some(b'n') => format!("{token}\n"),
        Some(b'-') => token[..token.len() - 1].to_owned(),
        Some(b'+') => format!("{token}.e30"),
        Some(b'r') => format!("{message}.{}", &how[1..]),
        Some(b's') => format!("{signature}.{message}"),
        Some(b'u') => {
            // Standard instead of URL-safe base64.
            token.replace('-', "+").replace('_', "/")
        }
        Some(b'@') => {
            // Replace one byte: `@<index> <byte>`.
            let mut parts = how[1..].split(' ');
            let index = parts.next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            let byte = parts.next().and_then(|n| n.bytes().next()).unwrap_or(b'A');
            let mut bytes = token.into_bytes();
            let len = bytes.len();
            bytes[index % len] = byte;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Some(_) => token,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let key = lines.next().unwrap_or("");
    let header = lines.next().unwrap_or("");
    let now = common::now_secs();
    let claims = with_now(lines.next().unwrap_or(""), now as i64);
    let how = lines.next().unwrap_or("");
    let setups = common::setups();

    let token = match key {
        "c0" | "c2" => {
            let setup = &setups[usize::from(key == "c2")];
            let Ok(claims) = serde_json::from_str::<ClaimsData>(&claims) else {
                return;
            };
            let claims = fastauth::hooks::claims(claims);
            let token = match fastauth::hooks::codec(&setup.auth).sign(&claims) {
                Ok(token) => token,
                Err(e) => {
                    assert_eq!(e, TokenError::Malformed, "[{}] sign failed: {e}", setup.name);
                    return;
                }
            };
            // Issue-then-verify round-trips for every valid claim set; `sign` refuses
            // what would exceed the documented size.
            assert!(
                token.len() <= MAX_TOKEN_LEN,
                "[{}] sign produced an oversized token",
                setup.name
            );
            if check_client_id(&claims.client_id()).is_ok() && claims.expires_at() >= now + 5 {
                assert_eq!(
                    fastauth::hooks::codec(&setup.auth).verify(&token, claims.token_type()),
                    Ok(claims.clone()),
                    "[{}] {token:?}",
                    setup.name
                );
            }
            token
        }
        "0" => sign(common::KEY0, header, &claims),
        "1" => sign(common::KEY1, header, &claims),
        "2" => sign(common::KEY2, header, &claims),
        _ => sign(common::UNKNOWN_KEY, header, &claims),
    };
    let token = tweak(token, how);
    for setup in setups {
        common::check_agreement(setup, &token);
    }
});
