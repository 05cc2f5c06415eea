//! Configuration from the environment and a `.env` file.
//!
//! Names are upper case, as the old project documented them (its settings silently
//! ignored upper-case names; here they are the primary spelling). A lower-case spelling
//! is still read as a fallback, so that the old project's `.env` files keep working.
//! The environment wins over `.env`. Every bad value stops the start with a message
//! that names the variable.

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
};

/// Every variable: name, default, meaning. `--help` and the README print this table.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "sqlite:///./data/tokens.db",
        "SQLite database file: sqlite:///relative/path, sqlite:////absolute/path or a plain path",
    ),
    (
        "ACCESS_LOG_DATABASE_URL",
        "<database file>.logs.db",
        "SQLite file of the access log (same forms as DATABASE_URL); next to the database by \
         default, e.g. ./data/tokens.logs.db",
    ),
    (
        "AUTH_DURATION",
        "180",
        "seconds sent as X-AuthDuration: Flussonic re-checks a session after this long",
    ),
    (
        "SESSION_GRACE",
        "60",
        "seconds a session outlives X-AuthDuration, so that a late re-check is still a re-check",
    ),
    (
        "SESSION_CLEANUP_INTERVAL",
        "60",
        "seconds between background deletions of expired sessions and old access logs",
    ),
    (
        "LOG_LEVEL",
        "info",
        "error, warn, info, debug or trace (or a tracing filter such as info,tower_http=debug)",
    ),
    (
        "ENABLE_ACCESS_LOGS",
        "true",
        "write every /auth decision to the access log (true/false); rows are written a few \
         milliseconds after the answer, see ACCESS_LOG_DATABASE_URL",
    ),
    (
        "ACCESS_LOG_RETENTION_DAYS",
        "30",
        "delete access logs older than this many days; 0 keeps them forever",
    ),
    ("API_HOST", "0.0.0.0", "address to listen on"),
    ("API_PORT", "8080", "port to listen on"),
    (
        "API_KEY",
        "(generated)",
        "management API key, sent as X-API-Key or MASTER-TOKEN; when unset, one is generated \
         on first start and kept in API_KEY_FILE",
    ),
    (
        "API_KEY_FILE",
        "<database directory>/api_key",
        "where the generated management key is kept (mode 0600)",
    ),
    (
        "MAX_BODY_BYTES",
        "65536",
        "largest accepted request body; larger management bodies get 413",
    ),
];

/// The effective configuration.
#[derive(Clone)]
pub struct Config {
    /// The SQLite database file.
    pub database_path: PathBuf,
    /// The access log's SQLite file.
    pub log_database_path: PathBuf,
    /// Seconds sent as `X-AuthDuration`.
    pub auth_duration: u64,
    /// Seconds a session row outlives `X-AuthDuration`.
    pub session_grace: u64,
    /// Seconds between background cleanups.
    pub session_cleanup_interval: u64,
    /// A tracing filter.
    pub log_level: String,
    /// Whether `/auth` decisions are written to `access_logs`.
    pub enable_access_logs: bool,
    /// Days access logs are kept (0: forever).
    pub access_log_retention_days: u32,
    /// Listen address.
    pub api_host: String,
    /// Listen port.
    pub api_port: u16,
    /// The management key, when configured.
    pub api_key: Option<String>,
    /// Where a generated management key is kept.
    pub api_key_file: PathBuf,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_path", &self.database_path)
            .field("log_database_path", &self.log_database_path)
            .field("auth_duration", &self.auth_duration)
            .field("session_grace", &self.session_grace)
            .field("session_cleanup_interval", &self.session_cleanup_interval)
            .field("log_level", &self.log_level)
            .field("enable_access_logs", &self.enable_access_logs)
            .field("access_log_retention_days", &self.access_log_retention_days)
            .field("api_host", &self.api_host)
            .field("api_port", &self.api_port)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_file", &self.api_key_file)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable (or file) at fault.
    pub variable: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The process environment over `./.env` (when present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let dotenv = read_dotenv(Path::new(".env"))?;
        Self::from_sources(|name| std::env::var(name).ok(), &dotenv)
    }

