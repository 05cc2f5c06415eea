//! The HS256 verifier used on every protected request.
//!
//! For the tokens this crate sees on the hot path — our own and fastauth-api's, which
//! share one header byte for byte and carry a handful of known claims — the fast path
//! compares the header segment with the key's constant, runs HMAC-SHA256 from pads
//! hashed once, and reads the claims in their canonical layout without serde.
//!
//! Anything unusual (another header, unknown or extra claims, a parse failure) goes to
//! [`verify_general`], which decides as jsonwebtoken's `decode` does (HS256 only, `exp`
//! required, `nbf` checked) with the same HMAC. So the fast path only accepts tokens
//! `decode` accepts, and refuses only on grounds `decode` refuses on too (signature,
//! `exp`): the differential tests in `tests/token_reference.rs` and the fuzz targets
//! compare both with jsonwebtoken on corpora and random tokens.

use std::{borrow::Cow, collections::HashSet};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::{base64url, hmac_sha256::HmacSha256};
use crate::{
    crypto::constant_time_eq_bytes,
    token::{Claims, TokenError, TokenType, signature_dot},
};

/// The claims the fast path understands. Any other claim sends the token to the general path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastClaims<'a> {
    #[serde(borrow)]
    client_id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    token_type: Cow<'a, str>,
    exp: u64,
    #[serde(default)]
    iat: u64,
    #[serde(default, borrow)]
    jti: Option<Cow<'a, str>>,
}

/// What the fast path concluded.
pub(crate) enum Fast {
    /// Signature, `exp` and the type's being known verified, claims read (the codec
    /// checks the type it expects and the client id).
    Valid(Claims),
    /// Refused on grounds jsonwebtoken refuses on too.
    Invalid(TokenError),
    /// Not a token the fast path handles: ask the general path.
    Fallback,
}

/// Splits a token for the fast path: the header before the first dot, the signature
/// after the last, the payload between them; the signed message is everything before
/// the last dot, as for jsonwebtoken. Finding both dots from the ends scans only the
/// short header and signature. A token with more dots gets a payload containing a dot,
/// which base64 refuses before anything else is checked, so it goes to the general path,
/// which splits it its own way. Returns (header, message, payload, signature).
#[inline]
pub(crate) fn split(token: &str) -> Option<(&str, &str, &str, &str)> {
    // The dot is looked for where HS256 puts it before the signature is scanned. (Another
    // dot after it makes a signature base64 refuses, whichever dot is taken: the general
    // path then decides.)
    let (message, signature) = match signature_dot(token.as_bytes()) {
        Some(at) => (token.get(..at)?, token.get(at.checked_add(1)?..)?),
        None => token.rsplit_once('.')?,
    };
    let (header, payload) = message.split_once('.')?;
    Some((header, message, payload, signature))
}

/// The claims of the canonical layout, as found in the payload's bytes.
struct CanonicalClaims<'a> {
    client_id: &'a [u8],
    token_type: TokenType,
    exp: u64,
    iat: u64,
    jti: Option<&'a [u8]>,
}

