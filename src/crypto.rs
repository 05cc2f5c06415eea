//! Keys, comparisons and sealing.
//!
//! [`generate_cryptography_key`] makes keys of the shape fastauth-api uses (a Fernet
//! key: 32 random bytes as URL-safe base64 with padding, 44 characters). Note that the
//! *text* of the key is what signs tokens (its UTF-8 bytes are the HMAC key), exactly as
//! in the Python package, so the same key string works in both.
//!
//! [`SealingKey`] encrypts small payloads (such as tokens at rest, see
//! [`EncryptedStore`](crate::store::EncryptedStore)) with AES-256-GCM.
//!
//! # Key derivation
//!
//! A [`SealingKey`] is derived from the configured key string with HKDF-SHA256
//! (RFC 5869): input keying material = the UTF-8 bytes of the string, no salt,
//! `info` = [`SEALING_KEY_INFO`], output = 32 bytes. The same string therefore yields the
//! same sealing key everywhere, and the sealing key is never the HMAC key that signs
//! tokens: one configured secret, two independent keys. In Python:
//!
//! ```text
//! HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
//!      info=b"fastauth/seal/v1/aes-256-gcm").derive(key.encode())
//! ```
//!
//! # Sealed format
//!
//! `v1.` followed by URL-safe base64 without padding of `nonce (12 bytes) ||
//! ciphertext || tag (16 bytes)`. The nonce is 96 random bits, fresh for every seal,
//! so sealing the same plaintext twice gives two different strings.
//!
//! ```
//! use fastauth::crypto::{SealingKey, generate_cryptography_key};
//!
//! let key = SealingKey::derive(&generate_cryptography_key())?;
//! let sealed = key.seal(b"a secret");
//! assert!(sealed.starts_with("v1."));
//! assert_eq!(key.open(&sealed)?, b"a secret");
//! # Ok::<(), fastauth::crypto::CryptoError>(())
//! ```

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::{
    Engine,
    engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD},
};
use hkdf::Hkdf;
use sha2::Sha256;

pub use crate::error::{CryptoError, MIN_KEY_LEN};

/// The HKDF `info` that separates the sealing key from every other use of the
/// configured key string.
pub const SEALING_KEY_INFO: &[u8] = b"fastauth/seal/v1/aes-256-gcm";

/// The prefix of every value sealed by this version of the format.
pub const SEALED_PREFIX: &str = "v1.";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A new random cryptography key: 32 bytes from the OS generator, URL-safe base64 with
/// padding (44 characters).
pub fn generate_cryptography_key() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE.encode(bytes)
}

/// Compares two secrets in time that does not depend on where they differ. (The
/// length may leak; every secret compared here is of a public, fixed shape.)
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    constant_time_eq_bytes(a.as_bytes(), b.as_bytes())
}

/// [`constant_time_eq`] for byte strings, such as MACs.
pub(crate) fn constant_time_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Eight bytes at a time, every byte always visited, differences OR-ed together: no
    // branch depends on the data. (subtle's byte-wise `ct_eq` is several times slower,
    // and this runs on every stored-mode request over a ~200-byte token.)
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_tail.iter().zip(b_tail) {
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// An AES-256-GCM key that seals and opens payloads. Cheap to clone; its `Debug` output
/// never shows the key.
#[derive(Clone)]
pub struct SealingKey {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey").field("key", &"<redacted>").finish()
    }
}

impl SealingKey {
    /// Derives the sealing key from a configured key string, as the
    /// [module docs](self#key-derivation) describe. The string must be at least
    /// [`MIN_KEY_LEN`] bytes long, as for signing.
    pub fn derive(key: &str) -> Result<Self, CryptoError> {
        if key.len() < MIN_KEY_LEN {
            return Err(CryptoError::WeakKey { len: key.len() });
        }
        let mut okm = [0u8; 32];
        // HKDF-SHA256 refuses only outputs over 255 × 32 bytes; this one is 32.
        Hkdf::<Sha256>::new(None, key.as_bytes())
            .expand(SEALING_KEY_INFO, &mut okm)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(Self::from_bytes(okm))
    }

