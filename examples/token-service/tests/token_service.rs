//! The token service example: the token router alone on plain hyper, stateless, issuing
//! the tokens that other services verify with the same key and no store.

use fastauth::{FastAuth, token::TokenType};
use fastauth_testkit::{
    client::{post_form as post, token},
    example::{KEY, MASTER, Program},
};

const PROGRAM: &str = env!("CARGO_BIN_EXE_example-token-service");

fn start() -> Program {
    Program::start_with_secrets(PROGRAM, &[("ADDR", "127.0.0.1:0")])
}

/// What a service that accepts these tokens builds: the same key, stateless.
fn verifier() -> FastAuth {
    FastAuth::builder()
        .ignore_environment()
        .cryptography_key(KEY)
        .stateless()
        .build()
        .unwrap()
}

#[tokio::test]
async fn issues_tokens_another_service_verifies() {
    let program = start();
    let (status, body) = post(
        &format!("{}/auth/token/new", program.url()),
        &[("MASTER-TOKEN", MASTER)],
        "client_id=billing",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = token(&body, "access_token");
    let claims = verifier().verify_access(&access).await.unwrap();
    assert_eq!(claims.client_id(), "billing");
    assert_eq!(claims.token_type(), TokenType::Access);
    // 15 minutes, as the example configures.
    assert_eq!(claims.expires_at() - claims.issued_at(), 15 * 60);

    let (status, body) = post(
        &format!("{}/auth/token/refresh", program.url()),
        &[],
        &format!("refresh_token={}", token(&body, "refresh_token")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let renewed = verifier()
        .verify_access(&token(&body, "access_token"))
        .await
        .unwrap();
    assert_eq!(renewed.client_id(), "billing");

    // A pair needs the master token.
    let (status, body) = post(&format!("{}/auth/token/new", program.url()), &[], "client_id=x").await;
    assert_eq!(status, 401, "{body}");
}

/// The accept loop hands the peer address to the token router: the failure limit works.
#[tokio::test]
async fn guessing_the_master_token_locks_the_client_out() {
    let program = start();
    let url = format!("{}/auth/token/new", program.url());
    for _ in 0..10 {
        assert_eq!(
            post(&url, &[("MASTER-TOKEN", "a-guess")], "client_id=x").await.0,
            401
        );
    }
    let (status, body) = post(&url, &[("MASTER-TOKEN", MASTER)], "client_id=x").await;
    assert_eq!(status, 429, "{body}");
}