/// Parses exactly the layout this crate and PyJWT write —
/// `{"client_id":"…","type":"access"|"refresh","exp":N,"iat":N}` with an optional
/// `,"jti":"…"` — with plain strings (no escapes, no control characters) and canonical
/// integers. Anything else is `None` and goes to serde_json, so this only saves time, it
/// never decides. Strings stay bytes: UTF-8 is checked once, on the joined claims.
fn parse_canonical(json: &[u8]) -> Option<CanonicalClaims<'_>> {
    let mut rest = json.strip_prefix(br#"{"client_id":""#)?;
    let client_id = plain_string(&mut rest)?;
    rest = rest.strip_prefix(br#","type":""#)?;
    let token_type = if let Some(after) = rest.strip_prefix(br#"access""#) {
        rest = after;
        TokenType::Access
    } else {
        rest = rest.strip_prefix(br#"refresh""#)?;
        TokenType::Refresh
    };
    rest = rest.strip_prefix(br#","exp":"#)?;
    let exp = integer(&mut rest)?;
    rest = rest.strip_prefix(br#","iat":"#)?;
    let iat = integer(&mut rest)?;
    let jti = match rest.strip_prefix(br#","jti":""#) {
        Some(mut after) => {
            let jti = plain_string(&mut after)?;
            rest = after;
            Some(jti)
        }
        None => None,
    };
    if rest != b"}" {
        return None;
    }
    Some(CanonicalClaims {
        client_id,
        token_type,
        exp,
        iat,
        jti,
    })
}

/// The bytes that end a plain string: its quote, an escape, a control character. One
/// load a byte instead of three comparisons.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "evaluated at compile time: an index out of bounds or an overflow is a build error, not a panic"
)]
const ENDS_PLAIN_STRING: [bool; 256] = {
    let mut ends = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        ends[b] = true;
        b += 1;
    }
    ends[b'"' as usize] = true;
    ends[b'\\' as usize] = true;
    ends
};

/// A JSON string body up to its closing quote (consumed), if it needs no unescaping.
fn plain_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let end = rest
        .iter()
        .position(|&b| ENDS_PLAIN_STRING.get(usize::from(b)) != Some(&false))?;
    let (text, after) = rest.split_at_checked(end)?;
    *rest = after.strip_prefix(b"\"")?;
    Some(text)
}

/// A JSON integer that fits a `u64`, written canonically (no sign, no leading zero).
fn integer(rest: &mut &[u8]) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, after) = rest.split_at_checked(digits)?;
    if number.is_empty() || (number.len() > 1 && number.first() == Some(&b'0')) {
        return None;
    }
    let value = if number.len() <= 19 {
        short_integer(number)
    } else {
        let mut value: u64 = 0;
        for &d in number {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(d.checked_sub(b'0')?))?;
        }
        value
    };
    // A fraction or exponent would make it a float: not this layout.
    if matches!(after.first(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    *rest = after;
    Some(value)
}

/// The value of up to 19 ASCII digits, which always fits a `u64`: without the overflow
/// checks, whose multiplications chained ten deep showed in the profile (`exp` and `iat`
/// are ten digits each).
#[allow(
    clippy::arithmetic_side_effects,
    reason = "at most 19 digits: below 10^19, which is below u64::MAX; digits are b'0'..=b'9'"
)]
fn short_integer(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0, |value, &d| value * 10 + u64::from(d - b'0'))
}

/// Payloads up to this size are decoded on the stack.
const STACK_PAYLOAD: usize = 320;

/// An HMAC-SHA256 key schedule, prepared once.
#[derive(Clone)]
pub(crate) struct FastVerifier {
    mac: HmacSha256,
    pub(crate) leeway: u64,
}

impl FastVerifier {
    pub(crate) fn new(key: &[u8], leeway: u64) -> Self {
        Self {
            mac: HmacSha256::new(key),
            leeway,
        }
    }