    /// A sealing key from 32 raw key bytes, used as they are.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&bytes.into()),
        }
    }

    /// Seals `plaintext` with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        self.seal_with_aad(plaintext, b"")
    }

    /// Seals `plaintext`, binding it to `aad` (associated data, authenticated but not
    /// stored): [`open_with_aad`](Self::open_with_aad) succeeds only with the same `aad`.
    #[allow(
        clippy::expect_used,
        reason = "AES-GCM refuses only plaintexts of 64 GiB and more, which no caller holds"
    )]
    pub fn seal_with_aad(&self, plaintext: &[u8], aad: &[u8]) -> String {
        // 96 random bits from the thread-local CSPRNG (seeded by the OS): a fresh nonce
        // for every seal, so one key can seal ~2^32 values before a collision matters.
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .expect("AES-GCM encrypts any plaintext below 64 GiB");
        let mut raw = Vec::with_capacity(NONCE_LEN.saturating_add(ciphertext.len()));
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        let encoded = raw.len().div_ceil(3).saturating_mul(4);
        let mut sealed = String::with_capacity(SEALED_PREFIX.len().saturating_add(encoded));
        sealed.push_str(SEALED_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&raw, &mut sealed);
        sealed
    }

    /// Opens a value made by [`seal`](Self::seal).
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        self.open_with_aad(sealed, b"")
    }

    /// Opens a value made by [`seal_with_aad`](Self::seal_with_aad) with the same `aad`.
    pub fn open_with_aad(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some(body) = sealed.strip_prefix(SEALED_PREFIX) else {
            return Err(if looks_versioned(sealed) {
                CryptoError::UnsupportedVersion
            } else {
                CryptoError::Malformed
            });
        };
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad })
            .map_err(|_| CryptoError::Unauthentic)
    }
}

