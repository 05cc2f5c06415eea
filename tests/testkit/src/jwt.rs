//! The reference the token verifier is held to: jsonwebtoken's `decode` (HS256 only,
//! `exp` required, `nbf` checked), after the header policy fastauth documents (README,
//! "Key rotation"): `alg` must be `HS256`; `jku`, `jwk`, `x5u`, `x5c` and `crit` are
//! refused; `kid` picks the key, and a token without one takes the key without one.
//!
//! Written from the documentation, not from the crate's code, so that the two can
//! disagree; the tests and fuzz targets fail when they do.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fastauth::{
    Claims,
    hooks::ClaimsData,
    token::{MAX_TOKEN_LEN, TokenError, TokenType, check_client_id},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::Value;

/// The keys of a deployment: `(kid, key string)`, the current one first.
pub struct Reference {
    keys: Vec<(Option<String>, String)>,
    leeway: u64,
}

#[derive(Deserialize)]
struct WireClaims {
    client_id: String,
    #[serde(rename = "type")]
    token_type: String,
    exp: u64,
    #[serde(default)]
    iat: u64,
    #[serde(default)]
    jti: Option<String>,
}

impl Reference {
    /// `keys`: `(kid, key string)` pairs; `leeway` in seconds.
    pub fn new<'a>(keys: impl IntoIterator<Item = (Option<&'a str>, &'a str)>, leeway: u64) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|(kid, key)| (kid.map(str::to_owned), key.to_owned()))
                .collect(),
            leeway,
        }
    }

    /// What fastauth's verifier must answer for `token` where a token of type
    /// `expected` is wanted.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let key = self.key_for(token)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        let key = DecodingKey::from_secret(key.as_bytes()).expect("a key of fastauth's size is an HMAC key");
        let claims = jsonwebtoken::decode::<WireClaims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::InvalidSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::UnsupportedAlgorithm => TokenError::UnsupportedAlgorithm,
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => TokenError::MissingExpiry,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                _ => TokenError::Malformed,
            })?
            .claims;
        let token_type = match claims.token_type.as_str() {
            "access" => TokenType::Access,
            "refresh" => TokenType::Refresh,
            _ => return Err(TokenError::WrongType),
        };
        if token_type != expected {
            return Err(TokenError::WrongType);
        }
        check_client_id(&claims.client_id)?;
        Ok(fastauth::hooks::claims(ClaimsData {
            client_id: claims.client_id,
            token_type,
            exp: claims.exp,
            iat: claims.iat,
            jti: claims.jti,
        }))
    }

    /// The header policy, then the key the header names.
    fn key_for(&self, token: &str) -> Result<&str, TokenError> {
        // The header is what precedes the payload, which precedes the last dot.
        let mut parts = token.rsplitn(3, '.');
        let (Some(_signature), Some(_payload), Some(header)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&json) else {
            return Err(TokenError::Malformed);
        };
        if header.get("alg") != Some(&Value::String("HS256".into())) {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if ["jku", "jwk", "x5u", "x5c", "crit"]
            .iter()
            .any(|name| header.contains_key(*name))
        {
            return Err(TokenError::Malformed);
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Malformed),
        };
        self.keys
            .iter()
            .find(|(k, _)| k.as_deref() == kid)
            .map(|(_, key)| key.as_str())
            .ok_or(TokenError::UnknownKey)
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
