//! The token corpus: forged, malformed, tampered and replayed tokens, each with what the
//! server must answer. Every case differs from one accepted token in one thing.
//!
//! The tables are grouped by what is forged (the header, one claim, the claims' JSON
//! text, the key, the token's shape); the runner (`tests/attack_corpus.rs`) sends each
//! case to the access level and to the refresh endpoint.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE},
};
use fastauth::token::MAX_TOKEN_LEN;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::common::{
    bodies::{EXPIRED_ACCESS, INVALID_ACCESS, MISSING_ACCESS, WRONG_TYPE},
    jwt::{self, HS256, b64, hs256, now, sign_segments},
    keys::{K1, K2, K3, KEY, OTHER_KEY},
};

/// The client id of every token in the corpus.
pub const CLIENT: &str = "corpus-client";

/// What the access level must answer to a token. The refresh endpoint's answer
/// follows from it (see [`Expect::refresh`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No token found at all.
    Missing,
    /// Malformed, not HS256, badly signed, bad claims, unknown key, not yet valid.
    Invalid,
    /// Correctly signed, but `exp` has passed.
    Expired,
    /// Correctly signed, but not the token type this endpoint takes.
    WrongType,
}

impl Expect {
    /// The access level's answer: always 401, with the stable message.
    pub fn access(self) -> &'static str {
        match self {
            Expect::Missing => MISSING_ACCESS,
            Expect::Invalid => INVALID_ACCESS,
            Expect::Expired => EXPIRED_ACCESS,
            Expect::WrongType => WRONG_TYPE,
        }
    }

    /// `GET /auth/token/refresh?refresh_token=…`: its own messages, in the envelope. A
    /// query value is not trimmed as a header value is, so only an empty one is missing.
    pub fn refresh(self, token: &str) -> (u16, &'static str) {
        match self {
            Expect::Missing if token.is_empty() => (400, "Missing refresh_token"),
            Expect::Missing => (401, "Invalid refresh token"),
            Expect::Expired => (401, "Refresh token expired"),
            Expect::Invalid | Expect::WrongType => (401, "Invalid refresh token"),
        }
    }
}

pub struct Case {
    pub name: String,
    pub token: String,
    pub expect: Expect,
}

pub fn case(name: impl Into<String>, token: impl Into<String>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        token: token.into(),
        expect,
    }
}

// ---------------------------------------------------------------------------------------
// Token construction.

/// `header` and `payload` JSON text as written, HS256-signed with the servers' `KEY`.
pub fn signed(header: &str, payload: &str) -> String {
    hs256(header, payload, KEY)
}

/// fastauth-api's claims for [`CLIENT`].
pub fn claims(token_type: &str, exp: u64) -> Value {
    jwt::claims(CLIENT, token_type, exp)
}

/// Valid claims with one member replaced (or removed, with `None`).
fn claims_with(token_type: &str, member: &str, value: Option<Value>) -> String {
    let mut c = claims(token_type, now() + 3600);
    match value {
        Some(v) => c[member] = v,
        None => {
            c.as_object_mut().unwrap().remove(member);
        }
    }
    c.to_string()
}

/// The claims as raw JSON text, so that `exp` can be any text at all.
fn raw_claims(token_type: &str, exp: &str) -> String {
    format!(
        r#"{{"client_id":"{CLIENT}","type":"{token_type}","exp":{exp},"iat":{}}}"#,
        now()
    )
}

/// The HS256 header with one more member.
pub fn header_with(member: &str, value: Value) -> String {
    let mut h = json!({ "alg": "HS256", "typ": "JWT" });
    h[member] = value;
    h.to_string()
}

fn alg_header(alg: &str) -> String {
    format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)
}

/// A correctly signed token of exactly `len` bytes, grown with an extra claim.
pub fn token_of_len(token_type: &str, len: usize) -> String {
    for pad in 0..len {
        let mut c = claims(token_type, now() + 3600);
        c["pad"] = json!("x".repeat(pad));
        let token = signed(HS256, &c.to_string());
        if token.len() == len {
            return token;
        }
        assert!(token.len() < len, "no token of exactly {len} bytes");
    }
    unreachable!()
}

