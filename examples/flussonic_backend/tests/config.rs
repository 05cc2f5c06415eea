//! Configuration: each setting's variable, default and meaning are declared once; bad
//! values name their variable; the environment wins over `.env`, upper case over lower
//! case, and the command line over both; `--help` lists everything and shows no secret.

mod common;

use std::collections::HashMap;

use flussonic_backend::config::{self, Config, LoadError};

use common::TempDir;

#[test]
fn configuration_names_the_bad_variable() {
    let none = HashMap::new();
    let from = |pairs: &[(&str, &str)]| {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(|name| env.get(name).cloned(), &none)
    };
    let defaults = from(&[]).unwrap();
    assert_eq!(
        defaults.database_path,
        std::path::PathBuf::from("./data/tokens.db")
    );
    assert_eq!(defaults.api_key_file, std::path::PathBuf::from("./data/api_key"));
    assert_eq!(
        defaults.log_database_path,
        std::path::PathBuf::from("./data/tokens.logs.db")
    );
    assert_eq!(
        (
            defaults.auth_duration,
            defaults.session_grace,
            defaults.session_cleanup_interval
        ),
        (180, 60, 60)
    );
    assert_eq!((defaults.api_host.as_str(), defaults.api_port), ("0.0.0.0", 8080));
    assert!(defaults.enable_access_logs);
    assert_eq!(defaults.api_key, None);
    // The access log: 30 days, no bound on rows or size, re-checks written.
    assert_eq!(
        (
            defaults.access_log_retention_days,
            defaults.access_log_max_rows,
            defaults.access_log_max_size,
            defaults.access_log_rechecks
        ),
        (30, 0, 0, true)
    );
    for (written, bytes) in [
        ("2G", 2 << 30),
        (" 500m ", 500 << 20),
        ("1MiB", 1 << 20),
        ("3 GB", 3 << 30),
        ("1048576", 1 << 20),
        ("0", 0),
    ] {
        let c = from(&[("ACCESS_LOG_MAX_SIZE", written)]).unwrap();
        assert_eq!(c.access_log_max_size, bytes, "{written}");
    }
    let c = from(&[("ACCESS_LOG_MAX_ROWS", "5000000"), ("ACCESS_LOG_RECHECKS", "off")]).unwrap();
    assert_eq!((c.access_log_max_rows, c.access_log_rechecks), (5_000_000, false));
    for (name, value) in [
        ("AUTH_DURATION", "soon"),
        ("AUTH_DURATION", "0"),
        ("SESSION_GRACE", "-1"),
        ("SESSION_CLEANUP_INTERVAL", "0"),
        ("API_PORT", "70000"),
        ("ENABLE_ACCESS_LOGS", "perhaps"),
        ("LOG_LEVEL", "loud=="),
        ("MAX_BODY_BYTES", "12"),
        ("ACCESS_LOG_RETENTION_DAYS", "x"),
        ("ACCESS_LOG_MAX_ROWS", "-1"),
        ("ACCESS_LOG_MAX_ROWS", "many"),
        ("ACCESS_LOG_MAX_SIZE", "lots"),
        ("ACCESS_LOG_MAX_SIZE", "2P"),
        ("ACCESS_LOG_MAX_SIZE", "512K"),
        ("ACCESS_LOG_MAX_SIZE", "99999999999T"),
        ("ACCESS_LOG_RECHECKS", "sometimes"),
        ("DATABASE_URL", "postgres://db/tokens"),
        ("DATABASE_URL", "sqlite:///:memory:"),
        ("ACCESS_LOG_DATABASE_URL", "sqlite:///./data/tokens.db"),
        ("ACCESS_LOG_DATABASE_URL", "mysql://db/logs"),
        ("API_HOST", " "),
    ] {
        let err = from(&[(name, value)]).unwrap_err();
        assert_eq!(err.variable, name, "{name}={value}");
        assert!(err.to_string().starts_with(name), "{err}");
    }
    let c = from(&[
        ("DATABASE_URL", "sqlite:////var/lib/fl/tokens.db"),
        ("LOG_LEVEL", "WARNING"),
        ("ENABLE_ACCESS_LOGS", "0"),
        ("API_KEY", "  "),
    ])
    .unwrap();
    assert_eq!(c.database_path, std::path::PathBuf::from("/var/lib/fl/tokens.db"));
    assert_eq!(c.api_key_file, std::path::PathBuf::from("/var/lib/fl/api_key"));
    assert_eq!(
        c.log_database_path,
        std::path::PathBuf::from("/var/lib/fl/tokens.logs.db")
    );
    assert_eq!(c.log_level, "warn");
    assert!(!c.enable_access_logs);
    assert_eq!(c.api_key, None, "an empty API_KEY is no key: one is generated");
    assert_eq!(
        from(&[("DATABASE_URL", "sqlite+aiosqlite:///./x.db")])
            .unwrap()
            .database_path
            .to_str(),
        Some("./x.db")
    );
    assert_eq!(
        from(&[("DATABASE_URL", "/srv/t.db")])
            .unwrap()
            .database_path
            .to_str(),
        Some("/srv/t.db")
    );
    let logs_apart = from(&[
        ("DATABASE_URL", "/srv/t"),
        ("ACCESS_LOG_DATABASE_URL", "sqlite:////var/log/fl/access.db"),
    ])
    .unwrap();
    assert_eq!(
        logs_apart.log_database_path.to_str(),
        Some("/var/log/fl/access.db")
    );
    assert_eq!(
        from(&[("DATABASE_URL", "/srv/t")])
            .unwrap()
            .log_database_path
            .to_str(),
        Some("/srv/t.logs.db")
    );
    // Every variable is in --help.
    let help = Config::help();
    for name in config::variables() {
        assert!(help.contains(&name), "{name}");
    }
    for name in [
        "DATABASE_URL",
        "ACCESS_LOG_DATABASE_URL",
        "AUTH_DURATION",
        "SESSION_GRACE",
        "SESSION_CLEANUP_INTERVAL",
        "LOG_LEVEL",
        "ENABLE_ACCESS_LOGS",
        "ACCESS_LOG_RETENTION_DAYS",
        "API_HOST",
        "API_PORT",
        "API_KEY",
        "MAX_BODY_BYTES",
    ] {
        assert!(help.contains(name), "{name}");
    }
}

