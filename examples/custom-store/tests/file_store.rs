//! The custom-store example: the issued pairs live in a JSON file, so a restart (even a
//! kill) logs nobody out, and refresh-token rotation still happens once.

use std::path::PathBuf;

use fastauth_testkit::{
    client::{post_form as post, request, token},
    example::{KEY, MASTER, Program, run_to_exit},
};

const PROGRAM: &str = env!("CARGO_BIN_EXE_example-custom-store");

/// A token file of this test's own, removed afterwards.
struct TokenFile(PathBuf);

impl TokenFile {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fastauth-custom-store-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir.join("tokens.json"))
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

fn start(file: &TokenFile) -> Program {
    Program::start_with_secrets(PROGRAM, &[("ADDR", "127.0.0.1:0"), ("TOKEN_FILE", file.path())])
}

async fn me(base: &str, access: &str) -> (u16, String) {
    let bearer = format!("Bearer {access}");
    request(
        "GET",
        &format!("{base}/api/me"),
        &[("Authorization", &bearer)],
        None,
    )
    .await
}

#[tokio::test]
async fn pairs_survive_a_restart() {
    let file = TokenFile::new("restart");
    let program = start(&file);
    let (status, body) = post(
        &format!("{}/auth/token/new", program.url()),
        &[("MASTER-TOKEN", MASTER)],
        "client_id=bob",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (access, refresh) = (token(&body, "access_token"), token(&body, "refresh_token"));
    assert_eq!(me(program.url(), &access).await, (200, "hello, bob\n".to_owned()));
    let saved = std::fs::read_to_string(&file.0).unwrap();
    assert!(saved.contains("\"bob\""), "{saved}");
    program.kill();

    let program = start(&file);
    assert_eq!(
        me(program.url(), &access).await.0,
        200,
        "the pair outlived the process"
    );
    let refresh_form = format!("refresh_token={refresh}");
    let (status, body) = post(
        &format!("{}/auth/token/refresh", program.url()),
        &[],
        &refresh_form,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let renewed = token(&body, "access_token");
    assert_eq!(me(program.url(), &renewed).await.0, 200);
    assert_eq!(
        me(program.url(), &access).await.0,
        401,
        "the rotated-out token is revoked"
    );
    program.kill();

    // The rotation was written through too.
    let program = start(&file);
    assert_eq!(me(program.url(), &renewed).await.0, 200);
    let (status, _) = post(
        &format!("{}/auth/token/refresh", program.url()),
        &[],
        &refresh_form,
    )
    .await;
    assert_eq!(status, 401, "a refresh token works once, across restarts");
}

#[test]
fn a_file_that_is_not_a_token_file_is_said_in_words() {
    let file = TokenFile::new("garbage");
    std::fs::write(&file.0, "not json").unwrap();
    let exit = run_to_exit(
        PROGRAM,
        &[
            ("CRYPTOGRAPHY_KEY", KEY),
            ("MASTER_TOKEN", MASTER),
            ("TOKEN_FILE", file.path()),
        ],
    );
    assert_eq!(exit.status.code(), Some(1));
    assert!(
        exit.stderr
            .starts_with(&format!("error: {} is not a token file", file.path())),
        "{}",
        exit.stderr
    );
}
