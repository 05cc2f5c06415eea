//! Makes `jsonwebtoken`'s crypto-backend trap impossible for users of this crate.
//!
//! jsonwebtoken 10+ picks its crypto provider from its own cargo features. With none,
//! or with both (`rust_crypto` and `aws_lc_rs`, easily reached through feature
//! unification in a user's build), it compiles and then panics at the first signature.
//! This crate selects the provider from its *own* features and installs it explicitly
//! before the first use, then proves it works with one sign-and-verify round, so a
//! broken setup is a [`ConfigError`] at build time rather than a panic at a request.

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, crypto::CryptoProvider};

use crate::error::ConfigError;

#[cfg(not(any(feature = "rust_crypto", feature = "aws_lc_rs")))]
compile_error!(
    "fastauth needs a JWT crypto backend: enable its `rust_crypto` (default) or `aws_lc_rs` feature"
);

/// The provider this build of fastauth selects. `aws_lc_rs` wins when both are enabled,
/// since it is only ever turned on deliberately.
fn selected_provider() -> &'static CryptoProvider {
    #[cfg(feature = "aws_lc_rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
}

/// The name of the backend this build selects, for logs and tests.
pub fn backend_name() -> &'static str {
    if cfg!(feature = "aws_lc_rs") {
        "aws_lc_rs"
    } else {
        "rust_crypto"
    }
}

/// Installs the selected provider (unless the application installed one first, which
/// it is free to do) and checks that signing works. Runs once per process.
pub(crate) fn ensure_ready() -> Result<(), ConfigError> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            // An `Err` means another provider is already installed: keep it, but test it.
            let _ = selected_provider().install_default();
            self_test()
        })
        .clone()
        .map_err(ConfigError::CryptoBackend)
}

fn self_test() -> Result<(), String> {
    let key = b"fastauth self-test key, not a secret, 32+ bytes";
    let message = b"eyJhbGciOiJIUzI1NiJ9.e30";
    let outcome = std::panic::catch_unwind(|| {
        let signature =
            jsonwebtoken::crypto::sign(message, &EncodingKey::from_secret(key), Algorithm::HS256)?;
        jsonwebtoken::crypto::verify(
            &signature,
            message,
            &DecodingKey::from_secret(key),
            Algorithm::HS256,
        )
    });
    match outcome {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("HS256 self-test produced a signature that does not verify".into()),
        Ok(Err(e)) => Err(format!("HS256 self-test failed: {e}")),
        Err(_) => Err(
            "jsonwebtoken panicked: a process-wide CryptoProvider that cannot sign \
                       was selected before fastauth could install one"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_selected_backend_signs_and_verifies() {
        super::ensure_ready().expect("backend usable");
        assert_eq!(
            super::backend_name(),
            if cfg!(feature = "aws_lc_rs") {
                "aws_lc_rs"
            } else {
                "rust_crypto"
            }
        );
    }
}
