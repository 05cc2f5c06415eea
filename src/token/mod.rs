//! HS256 tokens: their claims, the pair the token router hands out, and the limits a
//! token and a `client_id` are held to.
//!
//! The wire format is fastauth-api's: header `{"alg":"HS256","typ":"JWT"}`, claims
//! `{"client_id":…,"type":"access"|"refresh","exp":…,"iat":…}`, and the HMAC key is the
//! UTF-8 bytes of the configured key string (not base64-decoded), so a Python and a Rust
//! deployment sharing one `CRYPTOGRAPHY_KEY` accept each other's tokens. fastauth adds a
//! random `jti`, so that two pairs issued to one client in the same second differ
//! (tokens without one, as fastauth-api mints them, are accepted), and a `kid` in the
//! header when a [key id](crate::FastAuthBuilder::key_id) is configured.
//!
//! # What is accepted
//!
//! fastauth signs and verifies with its own HMAC-SHA256. A token must be:
//!
//! - at most [`MAX_TOKEN_LEN`] bytes (8 KiB), checked before any decoding;
//! - HS256: any other `alg`, `none` included, is refused. A `kid` must name a configured
//!   key ([key rotation](crate::FastAuthBuilder#key-rotation)), and a header with `jku`,
//!   `jwk`, `x5u`, `x5c` or `crit` is refused (this crate uses none of them);
//! - signed by a configured key, with an `exp` (required) that has not passed and an
//!   `nbf`, when present, that has, both with the configured
//!   [leeway](crate::FastAuthBuilder::leeway). On Linux the clock read for them is the
//!   kernel's coarse one plus its tick (1–10 ms), never behind the precise clock: an
//!   expired token is refused no later than `SystemTime::now()` would refuse it (at most
//!   a tick earlier), and an `nbf` is passed at most a tick early. That saves 30–40 ns
//!   a request (BENCHMARKS.md, "The clock");
//! - of the [`type`](TokenType) the use asks for: `access` at the layer, `refresh` at the
//!   token router's refresh;
//! - issued to a valid `client_id` ([`check_client_id`]).
//!
//! Each failure is a [`TokenError`], which the layer answers as an
//! [`AuthError`](crate::AuthError) and the token router in its envelope.

mod base64url;
pub(crate) mod cache;
pub(crate) mod codec;
mod hmac_sha256;
pub(crate) mod keys;
mod payload;
mod verifier;

use std::{fmt, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, ser::SerializeStruct};

pub use crate::error::TokenError;

/// Tokens longer than this are refused before any decoding work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The length of an HS256 signature in base64url: 32 bytes, unpadded.
const SIGNATURE_LEN: usize = 43;

/// Where the dot before an HS256 signature stands, if the token has one at that place
/// (43 characters from the end): found without scanning, by the verifier's fast path and
/// the token cache. A signature of another length, or a dot within it, is for base64 and
/// the general path to refuse.
pub(crate) fn signature_dot(token: &[u8]) -> Option<usize> {
    let at = token.len().checked_sub(SIGNATURE_LEN + 1)?;
    (token.get(at) == Some(&b'.')).then_some(at)
}

/// The longest accepted `client_id`, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// The two kinds of token fastauth issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Grants access to access-level paths.
    Access,
    /// Can only be exchanged for a new pair at `/auth/token/refresh`.
    Refresh,
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        })
    }
}

/// The verified claims of a token. The layer puts them in the request extensions, where
/// handlers find them (with the `axum` feature, as an extractor).
///
/// Cheap to clone: the claims are shared, not copied.
#[derive(Clone)]
pub struct Claims {
    /// `client_id`, then `jti` when there is one, then, for claims the token cache
    /// holds, the token they were verified from: one allocation for all, as a
    /// verification on every request makes one `Claims`.
    text: Arc<str>,
    client_id_len: usize,
    /// Where `jti` ends (`client_id_len` without one) and the carried token begins.
    token_id_end: usize,
    has_token_id: bool,
    token_type: TokenType,
    exp: u64,
    iat: u64,
}

/// What a token says, as verified. Not part of the API (see [`crate::hooks`]).
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub struct ClaimsData {
    /// `client_id`.
    pub client_id: String,
    /// `type`.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// `exp`.
    pub exp: u64,
    /// `iat`.
    #[serde(default)]
    pub iat: u64,
    /// `jti`: fastauth adds a random token id so that two pairs issued to one client in
    /// the same second differ; tokens minted by fastauth-api have none.
    #[serde(default)]
    pub jti: Option<String>,
}