/// Base64 with `=` padding: the JSON gets trailing spaces (still the same JSON) until its
/// length is not a multiple of three, so the padding is real.
fn padded_b64(json: &str) -> String {
    let mut json = json.to_owned();
    while json.len().is_multiple_of(3) {
        json.push(' ');
    }
    let encoded = URL_SAFE.encode(&json);
    assert!(encoded.ends_with('='));
    encoded
}

/// `{"a":[[[…]]]}`, deeper than any JSON parser here recurses.
fn deeply_nested(depth: usize) -> String {
    format!(r#"{{"a":{}{}}}"#, "[".repeat(depth), "]".repeat(depth))
}

/// Valid claims plus an extra claim nested far deeper than any recursion limit.
pub fn nested_claims(token_type: &str) -> String {
    let mut c = deeply_nested(2500);
    let members = format!(
        r#""client_id":"{CLIENT}","type":"{token_type}","exp":{},"#,
        now() + 3600
    );
    c.insert_str(1, &members);
    c
}

fn other_type(token_type: &str) -> &'static str {
    if token_type == "access" {
        "refresh"
    } else {
        "access"
    }
}

/// Replaces the signature of `token`.
fn with_signature(token: &str, signature: &str) -> String {
    let (message, _) = token.rsplit_once('.').unwrap();
    format!("{message}.{signature}")
}

/// Replaces the payload of `token`, keeping its header and signature.
fn with_payload(token: &str, payload_json: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    let payload = b64(payload_json);
    parts[1] = &payload;
    parts.join(".")
}

// ---------------------------------------------------------------------------------------
// The corpus.

