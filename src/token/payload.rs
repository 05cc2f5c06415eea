//! The claims as a token's JSON payload, written for issuance.
//!
//! Byte for byte what serde_json writes for [`Claims`]' `Serialize`, which stays the
//! definition: `{"client_id":"…","type":"…","exp":N,"iat":N}` with `,"jti":"…"` when
//! there is one, the layout the verifier's fast path reads. Strings that need no escape
//! (no `"`, `\` or control character: every `client_id` the codec issues to, as
//! [`check_client_id`](super::check_client_id) refuses control characters) are copied as
//! they are; anything else is left to serde_json. serde_json's generic serializer was a
//! fifth of an issued pair's instructions beside the HMACs.

use super::{Claims, TokenError, TokenType};

/// The JSON payload of `claims`.
pub(crate) fn payload(claims: &Claims) -> Result<Vec<u8>, TokenError> {
    let client_id = claims.client_id();
    let token_id = claims.token_id();
    if needs_escape(client_id) || token_id.is_some_and(needs_escape) {
        return serde_json::to_vec(claims).map_err(|_| TokenError::Malformed);
    }
    let mut out = Vec::with_capacity(
        client_id
            .len()
            .saturating_add(token_id.map_or(0, str::len))
            .saturating_add(96),
    );
    out.extend_from_slice(br#"{"client_id":""#);
    out.extend_from_slice(client_id.as_bytes());
    out.extend_from_slice(match claims.token_type() {
        TokenType::Access => br#"","type":"access","exp":"#.as_slice(),
        TokenType::Refresh => br#"","type":"refresh","exp":"#.as_slice(),
    });
    push_decimal(&mut out, claims.expires_at());
    out.extend_from_slice(br#","iat":"#);
    push_decimal(&mut out, claims.issued_at());
    if let Some(token_id) = token_id {
        out.extend_from_slice(br#","jti":""#);
        out.extend_from_slice(token_id.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
    Ok(out)
}

/// Whether serde_json would escape a byte of `text`.
fn needs_escape(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Appends `n` in decimal, with itoa, as serde_json writes integers.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn serde(claims: &Claims) -> Vec<u8> {
        serde_json::to_vec(claims).unwrap()
    }

    #[test]
    fn known_claims() {
        for (client_id, token_type, exp, iat, jti) in [
            (
                "client",
                TokenType::Access,
                1_764_000_600,
                1_764_000_000,
                Some("abc"),
            ),
            ("client", TokenType::Refresh, 0, 0, None),
            ("é \u{7f} ü", TokenType::Access, u64::MAX, 9, None),
            ("a\"b", TokenType::Access, 10, 1, Some("x\\y")),
            ("tab\there", TokenType::Refresh, 10, 1, Some("\u{1}")),
        ] {
            let claims = Claims::from_parts(client_id, token_type, exp, iat, jti);
            assert_eq!(payload(&claims).unwrap(), serde(&claims), "{claims:?}");
        }
        let claims = Claims::from_parts("c", TokenType::Access, 5, 1, Some("j"));
        assert_eq!(
            payload(&claims).unwrap(),
            br#"{"client_id":"c","type":"access","exp":5,"iat":1,"jti":"j"}"#
        );
    }

    proptest! {
        #[test]
        fn writes_what_serde_json_writes(
            client_id in any::<String>(),
            refresh in any::<bool>(),
            exp in any::<u64>(),
            iat in prop_oneof![any::<u64>(), 0..1000u64],
            jti in proptest::option::of(any::<String>()),
        ) {
            let token_type = if refresh { TokenType::Refresh } else { TokenType::Access };
            let claims = Claims::from_parts(&client_id, token_type, exp, iat, jti.as_deref());
            prop_assert_eq!(payload(&claims).unwrap(), serde(&claims));
        }
    }
}