/// `client_id` and `jti` of up to this many bytes together are joined on the stack.
const JOINED_ON_STACK: usize = 192;

impl Claims {
    pub(crate) fn new(data: ClaimsData) -> Self {
        Self::from_parts(
            &data.client_id,
            data.token_type,
            data.exp,
            data.iat,
            data.jti.as_deref(),
        )
    }

    pub(crate) fn from_parts(
        client_id: &str,
        token_type: TokenType,
        exp: u64,
        iat: u64,
        token_id: Option<&str>,
    ) -> Self {
        Self::from_utf8_parts(
            client_id.as_bytes(),
            token_type,
            exp,
            iat,
            token_id.map(str::as_bytes),
        )
        .unwrap_or_else(|| Self {
            // Too long to join on the stack.
            text: Arc::from([client_id, token_id.unwrap_or_default()].concat()),
            client_id_len: client_id.len(),
            token_id_end: client_id.len().saturating_add(token_id.map_or(0, str::len)),
            has_token_id: token_id.is_some(),
            token_type,
            exp,
            iat,
        })
    }

    /// Claims whose strings are still bytes: `None` if they are not UTF-8, or too long
    /// to join on the stack. UTF-8 is checked once, on both joined.
    pub(crate) fn from_utf8_parts(
        client_id: &[u8],
        token_type: TokenType,
        exp: u64,
        iat: u64,
        token_id: Option<&[u8]>,
    ) -> Option<Self> {
        let second = token_id.unwrap_or_default();
        let mut stack = [0u8; JOINED_ON_STACK];
        let joined = stack.get_mut(..client_id.len().checked_add(second.len())?)?;
        let (first_part, second_part) = joined.split_at_mut_checked(client_id.len())?;
        first_part.copy_from_slice(client_id);
        second_part.copy_from_slice(second);
        let joined = std::str::from_utf8(joined).ok()?;
        // Both valid apart, not merely together.
        if !joined.is_char_boundary(client_id.len()) {
            return None;
        }
        Some(Self {
            text: Arc::from(joined),
            client_id_len: client_id.len(),
            token_id_end: joined.len(),
            has_token_id: token_id.is_some(),
            token_type,
            exp,
            iat,
        })
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        self.text.get(..self.client_id_len).unwrap_or_default()
    }

    /// Access or refresh.
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// `exp`: when the token expires, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.exp
    }

    /// `iat`: when the token was issued, in seconds since the Unix epoch (0 when the
    /// token does not say).
    pub fn issued_at(&self) -> u64 {
        self.iat
    }

    /// `jti`: the token's random id, when it has one (fastauth-api's tokens have none).
    pub fn token_id(&self) -> Option<&str> {
        self.has_token_id.then(|| {
            self.text
                .get(self.client_id_len..self.token_id_end)
                .unwrap_or_default()
        })
    }

    /// These claims, carrying `token`, the access token they were verified from: what
    /// the token cache keeps, so that a hit hands the layer the token as a `str` (the
    /// store's lookup takes one) without checking the request's bytes for UTF-8 again.
    pub(crate) fn carrying(&self, token: &str) -> Self {
        let before = self.text.get(..self.token_id_end).unwrap_or_default();
        Self {
            text: Arc::from([before, token].concat()),
            client_id_len: self.client_id_len,
            token_id_end: self.token_id_end,
            has_token_id: self.has_token_id,
            token_type: self.token_type,
            exp: self.exp,
            iat: self.iat,
        }
    }

    /// The token these claims carry (see [`Claims::carrying`]), if any.
    pub(crate) fn carried_token(&self) -> Option<&str> {
        self.text
            .get(self.token_id_end..)
            .filter(|token| !token.is_empty())
    }
}

/// Claims are equal when what the token says is: a carried token is not a claim.
impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.client_id() == other.client_id()
            && self.token_id() == other.token_id()
            && self.token_type == other.token_type
            && self.exp == other.exp
            && self.iat == other.iat
    }
}

impl Eq for Claims {}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("client_id", &self.client_id())
            .field("token_type", &self.token_type)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("jti", &self.token_id())
            .finish()
    }
}

