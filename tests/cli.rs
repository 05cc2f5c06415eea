//! The `fastauth` binary, run for real: keygen (printing and editing `.env` files),
//! `token new` / `token inspect`, exit codes, `--help`.
#![cfg(feature = "cli")]

mod common;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
};

use base64::{Engine, engine::general_purpose::URL_SAFE};
use fastauth::{FastAuth, token::TokenType};
use serde_json::Value;

use common::{
    auth::builder_with_key,
    jwt::{b64, now, unb64},
    keys::{KEY, OTHER_KEY},
};

/// Documented exit codes.
const REFUSED: i32 = 1;
const USAGE: i32 = 2;

/// Runs the binary with a clean environment for the variables it reads.
fn fastauth(args: &[&str]) -> Output {
    fastauth_with(args, &[], None)
}

fn fastauth_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastauth"));
    cmd.args(args)
        .env_remove("CRYPTOGRAPHY_KEY")
        .env_remove("MASTER_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the fastauth binary runs");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// A directory of its own for each test, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "fastauth-cli-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[track_caller]
fn assert_is_key(key: &str) {
    assert_eq!(key.len(), 44, "{key:?}");
    assert_eq!(URL_SAFE.decode(key).unwrap().len(), 32, "{key:?}");
}

// ---- keygen -------------------------------------------------------------------

#[test]
fn keygen_prints_a_44_character_key() {
    let out = fastauth(&["keygen"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.ends_with('\n'), "{text:?}");
    assert_is_key(text.trim_end());
    assert_eq!(stderr(&out), "");
    let again = stdout(&fastauth(&["keygen"]));
    assert_ne!(text, again);
}

#[test]
fn keygen_into_an_existing_env_file_keeps_every_other_line() {
    let dir = TempDir::new();
    let original = "# fastauth settings\nexport MASTER_TOKEN=m-1\n\n  # indented comment\nQUOTED='two words'\r\nKEYS=not-this-one\n# CRYPTOGRAPHY_KEY=commented-out\nLAST=no-newline";
    let env = dir.file(".env", original.as_bytes());

    let out = fastauth(&["keygen", "--env-file", s(&env)]);
    assert_code(&out, 0);
    let after = std::fs::read_to_string(&env).unwrap();
    let added = after
        .strip_prefix(original)
        .unwrap_or_else(|| panic!("the original content was changed: {after:?}"));
    let key = added
        .strip_prefix("\nCRYPTOGRAPHY_KEY=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not appended on a line of its own with a newline: {added:?}"));
    assert_is_key(key);
    // The key lands in the file, not on the terminal.
    assert!(!stdout(&out).contains(key), "{}", stdout(&out));
    assert!(stdout(&out).contains("CRYPTOGRAPHY_KEY"));

    // A second variable goes below it, and the file keeps ending in a newline.
    let out = fastauth(&["keygen", "--env-file", s(&env), "--name", "OTHER_KEY"]);
    assert_code(&out, 0);
    let last = std::fs::read_to_string(&env).unwrap();
    let second = last.strip_prefix(after.as_str()).unwrap();
    assert!(
        second.starts_with("OTHER_KEY=") && second.ends_with('\n'),
        "{second:?}"
    );
    assert_is_key(second.trim_end().strip_prefix("OTHER_KEY=").unwrap());
}

#[test]
fn keygen_creates_a_missing_env_file() {
    let dir = TempDir::new();
    let env = dir.0.join("new.env");
    let out = fastauth(&["keygen", "--env-file", s(&env), "--name", "APP_KEY"]);
    assert_code(&out, 0);
    let text = std::fs::read_to_string(&env).unwrap();
    let key = text.strip_prefix("APP_KEY=").unwrap().strip_suffix('\n').unwrap();
    assert_is_key(key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a new key file is private: {mode:o}");
    }
}

