//! Where a request carries its credentials, and how the master token is held.
//!
//! - master level: `MASTER-TOKEN` (fastauth-api's header), or a configured alias such as
//!   `X-API-Key`, checked after it;
//! - access level: `ACCESS-TOKEN` (fastauth-api's), then `Authorization: Bearer`, then,
//!   only when allowed, the `access_token` query parameter (browser WebSockets cannot
//!   set headers).

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Uri, header};

use crate::{crypto::constant_time_eq_bytes, error::AuthError};

/// Looking a header up by `&str` parses and validates the name on every request.
const MASTER_TOKEN: HeaderName = HeaderName::from_static("master-token");
const ACCESS_TOKEN: HeaderName = HeaderName::from_static("access-token");
const ACCESS_TOKEN_QUERY: &str = "access_token";

/// Up to this many header names, a name is found by comparing names (see [`first_value`]).
const SCAN_HEADERS: usize = 16;

/// The longest master token header accepted; longer ones are refused before any work.
pub(crate) const MAX_MASTER_TOKEN_LEN: usize = 1024;

/// The configured master secret, held only as the SHA-256 digest of its UTF-8 bytes
/// (configured as such, or hashed at build time), and the headers it is read from.
/// Comparing two digests of equal length tells nothing about the secret's length, which
/// comparing the tokens themselves would.
pub(crate) struct MasterSecret {
    digest: Option<[u8; 32]>,
    /// Configured as a digest (`master_token_sha256`), for the configuration log.
    given_hashed: bool,
    /// Aliases of `MASTER-TOKEN`, checked after it.
    aliases: Vec<HeaderName>,
}

impl MasterSecret {
    pub(crate) fn none() -> Self {
        Self {
            digest: None,
            given_hashed: false,
            aliases: Vec::new(),
        }
    }

    pub(crate) fn plain(token: &str) -> Self {
        Self {
            digest: Some(sha256(token)),
            ..Self::none()
        }
    }

    pub(crate) fn hashed(digest: [u8; 32]) -> Self {
        Self {
            digest: Some(digest),
            given_hashed: true,
            aliases: Vec::new(),
        }
    }

    pub(crate) fn with_aliases(self, aliases: Vec<HeaderName>) -> Self {
        Self { aliases, ..self }
    }

    pub(crate) fn is_none(&self) -> bool {
        self.digest.is_none()
    }

    pub(crate) fn given_hashed(&self) -> bool {
        self.given_hashed
    }

    /// Checks the request's master token in constant time. Without a configured master
    /// token nothing ever matches.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let presented = first_value(headers, &MASTER_TOKEN)
            .or_else(|| self.aliases.iter().find_map(|h| first_value(headers, h)))
            .ok_or(AuthError::MissingMasterToken)?;
        let presented = presented.to_str().map_err(|_| AuthError::InvalidMasterToken)?;
        if self.matches(presented) {
            Ok(())
        } else {
            Err(AuthError::InvalidMasterToken)
        }
    }

    fn matches(&self, presented: &str) -> bool {
        if presented.is_empty() || presented.len() > MAX_MASTER_TOKEN_LEN {
            return false;
        }
        self.digest
            .is_some_and(|digest| constant_time_eq_bytes(&sha256(presented), &digest))
    }
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// Finds the access token: `ACCESS-TOKEN`, then `Authorization: Bearer`, then (if
/// allowed) the `access_token` query parameter. Bytes, not text: a token seen before is
/// recognised without validating its UTF-8 again.
pub(crate) fn access_token<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
    allow_query: bool,
) -> Result<Cow<'a, [u8]>, AuthError> {
    if let Some(token) = header_token(headers) {
        return Ok(Cow::Borrowed(token));
    }
    if allow_query
        && let Some(query) = uri.query()
        && let Some((_, value)) =
            form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == ACCESS_TOKEN_QUERY)
        && !value.is_empty()
    {
        return Ok(match value {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        });
    }
    Err(AuthError::MissingAccessToken)
}

