//! Lower-case hex: generated keys and tokens, and the digest in a legacy session key.

use std::fmt::Write as _;

/// `bytes` as lower-case hex.
pub fn hex<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> String {
    let mut out = String::with_capacity(64);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}
