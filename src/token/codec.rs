//! The token codec: signs pairs with the current key, verifies with any configured key.

use std::{fmt, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::clock::{unix_secs, unix_secs_now_or_later};

use super::{
    Claims, MAX_TOKEN_LEN, TokenError, TokenPair, TokenType, check_client_id,
    keys::KeyRing,
    payload::payload,
    random_token_id,
    verifier::{Fast, split, verify_general},
};

/// Issues HS256 tokens with the current key and verifies them with any configured key.
#[derive(Clone)]
pub struct TokenCodec {
    keys: Arc<KeyRing>,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
}

impl fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCodec")
            .field("key", &"<redacted>")
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .finish()
    }
}

impl TokenCodec {
    /// A codec signing with `keys`' current key (key strings' UTF-8 bytes are HMAC keys).
    pub(crate) fn new(keys: KeyRing, access_lifetime: Duration, refresh_lifetime: Duration) -> Self {
        Self {
            keys: Arc::new(keys),
            access_lifetime,
            refresh_lifetime,
        }
    }

    /// Lifetime of issued access tokens.
    pub fn access_lifetime(&self) -> Duration {
        self.access_lifetime
    }

    /// Lifetime of issued refresh tokens.
    pub fn refresh_lifetime(&self) -> Duration {
        self.refresh_lifetime
    }

    /// Issues an access and a refresh token for `client_id`, both with `iat` = now.
    pub fn issue_pair(&self, client_id: &str) -> Result<TokenPair, TokenError> {
        check_client_id(client_id)?;
        let now = unix_secs();
        let claims = |token_type, lifetime: Duration| {
            Claims::from_parts(
                client_id,
                token_type,
                now.saturating_add(lifetime.as_secs()),
                now,
                Some(&random_token_id()),
            )
        };
        let access = self.sign(&claims(TokenType::Access, self.access_lifetime))?;
        let refresh = self.sign(&claims(TokenType::Refresh, self.refresh_lifetime))?;
        Ok(TokenPair {
            client_id: client_id.to_owned(),
            access_token: access,
            refresh_token: refresh,
        })
    }

    /// HMAC-SHA256 of `message` with the signing key, as a token's signature is made (for
    /// the instruction-count benchmark of the HMAC alone).
    pub fn hmac(&self, message: &[u8]) -> [u8; 32] {
        self.keys.signing().sign(message)
    }

    /// Signs arbitrary claims with this codec's key. Claims that would make a token
    /// longer than [`MAX_TOKEN_LEN`] are refused ([`TokenError::Malformed`]): `verify`
    /// would refuse that token.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let payload = payload(claims)?;
        let header = self.keys.signing_header_b64();
        // Assembled as bytes and encoded in place: `encode_string`'s chunked writer was a
        // tenth of an issue in the profile.
        let mut token = Vec::with_capacity(
            header
                .len()
                .saturating_add(payload.len().div_ceil(3).saturating_mul(4))
                .saturating_add(48),
        );
        token.extend_from_slice(header.as_bytes());
        token.push(b'.');
        encode_appended(&payload, &mut token)?;
        let signature = self.keys.signing().sign(&token);
        token.push(b'.');
        encode_appended(&signature, &mut token)?;
        let token = String::from_utf8(token).map_err(|_| TokenError::Malformed)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        Ok(token)
    }

    /// Verifies signature, algorithm (HS256 only), `exp` (required), `nbf` (if present)
    /// and that the token is of the `expected` type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        self.verify_at(token, expected, unix_secs_now_or_later())
    }

    /// [`verify`](Self::verify) at `now` (seconds since the Unix epoch), for a caller
    /// that read the clock already: a read is about 7 % of a verification on the benchmark machine.
    pub(crate) fn verify_at(&self, token: &str, expected: TokenType, now: u64) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let fast = match split(token) {
            Some((header, message, payload, signature)) => match self.keys.by_canonical_header(header) {
                Some(key) => key.fast.verify(message, payload, signature, now),
                None => Fast::Fallback,
            },
            None => Fast::Fallback,
        };
        let claims = match fast {
            Fast::Valid(claims) => claims,
            Fast::Invalid(e) => return Err(e),
            Fast::Fallback => {
                // The header policy and the key it names (`kid`) come first.
                let key = self.keys.resolve(token)?;
                let c = verify_general(&key.fast, token, now)?;
                Claims::from_parts(
                    &c.client_id,
                    parse_type(&c.token_type)?,
                    c.exp,
                    c.iat,
                    c.jti.as_deref(),
                )
            }
        };
        if claims.token_type() != expected {
            return Err(TokenError::WrongType);
        }
        check_client_id(claims.client_id())?;
        Ok(claims)
    }
}

/// Appends the base64url of `bytes` to `out`.
fn encode_appended(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), TokenError> {
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), false).ok_or(TokenError::Malformed)?;
    out.resize(start.saturating_add(len), 0);
    let target = out.get_mut(start..).ok_or(TokenError::Malformed)?;
    URL_SAFE_NO_PAD
        .encode_slice(bytes, target)
        .map_err(|_| TokenError::Malformed)?;
    Ok(())
}

