//! Case counts for the property tests: small enough for a debug build of the normal test
//! run, raised for a longer run by `PROPTEST_CASES`.

use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` per property, unless `PROPTEST_CASES` asks for another number.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // Shrunk failures are turned into named regression cases by hand, not files.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}