#[test]
fn the_environment_wins_over_dotenv_and_upper_case_wins_over_lower() {
    let dir = TempDir::new("dotenv");
    let file = dir.path().join(".env");
    std::fs::write(
        &file,
        "# comment\nAPI_PORT=9000\nexport AUTH_DURATION=\"300\"\napi_key=from-old-dotenv\nSESSION_GRACE=5\n",
    )
    .unwrap();
    let dotenv = config::read_dotenv(&file).unwrap();
    let env: HashMap<&str, &str> = [("API_PORT", "9100"), ("session_grace", "7")]
        .into_iter()
        .collect();
    let c = Config::from_sources(|name| env.get(name).map(|v| v.to_string()), &dotenv).unwrap();
    assert_eq!(c.api_port, 9100, "environment over .env");
    assert_eq!(c.auth_duration, 300, ".env when the environment is silent");
    assert_eq!(c.session_grace, 7, "environment (even lower-case) over .env");
    assert_eq!(
        c.api_key.as_deref(),
        Some("from-old-dotenv"),
        "the old project's lower-case .env"
    );
    let bad = dir.path().join("bad.env");
    std::fs::write(&bad, "THIS IS NOT=\"closed\n").unwrap();
    assert!(config::read_dotenv(&bad).is_err());
    assert!(
        config::read_dotenv(&dir.path().join("absent.env"))
            .unwrap()
            .is_empty()
    );
}

/// Loads from a command line and environment variables (no `.env`).
fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Config, LoadError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut argv = vec!["flussonic_backend"];
    argv.extend_from_slice(args);
    Config::load(argv, |name| env.get(name).cloned(), &HashMap::new())
}

#[test]
fn the_command_line_wins_over_the_environment() {
    let c = load(
        &[
            "--auth-duration",
            "300",
            "--api-port=9200",
            "--enable-access-logs",
            "off",
        ],
        &[
            ("AUTH_DURATION", "200"),
            ("API_PORT", "9100"),
            ("SESSION_GRACE", "7"),
        ],
    )
    .unwrap();
    assert_eq!((c.auth_duration, c.api_port), (300, 9200));
    assert!(!c.enable_access_logs);
    assert_eq!(
        c.session_grace, 7,
        "the environment where the command line is silent"
    );
    // A bad variable overridden on the command line is never read.
    assert_eq!(
        load(&["--auth-duration", "300"], &[("AUTH_DURATION", "soon")])
            .unwrap()
            .auth_duration,
        300
    );
    // A bad value on the command line: clap's message names the flag.
    let Err(LoadError::Usage(e)) = load(&["--auth-duration", "soon"], &[]) else {
        panic!("a bad flag value was accepted");
    };
    assert!(e.to_string().contains("--auth-duration"), "{e}");
    assert!(
        e.to_string().contains("expected a whole number from 1 to 604800"),
        "{e}"
    );
    assert!(matches!(load(&["--no-such-flag"], &[]), Err(LoadError::Usage(_))));
    assert!(matches!(load(&["stray"], &[]), Err(LoadError::Usage(_))));
    let Err(LoadError::Usage(version)) = load(&["--version"], &[]) else {
        panic!("--version was not answered");
    };
    assert!(!version.use_stderr(), "--version is not an error");
}

