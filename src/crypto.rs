//! Keys and comparisons.
//!
//! [`generate_cryptography_key`] makes keys of the shape fastauth-api uses (a Fernet
//! key: 32 random bytes as URL-safe base64 with padding, 44 characters). Note that the
//! *text* of the key is what signs tokens (its UTF-8 bytes are the HMAC key), exactly as
//! in the Python package, so the same key string works in both.

use base64::{Engine, engine::general_purpose::URL_SAFE};
use subtle::ConstantTimeEq;

/// A new random cryptography key: 32 bytes from the OS generator, URL-safe base64 with
/// padding (44 characters).
pub fn generate_cryptography_key() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE.encode(bytes)
}

/// Compares two secrets in time that does not depend on where they differ. (The
/// length may leak; every secret compared here is of a public, fixed shape.)
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_fernet_shape() {
        let key = generate_cryptography_key();
        assert_eq!(key.len(), 44);
        assert!(key.ends_with('='));
        assert_eq!(URL_SAFE.decode(&key).unwrap().len(), 32);
        assert_ne!(key, generate_cryptography_key());
    }

    #[test]
    fn compares() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(constant_time_eq("", ""));
    }
}