/// `v<digits>.…`: the shape of a sealed value of some version.
fn looks_versioned(sealed: &str) -> bool {
    sealed
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(version, _)| !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

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
        let long = "x".repeat(203);
        let mut other = long.clone().into_bytes();
        for i in [0, 7, 8, 200, 202] {
            other[i] = b'y';
            assert!(
                !constant_time_eq(&long, std::str::from_utf8(&other).unwrap()),
                "{i}"
            );
            other[i] = b'x';
        }
        assert!(constant_time_eq(&long, std::str::from_utf8(&other).unwrap()));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(constant_time_eq("", ""));
    }

    fn key() -> SealingKey {
        SealingKey::derive(KEY).unwrap()
    }

    /// Decodes a sealed value, lets `f` change the raw bytes, encodes it again.
    fn reseal_raw(sealed: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut raw = URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix(SEALED_PREFIX).unwrap())
            .unwrap();
        f(&mut raw);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    #[test]
    fn round_trips() {
        let k = key();
        for plaintext in [
            &b""[..],
            b"x",
            b"eyJhbGciOiJIUzI1NiJ9.payload.sig",
            &[0u8; 1000][..],
        ] {
            let sealed = k.seal(plaintext);
            assert!(sealed.starts_with(SEALED_PREFIX), "{sealed}");
            let raw_len = NONCE_LEN + plaintext.len() + TAG_LEN;
            assert_eq!(sealed.len(), SEALED_PREFIX.len() + (raw_len * 4).div_ceil(3));
            assert!(
                sealed[SEALED_PREFIX.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{sealed}"
            );
            assert_eq!(k.open(&sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn the_derivation_is_stable_and_separates_keys() {
        let sealed = key().seal(b"payload");
        // A key derived again from the same string opens it.
        assert_eq!(
            SealingKey::derive(KEY).unwrap().open(&sealed).unwrap(),
            b"payload"
        );
        // The key string's base64 bytes, used raw, are not the sealing key.
        let raw: [u8; 32] = URL_SAFE.decode(KEY).unwrap().try_into().unwrap();
        assert_eq!(
            SealingKey::from_bytes(raw).open(&sealed),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn opens_what_the_documented_python_recipe_seals() {
        // Made with the `cryptography` package: the HKDF recipe of the module docs,
        // AESGCM, nonce 00..0b, plaintext b"sealed by Python", aad None and b"client-a".
        // It pins the derivation and the format: data at rest must open forever.
        let k = key();
        let sealed = "v1.AAECAwQFBgcICQoLtgpW4uyp8Z5w9Qzj2-4bGWgzI6_eMUif3jaonxlvfvE";
        assert_eq!(k.open(sealed).unwrap(), b"sealed by Python");
        let with_aad = "v1.AAECAwQFBgcICQoLtgpW4uyp8Z5w9Qzj2-4bGTk6OJYi_pV_GQZ_dYUvSsM";
        assert_eq!(
            k.open_with_aad(with_aad, b"client-a").unwrap(),
            b"sealed by Python"
        );
        assert_eq!(k.open(with_aad), Err(CryptoError::Unauthentic));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let k = key();
        let a = k.seal(b"same plaintext");
        let b = k.seal(b"same plaintext");
        assert_ne!(a, b);
        let nonce =
            |s: &str| URL_SAFE_NO_PAD.decode(&s[SEALED_PREFIX.len()..]).unwrap()[..NONCE_LEN].to_vec();
        assert_ne!(nonce(&a), nonce(&b));
    }

    #[test]
    fn tampering_with_any_region_is_detected() {
        let k = key();
        let plaintext = b"an access token";
        let sealed = k.seal(plaintext);
        let total = NONCE_LEN + plaintext.len() + TAG_LEN;
        let regions = [
            ("nonce", 0),
            ("nonce end", NONCE_LEN - 1),
            ("ciphertext", NONCE_LEN),
            ("ciphertext end", NONCE_LEN + plaintext.len() - 1),
            ("tag", NONCE_LEN + plaintext.len()),
            ("tag end", total - 1),
        ];
        for (region, at) in regions {
            for bit in [0x01, 0x80] {
                let tampered = reseal_raw(&sealed, |raw| raw[at] ^= bit);
                assert_eq!(k.open(&tampered), Err(CryptoError::Unauthentic), "{region}");
            }
        }
        let appended = reseal_raw(&sealed, |raw| raw.push(0));
        assert_eq!(k.open(&appended), Err(CryptoError::Unauthentic));
        assert_eq!(k.open(&sealed).unwrap(), plaintext);
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let sealed = key().seal(b"payload");
        let other = SealingKey::derive(&generate_cryptography_key()).unwrap();
        assert_eq!(other.open(&sealed), Err(CryptoError::Unauthentic));
        let almost = SealingKey::derive(&KEY.replace('A', "B")).unwrap();
        assert_eq!(almost.open(&sealed), Err(CryptoError::Unauthentic));
    }

    #[test]
    fn associated_data_binds() {
        let k = key();
        let sealed = k.seal_with_aad(b"payload", b"client-a");
        assert_eq!(k.open_with_aad(&sealed, b"client-a").unwrap(), b"payload");
        assert_eq!(
            k.open_with_aad(&sealed, b"client-b"),
            Err(CryptoError::Unauthentic)
        );
        assert_eq!(k.open(&sealed), Err(CryptoError::Unauthentic));
    }

    #[test]
    fn truncated_values_are_refused() {
        let k = key();
        let sealed = k.seal(b"payload");
        for len in 0..sealed.len() {
            let err = k.open(&sealed[..len]).unwrap_err();
            assert!(
                matches!(err, CryptoError::Malformed | CryptoError::Unauthentic),
                "{len}: {err:?}"
            );
        }
        let short = reseal_raw(&sealed, |raw| raw.truncate(NONCE_LEN + TAG_LEN - 1));
        assert_eq!(k.open(&short), Err(CryptoError::Malformed));
        let dropped_byte = reseal_raw(&sealed, |raw| {
            raw.pop();
        });
        assert_eq!(k.open(&dropped_byte), Err(CryptoError::Unauthentic));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let k = key();
        for garbage in [
            "",
            "v1.",
            "v1",
            "plain-token",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig",
            "v1.not base64!",
            "v1.AAAA=",
            "v1.+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/",
            "v1.A",
            "v1.\u{e9}\u{e9}\u{e9}\u{e9}",
            "V1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(k.open(garbage), Err(CryptoError::Malformed), "{garbage:?}");
        }
        assert_eq!(
            k.open("v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            Err(CryptoError::UnsupportedVersion)
        );
        // 28 zero bytes: well-formed, but no key made that tag.
        let zeros = format!(
            "{SEALED_PREFIX}{}",
            URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + TAG_LEN])
        );
        assert_eq!(k.open(&zeros), Err(CryptoError::Unauthentic));
    }

    #[test]
    fn weak_keys_are_refused() {
        assert_eq!(
            SealingKey::derive("short").unwrap_err(),
            CryptoError::WeakKey { len: 5 }
        );
        assert!(SealingKey::derive(&"x".repeat(MIN_KEY_LEN)).is_ok());
    }

    #[test]
    fn debug_and_errors_show_no_secret() {
        let k = key();
        assert_eq!(format!("{k:?}"), "SealingKey { key: \"<redacted>\" }");
        let sealed = k.seal(b"payload");
        let err = k.open(&format!("{sealed}x")).unwrap_err();
        assert!(!err.to_string().contains(&sealed));
    }
}