    /// HMAC-SHA256 of `message`: the signature of a token whose signing input it is.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 32] {
        self.mac.sign(message)
    }

    /// Verifies a token whose header segment is this key's canonical header.
    // Called from one place: inlined there, as it was before that place took `now`.
    #[inline]
    pub(crate) fn verify(&self, message: &str, payload: &str, signature: &str, now: u64) -> Fast {
        let mut sig = [0u8; 32];
        if base64url::decode_into(signature.as_bytes(), &mut sig) != Some(32) {
            return Fast::Fallback;
        }
        // The payload is decoded (not parsed) before the signature is checked: a payload
        // that is not base64url — such as one with a dot, see `split` — goes to
        // the general path, whatever its signature, so both always give the same answer.
        let mut stack = [0u8; STACK_PAYLOAD];
        let mut heap = Vec::new();
        let Some(needed) = base64url::decoded_len(payload.len()) else {
            return Fast::Fallback;
        };
        let buffer: &mut [u8] = if needed <= STACK_PAYLOAD {
            &mut stack
        } else {
            heap.resize(needed, 0);
            &mut heap
        };
        let Some(decoded) =
            base64url::decode_into(payload.as_bytes(), buffer).and_then(|len| buffer.get(..len))
        else {
            return Fast::Fallback;
        };
        // Compared word-wise in constant time: `verify_slice` goes through subtle's
        // byte-at-a-time comparison, which showed in the profile.
        if !constant_time_eq_bytes(&self.sign(message.as_bytes()), &sig) {
            return Fast::Invalid(TokenError::InvalidSignature);
        }
        if let Some(claims) = parse_canonical(decoded) {
            if claims.exp < now.saturating_sub(self.leeway) {
                return Fast::Invalid(TokenError::Expired);
            }
            // `None`: not UTF-8 (serde_json decides how that fails), or too long to join
            // on the stack.
            return match Claims::from_utf8_parts(
                claims.client_id,
                claims.token_type,
                claims.exp,
                claims.iat,
                claims.jti,
            ) {
                Some(claims) => Fast::Valid(claims),
                None => self.verify_other_layout(decoded, now),
            };
        }
        self.verify_other_layout(decoded, now)
    }

    /// The claims of a correctly signed token in another layout (members in another
    /// order, escapes, floats), read by serde_json.
    fn verify_other_layout(&self, decoded: &[u8], now: u64) -> Fast {
        let Ok(claims) = serde_json::from_slice::<FastClaims<'_>>(decoded) else {
            return Fast::Fallback;
        };
        if claims.exp < now.saturating_sub(self.leeway) {
            return Fast::Invalid(TokenError::Expired);
        }
        let token_type = match &*claims.token_type {
            "access" => TokenType::Access,
            "refresh" => TokenType::Refresh,
            _ => return Fast::Invalid(TokenError::WrongType),
        };
        Fast::Valid(Claims::from_parts(
            &claims.client_id,
            token_type,
            claims.exp,
            claims.iat,
            claims.jti.as_deref(),
        ))
    }
}

/// Claims as found on the wire: `type` is read as a string so that an unknown type is
/// reported as the wrong type, not as a malformed token.
#[derive(Deserialize)]
pub(crate) struct WireClaims {
    pub(crate) client_id: String,
    #[serde(rename = "type")]
    pub(crate) token_type: String,
    pub(crate) exp: u64,
    #[serde(default)]
    pub(crate) iat: u64,
    #[serde(default)]
    pub(crate) jti: Option<String>,
}

/// The registered claims, declared as jsonwebtoken's `ClaimsForValidation` declares them,
/// so that serde reads them exactly as jsonwebtoken's `decode` does: the same lenient
/// types, down to which odd values fail the whole parse.
#[derive(Deserialize)]
struct ClaimsForValidation<'a> {
    #[serde(deserialize_with = "numeric_type", default)]
    #[allow(dead_code, reason = "read for the parse's sake: `WireClaims` carries `exp`")]
    exp: TryParse<u64>,
    #[serde(deserialize_with = "numeric_type", default)]
    nbf: TryParse<u64>,
    #[serde(borrow)]
    #[allow(dead_code, reason = "read for the parse's sake: no subject is required")]
    sub: TryParse<Cow<'a, str>>,
    #[serde(borrow)]
    #[allow(dead_code, reason = "read for the parse's sake: no issuer is required")]
    iss: TryParse<OneOrMany<'a>>,
    #[serde(borrow)]
    aud: TryParse<OneOrMany<'a>>,
}

#[derive(Default)]
enum TryParse<T> {
    Parsed(T),
    FailedToParse,
    #[default]
    NotPresent,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TryParse<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer) {
            Ok(Some(value)) => TryParse::Parsed(value),
            Ok(None) => TryParse::NotPresent,
            Err(_) => TryParse::FailedToParse,
        })
    }
}

/// A string, or a set of them (`aud` and `iss`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    #[allow(dead_code, reason = "only whether it parses matters")]
    One(#[serde(borrow)] Cow<'a, str>),
    #[allow(dead_code, reason = "only whether it parses matters")]
    Many(#[serde(borrow)] HashSet<BorrowedCow<'a>>),
}

#[derive(Deserialize, PartialEq, Eq, Hash)]
struct BorrowedCow<'a>(#[serde(borrow)] Cow<'a, str>);

