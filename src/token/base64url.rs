//! Unpadded base64url decoding for the verifier's fast path.
//!
//! The `base64` crate's general-purpose engine took a third of a token's verification
//! (1,760 of 4,512 instructions per token, callgrind): it is written for every alphabet
//! and padding mode. This decoder knows one, and accepts exactly what
//! `URL_SAFE_NO_PAD.decode` accepts, with the same bytes out (no padding, no length of
//! 4n + 1, no set trailing bits), which a property test checks against the crate. The
//! fast path falls back to the general path on `None`, so refusing more would only cost
//! time; accepting more would be a bypass.

/// An input byte's 6-bit value shifted to its place in a group of four characters, one
/// table per place, or `INVALID` (a bit above the 24 a group fills): a group is four
/// loads and three ORs, and one test finds an invalid byte anywhere in it.
const INVALID: u32 = 1 << 31;

#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "evaluated at compile time: an index out of bounds or an overflow is a build error, not a panic"
)]
const fn table(shift: u32) -> [u32; 256] {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = (i as u32) << shift;
        i += 1;
    }
    table
}

const PLACES: [[u32; 256]; 4] = [table(18), table(12), table(6), table(0)];

/// `byte`'s value in place `place` (0 to 3) of a group.
fn value(place: usize, byte: u8) -> u32 {
    // Tables of 256 entries: the lookup never misses, and compiles to one load.
    PLACES
        .get(place)
        .and_then(|table| table.get(usize::from(byte)))
        .copied()
        .unwrap_or(INVALID)
}

/// How many bytes `len` base64url characters decode to, or `None` for a length no
/// unpadded encoding has.
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    let whole = (len / 4).checked_mul(3)?;
    match len % 4 {
        0 => Some(whole),
        2 => whole.checked_add(1),
        3 => whole.checked_add(2),
        _ => None,
    }
}

/// Decodes `input` into the front of `out` and returns the decoded length; `None` if
/// `input` is not unpadded base64url or `out` is too short.
pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = decoded_len(input.len())?;
    let out = out.get_mut(..len)?;
    let mut quads = input.chunks_exact(4);
    let mut triples = out.chunks_exact_mut(3);
    for (quad, triple) in (&mut quads).zip(&mut triples) {
        let (&[a, b, c, d], [x, y, z]) = (quad, triple) else {
            return None; // chunks of exactly 4 and 3: never taken
        };
        let n = value(0, a) | value(1, b) | value(2, c) | value(3, d);
        if n & INVALID != 0 {
            return None;
        }
        let [_, high, middle, low] = n.to_be_bytes();
        (*x, *y, *z) = (high, middle, low);
    }
    match (quads.remainder(), triples.into_remainder()) {
        ([], []) => {}
        (&[a, b], [x]) => {
            let n = value(0, a) | value(1, b);
            // 12 bits for one byte: the 4 left over must be zero.
            if n & INVALID != 0 || n & 0xf000 != 0 {
                return None;
            }
            *x = (n >> 16) as u8;
        }
        (&[a, b, c], [x, y]) => {
            let n = value(0, a) | value(1, b) | value(2, c);
            // 18 bits for two bytes: the 2 left over must be zero.
            if n & INVALID != 0 || n & 0xc0 != 0 {
                return None;
            }
            (*x, *y) = ((n >> 16) as u8, (n >> 8) as u8);
        }
        _ => return None,
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use proptest::prelude::*;

    use super::*;

    fn ours(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; input.len()];
        let len = decode_into(input, &mut out)?;
        out.truncate(len);
        Some(out)
    }

    fn theirs(input: &[u8]) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(input).ok()
    }

    #[test]
    fn known_inputs() {
        for (input, expected) in [
            ("", Some(&b""[..])),
            ("Zg", Some(b"f")),
            ("Zm8", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("Zm9vYg", Some(b"foob")),
            ("-_-_", Some(&[0xfb, 0xff, 0xbf][..])),
            ("Zh", None),     // trailing bits set
            ("Zm9", None),    // trailing bits set
            ("Z", None),      // 4n + 1
            ("Zg==", None),   // padding
            ("Zm+v", None),   // the standard alphabet's `+`
            ("Zm/v", None),   // and its `/`
            ("Zm.v", None),   // a dot: a token's separator
            ("Zm9v\n", None), // whitespace
        ] {
            assert_eq!(ours(input.as_bytes()).as_deref(), expected, "{input:?}");
            assert_eq!(
                theirs(input.as_bytes()).as_deref(),
                expected,
                "{input:?} (base64)"
            );
        }
    }

    #[test]
    fn a_short_output_is_refused() {
        assert_eq!(decode_into(b"Zm9v", &mut [0u8; 2]), None);
        assert_eq!(decode_into(b"Zm9v", &mut [0u8; 3]), Some(3));
    }

    proptest! {
        #[test]
        fn decodes_exactly_what_the_base64_crate_decodes(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            noise in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            // Valid encodings, and the same with a few bytes replaced by anything.
            let mut input = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            prop_assert_eq!(ours(&input), Some(bytes));
            for (at, byte) in noise {
                if !input.is_empty() {
                    let at = at.index(input.len());
                    input[at] = byte;
                }
            }
            prop_assert_eq!(ours(&input), theirs(&input));
        }

        #[test]
        fn any_bytes_decode_as_the_base64_crate_decodes_them(
            input in proptest::collection::vec(
                prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.".to_vec()),
                0..40,
            ),
        ) {
            prop_assert_eq!(ours(&input), theirs(&input));
        }
    }
}
