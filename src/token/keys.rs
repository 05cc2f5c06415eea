//! The signing key and the verification keys, for key rotation.
//!
//! Tokens are signed with the current key. When the current key has a key id (`kid`),
//! issued tokens name it in their header, and older keys, each with its own `kid`, keep
//! verifying the tokens they signed until they are removed from the configuration
//! (retired). A token without `kid` — every token of fastauth-api, and ours while no
//! key id is configured — is verified with the one key that has no `kid`.
//!
//! Headers are held to a strict policy before any signature work: `alg` must be
//! `HS256`, a `kid` must name a configured key, and the headers that would make a
//! verifier fetch or trust outside material (`jku`, `jwk`, `x5u`, `x5c`) or that demand
//! extensions (`crit`) are refused: this crate uses none of them.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use super::{TokenError, verifier::FastVerifier};
use crate::{crypto::MIN_KEY_LEN, error::ConfigError};

/// Header members that are refused wherever they appear.
const FORBIDDEN_HEADER_MEMBERS: [&str; 5] = ["jku", "jwk", "x5u", "x5c", "crit"];

pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    /// The header this crate writes for this key: tokens with it take the fast path.
    pub(crate) header_b64: String,
    pub(crate) fast: FastVerifier,
}

pub(crate) struct KeyRing {
    /// Signs, and verifies.
    current: VerifyingKey,
    /// Only verify.
    previous: Vec<VerifyingKey>,
}

/// The header this crate writes: PyJWT's byte for byte when there is no `kid`.
fn header_json(kid: Option<&str>) -> String {
    match kid {
        None => r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
        Some(kid) => format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
    }
}

fn check_kid(kid: &str) -> Result<(), ConfigError> {
    let ok = (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidValue {
            field: "key_id",
            reason: format!("{kid:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' and '.'"),
        })
    }
}

fn check_key(key: &str) -> Result<(), ConfigError> {
    if key.len() < MIN_KEY_LEN {
        Err(ConfigError::WeakKey { len: key.len() })
    } else {
        Ok(())
    }
}

impl KeyRing {
    /// `current` signs; `previous` only verify. At most one key may lack a `kid`, and
    /// key ids must be unique.
    pub(crate) fn new(
        current: &str,
        current_kid: Option<&str>,
        previous: &[(Option<String>, String)],
        leeway: u64,
    ) -> Result<Self, ConfigError> {
        let mut verifying: Vec<VerifyingKey> = Vec::with_capacity(previous.len().saturating_add(1));
        let keys = std::iter::once((current_kid, current))
            .chain(previous.iter().map(|(kid, key)| (kid.as_deref(), key.as_str())));
        for (kid, key) in keys {
            check_key(key)?;
            if let Some(kid) = kid {
                check_kid(kid)?;
            }
            if verifying.iter().any(|v| v.kid.as_deref() == kid) {
                return Err(ConfigError::InvalidValue {
                    field: "verification keys",
                    reason: match kid {
                        Some(kid) => format!("the key id {kid:?} is used twice"),
                        None => "more than one key has no key id: a token without `kid` could not tell \
                                 which key signed it"
                            .to_owned(),
                    },
                });
            }
            verifying.push(VerifyingKey {
                kid: kid.map(str::to_owned),
                header_b64: URL_SAFE_NO_PAD.encode(header_json(kid)),
                fast: FastVerifier::new(key.as_bytes(), leeway),
            });
        }
        let mut keys = verifying.into_iter();
        let current = keys.next().ok_or(ConfigError::MissingKey)?;
        Ok(Self {
            current,
            previous: keys.collect(),
        })
    }

    /// Every key that verifies, the current one first.
    fn verifying(&self) -> impl Iterator<Item = &VerifyingKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The key that signs: its HMAC key schedule is prepared once, so issuing does not
    /// hash the key into the pads again for every token.
    pub(crate) fn signing(&self) -> &FastVerifier {
        &self.current.fast
    }

    /// The header segment of tokens this ring issues.
    pub(crate) fn signing_header_b64(&self) -> &str {
        &self.current.header_b64
    }

    /// The key whose canonical header is exactly `segment`, if any (the fast path).
    pub(crate) fn by_canonical_header(&self, segment: &str) -> Option<&VerifyingKey> {
        self.verifying().find(|v| v.header_b64 == segment)
    }

    /// Applies the header policy and finds the key the header names.
    pub(crate) fn resolve(&self, token: &str) -> Result<&VerifyingKey, TokenError> {
        // Split as jsonwebtoken does: the header is everything before the payload.
        let (message, _signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, _payload) = message.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        let header: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if FORBIDDEN_HEADER_MEMBERS.iter().any(|m| header.contains_key(*m)) {
            return Err(TokenError::Malformed);
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Malformed),
        };
        self.verifying()
            .find(|v| v.kid.as_deref() == kid)
            .ok_or(TokenError::UnknownKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "key-one-0123456789-0123456789-0123456789";
    const K2: &str = "key-two-0123456789-0123456789-0123456789";

    #[test]
    fn the_header_without_kid_is_pyjwts() {
        let ring = KeyRing::new(K1, None, &[], 0).unwrap();
        assert_eq!(ring.signing_header_b64(), "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
    }

    #[test]
    fn key_sets_are_checked() {
        assert!(KeyRing::new(K1, Some("a b"), &[], 0).is_err());
        assert!(KeyRing::new(K1, Some("k1"), &[(Some("k1".into()), K2.into())], 0).is_err());
        assert!(KeyRing::new(K1, None, &[(None, K2.into())], 0).is_err());
        assert!(KeyRing::new(K1, Some("k2"), &[(None, "short".into())], 0).is_err());
        assert!(KeyRing::new(K2, Some("k2"), &[(None, K1.into())], 0).is_ok());
    }

    fn token_with_header(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn headers_are_held_to_the_policy() {
        let ring = KeyRing::new(K2, Some("k2"), &[(None, K1.into())], 0).unwrap();
        let resolve = |h: &str| ring.resolve(&token_with_header(h)).map(|v| v.kid.clone());
        assert_eq!(resolve(r#"{"alg":"HS256"}"#), Ok(None));
        assert_eq!(resolve(r#"{"alg":"HS256","kid":"k2"}"#), Ok(Some("k2".into())));
        assert_eq!(
            resolve(r#"{"alg":"HS256","kid":"k9"}"#),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(resolve(r#"{"alg":"HS256","kid":7}"#), Err(TokenError::Malformed));
        for alg in [
            "none", "None", "NONE", "HS384", "HS512", "RS256", "ES256", "hs256",
        ] {
            let h = format!(r#"{{"alg":"{alg}"}}"#);
            assert_eq!(resolve(&h), Err(TokenError::UnsupportedAlgorithm), "{alg}");
        }
        assert_eq!(resolve(r#"{"typ":"JWT"}"#), Err(TokenError::UnsupportedAlgorithm));
        for member in FORBIDDEN_HEADER_MEMBERS {
            let h = format!(r#"{{"alg":"HS256","{member}":"x"}}"#);
            assert_eq!(resolve(&h), Err(TokenError::Malformed), "{member}");
        }
        assert_eq!(resolve("not json"), Err(TokenError::Malformed));
        assert!(matches!(ring.resolve("no-dots"), Err(TokenError::Malformed)));
    }
}