#[test]
fn keygen_refuses_to_replace_a_value_unless_forced() {
    let dir = TempDir::new();
    let original = format!("# keep me\nA=1\nCRYPTOGRAPHY_KEY={KEY}\nB=2");
    let env = dir.file(".env", original.as_bytes());

    let out = fastauth(&["keygen", "--env-file", s(&env)]);
    assert_code(&out, REFUSED);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(KEY), "the old key is not echoed");
    assert_eq!(std::fs::read_to_string(&env).unwrap(), original);

    let out = fastauth(&["keygen", "--env-file", s(&env), "--force"]);
    assert_code(&out, 0);
    let after = std::fs::read_to_string(&env).unwrap();
    let lines: Vec<&str> = after.split('\n').collect();
    assert_eq!(lines.len(), 4, "{after:?}");
    assert_eq!(lines[0], "# keep me");
    assert_eq!(lines[1], "A=1");
    let key = lines[2].strip_prefix("CRYPTOGRAPHY_KEY=").unwrap();
    assert_is_key(key);
    assert_ne!(key, KEY);
    assert_eq!(lines[3], "B=2");
}

#[test]
fn keygen_fills_an_empty_placeholder_without_force() {
    let dir = TempDir::new();
    let env = dir.file(".env", b"A=1\nCRYPTOGRAPHY_KEY=\nB=2\n");
    let out = fastauth(&["keygen", "--env-file", s(&env)]);
    assert_code(&out, 0);
    let after = std::fs::read_to_string(&env).unwrap();
    let key = after
        .strip_prefix("A=1\nCRYPTOGRAPHY_KEY=")
        .and_then(|rest| rest.strip_suffix("\nB=2\n"))
        .unwrap_or_else(|| panic!("{after:?}"));
    assert_is_key(key);
}

#[test]
fn keygen_rejects_bad_arguments_as_usage_errors() {
    let dir = TempDir::new();
    let env = dir.file(".env", b"A=1\n");
    for args in [
        &["keygen", "--env-file", s(&env), "--name", "NOT-A-NAME"][..],
        &["keygen", "--env-file", s(&env), "--name", "1ABC"],
        &["keygen", "--force"],
        &["keygen", "--bogus"],
    ] {
        let out = fastauth(args);
        assert_code(&out, USAGE);
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read_to_string(&env).unwrap(), "A=1\n");
}

// ---- token new / inspect ------------------------------------------------------------

fn new_pair(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = vec!["token", "new"];
    all.extend_from_slice(args);
    let out = fastauth_with(&all, env, None);
    assert_code(&out, 0);
    let pair: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let keys: Vec<&str> = pair.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "{pair}");
    pair
}

fn inspect(token: &str, key_args: &[&str]) -> Output {
    let mut all = vec!["token", "inspect"];
    all.extend_from_slice(key_args);
    all.push(token);
    fastauth(&all)
}

fn claims(out: &Output) -> Value {
    assert_code(out, 0);
    serde_json::from_str(&stdout(out)).unwrap()
}

/// The library, configured with `key`, as a service would be.
fn service_auth(key: &str) -> FastAuth {
    builder_with_key(key).stateless().build().unwrap()
}

#[test]
fn token_new_then_inspect_round_trips() {
    let pair = new_pair(&["--client-id", "svc-42", "--key", KEY], &[]);
    assert_eq!(pair["client_id"], "svc-42");
    let access = pair["access_token"].as_str().unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();

    let c = claims(&inspect(access, &["--key", KEY]));
    assert_eq!(c["client_id"], "svc-42");
    assert_eq!(c["type"], "access");
    assert_eq!(c["valid"], true);
    let exp = c["exp"].as_u64().unwrap();
    let iat = c["iat"].as_u64().unwrap();
    assert_eq!(exp - iat, 30 * 24 * 3600);
    let left = c["expires_in_secs"].as_u64().unwrap();
    assert!(left <= 30 * 24 * 3600 && left + 3600 > 30 * 24 * 3600, "{c}");
    assert!(c["expires_in"].as_str().unwrap().starts_with("29d") || c["expires_in"] == "30d 0h 0m 0s");
    assert!(c["expires_at"].as_str().unwrap().ends_with('Z'));

    let c = claims(&inspect(refresh, &["--key", KEY]));
    assert_eq!(c["type"], "refresh");
    assert_eq!(c["client_id"], "svc-42");

    // A service configured with the same key accepts what the CLI minted.
    let auth = service_auth(KEY);
    assert_eq!(
        fastauth::hooks::verify_access_token(&auth, access)
            .unwrap()
            .client_id(),
        "svc-42"
    );
    assert_eq!(
        fastauth::hooks::codec(&auth)
            .verify(refresh, TokenType::Refresh)
            .unwrap()
            .client_id(),
        "svc-42"
    );
}