/// The token of `ACCESS-TOKEN` or `Authorization: Bearer`, without surrounding spaces.
/// A value with bytes `HeaderValue::to_str` would refuse (non-ASCII) cannot pass: tokens
/// are base64url, and nothing else is ever cached or verifies.
fn header_token(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(value) = first_value(headers, &ACCESS_TOKEN) {
        let token = value.as_bytes().trim_ascii();
        if !token.is_empty() {
            return Some(token);
        }
    }
    let value = first_value(headers, &header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at(value.iter().position(|&b| b == b' ')?);
    let token = token.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

/// The value `HeaderMap::get` returns, found without hashing `name` when the request
/// has few headers: the map hashes the name on every lookup (FNV over its bytes, more
/// than half of the lookup's cost), while comparing a usual request's dozen names is
/// mostly length checks. Iteration yields each name's first value first, as `get` does.
fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.keys_len() > SCAN_HEADERS {
        return headers.get(name);
    }
    headers.iter().find_map(|(n, value)| (n == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_master_token_is_held_and_compared_as_its_digest() {
        let secret = MasterSecret::plain("the-master-token");
        assert_eq!(secret.digest, Some(sha256("the-master-token")));
        assert!(!secret.given_hashed());
        assert!(secret.matches("the-master-token"));
        // Prefixes, extensions and other lengths: one 32-byte comparison each.
        for wrong in [
            "the-master-toke",
            "the-master-token!",
            "t",
            "THE-MASTER-TOKEN",
            &"x".repeat(1024),
        ] {
            assert!(!secret.matches(wrong), "{wrong}");
        }
        assert!(!secret.matches(""));
        assert!(!MasterSecret::none().matches("anything"));
    }

    #[test]
    fn aliases_are_read_after_master_token() {
        let secret = MasterSecret::plain("right").with_aliases(vec![HeaderName::from_static("x-api-key")]);
        let mut headers = HeaderMap::new();
        assert_eq!(secret.check(&headers), Err(AuthError::MissingMasterToken));
        headers.insert("x-api-key", "right".parse().unwrap());
        assert_eq!(secret.check(&headers), Ok(()));
        headers.insert("master-token", "wrong".parse().unwrap());
        assert_eq!(secret.check(&headers), Err(AuthError::InvalidMasterToken));
    }

    #[test]
    fn a_header_is_found_as_get_finds_it_with_few_headers_and_many() {
        for others in [0, 3, SCAN_HEADERS - 2, SCAN_HEADERS, SCAN_HEADERS + 5, 100] {
            let mut headers = HeaderMap::new();
            for i in 0..others / 2 {
                headers.insert(
                    HeaderName::try_from(format!("x-before-{i}")).unwrap(),
                    "b".parse().unwrap(),
                );
            }
            headers.append(ACCESS_TOKEN, "first".parse().unwrap());
            headers.append(ACCESS_TOKEN, "second".parse().unwrap());
            headers.append(header::AUTHORIZATION, "Bearer third".parse().unwrap());
            for i in 0..others / 2 {
                headers.insert(
                    HeaderName::try_from(format!("x-after-{i}")).unwrap(),
                    "a".parse().unwrap(),
                );
            }
            for name in [ACCESS_TOKEN, header::AUTHORIZATION, MASTER_TOKEN, header::HOST] {
                assert_eq!(
                    first_value(&headers, &name),
                    headers.get(&name),
                    "{others} {name}"
                );
            }
            assert_eq!(header_token(&headers), Some(&b"first"[..]), "{others}");
            headers.remove(ACCESS_TOKEN);
            assert_eq!(header_token(&headers), Some(&b"third"[..]), "{others}");
        }
    }

    #[test]
    fn bearer_tokens_are_found_in_any_case_of_the_scheme() {
        let uri: Uri = "/x?access_token=q".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(
            access_token(&uri, &headers, false),
            Err(AuthError::MissingAccessToken)
        );
        assert_eq!(access_token(&uri, &headers, true).unwrap().as_ref(), b"q");
        headers.insert("authorization", "bEaReR  tok ".parse().unwrap());
        assert_eq!(access_token(&uri, &headers, false).unwrap().as_ref(), b"tok");
        headers.insert("authorization", "Basic tok".parse().unwrap());
        assert_eq!(
            access_token(&uri, &headers, false),
            Err(AuthError::MissingAccessToken)
        );
        headers.insert("access-token", " first ".parse().unwrap());
        assert_eq!(access_token(&uri, &headers, false).unwrap().as_ref(), b"first");
    }
}
