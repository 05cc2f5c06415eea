//! Environment fallbacks and precedence (code > file > environment). The environment is
//! process-wide, so each case runs in a child process of this test binary.

mod common;

use std::process::Command;

use common::{auth::builder_with_key, config_file::ConfigFile};

const KEY_ENV: &str = "env-key-0123456789-0123456789-0123456789=";
const KEY_FILE: &str = "file-key-0123456789-0123456789-0123456789=";
const CHILD: &str = "FASTAUTH_TEST_CHILD";

/// Runs the named test of this binary in a child process with the given environment.
fn run_child(test: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--include-ignored"])
        .env(CHILD, "1")
        .env_remove("MASTER_TOKEN")
        .env_remove("CRYPTOGRAPHY_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {test} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "child {test} did not run:\n{text}");
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn signed_by(auth: &fastauth::FastAuth, key: &str) -> bool {
    let other = builder_with_key(key).stateless().build().unwrap();
    let token = fastauth::hooks::codec(auth).issue_pair("c").unwrap().access_token;
    fastauth::hooks::verify_access_token(&other, &token).is_ok()
}

#[test]
fn environment_is_the_last_fallback() {
    run_child(
        "child_env_only",
        &[("CRYPTOGRAPHY_KEY", KEY_ENV), ("MASTER_TOKEN", "env-master")],
    );
    run_child(
        "child_file_beats_env",
        &[("CRYPTOGRAPHY_KEY", KEY_ENV), ("MASTER_TOKEN", "env-master")],
    );
    run_child("child_code_beats_env", &[("CRYPTOGRAPHY_KEY", KEY_ENV)]);
    run_child(
        "child_empty_env_master_fails",
        &[("CRYPTOGRAPHY_KEY", KEY_ENV), ("MASTER_TOKEN", "")],
    );
}

#[test]
#[ignore = "run by environment_is_the_last_fallback in a child process"]
fn child_env_only() {
    assert!(is_child());
    let auth = fastauth::FastAuth::builder()
        .stateless()
        .master_paths(["/admin"])
        .build()
        .unwrap();
    assert!(signed_by(&auth, KEY_ENV));
    let mut headers = http::HeaderMap::new();
    headers.insert("master-token", "env-master".parse().unwrap());
    assert!(auth.check_master(&headers).is_ok());
}

#[test]
#[ignore = "run by environment_is_the_last_fallback in a child process"]
fn child_file_beats_env() {
    assert!(is_child());
    let file = ConfigFile::new(&format!(
        r#"{{"cryptography-key":"{KEY_FILE}","master-token":"file-master"}}"#
    ));
    // The environment is not ignored: the file must win over it.
    let auth = file.builder().stateless().build().unwrap();
    assert!(signed_by(&auth, KEY_FILE));
    let mut headers = http::HeaderMap::new();
    headers.insert("master-token", "env-master".parse().unwrap());
    assert!(
        auth.check_master(&headers).is_err(),
        "the file's master token wins"
    );
}

#[test]
#[ignore = "run by environment_is_the_last_fallback in a child process"]
fn child_code_beats_env() {
    assert!(is_child());
    let auth = fastauth::FastAuth::builder()
        .stateless()
        .cryptography_key(KEY_FILE)
        .build()
        .unwrap();
    assert!(signed_by(&auth, KEY_FILE));
    assert!(!signed_by(&auth, KEY_ENV));
}

#[test]
#[ignore = "run by environment_is_the_last_fallback in a child process"]
fn child_empty_env_master_fails() {
    assert!(is_child());
    let err = fastauth::FastAuth::builder().stateless().build().unwrap_err();
    assert!(matches!(err, fastauth::ConfigError::EmptyMasterToken), "{err}");
}
