//! HS256 tokens made by hand: header and claims as written (duplicate members, odd
//! numbers, any `alg`), signed over exactly the bytes that are sent, so that a test can
//! forge what the crate's own codec would never produce.
//!
//! Signed with a plain HMAC-SHA256 (the `hmac` crate), independently of fastauth's code
//! and of jsonwebtoken's crypto providers.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// The header fastauth writes (and fastauth-api wrote), as JSON text.
pub const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Seconds since the epoch, as `exp` and `iat` count them.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// base64url without padding, as JWT segments are encoded.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// The header of `token`, decoded.
pub fn header_of(token: &str) -> String {
    String::from_utf8(unb64(token.split('.').next().unwrap())).unwrap()
}

/// Already-encoded header and payload segments, HS256-signed with the raw `key` bytes
/// (any key, the empty one included: forgeries need it).
pub fn sign_segments(header_b64: &str, payload_b64: &str, key: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let message = format!("{header_b64}.{payload_b64}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message.as_bytes());
    format!("{message}.{}", b64(mac.finalize().into_bytes()))
}

/// `header` and `payload` JSON text as written, HS256-signed with `key`'s UTF-8 bytes
/// (a Fernet-shaped key is not base64-decoded, as in fastauth-api).
pub fn hs256(header: &str, payload: &str, key: &str) -> String {
    sign_segments(&b64(header), &b64(payload), key.as_bytes())
}

/// fastauth-api's four claims.
pub fn claims(client_id: &str, token_type: &str, exp: u64) -> Value {
    json!({ "client_id": client_id, "type": token_type, "exp": exp, "iat": now() })
}
