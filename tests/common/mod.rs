//! Fixtures shared by the integration tests: keys, servers on 127.0.0.1 that count what
//! reaches their handlers, and a raw HTTP/1.1 client that sends a request target exactly
//! as written.
//!
//! Each test crate declares `mod common;` and uses what it needs, hence the allowance.
#![allow(dead_code)]

pub mod raw_http;
pub mod server;

/// A Fernet-shaped key: its UTF-8 bytes (not its base64 decoding) are the HMAC key.
pub const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
/// A master token long enough to be a real one.
pub const MASTER: &str = "a-long-random-master-token-0123456789";

/// A builder with the test key and no environment fallbacks.
pub fn builder() -> fastauth::FastAuthBuilder {
    fastauth::FastAuth::builder()
        .ignore_environment()
        .cryptography_key(KEY)
}

/// [`builder`] in stored mode, the pairs in memory.
pub fn stored() -> fastauth::FastAuthBuilder {
    builder().store(fastauth::store::MemoryTokenStore::new())
}