/// Every token case that holds for a server whose kid-less key is `KEY`, for an endpoint
/// taking `token_type` tokens.
pub fn token_cases(token_type: &str) -> Vec<Case> {
    use Expect::*;
    let t = token_type;
    let other = other_type(t);
    let in_an_hour = now() + 3600;
    let payload = claims(t, in_an_hour).to_string();
    let valid = signed(HS256, &payload);
    let (valid_message, valid_signature) = valid.rsplit_once('.').unwrap();
    let valid_header = valid.split('.').next().unwrap();
    let valid_payload = valid.split('.').nth(1).unwrap();
    let mut cases = Vec::new();

    // Headers other than plain HS256, each signed with the key over the valid claims.
    let headers: Vec<(&str, String)> = vec![
        ("alg none, HS256 signature by the key", alg_header("none")),
        ("alg None, HS256 signature by the key", alg_header("None")),
        ("alg NONE, HS256 signature by the key", alg_header("NONE")),
        ("HS384 header, HS256 signature by the key", alg_header("HS384")),
        ("HS512 header, HS256 signature by the key", alg_header("HS512")),
        (
            "RS256 header, HMAC signature with the key (key confusion)",
            alg_header("RS256"),
        ),
        ("ES256 header, HMAC signature with the key", alg_header("ES256")),
        ("alg hs256 in lower case", alg_header("hs256")),
        ("alg \"HS256 \" with a space", alg_header("HS256 ")),
        ("alg missing", r#"{"typ":"JWT"}"#.into()),
        ("alg null", r#"{"alg":null,"typ":"JWT"}"#.into()),
        ("alg an array", r#"{"alg":["HS256"],"typ":"JWT"}"#.into()),
        ("header a JSON array", r#"["HS256"]"#.into()),
        ("header null", "null".into()),
        ("header JSON followed by text", format!("{HS256}x")),
        (
            "a header nested 2500 deep",
            deeply_nested(2500).replacen('{', r#"{"alg":"HS256","#, 1),
        ),
        // Duplicate members: parsers disagree on which one wins, so none may.
        (
            "header alg twice, none then HS256",
            r#"{"alg":"none","alg":"HS256","typ":"JWT"}"#.into(),
        ),
        (
            "header alg twice, HS256 then none",
            r#"{"alg":"HS256","alg":"none","typ":"JWT"}"#.into(),
        ),
        (
            "header alg twice, HS256 both times",
            r#"{"alg":"HS256","alg":"HS256","typ":"JWT"}"#.into(),
        ),
        // Members that would make a verifier fetch or trust outside material.
        (
            "jku header",
            header_with("jku", json!("https://attacker.invalid/jwks.json")),
        ),
        (
            "x5u header",
            header_with("x5u", json!("https://attacker.invalid/cert.pem")),
        ),
        ("crit header", header_with("crit", json!(["exp"]))),
        ("crit header, empty list", header_with("crit", json!([]))),
        (
            "jwk header with the attacker's key",
            header_with("jwk", json!({ "kty": "oct", "k": b64(KEY) })),
        ),
        ("x5c header", header_with("x5c", json!(["MIIBszCCAVmgAwIBAgIU"]))),
        // kid: this server has a kid-less key only (or kids other than these).
        ("kid naming no key", header_with("kid", json!("k9"))),
        ("kid empty", header_with("kid", json!(""))),
        ("kid a number", header_with("kid", json!(2))),
        ("kid an object", header_with("kid", json!({"k": "k2"}))),
        ("kid a path", header_with("kid", json!("../../../../../dev/null"))),
        ("kid SQL", header_with("kid", json!("' OR '1'='1"))),
    ];
    for (name, header) in headers {
        cases.push(case(name, signed(&header, &payload), Invalid));
    }

    // One claim changed (or removed, with `None`), signed with the key.
    let members: Vec<(String, &str, Option<Value>, Expect)> = vec![
        ("exp missing".into(), "exp", None, Invalid),
        (
            "exp a string".into(),
            "exp",
            Some(json!(in_an_hour.to_string())),
            Invalid,
        ),
        ("nbf in an hour".into(), "nbf", Some(json!(in_an_hour)), Invalid),
        ("nbf u64::MAX".into(), "nbf", Some(json!(u64::MAX)), Invalid),
        (
            "nbf a string in the future".into(),
            "nbf",
            Some(json!(in_an_hour.to_string())),
            Invalid,
        ),
        (
            "type in upper case".into(),
            "type",
            Some(json!(t.to_uppercase())),
            WrongType,
        ),
        (
            "type with a trailing space".into(),
            "type",
            Some(json!(format!("{t} "))),
            WrongType,
        ),
        ("type unknown".into(), "type", Some(json!("admin")), WrongType),
        ("type missing".into(), "type", None, Invalid),
        ("type a number".into(), "type", Some(json!(1)), Invalid),
        ("type an array".into(), "type", Some(json!([t])), Invalid),
        ("client_id empty".into(), "client_id", Some(json!("")), Invalid),
        (
            "client_id with a NUL".into(),
            "client_id",
            Some(json!("a\u{0}b")),
            Invalid,
        ),
        (
            "client_id with a newline".into(),
            "client_id",
            Some(json!("a\nb")),
            Invalid,
        ),
        (
            "client_id of 257 bytes".into(),
            "client_id",
            Some(json!("x".repeat(257))),
            Invalid,
        ),
        ("client_id a number".into(), "client_id", Some(json!(7)), Invalid),
        ("client_id missing".into(), "client_id", None, Invalid),
    ];
    for (name, member, value, expect) in members {
        cases.push(case(name, signed(HS256, &claims_with(t, member, value)), expect));
    }

    // `exp` as written in the JSON text, signed with the key.
    let exps: Vec<(&str, String, Expect)> = vec![
        ("exp a float", format!("{in_an_hour}.5"), Invalid),
        ("exp a float with no fraction", format!("{in_an_hour}.0"), Invalid),
        ("exp in exponent notation", "1e10".into(), Invalid),
        ("exp null", "null".into(), Invalid),
        ("exp true", "true".into(), Invalid),
        ("exp an array", format!("[{in_an_hour}]"), Invalid),
        ("exp an object", r#"{"$gt":0}"#.into(), Invalid),
        ("exp 1e400 (overflows f64)", "1e400".into(), Invalid),
        ("exp 2^64 (overflows u64)", "18446744073709551616".into(), Invalid),
        (
            "exp 2^64 * 10^20",
            "184467440737095516160000000000000000000000".into(),
            Invalid,
        ),
        ("exp -1", "-1".into(), Invalid),
        ("exp -2^63", "-9223372036854775808".into(), Invalid),
        ("exp 0", "0".into(), Expired),
        ("exp 1 (far in the past)", "1".into(), Expired),
        ("exp an hour ago", (now() - 3600).to_string(), Expired),
        ("exp a second ago", (now() - 1).to_string(), Expired),
    ];
    for (name, exp, expect) in exps {
        cases.push(case(name, signed(HS256, &raw_claims(t, &exp)), expect));
    }

    // Claims as written (duplicate members, trailing data, not claims at all), signed
    // with the key.
    let claims_text: Vec<(String, String)> = vec![
        (
            format!("claims type twice, {other} then {t}"),
            format!(r#"{{"client_id":"{CLIENT}","type":"{other}","type":"{t}","exp":{in_an_hour}}}"#),
        ),
        (
            format!("claims type twice, {t} then {other}"),
            format!(r#"{{"client_id":"{CLIENT}","type":"{t}","type":"{other}","exp":{in_an_hour}}}"#),
        ),
        (
            "claims client_id twice".into(),
            format!(r#"{{"client_id":"{CLIENT}","client_id":"admin","type":"{t}","exp":{in_an_hour}}}"#),
        ),
        (
            "claims exp twice, valid then expired".into(),
            format!(r#"{{"client_id":"{CLIENT}","type":"{t}","exp":{in_an_hour},"exp":1}}"#),
        ),
        (
            "claims exp twice, expired then valid".into(),
            format!(r#"{{"client_id":"{CLIENT}","type":"{t}","exp":1,"exp":{in_an_hour}}}"#),
        ),
        (
            "iat 1e400".into(),
            format!(r#"{{"client_id":"{CLIENT}","type":"{t}","exp":{in_an_hour},"iat":1e400}}"#),
        ),
        ("payload JSON followed by text".into(), format!("{payload}x")),
        ("payload two JSON objects".into(), format!("{payload}{payload}")),
        ("payload JSON followed by NUL".into(), format!("{payload}\0")),
        (
            "payload with a byte-order mark".into(),
            format!("\u{feff}{payload}"),
        ),
        ("claims null".into(), "null".into()),
        ("claims an array".into(), "[]".into()),
        ("claims empty".into(), "{}".into()),
        ("claims not JSON".into(), "client_id=admin".into()),
    ];
    for (name, text) in claims_text {
        cases.push(case(name, signed(HS256, &text), Invalid));
    }

    // The valid header and claims, signed with anything but the key.
    let decoded_key = STANDARD.decode(KEY).unwrap();
    let newline_key = format!("{KEY}\n");
    let keys: [(&str, &[u8]); 4] = [
        ("signed with another key", OTHER_KEY.as_bytes()),
        ("signed with the base64-decoded key bytes", &decoded_key),
        ("signed with an empty key", b""),
        ("signed with the key and a newline", newline_key.as_bytes()),
    ];
    for (name, key) in keys {
        cases.push(case(
            name,
            sign_segments(valid_header, valid_payload, key),
            Invalid,
        ));
    }
    cases.push(case(
        "a claim nested 2500 deep, signed with another key",
        hs256(HS256, &nested_claims(t), OTHER_KEY),
        Invalid,
    ));

    // Other algorithms and no signature: whole tokens.
    let unsigned = |alg: &str| format!("{}.{}.", b64(alg_header(alg)), b64(&payload));
    let fake_signature = |bytes: usize| b64(vec![0x5a; bytes]);
    let encoding = EncodingKey::from_secret(KEY.as_bytes()).unwrap();
    let jwt =
        |alg: Algorithm| jsonwebtoken::encode(&Header::new(alg), &claims(t, in_an_hour), &encoding).unwrap();
    cases.extend([
        case("alg none, empty signature", unsigned("none"), Invalid),
        case("alg None, empty signature", unsigned("None"), Invalid),
        case("alg NONE, empty signature", unsigned("NONE"), Invalid),
        case(
            "alg none, no signature segment",
            unsigned("none").trim_end_matches('.'),
            Invalid,
        ),
        case(
            "alg none, garbage signature",
            format!("{}{}", unsigned("none"), fake_signature(32)),
            Invalid,
        ),
        case(
            "HS384 header and signature, same key",
            jwt(Algorithm::HS384),
            Invalid,
        ),
        case(
            "HS512 header and signature, same key",
            jwt(Algorithm::HS512),
            Invalid,
        ),
        case(
            "RS256 header, 256-byte signature",
            format!(
                "{}.{}.{}",
                b64(alg_header("RS256")),
                b64(&payload),
                fake_signature(256)
            ),
            Invalid,
        ),
        case(
            "ES256 header, 64-byte signature",
            format!(
                "{}.{}.{}",
                b64(alg_header("ES256")),
                b64(&payload),
                fake_signature(64)
            ),
            Invalid,
        ),
    ]);

    // Valid segments re-assembled, padded, spaced or spelt in the other base64 alphabet.
    let standard_alphabet_signature = (0..)
        .map(|i| {
            let mut c = claims(t, in_an_hour);
            c["jti"] = json!(format!("j{i}"));
            signed(HS256, &c.to_string())
        })
        .find_map(|token| {
            let (message, sig) = token.rsplit_once('.').unwrap();
            sig.contains(['-', '_'])
                .then(|| format!("{message}.{}", sig.replace('-', "+").replace('_', "/")))
        })
        .unwrap();
    let standard_alphabet_payload = (0..)
        .map(|i| {
            let mut c = claims(t, in_an_hour);
            c["jti"] = json!(format!("{i}>>>???"));
            STANDARD_NO_PAD.encode(c.to_string())
        })
        .find(|p| p.contains(['+', '/']))
        .map(|p| sign_segments(valid_header, &p, KEY.as_bytes()))
        .unwrap();
    cases.extend([
        case("a fourth, empty segment", format!("{valid}."), Invalid),
        case("a fourth segment", format!("{valid}.{valid_signature}"), Invalid),
        case("a character after the signature", format!("{valid}A"), Invalid),
        case(
            "padding in the header segment",
            sign_segments(&padded_b64(r#"{"alg":"HS256"}"#), valid_payload, KEY.as_bytes()),
            Invalid,
        ),
        case(
            "padding in the payload segment",
            sign_segments(valid_header, &padded_b64(&payload), KEY.as_bytes()),
            Invalid,
        ),
        case("padding after the signature", format!("{valid}="), Invalid),
        case(
            "a space inside the header segment",
            sign_segments(
                &format!("{} {}", &valid_header[..10], &valid_header[10..]),
                valid_payload,
                KEY.as_bytes(),
            ),
            Invalid,
        ),
        case(
            "a space inside the payload segment",
            sign_segments(
                valid_header,
                &format!("{} {}", &valid_payload[..10], &valid_payload[10..]),
                KEY.as_bytes(),
            ),
            Invalid,
        ),
        case(
            "a tab inside the signature",
            format!(
                "{valid_message}.{}\t{}",
                &valid_signature[..10],
                &valid_signature[10..]
            ),
            Invalid,
        ),
        case(
            "a space before the signature",
            format!("{valid_message}. {valid_signature}"),
            Invalid,
        ),
        case(
            "a space after the header",
            format!("{valid_header} .{valid_payload}.{valid_signature}"),
            Invalid,
        ),
        case(
            "standard base64 alphabet in the signature",
            standard_alphabet_signature,
            Invalid,
        ),
        case(
            "standard base64 alphabet in the payload",
            standard_alphabet_payload,
            Invalid,
        ),
    ]);

    // Claims tampered with under a valid signature, and signatures that belong elsewhere.
    let tampered_client = with_payload(
        &valid,
        &json!({ "client_id": "admin", "type": t, "exp": in_an_hour, "iat": now() }).to_string(),
    );
    let other_type_token = signed(HS256, &claims(other, in_an_hour).to_string());
    let retyped = with_payload(&other_type_token, &payload);
    let expired_token = signed(HS256, &claims(t, now() - 3600).to_string());
    let revived = with_payload(&expired_token, &claims(t, in_an_hour).to_string());
    let bit_flipped = {
        let mut bytes = payload.clone().into_bytes();
        // `"client_id":"corpus-client"` → `"client_id":"corpus-clienu"`.
        let at = payload.find(CLIENT).unwrap() + CLIENT.len() - 1;
        bytes[at] ^= 1;
        with_payload(&valid, std::str::from_utf8(&bytes).unwrap())
    };
    let second_token = {
        let mut c = claims(t, in_an_hour);
        c["jti"] = json!("another");
        signed(HS256, &c.to_string())
    };
    cases.extend([
        case(
            format!("type swapped ({other} token)"),
            other_type_token.clone(),
            WrongType,
        ),
        case("client_id changed, signature kept", tampered_client, Invalid),
        case(
            format!("{other} token's payload retyped to {t}, signature kept"),
            retyped,
            Invalid,
        ),
        case("expired token's exp extended, signature kept", revived, Invalid),
        case("one bit of the payload flipped", bit_flipped, Invalid),
        case(
            "signature of another valid token",
            with_signature(&valid, second_token.rsplit_once('.').unwrap().1),
            Invalid,
        ),
        case(
            "signature truncated by one character",
            with_signature(&valid, &valid_signature[1..]),
            Invalid,
        ),
        case(
            "signature all zero bits",
            with_signature(&valid, &"A".repeat(43)),
            Invalid,
        ),
    ]);

    // Empty segments and non-tokens.
    cases.extend([
        case("empty", "", Missing),
        case("only spaces", "   ", Missing),
        case("a lone dot", ".", Invalid),
        case("two dots", "..", Invalid),
        case("three dots", "...", Invalid),
        case(
            "empty header segment",
            format!(".{valid_payload}.{valid_signature}"),
            Invalid,
        ),
        case(
            "empty payload segment",
            format!("{valid_header}..{valid_signature}"),
            Invalid,
        ),
        case("empty signature segment", format!("{valid_message}."), Invalid),
        case("two segments", valid_message, Invalid),
        case("one word", "garbage", Invalid),
    ]);

    // Size limits.
    cases.extend([
        case(
            "8 KiB + 1, correctly signed",
            token_of_len(t, MAX_TOKEN_LEN + 1),
            Invalid,
        ),
        case(
            "64 KiB",
            format!("{valid}{}", "A".repeat(64 * 1024 - valid.len())),
            Invalid,
        ),
    ]);
    cases
}

/// Key-ring cases for the server whose ring is `k2` (current, K2), `k1` (K1) and the
/// kid-less KEY: (name, header, signing key), all refused.
pub fn ring_cases(token_type: &str) -> Vec<Case> {
    let payload = claims(token_type, now() + 3600).to_string();
    let kid = |kid: &str| header_with("kid", json!(kid));
    let signed_by: Vec<(&str, String, &str)> = vec![
        ("kid k2, signed with k1's key", kid("k2"), K1),
        ("kid k1, signed with k2's key", kid("k1"), K2),
        ("kid k2, signed with the kid-less key", kid("k2"), KEY),
        ("no kid, signed with k2's key", HS256.into(), K2),
        (
            "kid null, signed with k2's key",
            header_with("kid", Value::Null),
            K2,
        ),
        ("kid K2 (case changed), signed with k2's key", kid("K2"), K2),
        ("kid \"k2 \", signed with k2's key", kid("k2 "), K2),
        ("kid k3, a key this server never had", kid("k3"), K3),
        (
            "kid twice, k9 then k2, signed with k2's key",
            r#"{"alg":"HS256","kid":"k9","kid":"k2"}"#.into(),
            K2,
        ),
        (
            "kid twice, k2 then k1, signed with k1's key",
            r#"{"alg":"HS256","kid":"k2","kid":"k1"}"#.into(),
            K1,
        ),
        (
            "kid k2 with a jku header, signed with k2's key",
            r#"{"alg":"HS256","kid":"k2","jku":"https://attacker.invalid/k"}"#.into(),
            K2,
        ),
    ];
    let mut cases: Vec<Case> = signed_by
        .into_iter()
        .map(|(name, header, key)| case(name, hs256(&header, &payload, key), Expect::Invalid))
        .collect();
    cases.push(case(
        "kid k2 with alg none",
        format!("{}.{}.", b64(r#"{"alg":"none","kid":"k2"}"#), b64(&payload)),
        Expect::Invalid,
    ));
    cases
}
