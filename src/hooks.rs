//! Not part of the API: entry points for fastauth's own tests, fuzz targets, benchmarks
//! and command-line tool, which need the token codec directly. They may change in any
//! release without notice.

pub use crate::token::{ClaimsData, codec::TokenCodec};
use crate::{FastAuth, token::Claims};

/// The codec that signs and verifies `auth`'s tokens.
pub fn codec(auth: &FastAuth) -> &TokenCodec {
    &auth.shared().codec
}

/// The codec (and the configured mode) of a builder, without anything else the builder
/// would need for a whole [`FastAuth`]: no store, no paths, no master token.
pub fn build_codec(
    builder: crate::FastAuthBuilder,
) -> Result<(TokenCodec, crate::TokenMode), crate::ConfigError> {
    builder.build_codec()
}

/// Claims made up for a test (to sign with [`TokenCodec::sign`]).
pub fn claims(data: ClaimsData) -> Claims {
    Claims::new(data)
}

/// The layer's check of an access token's signature and claims (the verified-token cache
/// included), without the store lookup of stored mode.
pub fn verify_access_token(auth: &FastAuth, token: &str) -> Result<Claims, crate::AuthError> {
    crate::authorize::verify_access_token(auth.shared(), token.as_bytes()).map(|verified| verified.claims)
}