/// A number that can be read as a `u64`: an unsigned integer, or a finite non-negative
/// float below `u64::MAX`, rounded. Anything else fails to parse.
fn numeric_type<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<TryParse<u64>, D::Error> {
    struct NumericType;
    impl serde::de::Visitor<'_> for NumericType {
        type Value = TryParse<u64>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number that can be read as a u64")
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(TryParse::Parsed(value))
        }

        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "checked to be finite, not negative and below u64::MAX first, as jsonwebtoken does"
        )]
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
            if value.is_finite() && value >= 0.0 && value < u64::MAX as f64 {
                Ok(TryParse::Parsed(value.round() as u64))
            } else {
                Err(E::custom("not representable as a u64"))
            }
        }
    }
    Ok(deserializer
        .deserialize_any(NumericType)
        .unwrap_or(TryParse::FailedToParse))
}

/// Verifies any token the fast path declines with `key`, the one its header names (the
/// caller applies the header policy and picks the key: `KeyRing::resolve`), as
/// jsonwebtoken's `decode` would with HS256 only, `exp` required and `nbf` checked, but
/// with this crate's own HMAC-SHA256 and no crypto provider: jsonwebtoken's header
/// decoding (which needs none), the signature, then the claims, in jsonwebtoken's order
/// so that a token wrong in several ways is refused for the same reason. The
/// differential tests hold it to jsonwebtoken.
pub(crate) fn verify_general(key: &FastVerifier, token: &str, now: u64) -> Result<WireClaims, TokenError> {
    // The typed header: a member of the wrong type (`"typ": 1`) is refused here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != jsonwebtoken::Algorithm::HS256 {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    // `decode` checks more of the header than `decode_header` does (since jsonwebtoken
    // 12): a `b64` must be a boolean, and not `false` (RFC 7797's unencoded payload).
    // Its `crit` rules need no copy: the header policy refuses every `crit` before this.
    if header
        .extras
        .get::<bool>("b64")
        .map_err(|_| TokenError::Malformed)?
        == Some(false)
    {
        return Err(TokenError::Malformed);
    }
    // Split as jsonwebtoken does: the signature after the last dot, the payload after
    // the last dot of what precedes it.
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (_, payload) = message.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    if !constant_time_eq_bytes(&key.sign(message.as_bytes()), &signature) {
        return Err(TokenError::InvalidSignature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claims: WireClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    let checked: ClaimsForValidation<'_> =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    // jsonwebtoken's `validate` with HS256, `exp` required (the claims above require it
    // already), `exp` and `nbf` checked, and no audience expected.
    if matches!(checked.nbf, TryParse::FailedToParse) {
        return Err(TokenError::Malformed);
    }
    let leeway = key.leeway;
    if claims.exp < now.saturating_sub(leeway) {
        return Err(TokenError::Expired);
    }
    if matches!(checked.nbf, TryParse::Parsed(nbf) if nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    // A token that names an audience is meant for some other verifier; one whose
    // audience is not even a string or a set of them is malformed.
    if !matches!(checked.aud, TryParse::NotPresent) {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
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
            let fast = parse_canonical(case)
                .and_then(|c| Claims::from_utf8_parts(c.client_id, c.token_type, c.exp, c.iat, c.jti));
            if let Some(fast) = fast {
                let serde = serde.expect("the canonical parser accepted what serde refuses");
                assert_eq!(fast.client_id(), serde.client_id);
                assert_eq!(fast.token_type().to_string(), serde.token_type);
                assert_eq!(
                    (fast.expires_at(), fast.issued_at(), fast.token_id()),
                    (serde.exp, serde.iat, serde.jti.as_deref())
                );
            }
        }
        // Not UTF-8 apart, though UTF-8 joined ("é" cut in two): declined.
        let split = b"{\"client_id\":\"\xc3\",\"type\":\"access\",\"exp\":5,\"iat\":1,\"jti\":\"\xa9\"}";
        let c = parse_canonical(split).expect("the layout is canonical");
        assert!(Claims::from_utf8_parts(c.client_id, c.token_type, c.exp, c.iat, c.jti).is_none());
        // A type of its own goes to serde_json, which reads it for the codec to refuse.
        assert!(parse_canonical(br#"{"client_id":"a","type":"other","exp":5,"iat":1}"#).is_none());
        assert!(parse_canonical(cases[0]).is_some());
        assert!(parse_canonical(cases[1]).is_some());
        assert!(parse_canonical(cases[7]).is_some());
    }
}