#[test]
fn the_key_comes_from_the_environment_or_a_config_file() {
    let dir = TempDir::new();
    let config = dir.file(
        "fastauth.config.json",
        format!(
            r#"{{"cryptography_key":"{KEY}","master_token_paths":["/admin"],"access_token_paths":["/api"],"access_token_lifetime_secs":120}}"#
        )
        .as_bytes(),
    );

    let from_env = new_pair(&["--client-id", "env"], &[("CRYPTOGRAPHY_KEY", KEY)]);
    let from_file = new_pair(&["--client-id", "file", "--config", s(&config)], &[]);
    let auth = service_auth(KEY);
    for (pair, id) in [(&from_env, "env"), (&from_file, "file")] {
        let token = pair["access_token"].as_str().unwrap();
        assert_eq!(
            fastauth::hooks::verify_access_token(&auth, token)
                .unwrap()
                .client_id(),
            id
        );
    }
    // The file's lifetime applies (and its master paths need no master token here).
    let c = claims(&inspect(
        from_file["access_token"].as_str().unwrap(),
        &["--config", s(&config)],
    ));
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 120);
    assert!(c["expires_in_secs"].as_u64().unwrap() <= 120);

    // --key wins over the environment.
    let pair = new_pair(
        &["--client-id", "k", "--key", OTHER_KEY],
        &[("CRYPTOGRAPHY_KEY", KEY)],
    );
    let access = pair["access_token"].as_str().unwrap();
    assert!(fastauth::hooks::verify_access_token(&service_auth(OTHER_KEY), access).is_ok());
    assert!(fastauth::hooks::verify_access_token(&auth, access).is_err());

    // Lifetimes can be set on the command line.
    let pair = new_pair(
        &["--client-id", "short", "--key", KEY, "--access-lifetime", "60"],
        &[],
    );
    let c = claims(&inspect(pair["access_token"].as_str().unwrap(), &["--key", KEY]));
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 60);
}

#[test]
fn inspect_reads_the_token_from_standard_input() {
    let pair = new_pair(&["--client-id", "stdin", "--key", KEY], &[]);
    let token = pair["access_token"].as_str().unwrap();
    let out = fastauth_with(
        &["token", "inspect", "-"],
        &[("CRYPTOGRAPHY_KEY", KEY)],
        Some(&format!("{token}\n")),
    );
    assert_eq!(claims(&out)["client_id"], "stdin");
}

/// Flips one character of a token's part `part` (0 header, 1 claims, 2 signature).
fn tamper(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let target = &mut parts[part];
    let at = target.len() / 2;
    let old = target.as_bytes()[at];
    let new = if old == b'A' { "B" } else { "A" };
    target.replace_range(at..at + 1, new);
    parts.join(".")
}

#[track_caller]
fn assert_rejected(out: &Output, reason: &str) {
    assert_code(out, REFUSED);
    assert_eq!(stdout(out), "", "nothing on stdout for a rejected token");
    assert!(
        stderr(out).contains(reason),
        "expected {reason:?} in {:?}",
        stderr(out)
    );
}

#[test]
fn inspect_rejects_a_tampered_token() {
    let pair = new_pair(&["--client-id", "victim", "--key", KEY], &[]);
    let access = pair["access_token"].as_str().unwrap();
    for part in [1, 2] {
        let out = inspect(&tamper(access, part), &["--key", KEY]);
        assert_rejected(&out, "invalid signature");
    }
    // Claims rewritten to another client, signature kept.
    let parts: Vec<&str> = access.split('.').collect();
    let json = String::from_utf8(unb64(parts[1])).unwrap();
    let forged_json = json.replace("\"victim\"", "\"attacker\"");
    assert_ne!(forged_json, json);
    let forged = format!("{}.{}.{}", parts[0], b64(forged_json), parts[2]);
    assert_rejected(&inspect(&forged, &["--key", KEY]), "invalid signature");
    // Structural damage.
    for broken in ["", "garbage", "a.b", "a.b.c", &access[..access.len() - 10]] {
        let out = inspect(broken, &["--key", KEY]);
        assert_rejected(&out, "token rejected");
    }
}