/// The claims as a JWT carries them: `client_id`, `type`, `exp`, `iat` and `jti` when set.
impl Serialize for Claims {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Claims", 5)?;
        out.serialize_field("client_id", self.client_id())?;
        out.serialize_field("type", &self.token_type)?;
        out.serialize_field("exp", &self.exp)?;
        out.serialize_field("iat", &self.iat)?;
        match self.token_id() {
            Some(jti) => out.serialize_field("jti", jti)?,
            None => out.skip_field("jti")?,
        }
        out.end()
    }
}

/// A freshly issued access and refresh token for one client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    /// The client both tokens belong to.
    pub client_id: String,
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
}

impl fmt::Debug for TokenPair {
    // Tokens are credentials: they never reach a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("client_id", &self.client_id)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// A `client_id` must be non-empty, at most [`MAX_CLIENT_ID_LEN`] bytes and free of
/// control and Unicode format characters (it ends up in URLs, logs and store keys).
pub fn check_client_id(client_id: &str) -> Result<(), TokenError> {
    // Printable ASCII, what ids almost always are, holds neither: skip the char-by-char
    // check, which showed in the verifier's profile.
    let printable_ascii = client_id.bytes().all(|b| (0x20..0x7f).contains(&b));
    if client_id.is_empty()
        || client_id.len() > MAX_CLIENT_ID_LEN
        || (!printable_ascii && client_id.chars().any(|c| c.is_control() || is_format_char(c)))
    {
        Err(TokenError::InvalidClientId)
    } else {
        Ok(())
    }
}

/// Unicode format characters (general category Cf, Unicode 15.1): invisible, and some
/// (bidi overrides, isolates) reorder the text around them, so an id shown in a log or an
/// admin page could read as another one.
fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// 128 random bits, URL-safe base64 (22 characters).
pub(crate) fn random_token_id() -> String {
    let bytes: [u8; 16] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random UUIDv4 in its hyphenated form, as Python's `str(uuid.uuid4())`.
pub(crate) fn random_client_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    // The version (4) and variant (10) bits of RFC 9562.
    if let Some(b) = bytes.get_mut(6) {
        *b = (*b & 0x0f) | 0x40;
    }
    if let Some(b) = bytes.get_mut(8) {
        *b = (*b & 0x3f) | 0x80;
    }
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carried_token_is_neither_a_claim_nor_shown() {
        for jti in [None, Some("id-1")] {
            let claims = Claims::from_parts("client", TokenType::Access, 200, 100, jti);
            assert_eq!(claims.carried_token(), None);
            let carrying = claims.carrying("h.p.s");
            assert_eq!(carrying.carried_token(), Some("h.p.s"));
            assert_eq!(carrying.client_id(), "client");
            assert_eq!(carrying.token_id(), jti);
            assert_eq!(carrying, claims);
            assert_eq!(format!("{carrying:?}"), format!("{claims:?}"));
            assert_eq!(
                serde_json::to_string(&carrying).unwrap(),
                serde_json::to_string(&claims).unwrap()
            );
        }
        // Too long to join on the stack: the other constructor.
        let long = "c".repeat(250);
        let claims = Claims::from_parts(&long, TokenType::Access, 200, 100, Some("id-2"));
        let carrying = claims.carrying("h.p.s");
        assert_eq!(
            (
                carrying.client_id(),
                carrying.token_id(),
                carrying.carried_token()
            ),
            (&long[..], Some("id-2"), Some("h.p.s"))
        );
    }

    #[test]
    fn random_client_ids_are_uuid_v4() {
        let id = random_client_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, random_client_id());
    }

    #[test]
    fn claims_serialise_in_python_order_and_clone_cheaply() {
        let claims = Claims::new(ClaimsData {
            client_id: "a".into(),
            token_type: TokenType::Access,
            exp: 2,
            iat: 1,
            jti: None,
        });
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"client_id":"a","type":"access","exp":2,"iat":1}"#
        );
        let copy = claims.clone();
        assert!(Arc::ptr_eq(&copy.text, &claims.text));
    }

    #[test]
    fn format_characters_are_not_client_ids() {
        for bad in [
            "\u{202E}x",
            "a\u{200B}b",
            "\u{FEFF}",
            "a\u{AD}b",
            "\u{E0041}",
            "a\nb",
            "",
        ] {
            assert_eq!(check_client_id(bad), Err(TokenError::InvalidClientId), "{bad:?}");
        }
        for good in ["élève-学生", "svc-42", "a b"] {
            assert_eq!(check_client_id(good), Ok(()), "{good:?}");
        }
    }
}
