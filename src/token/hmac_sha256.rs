//! HMAC-SHA256 (RFC 2104) over SHA-256's block function, for signing and verifying tokens.
//!
//! The key's inner and outer pads are hashed once, when the key is loaded; a signature
//! then costs the message's blocks and one outer block, hashed straight from the token's
//! bytes. The `hmac` crate does the same arithmetic but clones and zeroizes a ~200-byte
//! state and buffers the message on every call, which was a tenth of a verification in
//! the profile. The RFC 4231 vectors and a comparison with the `hmac` crate on random
//! keys and messages (tests below) hold it to the standard.

use sha2::{Digest, Sha256, block_api::compress256};

const BLOCK: usize = 64;

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A key whose pads are already hashed.
#[derive(Clone)]
pub(crate) struct HmacSha256 {
    /// SHA-256's state after the block `key ^ ipad`.
    inner: [u32; 8],
    /// SHA-256's state after the block `key ^ opad`.
    outer: [u32; 8],
}

impl HmacSha256 {
    /// Any key length works: a key longer than a block is hashed first, as RFC 2104 says.
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let digest: [u8; 32] = Sha256::digest(key).into();
            copy_into(&mut block, &digest);
        } else {
            copy_into(&mut block, key);
        }
        let mut inner = INITIAL_STATE;
        compress256(&mut inner, &[block.map(|b| b ^ 0x36)]);
        let mut outer = INITIAL_STATE;
        compress256(&mut outer, &[block.map(|b| b ^ 0x5c)]);
        Self { inner, outer }
    }

    /// The MAC of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 32] {
        let inner = finish(self.inner, message);
        finish(self.outer, &inner)
    }
}

/// Completes a SHA-256 whose state has absorbed one block already: `message`'s whole
/// blocks in place, then the rest with the padding and the total length in bits.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "lengths of in-memory messages: far from overflowing a u64 of bits"
)]
fn finish(mut state: [u32; 8], message: &[u8]) -> [u8; 32] {
    let (blocks, rest) = message.as_chunks::<BLOCK>();
    compress256(&mut state, blocks);
    // The rest, 0x80, zeros, and the 64-bit length: one block, or two when the rest
    // leaves no room for the length.
    let mut tail = [0u8; 2 * BLOCK];
    copy_into(&mut tail, rest);
    if let Some(marker) = tail.get_mut(rest.len()) {
        *marker = 0x80;
    }
    let tail_len = if rest.len() + 9 <= BLOCK { BLOCK } else { 2 * BLOCK };
    let bits = ((BLOCK + message.len()) as u64) * 8;
    if let Some(length) = tail.get_mut(tail_len - 8..tail_len) {
        length.copy_from_slice(&bits.to_be_bytes());
    }
    let (tail_blocks, _) = tail.get(..tail_len).unwrap_or_default().as_chunks::<BLOCK>();
    compress256(&mut state, tail_blocks);
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.as_chunks_mut::<4>().0.iter_mut().zip(state) {
        *bytes = word.to_be_bytes();
    }
    digest
}

/// Copies `from` to the start of `to` (which the callers size to hold it).
fn copy_into(to: &mut [u8], from: &[u8]) {
    if let Some(start) = to.get_mut(..from.len()) {
        start.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use hmac::{KeyInit, Mac};
    use proptest::prelude::*;

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn reference(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// RFC 4231, section 4: test cases 1 to 4, 6 and 7 (5 truncates the output).
    #[test]
    fn rfc_4231_vectors() {
        let long_key = vec![0xaa; 131];
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                long_key.clone(),
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. \
                  The key needs to be hashed before being used by the HMAC algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, message, expected) in cases {
            assert_eq!(
                HmacSha256::new(&key).sign(&message).to_vec(),
                hex(expected),
                "{}",
                String::from_utf8_lossy(&message)
            );
        }
    }

    /// Every message length around the block and padding boundaries.
    #[test]
    fn agrees_with_the_hmac_crate_at_every_length_up_to_300() {
        let key = b"k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
        let message: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let mac = HmacSha256::new(key);
        for len in 0..=message.len() {
            assert_eq!(
                mac.sign(&message[..len]),
                reference(key, &message[..len]),
                "{len}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_hmac_crate(
            key in proptest::collection::vec(any::<u8>(), 0..200),
            message in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            prop_assert_eq!(HmacSha256::new(&key).sign(&message), reference(&key, &message));
        }
    }
}