#[test]
fn inspect_rejects_a_token_signed_with_another_key() {
    let pair = new_pair(&["--client-id", "c", "--key", OTHER_KEY], &[]);
    let out = inspect(pair["access_token"].as_str().unwrap(), &["--key", KEY]);
    assert_rejected(&out, "invalid signature");
    let out = fastauth_with(
        &["token", "inspect", pair["refresh_token"].as_str().unwrap()],
        &[("CRYPTOGRAPHY_KEY", KEY)],
        None,
    );
    assert_rejected(&out, "invalid signature");
}

#[test]
fn inspect_rejects_an_expired_token() {
    let auth = service_auth(KEY);
    let fresh = fastauth::hooks::codec(&auth)
        .issue_pair("old-client")
        .unwrap()
        .access_token;
    let claims = fastauth::hooks::codec(&auth)
        .verify(&fresh, TokenType::Access)
        .unwrap();
    let expired = fastauth::hooks::codec(&auth)
        .sign(&fastauth::hooks::claims(fastauth::hooks::ClaimsData {
            client_id: claims.client_id().to_owned(),
            token_type: claims.token_type(),
            exp: now() - 3600,
            iat: now() - 7200,
            jti: claims.token_id().map(str::to_owned),
        }))
        .unwrap();
    assert_rejected(&inspect(&expired, &["--key", KEY]), "expired");
}

#[test]
fn configuration_problems_are_usage_errors() {
    let pair = new_pair(&["--client-id", "c", "--key", KEY], &[]);
    let token = pair["access_token"].as_str().unwrap();
    let dir = TempDir::new();
    let bad_json = dir.file("bad.json", b"{not json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["token", "inspect", token], "CRYPTOGRAPHY_KEY"),
        (vec!["token", "new", "--client-id", "c"], "CRYPTOGRAPHY_KEY"),
        (vec!["token", "inspect", "--key", "short", token], "32"),
        (
            vec![
                "token",
                "inspect",
                "--config",
                "/nonexistent/fastauth.config.json",
                token,
            ],
            "/nonexistent",
        ),
        (
            vec!["token", "inspect", "--config", s(&bad_json), token],
            "bad.json",
        ),
        (vec!["token", "new", "--key", KEY], "--client-id"),
        (vec!["token", "new", "--key", KEY, "--client-id", ""], "client"),
        (
            vec![
                "token",
                "new",
                "--key",
                KEY,
                "--client-id",
                "c",
                "--access-lifetime",
                "0",
            ],
            "lifetime",
        ),
        (vec!["token", "frobnicate"], "frobnicate"),
        (vec!["token", "inspect"], "TOKEN"),
    ];
    for (args, says) in cases {
        let out = fastauth(&args);
        assert_code(&out, USAGE);
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains(KEY), "{args:?}: the key is never echoed");
    }
}

#[test]
fn every_command_has_help() {
    for (args, usage) in [
        (&["--help"][..], "Usage: fastauth <COMMAND>"),
        (&["keygen", "--help"], "Usage: fastauth keygen"),
        (&["token", "--help"], "Usage: fastauth token <COMMAND>"),
        (&["token", "new", "--help"], "Usage: fastauth token new"),
        (&["token", "inspect", "--help"], "Usage: fastauth token inspect"),
        (&["help", "token", "inspect"], "Usage: fastauth token inspect"),
        (&["keygen", "-h"], "Usage: fastauth keygen"),
    ] {
        let out = fastauth(args);
        assert_code(&out, 0);
        let text = stdout(&out);
        assert!(text.contains(usage), "{args:?}: {text}");
        assert!(text.contains("Exit status:"), "{args:?}: {text}");
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    let out = fastauth(&["--version"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("fastauth {}\n", env!("CARGO_PKG_VERSION")));
}
