//! The secrets the tests configure. None of them is secret: they only have to be valid.

/// A Fernet-shaped key: its UTF-8 bytes (not its base64 decoding) are the HMAC key.
pub const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
/// A valid key that no test server is configured with: what a forger signs with.
pub const OTHER_KEY: &str = "Zm9yZ2VkIGtleSwgbm90IHRoZSBzZXJ2ZXIncyBrZXk=";
/// A master token long enough to be a real one.
pub const MASTER: &str = "a-long-random-master-token-0123456789";

/// A key ring for rotation: `k1` the previous key, `k2` the current one, `k3` a key
/// that [`key_ring`](super::auth::key_ring) never configures.
pub const K1: &str = "first-key-0123456789-0123456789-0123456789";
pub const K2: &str = "second-key-0123456789-0123456789-0123456789";
pub const K3: &str = "third-key-0123456789-0123456789-0123456789";
