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

use std::{borrow::Cow, collections::HashSet};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::keys::KeyRing;
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
    pub(crate) leeway: u64,
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

/// Verifies any token the fast path declines, as jsonwebtoken's `decode` would with HS256
/// only, `exp` required and `nbf` checked, but with this crate's own HMAC-SHA256 and
/// without its process-wide crypto provider: the header policy and key choice
/// ([`KeyRing::resolve`]), jsonwebtoken's header decoding (which needs no provider), the
/// signature, then the claims, in jsonwebtoken's order so that a token wrong in several
/// ways is refused for the same reason. The differential tests hold it to jsonwebtoken.
pub(crate) fn verify_general(keys: &KeyRing, token: &str, now: u64) -> Result<WireClaims, TokenError> {
    let key = keys.resolve(token)?;
    // The typed header: a member of the wrong type (`"typ": 1`) is refused here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != jsonwebtoken::Algorithm::HS256 {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    // Split as jsonwebtoken does: the signature after the last dot, the payload after
    // the last dot of what precedes it.
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (_, payload) = message.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    if !constant_time_eq_bytes(&key.fast.sign(message.as_bytes()), &signature) {
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
    let leeway = key.fast.leeway;
    if claims.exp < now.saturating_sub(leeway) {
        return Err(TokenError::Expired);
    }
    if matches!(checked.nbf, TryParse::Parsed(nbf) if nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    // A token that names an audience is meant for some other verifier.
    if matches!(checked.aud, TryParse::Parsed(_)) {
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
