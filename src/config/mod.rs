//! Configuration: one set of [`Settings`], read from code (the builder), the
//! `fastauth.config.json` file and the environment, merged once.
//!
//! Precedence, per setting: a value set in code wins over the file, which wins over the
//! environment (`MASTER_TOKEN`, `CRYPTOGRAPHY_KEY`), as fastauth-api's README documents.
//! Which source each secret came from is logged at debug level; the value never is.
//! Every problem is reported by [`FastAuthBuilder::build`], naming it.

mod builder;

use std::{collections::BTreeMap, fmt, path::Path};

use serde::Deserialize;

pub use self::builder::FastAuthBuilder;
use crate::{error::ConfigError, paths::Level, state::TokenMode};

/// An older key in the configuration file: `{"kid": "k1", "key": "…"}` (`kid` optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviousKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: String,
}

/// Declares every setting once: the struct the file is read into and the builder writes
/// into, and the merge of two of them. The names are the file's keys; the aliases are
/// the spellings fastauth-api's code and README use.
macro_rules! settings {
    ($( $(#[$meta:meta])* $name:ident: $ty:ty, )*) => {
        /// Every setting that the file, the environment or code can give.
        #[derive(Default, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct Settings {
            $( $(#[$meta])* pub(crate) $name: Option<$ty>, )*
        }

        impl Settings {
            /// Each setting from `self`, else from `lower`.
            fn over(self, lower: Settings) -> Settings {
                Settings { $( $name: self.$name.or(lower.$name), )* }
            }
        }
    };
}

settings! {
    #[serde(alias = "master-token")]
    master_token: String,
    #[serde(alias = "master-token-sha256")]
    master_token_sha256: String,
    #[serde(alias = "cryptography-key", alias = "crypto-key", alias = "crypto_key")]
    cryptography_key: String,
    #[serde(alias = "key-id")]
    key_id: String,
    #[serde(alias = "previous-keys")]
    previous_keys: Vec<PreviousKey>,
    #[serde(alias = "master_token_paths", alias = "master-token-paths", alias = "master-paths")]
    master_paths: Vec<String>,
    #[serde(alias = "access_token_paths", alias = "access-token-paths", alias = "access-paths")]
    access_paths: Vec<String>,
    #[serde(alias = "public-paths")]
    public_paths: Vec<String>,
    #[serde(alias = "default-level")]
    default_level: Level,
    #[serde(alias = "token-mode")]
    token_mode: TokenMode,
    #[serde(alias = "token-prefix")]
    token_prefix: String,
    #[serde(alias = "access-token-lifetime-secs")]
    access_token_lifetime_secs: u64,
    #[serde(alias = "refresh-token-lifetime-secs")]
    refresh_token_lifetime_secs: u64,
    #[serde(alias = "leeway-secs")]
    leeway_secs: u64,
    #[serde(alias = "query_token", alias = "query-token", alias = "allow-query-token")]
    allow_query_token: bool,
    #[serde(alias = "store-cache-ttl-secs")]
    store_cache_ttl_secs: u64,
    #[serde(alias = "token-cache-capacity")]
    token_cache_capacity: usize,
    #[serde(alias = "database-api-url", alias = "database_api_url", alias = "database-api-path")]
    database_api_path: String,
    #[serde(alias = "headers", alias = "database-api-headers")]
    database_api_headers: BTreeMap<String, String>,
    /// Accepted for compatibility and ignored: fastauth-api uses it for its OpenAPI title.
    #[serde(alias = "app-name")]
    app_name: String,
}

impl Settings {
    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ConfigError::ParseFile {
            path: path.to_owned(),
            source,
        })
    }

    /// fastauth-api's environment fallbacks.
    fn from_environment() -> Self {
        let var = |name| std::env::var(name).ok();
        Settings {
            master_token: var("MASTER_TOKEN"),
            cryptography_key: var("CRYPTOGRAPHY_KEY"),
            ..Settings::default()
        }
    }
}

/// The three sources, merged once: code over file over environment.
pub(crate) struct Sources {
    code: Settings,
    file: Settings,
    environment: Settings,
}

impl Sources {
    /// Where the effective value of a setting came from, for the configuration log.
    fn source_of(&self, set: impl Fn(&Settings) -> bool) -> Source {
        if set(&self.code) {
            Source::Code
        } else if set(&self.file) {
            Source::File
        } else if set(&self.environment) {
            Source::Environment
        } else {
            Source::Unset
        }
    }

    fn merge(self) -> Settings {
        self.code.over(self.file).over(self.environment)
    }
}

/// Where a setting's effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Code,
    File,
    Environment,
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Code => "code",
            Source::File => "config file",
            Source::Environment => "environment",
            Source::Unset => "unset",
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FastAuth, Level, store::MemoryTokenStore};

    const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

    fn write(json: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(json)
    }

    /// A tiny temp-file helper so the unit tests need no extra crate.
    mod tempfile_path {
        use std::path::PathBuf;
        pub(super) struct TempPath(pub(super) PathBuf);
        impl TempPath {
            pub(super) fn with(text: &str) -> Self {
                let path = std::env::temp_dir().join(format!(
                    "fastauth-config-{}-{}.json",
                    std::process::id(),
                    crate::token::random_client_id()
                ));
                std::fs::write(&path, text).unwrap();
                Self(path)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn both_key_spellings_are_read() {
        let snake = write(&format!(
            r#"{{"master_token":"m","cryptography_key":"{KEY}","master_token_paths":["/master"],"access_token_paths":["/access"]}}"#
        ));
        let hyphen = write(&format!(
            r#"{{"master-token":"m","cryptography-key":"{KEY}","master-token-paths":["/master"],"access-token-paths":["/access"],"app-name":"x","headers":{{"X-A":"1"}}}}"#
        ));
        for file in [&snake, &hyphen] {
            let auth = FastAuth::from_file(&file.0)
                .unwrap()
                .ignore_environment()
                .stateless()
                .build()
                .unwrap();
            assert_eq!(auth.level_for("/master/x"), crate::Level::Master);
            assert_eq!(auth.level_for("/access/x"), crate::Level::Access);
        }
    }

    #[test]
    fn deny_by_default_from_the_file_and_the_token_endpoints_stay_reachable() {
        let file = write(&format!(
            r#"{{"cryptography_key":"{KEY}","token_mode":"stateless","default_level":"access","public_paths":["/health"],"master_paths":["/admin"],"master_token":"m"}}"#
        ));
        let auth = FastAuth::from_file(&file.0)
            .unwrap()
            .ignore_environment()
            .build()
            .unwrap();
        assert_eq!(auth.level_for("/health"), Level::Public);
        assert_eq!(auth.level_for("/new-route"), Level::Access);
        assert_eq!(auth.level_for("/admin"), Level::Master);
        // The token router checks its own credentials.
        assert_eq!(auth.level_for("/auth/token/refresh"), Level::Public);
        assert_eq!(auth.level_for("/auth/token/new"), Level::Public);
        assert_eq!(auth.level_for("/auth/other"), Level::Access);
    }

    #[test]
    fn code_wins_over_file() {
        let file = write(&format!(
            r#"{{"master_token":"file","cryptography_key":"{KEY}","access_token_paths":["/file"]}}"#
        ));
        let auth = FastAuth::from_file(&file.0)
            .unwrap()
            .ignore_environment()
            .access_paths(["/code"])
            .stateless()
            .build()
            .unwrap();
        assert_eq!(auth.level_for("/code"), crate::Level::Access);
        assert_eq!(auth.level_for("/file"), crate::Level::Public);
    }

    #[test]
    fn problems_are_named_at_build_time() {
        let err = FastAuth::builder().ignore_environment().build().unwrap_err();
        assert!(matches!(err, ConfigError::MissingKey), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key("short")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .master_token("  ")
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::EmptyMasterToken), "{err}");
        for padded in [" token", "token ", "token\n", "\ttoken"] {
            let err = FastAuth::builder()
                .ignore_environment()
                .cryptography_key(KEY)
                .master_token(padded)
                .build()
                .unwrap_err();
            assert!(
                err.to_string().contains("master_token") && err.to_string().contains("whitespace"),
                "{padded:?}: {err}"
            );
        }
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .master_paths(["/admin"])
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::MasterPathsWithoutMasterToken), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .access_paths(["api"])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("\"api\""), "{err}");
        let err = FastAuth::from_file(Path::new("/nonexistent/fastauth.config.json")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/fastauth.config.json"),
            "{err}"
        );
        let bad = write(r#"{"master_token": 3}"#);
        let err = FastAuth::from_file(&bad.0).unwrap_err();
        assert!(matches!(err, ConfigError::ParseFile { .. }), "{err}");
        let typo = write(r#"{"master_tokn": "x"}"#);
        let err = FastAuth::from_file(&typo.0).unwrap_err();
        assert!(err.to_string().contains("master_tokn"), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .token_prefix("auth")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("token_prefix"), "{err}");
        // Stored mode needs a store; stateless mode refuses one.
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::MissingStore), "{err}");
        assert!(err.to_string().contains("FastAuthBuilder::store"), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .stateless()
            .store(MemoryTokenStore::new())
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("stateless"), "{err}");
        let err = FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .stateless()
            .default_level(Level::Master)
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::MasterPathsWithoutMasterToken), "{err}");
        let bad_level = write(&format!(
            r#"{{"cryptography_key":"{KEY}","default_level":"admin"}}"#
        ));
        let err = FastAuth::from_file(&bad_level.0).unwrap_err();
        assert!(err.to_string().contains("admin"), "{err}");
    }

    #[cfg(not(feature = "http_store"))]
    #[test]
    fn a_database_url_without_the_http_store_feature_is_a_clear_error() {
        let error = FastAuth::builder()
            .cryptography_key(KEY)
            .database_api_path("http://127.0.0.1:6789/db/data")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                error,
                crate::ConfigError::FeatureDisabled {
                    field: "database_api_path",
                    feature: "http_store"
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains(r#"features = ["http_store"]"#),
            "{error}"
        );
    }
}
