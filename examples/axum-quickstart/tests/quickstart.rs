//! The axum quick start as the README runs it: the program started with the two
//! environment variables the README sets, then driven over HTTP the way the README's
//! `curl` lines do.

use fastauth_testkit::{
    client::{request as curl, token},
    example::{KEY, MASTER, Program, run_to_exit},
};
use serde_json::Value;

const PROGRAM: &str = env!("CARGO_BIN_EXE_example-axum-quickstart");

fn start() -> Program {
    Program::start_with_secrets(PROGRAM, &[("ADDR", "127.0.0.1:0")])
}

fn pair(body: &str) -> (String, String) {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (token(&json, "access_token"), token(&json, "refresh_token"))
}

#[tokio::test]
async fn the_readme_session() {
    let program = start();
    let base = program.url().to_owned();

    // A public route.
    assert_eq!(
        curl("GET", &format!("{base}/health"), &[], None).await,
        (200, "ok\n".into())
    );
    // Everything else needs a token (deny by default), even a route nobody wrote.
    for path in ["/api/me", "/nothing/here"] {
        let (status, body) = curl("GET", &format!("{base}{path}"), &[], None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }

    // A pair for alice, with the master token.
    let (status, body) = curl(
        "POST",
        &format!("{base}/auth/token/new"),
        &[("MASTER-TOKEN", MASTER)],
        Some("client_id=alice"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (access, refresh) = pair(&body);

    let bearer = format!("Bearer {access}");
    assert_eq!(
        curl(
            "GET",
            &format!("{base}/api/me"),
            &[("Authorization", &bearer)],
            None
        )
        .await,
        (200, "hello, alice\n".into())
    );
    // fastauth-api's header works too.
    let (status, _) = curl(
        "GET",
        &format!("{base}/api/me"),
        &[("ACCESS-TOKEN", &access)],
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Master routes take the master token, not an access token.
    let (status, _) = curl(
        "GET",
        &format!("{base}/admin/stats"),
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        curl(
            "GET",
            &format!("{base}/admin/stats"),
            &[("MASTER-TOKEN", MASTER)],
            None
        )
        .await,
        (200, "all good\n".into())
    );

    // Refresh: a new pair; the old refresh token used again revokes the client.
    let refresh_form = format!("refresh_token={refresh}");
    let (status, body) = curl(
        "POST",
        &format!("{base}/auth/token/refresh"),
        &[],
        Some(&refresh_form),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (renewed, _) = pair(&body);
    let renewed_bearer = format!("Bearer {renewed}");
    let (status, _) = curl(
        "GET",
        &format!("{base}/api/me"),
        &[("Authorization", &renewed_bearer)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = curl(
        "POST",
        &format!("{base}/auth/token/refresh"),
        &[],
        Some(&refresh_form),
    )
    .await;
    assert_eq!(status, 401, "a refresh token works once");
    let (status, _) = curl(
        "GET",
        &format!("{base}/api/me"),
        &[("Authorization", &renewed_bearer)],
        None,
    )
    .await;
    assert_eq!(status, 401, "re-use revoked the client's pair");
}

/// The program serves with the client address, so the failure limit (on by default)
/// works: ten wrong master tokens, then even the right one is refused for a while.
#[tokio::test]
async fn guessing_the_master_token_locks_the_client_out() {
    let program = start();
    let url = format!("{}/admin/stats", program.url());
    for _ in 0..10 {
        let (status, _) = curl("GET", &url, &[("MASTER-TOKEN", "a-guess")], None).await;
        assert_eq!(status, 401);
    }
    let (status, body) = curl("GET", &url, &[("MASTER-TOKEN", MASTER)], None).await;
    assert_eq!(status, 429, "{body}");
}

/// A configuration it cannot use is said in words, with exit status 1.
#[test]
fn configuration_errors_are_said_in_words() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("MASTER_TOKEN", MASTER)],
            "error: no cryptography key: set `cryptography_key`",
        ),
        (
            &[("CRYPTOGRAPHY_KEY", "short"), ("MASTER_TOKEN", MASTER)],
            "error: the cryptography key is 5 bytes long; at least 32 are required",
        ),
        (
            &[("CRYPTOGRAPHY_KEY", KEY)],
            "error: master-level paths are configured (master_paths, or default_level master) but no master token",
        ),
    ];
    for (env, expected) in cases {
        let exit = run_to_exit(PROGRAM, env);
        assert_eq!(exit.status.code(), Some(1), "{env:?}: {}", exit.stderr);
        assert!(exit.stderr.starts_with(expected), "{env:?}: {}", exit.stderr);
        assert!(
            !exit.stderr.contains("MissingKey") && !exit.stderr.contains("WeakKey"),
            "{}",
            exit.stderr
        );
    }
    let exit = run_to_exit(
        PROGRAM,
        &[
            ("CRYPTOGRAPHY_KEY", KEY),
            ("MASTER_TOKEN", MASTER),
            ("ADDR", "not an address"),
        ],
    );
    assert_eq!(exit.status.code(), Some(1));
    assert!(
        exit.stderr.starts_with("error: cannot listen on not an address"),
        "{}",
        exit.stderr
    );
}
