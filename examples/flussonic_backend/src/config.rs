//! Configuration: every setting is declared once, in `Settings` below (its environment
//! variable, its command-line flag, its default and its meaning, which `--help` prints),
//! and read from, by precedence: the command line, the environment, a `.env` file in the
//! working directory, the default.
//!
//! Variable names are upper case, as the old project documented them (its settings
//! silently ignored upper-case names; here they are the primary spelling). A lower-case
//! spelling is still read after the upper-case one, so that the old project's `.env`
//! files keep working. clap's own environment lookup knows neither `.env` nor lower
//! case, so this module looks every variable up itself and hands clap what it found as
//! the setting's default: one parser then checks every source alike, and a bad value
//! stops the start with a message that names the variable.

use std::{
    collections::HashMap,
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
};

use clap::{
    ArgAction, CommandFactory, FromArgMatches, Parser,
    error::{ContextKind, ContextValue, ErrorKind},
};

/// What `--help` adds after the settings.
const AFTER_HELP: &str = "\
Every setting can also be given as the environment variable shown with it, or in a .env
file in the working directory: the command line wins over the environment, the
environment over .env. Lower-case variable names (the Python backend's) are read too.

Endpoints: /auth (Flussonic), /api/* (management, X-API-Key or MASTER-TOKEN),
/health, /metrics (Prometheus).";

/// The settings as declared: one field each, with its variable, flag, default and meaning.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "flussonic_backend",
    version,
    about = "A Flussonic Media Server authorization backend (on_play / on_publish)",
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
struct Settings {
    /// What to do instead of serving (none: serve)
    #[command(subcommand)]
    command: Option<Command>,

    /// SQLite database file: sqlite:///relative/path, sqlite:////absolute/path or a plain path
    /// (the directory is created)
    #[arg(long, env = "DATABASE_URL", value_name = "URL", default_value = "sqlite:///./data/tokens.db",
          value_parser = database_path)]
    database_url: PathBuf,

    /// SQLite file of the access log (same forms as DATABASE_URL; must be another file)
    /// [default: beside the database, e.g. ./data/tokens.logs.db]
    #[arg(long, env = "ACCESS_LOG_DATABASE_URL", value_name = "URL", value_parser = database_path)]
    access_log_database_url: Option<PathBuf>,

    /// Seconds sent as X-AuthDuration: Flussonic re-checks a session after this long
    #[arg(long, env = "AUTH_DURATION", value_name = "SECONDS", default_value_t = 180,
          value_parser = whole_number::<u64>(1, 7 * 24 * 3600))]
    auth_duration: u64,

    /// Seconds a session outlives X-AuthDuration, so that a late re-check is still a re-check
    #[arg(long, env = "SESSION_GRACE", value_name = "SECONDS", default_value_t = 60,
          value_parser = whole_number::<u64>(0, 24 * 3600))]
    session_grace: u64,

    /// Seconds between background deletions of expired sessions and old access logs
    #[arg(long, env = "SESSION_CLEANUP_INTERVAL", value_name = "SECONDS", default_value_t = 60,
          value_parser = whole_number::<u64>(1, 24 * 3600))]
    session_cleanup_interval: u64,

    /// error, warn, info, debug or trace (or a tracing filter such as info,fastauth=debug)
    #[arg(long, env = "LOG_LEVEL", value_name = "FILTER", default_value = "info", value_parser = log_filter)]
    log_level: String,

    /// Write every /auth decision to the access log (true/false, 1/0, yes/no, on/off); rows
    /// are written a few milliseconds after the answer
    #[arg(long, env = "ENABLE_ACCESS_LOGS", value_name = "BOOL", default_value_t = true,
          action = ArgAction::Set, value_parser = boolean)]
    enable_access_logs: bool,

    /// Delete access logs older than this many days; 0 keeps them forever
    #[arg(long, env = "ACCESS_LOG_RETENTION_DAYS", value_name = "DAYS", default_value_t = 30,
          value_parser = whole_number::<u32>(0, 100 * 365))]
    access_log_retention_days: u32,

    /// Keep at most this many access-log rows (the oldest go first, at each cleanup); 0: no bound
    #[arg(long, env = "ACCESS_LOG_MAX_ROWS", value_name = "ROWS", default_value_t = 0,
          value_parser = whole_number::<u64>(0, i64::MAX as u64))]
    access_log_max_rows: u64,

    /// Keep the access log's rows within this much space in its file, in bytes or with a
    /// suffix K, M, G, T (powers of 1024), e.g. 2G (the oldest go first, at each cleanup); 0: no bound
    #[arg(long, env = "ACCESS_LOG_MAX_SIZE", value_name = "SIZE", default_value = "0", value_parser = log_size)]
    access_log_max_size: u64,

    /// Write routine re-checks (session_recheck) to the access log too; new sessions and
    /// denials are always written
    #[arg(long, env = "ACCESS_LOG_RECHECKS", value_name = "BOOL", default_value_t = true,
          action = ArgAction::Set, value_parser = boolean)]
    access_log_rechecks: bool,

    /// Address to listen on
    #[arg(long, env = "API_HOST", value_name = "ADDRESS", default_value = "0.0.0.0", value_parser = not_empty)]
    api_host: String,

    /// Port to listen on
    #[arg(long, env = "API_PORT", value_name = "PORT", default_value_t = 8080,
          value_parser = whole_number::<u16>(0, 65535))]
    api_port: u16,

    /// Management API key, sent as X-API-Key or MASTER-TOKEN; when unset or empty, one is
    /// generated on first start and kept in API_KEY_FILE
    #[arg(long, env = "API_KEY", value_name = "KEY")]
    api_key: Option<String>,

    /// Where the generated management key is kept (mode 0600)
    /// [default: <database directory>/api_key]
    #[arg(long, env = "API_KEY_FILE", value_name = "PATH", value_parser = not_empty)]
    api_key_file: Option<String>,

    /// Largest accepted request body, in bytes; larger management bodies get 413
    #[arg(long, env = "MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 65536,
          value_parser = whole_number::<usize>(1024, 64 * 1024 * 1024))]
    max_body_bytes: usize,
}

/// A job to run instead of serving, with the same configuration.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Copy the Python backend's tokens (and access log) into this backend's database
    ///
    /// Copies the tokens (and, with --access-logs, the access log) of the Python "Flussonic
    /// Auth Backend"'s SQLite database into this backend's database (DATABASE_URL,
    /// ACCESS_LOG_DATABASE_URL); the tokens in one transaction, all or none. Tokens already
    /// here with the same values are skipped; tokens that cannot be copied without changing
    /// what they allow, or that are here with other values, are reported as conflicts and
    /// left alone. Live sessions are not copied.
    ///
    /// Exit status: 0 done; 3 done, with conflicts or unreadable access-log rows (listed);
    /// 1 an error (named; no token was written, or, if the access-log copy failed, its
    /// chunks copied so far are kept and the next run resumes); 2 a bad command line or
    /// configuration.
    #[command(after_help = IMPORT_AFTER_HELP)]
    ImportPython(ImportPython),
}

const IMPORT_AFTER_HELP: &str = "\
Run it with the new backend's configuration (DATABASE_URL and the rest, from the environment
or .env), before starting the new backend; running it twice changes nothing. The Python
backend's file is only read. See README.md, \"Coming from the Python backend\".";

/// `import-python`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ImportPython {
    /// The Python backend's database: its DATABASE_URL (sqlite:///./data/tokens.db) or a path
    #[arg(value_name = "PYTHON_DATABASE", value_parser = database_path)]
    pub source: PathBuf,

    /// The UTC offset of the Python server's clock (e.g. +03:00): its valid_from, valid_until
    /// and access-log timestamps carry none and are read as UTC unless this is given
    /// (created_at and updated_at came from SQLite's clock, which is UTC)
    #[arg(long, value_name = "OFFSET", value_parser = utc_offset)]
    pub local_offset: Option<time::UtcOffset>,

    /// Replace the values of a token that exists here with other values (a conflict otherwise)
    #[arg(long)]
    pub overwrite: bool,

    /// Also copy the access log (after the tokens, in chunks; an interrupted copy resumes
    /// where it stopped, and rows already copied are never copied twice)
    #[arg(long)]
    pub access_logs: bool,
}

/// The effective configuration.
#[derive(Clone)]
pub struct Config {
    /// A job to run instead of serving (`None`: serve).
    pub command: Option<Command>,
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
    /// Access-log rows kept at most (0: no bound).
    pub access_log_max_rows: u64,
    /// Bytes of the access-log file its rows may take (0: no bound).
    pub access_log_max_size: u64,
    /// Whether re-checks are written to the access log (new sessions and denials always are).
    pub access_log_rechecks: bool,
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
            .field("command", &self.command)
            .field("database_path", &self.database_path)
            .field("log_database_path", &self.log_database_path)
            .field("auth_duration", &self.auth_duration)
            .field("session_grace", &self.session_grace)
            .field("session_cleanup_interval", &self.session_cleanup_interval)
            .field("log_level", &self.log_level)
            .field("enable_access_logs", &self.enable_access_logs)
            .field("access_log_retention_days", &self.access_log_retention_days)
            .field("access_log_max_rows", &self.access_log_max_rows)
            .field("access_log_max_size", &self.access_log_max_size)
            .field("access_log_rechecks", &self.access_log_rechecks)
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

/// Why [`Config::load`] returned no configuration.
#[derive(Debug)]
pub enum LoadError {
    /// `--help` was asked for: the text to print.
    Help(String),
    /// `--version`, or a command line clap refused (its message names the flag).
    Usage(clap::Error),
    /// A variable (or `.env`) has a bad value.
    Invalid(ConfigError),
}

impl From<ConfigError> for LoadError {
    fn from(e: ConfigError) -> Self {
        LoadError::Invalid(e)
    }
}

impl Config {
    /// The command line over the process environment over `./.env` (when present).
    pub fn from_env() -> Result<Self, LoadError> {
        let env = |name: &str| std::env::var(name).ok();
        match read_dotenv(Path::new(".env")) {
            Ok(dotenv) => Self::load(std::env::args_os(), env, &dotenv),
            // `--help` and `--version` answer even beside a `.env` that cannot be read.
            Err(broken) => match Self::load(std::env::args_os(), env, &HashMap::new()) {
                Err(LoadError::Help(help)) => Err(LoadError::Help(help)),
                Err(LoadError::Usage(e)) if !e.use_stderr() => Err(LoadError::Usage(e)),
                _ => Err(LoadError::Invalid(broken)),
            },
        }
    }

    /// Reads every variable from `env`, then from `dotenv` (no command line): the
    /// upper-case name first, then its lower-case spelling, in each.
    pub fn from_sources(
        env: impl Fn(&str) -> Option<String>,
        dotenv: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        match Self::load(["flussonic_backend"], env, dotenv) {
            Ok(config) => Ok(config),
            Err(LoadError::Invalid(e)) => Err(e),
            Err(LoadError::Help(_)) => Err(error("command line", "", "--help was asked for")),
            Err(LoadError::Usage(e)) => Err(error("command line", "", &e.to_string())),
        }
    }

    /// `args` (the program name first) over `env` over `dotenv` over the defaults.
    pub fn load<I, T>(
        args: I,
        env: impl Fn(&str) -> Option<String>,
        dotenv: &HashMap<String, String>,
    ) -> Result<Self, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let lookup = |name: &str| {
            let lower = name.to_ascii_lowercase();
            env(name)
                .or_else(|| env(&lower))
                .or_else(|| dotenv.get(name).or_else(|| dotenv.get(&lower)).cloned())
        };
        // Each setting's variable, looked up here, becomes its default; clap's own lookup
        // (of the process environment, when the command was built) is switched off.
        let parser = command().mut_args(|arg| {
            let found = arg.get_env().and_then(|name| name.to_str()).and_then(lookup);
            let arg = arg.env(None);
            match found {
                Some(value) => arg.default_value(value),
                None => arg,
            }
        });
        let matches = match parser.try_get_matches_from(&args) {
            Ok(matches) => matches,
            // A subcommand's help is its own; the program's is always the long one.
            Err(e) if e.kind() == ErrorKind::DisplayHelp && names_a_command(&args) => {
                return Err(LoadError::Help(e.render().to_string()));
            }
            Err(e) if e.kind() == ErrorKind::DisplayHelp => {
                return Err(LoadError::Help(command().render_long_help().to_string()));
            }
            Err(e) => return Err(value_error(&e, &args).map_or(LoadError::Usage(e), LoadError::Invalid)),
        };
        let settings = Settings::from_arg_matches(&matches).map_err(LoadError::Usage)?;
        Ok(Self::resolve(settings)?)
    }

    /// The settings with the defaults that depend on other settings filled in.
    fn resolve(settings: Settings) -> Result<Self, ConfigError> {
        let database_path = settings.database_url;
        let log_database_path = settings
            .access_log_database_url
            .unwrap_or_else(|| log_path_beside(&database_path));
        if log_database_path == database_path {
            return Err(error(
                "ACCESS_LOG_DATABASE_URL",
                &log_database_path.display().to_string(),
                "must be another file than DATABASE_URL",
            ));
        }
        // An empty API_KEY (a `.env` template's `API_KEY=`) means "not configured":
        // a key is then generated, and management is never left open.
        let api_key = settings
            .api_key
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        let api_key_file = match settings.api_key_file {
            Some(file) => PathBuf::from(file),
            None => database_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join("api_key"),
        };
        Ok(Self {
            command: settings.command,
            database_path,
            log_database_path,
            auth_duration: settings.auth_duration,
            session_grace: settings.session_grace,
            session_cleanup_interval: settings.session_cleanup_interval,
            log_level: settings.log_level,
            enable_access_logs: settings.enable_access_logs,
            access_log_retention_days: settings.access_log_retention_days,
            access_log_max_rows: settings.access_log_max_rows,
            access_log_max_size: settings.access_log_max_size,
            access_log_rechecks: settings.access_log_rechecks,
            api_host: settings.api_host,
            api_port: settings.api_port,
            api_key,
            api_key_file,
            max_body_bytes: settings.max_body_bytes,
        })
    }

    /// The text printed by `--help`.
    pub fn help() -> String {
        command().render_long_help().to_string()
    }
}

/// Whether the command line names a subcommand (any argument that is one's name).
fn names_a_command(args: &[OsString]) -> bool {
    let command = command();
    args.iter()
        .skip(1)
        .filter_map(|arg| arg.to_str())
        .any(|arg| command.find_subcommand(arg).is_some())
}

/// The names of the environment variables, in declaration order.
pub fn variables() -> Vec<String> {
    command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// The declared command, as `--help` shows it (the variables' names, never their values).
fn command() -> clap::Command {
    Settings::command().mut_args(|arg| arg.hide_env_values(true))
}

/// The [`ConfigError`] of a value clap refused that came from a variable, not from the
/// command line (whose flag clap's own message names well).
fn value_error(e: &clap::Error, args: &[OsString]) -> Option<ConfigError> {
    if !matches!(e.kind(), ErrorKind::ValueValidation | ErrorKind::InvalidValue) {
        return None;
    }
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    // `--auth-duration <SECONDS>`.
    let long = shown.split([' ', '=']).next()?.strip_prefix("--")?;
    let on_command_line = args.iter().skip(1).any(|arg| {
        arg.to_str()
            .and_then(|a| a.strip_prefix("--"))
            .is_some_and(|a| a == long || a.strip_prefix(long).is_some_and(|rest| rest.starts_with('=')))
    });
    if on_command_line {
        return None;
    }
    let command = command();
    let variable = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.clone(),
        _ => String::new(),
    };
    let reason = std::error::Error::source(e).map_or_else(|| "invalid value".to_owned(), ToString::to_string);
    Some(error(&variable, &value, &reason))
}

fn error(variable: &str, value: &str, message: &str) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: format!("{value:?}: {message}"),
    }
}

/// A whole number from `min` to `max` (surrounding spaces allowed).
fn whole_number<T>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    move |raw: &str| {
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("expected a whole number from {min} to {max}"))
    }
}

/// A bound on the access log's size: a number of bytes, with an optional suffix K, M, G
/// or T (powers of 1024; `KiB`, `MB` and the like are read the same), e.g. `2G`, `500M`;
/// 0 for none.
fn log_size(raw: &str) -> Result<u64, String> {
    let text = raw.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err("expected a size such as 500M or 2G (K, M, G, T: powers of 1024)".to_owned()),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64.checked_shl(shift)?))
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| "expected a size such as 500M or 2G (K, M, G, T: powers of 1024)".to_owned())
        .and_then(|n| {
            // Below this, not even an empty log fits: every row would go.
            if n == 0 || n >= MIN_LOG_SIZE {
                Ok(n)
            } else {
                Err("must be 0 (no bound) or at least 1M".to_owned())
            }
        })
}

/// A UTC offset: `+03:00`, `-0530`, `+3`, `Z` or `UTC`.
fn utc_offset(raw: &str) -> Result<time::UtcOffset, String> {
    const EXPECTED: &str = "expected a UTC offset such as +03:00, -05:30 or Z";
    let text = raw.trim();
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return Ok(time::UtcOffset::UTC);
    }
    let (negative, rest) = match text.split_at_checked(1) {
        Some(("+", rest)) => (false, rest),
        Some(("-", rest)) => (true, rest),
        _ => return Err(EXPECTED.to_owned()),
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let number = |part: &str| {
        (!part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i8>().ok())
            .flatten()
    };
    match (number(hours), number(minutes)) {
        (Some(h), Some(m)) if h <= 23 && m <= 59 => {
            let (h, m) = if negative {
                (h.checked_neg(), m.checked_neg())
            } else {
                (Some(h), Some(m))
            };
            h.zip(m)
                .and_then(|(h, m)| time::UtcOffset::from_hms(h, m, 0).ok())
                .ok_or_else(|| EXPECTED.to_owned())
        }
        _ => Err(EXPECTED.to_owned()),
    }
}

/// The smallest bound on the access log's size.
const MIN_LOG_SIZE: u64 = 1 << 20;

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn not_empty(raw: &str) -> Result<String, String> {
    match raw.trim() {
        "" => Err("must not be empty".to_owned()),
        value => Ok(value.to_owned()),
    }
}

fn log_filter(raw: &str) -> Result<String, String> {
    let level = raw.trim().to_ascii_lowercase();
    let level = match level.as_str() {
        "warning" => "warn",
        "critical" | "fatal" => "error",
        other => other,
    };
    if matches!(level, "error" | "warn" | "info" | "debug" | "trace" | "off") {
        return Ok(level.to_owned());
    }
    tracing_subscriber::EnvFilter::try_new(raw.trim())
        .map(|_| raw.trim().to_owned())
        .map_err(|_| "expected error, warn, info, debug, trace or a tracing filter".to_owned())
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
