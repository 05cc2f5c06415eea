//! The fast HS256 verifier used on every protected request.
//!
//! jsonwebtoken's `decode` parses the header into a struct, builds a verifier for the
//! key on every call (hashing the key into the HMAC pads again), base64-decodes and
//! parses the claims twice. For the tokens this crate sees on the hot path — our own and
//! fastauth-api's, which share one header byte for byte and carry a handful of known
//! claims — none of that is needed: compare the header segment with the constant, run
//! HMAC-SHA256 from a key schedule prepared once, and parse the claims once.
//!
//! Anything unusual (another header, unknown or extra claims, a parse failure) is
//! handed to jsonwebtoken, which then decides. So the fast path can only *accept* tokens
//! jsonwebtoken also accepts, and it rejects only on grounds jsonwebtoken rejects on too
//! (signature, `exp`): a differential test in this module and in `tests/` checks this
//! on corpora and random tokens.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::{
    crypto::constant_time_eq_bytes,
    token::{TokenError, TokenType},
};

/// The claims the fast path understands. Any other claim sends the token to jsonwebtoken.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastClaims<'a> {
    client_id: String,
    #[serde(rename = "type", borrow)]
    token_type: std::borrow::Cow<'a, str>,
    exp: u64,
    #[serde(default)]
    iat: u64,
    #[serde(default)]
    jti: Option<String>,
}

/// Claims the fast path verified. `token_type` is `None` for a type this crate does not know.
pub(crate) struct Verified {
    pub client_id: String,
    pub token_type: Option<TokenType>,
    pub exp: u64,
    pub iat: u64,
    pub jti: Option<String>,
}

/// What the fast path concluded.
pub(crate) enum Fast {
    /// Signature and `exp` verified, claims parsed.
    Valid(Verified),
    /// Refused on grounds jsonwebtoken refuses on too.
    Invalid(TokenError),
    /// Not a token the fast path handles: ask jsonwebtoken.
    Fallback,
}

/// Splits a token for the fast path: the header before the first dot, the signature
/// after the last, the payload between them; the signed message is everything before
/// the last dot, as for jsonwebtoken. Finding both dots from the ends scans only the
/// short header and signature. A token with more dots gets a payload containing a dot,
/// which base64 refuses before anything else is checked, so it goes to jsonwebtoken,
/// which splits it its own way. Returns (header, message, payload, signature).
pub(crate) fn split(token: &str) -> Option<(&str, &str, &str, &str)> {
    let (header, after_header) = token.split_once('.')?;
    let (message, signature) = token.rsplit_once('.')?;
    let (payload, _) = after_header.rsplit_once('.')?;
    Some((header, message, payload, signature))
}