fn parse_type(raw: &str) -> Result<TokenType, TokenError> {
    match raw {
        "access" => Ok(TokenType::Access),
        "refresh" => Ok(TokenType::Refresh),
        _ => Err(TokenError::WrongType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::MAX_CLIENT_ID_LEN;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    const TEST_KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

    fn codec() -> TokenCodec {
        TokenCodec::new(
            KeyRing::new(TEST_KEY, None, &[], 0).unwrap(),
            Duration::from_secs(2_592_000),
            Duration::from_secs(31_536_000),
        )
    }

    #[test]
    fn header_is_the_python_one() {
        let decoded = URL_SAFE_NO_PAD.decode(codec().keys.signing_header_b64()).unwrap();
        assert_eq!(decoded, br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn issue_then_verify_round_trips() {
        let c = codec();
        let pair = c.issue_pair("client-1").unwrap();
        let access = c.verify(&pair.access_token, TokenType::Access).unwrap();
        assert_eq!(access.client_id(), "client-1");
        assert_eq!(access.expires_at() - access.issued_at(), 2_592_000);
        let refresh = c.verify(&pair.refresh_token, TokenType::Refresh).unwrap();
        assert_eq!(refresh.expires_at() - refresh.issued_at(), 31_536_000);
        assert_eq!(
            c.verify(&pair.refresh_token, TokenType::Access),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            c.verify(&pair.access_token, TokenType::Refresh),
            Err(TokenError::WrongType)
        );
    }

    /// What a user's test of `iat` against `SystemTime::now()` expects, and what
    /// fastauth-api's verifier (PyJWT, which refuses an `iat` in the future) needs. An
    /// `iat` from the coarse clock was a second early right after a second began.
    #[test]
    fn iat_is_the_precise_time_and_a_new_token_verifies_at_once() {
        let c = codec();
        crate::clock::around_second_boundaries(|before| {
            let pair = c.issue_pair("client-1").unwrap();
            let after = crate::clock::unix_secs();
            let access = c.verify(&pair.access_token, TokenType::Access).unwrap();
            assert!(
                (before.as_secs()..=after).contains(&access.issued_at()),
                "iat {} issued between {before:?} and {after}",
                access.issued_at()
            );
        });
    }

    #[test]
    fn claims_are_serialised_in_python_order() {
        let c = codec();
        let token = c.issue_pair("a").unwrap().access_token;
        let payload = token.split('.').nth(1).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(
            json.starts_with(r#"{"client_id":"a","type":"access","exp":"#),
            "{json}"
        );
    }

    #[test]
    fn bad_client_ids_are_refused() {
        let c = codec();
        assert_eq!(c.issue_pair("").unwrap_err(), TokenError::InvalidClientId);
        assert_eq!(c.issue_pair("a\nb").unwrap_err(), TokenError::InvalidClientId);
        assert_eq!(
            c.issue_pair(&"x".repeat(257)).unwrap_err(),
            TokenError::InvalidClientId
        );
    }

    #[test]
    fn pair_debug_redacts_tokens() {
        let pair = codec().issue_pair("c").unwrap();
        let shown = format!("{pair:?}");
        assert!(!shown.contains(&pair.access_token));
        assert!(shown.contains("<redacted>"));
    }

    /// A token signed by jsonwebtoken with the test key, independently of the codec.
    fn sign_raw(header: &str, payload: &str) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let key = jsonwebtoken::EncodingKey::from_secret(TEST_KEY.as_bytes()).unwrap();
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    }

    /// The fast verifier and jsonwebtoken agree on accept/reject (and on the claims).
    #[test]
    fn signing_with_the_prepared_key_is_what_jsonwebtoken_writes() {
        let c = codec();
        for client_id in ["a", "client-\u{e9}-\"quoted\"", &"x".repeat(MAX_CLIENT_ID_LEN)] {
            let claims = Claims::new(crate::token::ClaimsData {
                client_id: client_id.to_owned(),
                token_type: TokenType::Refresh,
                exp: 4_000_000_000,
                iat: 1,
                jti: Some("j".into()),
            });
            let payload = serde_json::to_string(&claims).unwrap();
            assert_eq!(
                c.sign(&claims).unwrap(),
                sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &payload)
            );
        }
    }

    #[test]
    fn sign_refuses_claims_too_large_for_verify() {
        let c = codec();
        // One `exp` for every call: the expected claims are built again after signing, and
        // a second read of the clock could land in the next second.
        let exp = unix_secs() + 600;
        let claims = |jti_len: usize| {
            Claims::new(crate::token::ClaimsData {
                client_id: "c".into(),
                token_type: TokenType::Access,
                exp,
                iat: 0,
                jti: Some("j".repeat(jti_len)),
            })
        };
        assert_eq!(c.sign(&claims(MAX_TOKEN_LEN)), Err(TokenError::Malformed));
        // The largest jti that still signs gives a token at the limit, which verifies.
        let (mut fits, mut too_big) = (0, MAX_TOKEN_LEN);
        while too_big - fits > 1 {
            let mid = (fits + too_big) / 2;
            match c.sign(&claims(mid)) {
                Ok(_) => fits = mid,
                Err(_) => too_big = mid,
            }
        }
        let largest = c.sign(&claims(fits)).unwrap();
        assert!(largest.len() <= MAX_TOKEN_LEN && largest.len() + 4 > MAX_TOKEN_LEN);
        assert_eq!(c.verify(&largest, TokenType::Access), Ok(claims(fits)));
    }
}
