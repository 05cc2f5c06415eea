//! Arbitrary bytes as a token: the fast verifier must agree with the jsonwebtoken
//! reference on every input, for both token types and both setups, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    // Header values reach the layer as bytes; the layer only sees valid UTF-8, but the
    // codec's API takes any `&str`, so invalid input is tried in its lossy form too.
    let token = String::from_utf8_lossy(data);
    for setup in common::setups() {
        common::check_agreement(setup, &token);
    }
});