#[test]
fn help_lists_every_setting_with_its_default_and_shows_no_secret() {
    let Err(LoadError::Help(help)) = load(&["--help"], &[("API_KEY", "s3cret-from-the-environment")]) else {
        panic!("--help was not answered");
    };
    assert_eq!(help, Config::help());
    assert!(!help.contains("s3cret"), "{help}");
    for (variable, flag, default) in [
        (
            "DATABASE_URL",
            "--database-url",
            Some("sqlite:///./data/tokens.db"),
        ),
        ("ACCESS_LOG_DATABASE_URL", "--access-log-database-url", None),
        ("AUTH_DURATION", "--auth-duration", Some("180")),
        ("SESSION_GRACE", "--session-grace", Some("60")),
        (
            "SESSION_CLEANUP_INTERVAL",
            "--session-cleanup-interval",
            Some("60"),
        ),
        ("LOG_LEVEL", "--log-level", Some("info")),
        ("ENABLE_ACCESS_LOGS", "--enable-access-logs", Some("true")),
        (
            "ACCESS_LOG_RETENTION_DAYS",
            "--access-log-retention-days",
            Some("30"),
        ),
        ("ACCESS_LOG_MAX_ROWS", "--access-log-max-rows", Some("0")),
        ("ACCESS_LOG_MAX_SIZE", "--access-log-max-size", Some("0")),
        ("ACCESS_LOG_RECHECKS", "--access-log-rechecks", Some("true")),
        ("API_HOST", "--api-host", Some("0.0.0.0")),
        ("API_PORT", "--api-port", Some("8080")),
        ("API_KEY", "--api-key", None),
        ("API_KEY_FILE", "--api-key-file", None),
        ("MAX_BODY_BYTES", "--max-body-bytes", Some("65536")),
    ] {
        assert!(help.contains(&format!("[env: {variable}")), "{variable}");
        assert!(help.contains(flag), "{flag}");
        if let Some(default) = default {
            assert!(
                help.contains(&format!("[default: {default}]")),
                "{variable}: {default}"
            );
        }
    }
    assert_eq!(config::variables().len(), 16);
}

/// The README's configuration table is the operator's copy of the declaration: each
/// variable, with the default the code has.
#[test]
fn the_readme_lists_every_variable_with_its_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut help = Config::help();
    help.retain(|c| c != '\n');
    let rows: HashMap<&str, &str> = readme
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let variable = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((variable, cells.next()?))
        })
        .collect();
    for variable in config::variables() {
        let Some(default) = rows.get(variable.as_str()) else {
            panic!("{variable} is not in the README's configuration table");
        };
        // A literal default (`180`) must be the declared one.
        if let Some(literal) = default.strip_prefix('`').and_then(|d| d.strip_suffix('`')) {
            assert!(
                help.contains(&format!("[default: {literal}]")),
                "README: {variable} defaults to {literal}, the code says otherwise"
            );
        }
    }
}

/// The binary: `--help` answers even beside a `.env` that cannot be read, and a start
/// there fails with exit status 2 and a message naming the file; so does a bad flag,
/// named by clap.
#[test]
fn the_binary_answers_help_and_names_a_broken_dotenv() {
    let dir = TempDir::new("binary-dotenv");
    std::fs::write(dir.path().join(".env"), "THIS IS NOT=\"closed\n").unwrap();
    let clean = TempDir::new("binary-flags");
    let run_in = |dir: &TempDir, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_flussonic_backend"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let run = |args: &[&str]| run_in(&dir, args);
    let help = run(&["--help"]);
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Usage: flussonic_backend") && text.contains("[env: AUTH_DURATION]"),
        "{text}"
    );
    let start = run(&[]);
    assert_eq!(start.status.code(), Some(2), "{start:?}");
    let message = String::from_utf8_lossy(&start.stderr);
    assert!(message.contains("configuration error: .env"), "{message}");
    // A bad flag: clap's message, naming the flag, and status 2 as well.
    let flag = run_in(&clean, &["--api-port", "http"]);
    assert_eq!(flag.status.code(), Some(2), "{flag:?}");
    assert!(
        String::from_utf8_lossy(&flag.stderr).contains("--api-port"),
        "{flag:?}"
    );
}
