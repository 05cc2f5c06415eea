//! The tonic quick start as the README runs it: a client gets a pair from the token
//! endpoint on the gRPC port (plain HTTP/1.1, as `curl` sends it), then calls the health
//! service with a real tonic client and `authorization: Bearer` metadata.

use fastauth_testkit::{
    client::request,
    example::{MASTER, Program},
};
use serde_json::Value;
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const PROGRAM: &str = env!("CARGO_BIN_EXE_example-tonic-quickstart");

fn start() -> Program {
    Program::start_with_secrets(PROGRAM, &[("ADDR", "127.0.0.1:0")])
}

/// `curl -H "MASTER-TOKEN: …" -d client_id=… URL/auth/token/new`: the status and body.
async fn new_pair(base: &str, master: &str, client_id: &str) -> (u16, String) {
    request(
        "POST",
        &format!("{base}/auth/token/new"),
        &[("MASTER-TOKEN", master)],
        Some(&format!("client_id={client_id}")),
    )
    .await
}

async fn check(base: &str, bearer: Option<&str>) -> Result<i32, tonic::Status> {
    let channel = Channel::from_shared(base.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = bearer {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    Ok(HealthClient::new(channel)
        .check(request)
        .await?
        .into_inner()
        .status)
}

#[tokio::test]
async fn a_client_gets_a_token_and_calls_the_service() {
    let program = start();
    let base = program.url().to_owned();

    let refused = check(&base, None).await.expect_err("no token, no call");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(refused.message(), "Access token missing");

    let (status, body) = new_pair(&base, MASTER, "sensor-7").await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let access = json["data"]["access_token"].as_str().unwrap();
    assert_eq!(
        check(&base, Some(access)).await.unwrap(),
        ServingStatus::Serving as i32
    );

    let refused = check(&base, Some("not-a-token")).await.expect_err("a bad token");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

/// tonic's server gives the layer the client address: the failure limit works.
#[tokio::test]
async fn guessing_the_master_token_locks_the_client_out() {
    let program = start();
    for _ in 0..10 {
        assert_eq!(new_pair(program.url(), "a-guess", "x").await.0, 401);
    }
    let (status, body) = new_pair(program.url(), MASTER, "x").await;
    assert_eq!(status, 429, "{body}");
}