/// Parses exactly the layout this crate and PyJWT write —
/// `{"client_id":"…","type":"…","exp":N,"iat":N}` with an optional `,"jti":"…"` — with
/// plain strings (no escapes, no control characters) and canonical integers. Anything
/// else is `None` and goes to serde_json, so this only saves time, it never decides.
fn parse_canonical(json: &[u8]) -> Option<FastClaims<'_>> {
    let mut rest = json.strip_prefix(br#"{"client_id":""#)?;
    let client_id = plain_string(&mut rest)?;
    rest = rest.strip_prefix(br#","type":""#)?;
    let token_type = plain_string(&mut rest)?;
    rest = rest.strip_prefix(br#","exp":"#)?;
    let exp = integer(&mut rest)?;
    rest = rest.strip_prefix(br#","iat":"#)?;
    let iat = integer(&mut rest)?;
    let jti = match rest.strip_prefix(br#","jti":""#) {
        Some(mut after) => {
            let jti = plain_string(&mut after)?;
            rest = after;
            Some(jti.to_owned())
        }
        None => None,
    };
    if rest != b"}" {
        return None;
    }
    Some(FastClaims {
        client_id: client_id.to_owned(),
        token_type: std::borrow::Cow::Borrowed(token_type),
        exp,
        iat,
        jti,
    })
}

/// A JSON string body up to its closing quote (consumed), if it needs no unescaping.
fn plain_string<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let (text, after) = rest.split_at_checked(end)?;
    *rest = after.strip_prefix(b"\"")?;
    std::str::from_utf8(text).ok()
}

/// A JSON integer that fits a `u64`, written canonically (no sign, no leading zero).
fn integer(rest: &mut &[u8]) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, after) = rest.split_at_checked(digits)?;
    if number.is_empty() || (number.len() > 1 && number.first() == Some(&b'0')) {
        return None;
    }
    let mut value: u64 = 0;
    for &d in number {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(d.checked_sub(b'0')?))?;
    }
    // A fraction or exponent would make it a float: not this layout.
    if matches!(after.first(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    *rest = after;
    Some(value)
}

/// Payloads up to this size are decoded on the stack.
const STACK_PAYLOAD: usize = 320;

/// An HMAC-SHA256 key schedule, prepared once.
#[derive(Clone)]
pub(crate) struct FastVerifier {
    mac: Hmac<Sha256>,
    leeway: u64,
}

impl FastVerifier {
    /// `None` for a key HMAC-SHA256 cannot use (none: it takes keys of any length).
    pub(crate) fn new(key: &[u8], leeway: u64) -> Option<Self> {
        Some(Self {
            mac: Hmac::<Sha256>::new_from_slice(key).ok()?,
            leeway,
        })
    }

    /// HMAC-SHA256 of `message`: the signature of a token whose signing input it is.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Verifies a token whose header segment is this key's canonical header.
    pub(crate) fn verify(&self, message: &str, payload: &str, signature: &str, now: u64) -> Fast {
        let mut sig = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut sig) {
            Ok(32) => {}
            _ => return Fast::Fallback,
        }
        // The payload is decoded (not parsed) before the signature is checked: a payload
        // that is not base64url — such as one with a dot, see `split` — goes to
        // jsonwebtoken, whatever its signature, so both always give the same answer.
        let mut stack = [0u8; STACK_PAYLOAD];
        let mut heap = Vec::new();
        let decoded: &[u8] = match URL_SAFE_NO_PAD.decode_slice(payload, &mut stack) {
            Ok(len) => stack.get(..len).unwrap_or_default(),
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                match URL_SAFE_NO_PAD.decode_vec(payload, &mut heap) {
                    Ok(()) => &heap,
                    Err(_) => return Fast::Fallback,
                }
            }
            Err(_) => return Fast::Fallback,
        };
        // Compared word-wise in constant time: `verify_slice` goes through subtle's
        // byte-at-a-time comparison, which showed in the profile.
        if !constant_time_eq_bytes(&self.sign(message.as_bytes()), &sig) {
            return Fast::Invalid(TokenError::InvalidSignature);
        }
        let claims = match parse_canonical(decoded) {
            Some(claims) => claims,
            None => match serde_json::from_slice::<FastClaims<'_>>(decoded) {
                Ok(claims) => claims,
                Err(_) => return Fast::Fallback,
            },
        };
        if claims.exp < now.saturating_sub(self.leeway) {
            return Fast::Invalid(TokenError::Expired);
        }
        let token_type = match &*claims.token_type {
            "access" => Some(TokenType::Access),
            "refresh" => Some(TokenType::Refresh),
            _ => None,
        };
        Fast::Valid(Verified {
            client_id: claims.client_id,
            token_type,
            exp: claims.exp,
            iat: claims.iat,
            jti: claims.jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_parser_reads_what_serde_reads_or_declines() {
        let cases: &[&[u8]] = &[
            br#"{"client_id":"a","type":"access","exp":5,"iat":1}"#,
            br#"{"client_id":"a","type":"access","exp":5,"iat":1,"jti":"x"}"#,
            br#"{"client_id":"\u00e9","type":"access","exp":5,"iat":1}"#,
            br#"{"client_id":"a","type":"access","exp":05,"iat":1}"#,
            br#"{"client_id":"a","type":"access","exp":5.0,"iat":1}"#,
            br#"{"client_id":"a","type":"access","exp":5e3,"iat":1}"#,
            br#"{"client_id":"a","type":"access","exp":18446744073709551616,"iat":1}"#,
            br#"{"client_id":"a","type":"access","exp":18446744073709551615,"iat":0}"#,
            br#"{"client_id":"a","type":"access","exp":5,"iat":1,"jti":"x","z":1}"#,
            br#"{"client_id":"a","type":"access","exp":5,"iat":1} "#,
            "{\"client_id\":\"é\",\"type\":\"access\",\"exp\":5,\"iat\":1}".as_bytes(),
            b"{\"client_id\":\"a\x01\",\"type\":\"access\",\"exp\":5,\"iat\":1}",
            b"{\"client_id\":\"\xff\",\"type\":\"access\",\"exp\":5,\"iat\":1}",
            br#"{"client_id":"a","type":"access","exp":-5,"iat":1}"#,
        ];
        for case in cases {
            let serde = serde_json::from_slice::<FastClaims<'_>>(case).ok();
            if let Some(fast) = parse_canonical(case) {
                let serde = serde.expect("the canonical parser accepted what serde refuses");
                assert_eq!(fast.client_id, serde.client_id);
                assert_eq!(fast.token_type, serde.token_type);
                assert_eq!(
                    (fast.exp, fast.iat, &fast.jti),
                    (serde.exp, serde.iat, &serde.jti)
                );
            }
        }
        assert!(parse_canonical(cases[0]).is_some());
        assert!(parse_canonical(cases[1]).is_some());
        assert!(parse_canonical(cases[7]).is_some());
    }
}
