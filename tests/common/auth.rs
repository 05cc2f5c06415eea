//! `FastAuth` builders with the test keys. Every one ignores the environment, so that a
//! `CRYPTOGRAPHY_KEY` or `MASTER_TOKEN` set on the machine cannot change a test.

use fastauth::{FastAuth, FastAuthBuilder, store::MemoryTokenStore};

use super::keys::{K1, K2, KEY};

/// A builder with the test key.
pub fn builder() -> FastAuthBuilder {
    builder_with_key(KEY)
}

/// A builder that signs with `key`.
pub fn builder_with_key(key: &str) -> FastAuthBuilder {
    FastAuth::builder().ignore_environment().cryptography_key(key)
}

/// [`builder`] in stored mode, the pairs in memory.
pub fn stored() -> FastAuthBuilder {
    builder().store(MemoryTokenStore::new())
}

/// `builder` with a key ring in the middle of a rotation: `k2` ([`K2`]) signs, `k1`
/// ([`K1`]) and the kid-less [`KEY`] still verify.
pub fn key_ring(builder: FastAuthBuilder) -> FastAuthBuilder {
    builder
        .cryptography_key(K2)
        .key_id("k2")
        .previous_key("k1", K1)
        .previous_key_without_kid(KEY)
}