    /// Reads every variable from `env`, then from `dotenv`: the upper-case name first,
    /// then its lower-case spelling, in each.
    pub fn from_sources(
        env: impl Fn(&str) -> Option<String>,
        dotenv: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let in_env = |name: &str| env(name).or_else(|| env(&name.to_ascii_lowercase()));
        let in_file = |name: &str| {
            dotenv
                .get(name)
                .or_else(|| dotenv.get(&name.to_ascii_lowercase()))
                .cloned()
        };
        let get = |name: &str| in_env(name).or_else(|| in_file(name));
        let database_path = match get("DATABASE_URL") {
            Some(url) => database_path(&url).map_err(|m| err("DATABASE_URL", &url, &m))?,
            None => PathBuf::from("./data/tokens.db"),
        };
        let log_database_path = match get("ACCESS_LOG_DATABASE_URL") {
            Some(url) => self::database_path(&url).map_err(|m| err("ACCESS_LOG_DATABASE_URL", &url, &m))?,
            None => log_path_beside(&database_path),
        };
        if log_database_path == database_path {
            return Err(err(
                "ACCESS_LOG_DATABASE_URL",
                &log_database_path.display().to_string(),
                "must be another file than DATABASE_URL",
            ));
        }
        let auth_duration = number(&get, "AUTH_DURATION", 180, 1, 7 * 24 * 3600)?;
        let session_grace = number(&get, "SESSION_GRACE", 60, 0, 24 * 3600)?;
        let session_cleanup_interval = number(&get, "SESSION_CLEANUP_INTERVAL", 60, 1, 24 * 3600)?;
        let access_log_retention_days = number(&get, "ACCESS_LOG_RETENTION_DAYS", 30, 0, 100 * 365)? as u32;
        let max_body_bytes = number(&get, "MAX_BODY_BYTES", 65536, 1024, 64 * 1024 * 1024)? as usize;
        let api_port = number(&get, "API_PORT", 8080, 0, 65535)? as u16;
        let enable_access_logs = match get("ENABLE_ACCESS_LOGS") {
            Some(v) => boolean(&v).ok_or_else(|| err("ENABLE_ACCESS_LOGS", &v, "expected true or false"))?,
            None => true,
        };
        let log_level = match get("LOG_LEVEL") {
            Some(v) => log_filter(&v).ok_or_else(|| {
                err(
                    "LOG_LEVEL",
                    &v,
                    "expected error, warn, info, debug, trace or a tracing filter",
                )
            })?,
            None => "info".to_owned(),
        };
        let api_host = match get("API_HOST") {
            Some(v) if v.trim().is_empty() => return Err(err("API_HOST", &v, "must not be empty")),
            Some(v) => v.trim().to_owned(),
            None => "0.0.0.0".to_owned(),
        };
        // An empty API_KEY (a `.env` template's `API_KEY=`) means "not configured":
        // a key is then generated, and management is never left open.
        let api_key = get("API_KEY")
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        let api_key_file = match get("API_KEY_FILE") {
            Some(v) if v.trim().is_empty() => return Err(err("API_KEY_FILE", &v, "must not be empty")),
            Some(v) => PathBuf::from(v.trim()),
            None => database_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join("api_key"),
        };
        Ok(Self {
            database_path,
            log_database_path,
            auth_duration,
            session_grace,
            session_cleanup_interval,
            log_level,
            enable_access_logs,
            access_log_retention_days,
            api_host,
            api_port,
            api_key,
            api_key_file,
            max_body_bytes,
        })
    }

    /// The text printed by `--help`.
    pub fn help() -> String {
        let mut out = String::from(
            "flussonic_backend: a Flussonic Media Server authorization backend (on_play / on_publish)\n\n\
             Usage: flussonic_backend [--help]\n\n\
             Configuration comes from environment variables and a .env file in the working\n\
             directory (the environment wins):\n\n",
        );
        for (name, default, meaning) in VARIABLES {
            out.push_str(&format!(
                "  {name:<27} {meaning}\n  {:<27} default: {default}\n",
                ""
            ));
        }
        out.push_str(
            "\nEndpoints: /auth (Flussonic), /api/* (management, X-API-Key or MASTER-TOKEN),\n\
             /health, /metrics (Prometheus).\n",
        );
        out
    }
}

fn err(variable: &str, value: &str, message: &str) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: format!("{value:?}: {message}"),
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(
            name,
            &raw,
            &format!("expected a whole number from {min} to {max}"),
        )),
    }
}

fn boolean(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn log_filter(raw: &str) -> Option<String> {
    let level = raw.trim().to_ascii_lowercase();
    let level = match level.as_str() {
        "warning" => "warn",
        "critical" | "fatal" => "error",
        other => other,
    };
    if matches!(level, "error" | "warn" | "info" | "debug" | "trace" | "off") {
        return Some(level.to_owned());
    }
    tracing_subscriber::EnvFilter::try_new(raw.trim())
        .ok()
        .map(|_| raw.trim().to_owned())
}

/// `sqlite:///relative`, `sqlite:////absolute` (SQLAlchemy's spelling, with or
/// without a `+driver`), `sqlite:relative`, or a plain path.
fn database_path(url: &str) -> Result<PathBuf, String> {
    let url = url.trim();
    let path = match url.split_once(':') {
        Some((scheme, rest)) if scheme.starts_with("sqlite") => {
            let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
            match rest.strip_prefix("//") {
                // sqlite:///x → "/x" after the authority (empty) → relative "x";
                // sqlite:////x → "//x" → absolute "/x".
                Some(after) => after.strip_prefix('/').unwrap_or(after).to_owned(),
                None => rest.to_owned(),
            }
        }
        Some((scheme, _)) if scheme.len() > 1 && !scheme.contains(['/', '\\', '.']) => {
            return Err(format!(
                "unsupported scheme {scheme:?}: only SQLite files are supported"
            ));
        }
        _ => url.to_owned(),
    };
    if path.is_empty() || path == ":memory:" {
        return Err("expected a database file path (an in-memory database would lose everything)".into());
    }
    Ok(PathBuf::from(path))
}

/// `dir/name.db` → `dir/name.logs.db` (also without an extension: `dir/name.logs.db`).
fn log_path_beside(database: &Path) -> PathBuf {
    let stem = database
        .file_stem()
        .map_or_else(|| "tokens".into(), |s| s.to_string_lossy().into_owned());
    database.with_file_name(format!("{stem}.logs.db"))
}

/// Reads `KEY=value` lines (with `export`, quotes and comments as dotenv files have them).
pub fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(e) if e.not_found() => return Ok(HashMap::new()),
        Err(e) => {
            return Err(ConfigError {
                variable: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    iter.map(|item| {
        item.map_err(|e| ConfigError {
            variable: path.display().to_string(),
            message: e.to_string(),
        })
    })
    .collect()
}
