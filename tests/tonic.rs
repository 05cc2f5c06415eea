//! `FastAuthLayer` in a tonic server, over real sockets, seen by a real tonic client
//! (tonic-health's `HealthClient`, so no protoc is needed).

#![cfg(feature = "tonic")]

mod common;

use std::net::SocketAddr;

use fastauth::store::MemoryTokenStore;
use tonic::{
    Code, Request, Status,
    transport::{Channel, Server},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tower::Layer;

use common::{
    auth::builder_with_key,
    grpc::{bind, serve_health},
    keys::{MASTER, OTHER_KEY},
    stores::DownStore,
};

fn auth_builder() -> fastauth::FastAuthBuilder {
    common::auth::builder().master_token(MASTER)
}

async fn client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

/// A `Check` request for the overall server health, with the given metadata.
fn check(metadata: &[(&'static str, &str)]) -> Request<HealthCheckRequest> {
    let mut request = Request::new(HealthCheckRequest {
        service: String::new(),
    });
    for (name, value) in metadata {
        request
            .metadata_mut()
            .insert(*name, value.parse().expect("ASCII metadata"));
    }
    request
}

async fn assert_serving(client: &mut HealthClient<Channel>, metadata: &[(&'static str, &str)]) {
    let response = client
        .check(check(metadata))
        .await
        .unwrap_or_else(|status| panic!("expected SERVING, got {status:?}"));
    assert_eq!(response.into_inner().status, ServingStatus::Serving as i32);
}

async fn assert_refused(
    client: &mut HealthClient<Channel>,
    metadata: &[(&'static str, &str)],
    code: Code,
    message: &str,
) {
    let status: Status = client
        .check(check(metadata))
        .await
        .expect_err("the request must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
}

#[tokio::test]
async fn unlisted_grpc_path_passes_without_a_token() {
    let auth = auth_builder()
        .access_paths(["/api", "/other.v1.Service"])
        .master_paths(["/admin"])
        .store(MemoryTokenStore::new())
        .build()
        .unwrap();
    let mut client = client(serve_health(&auth).await).await;

    assert_serving(&mut client, &[]).await;
}

#[tokio::test]
async fn server_layer_protects_an_access_level_service() {
    let auth = auth_builder()
        .access_paths(["/grpc.health.v1.Health"])
        .store(MemoryTokenStore::new())
        .build()
        .unwrap();
    let mut client = client(serve_health(&auth).await).await;
    let pair = auth.issue(Some("c1")).await.unwrap();

    assert_refused(&mut client, &[], Code::Unauthenticated, "Access token missing").await;
    assert_refused(
        &mut client,
        &[("access-token", "not-a-jwt")],
        Code::Unauthenticated,
        "Unauthorized Access Token",
    )
    .await;
    assert_refused(
        &mut client,
        &[("authorization", "Bearer not.a.jwt")],
        Code::Unauthenticated,
        "Unauthorized Access Token",
    )
    .await;
    // A token signed with another key is no token of this deployment.
    let foreign = fastauth::hooks::codec(&builder_with_key(OTHER_KEY).stateless().build().unwrap())
        .issue_pair("c1")
        .unwrap();
    assert_refused(
        &mut client,
        &[("access-token", &foreign.access_token)],
        Code::Unauthenticated,
        "Unauthorized Access Token",
    )
    .await;
    assert_refused(
        &mut client,
        &[("access-token", &pair.refresh_token)],
        Code::Unauthenticated,
        "Wrong token type",
    )
    .await;
    // The master token is not an access token.
    assert_refused(
        &mut client,
        &[("master-token", MASTER)],
        Code::Unauthenticated,
        "Access token missing",
    )
    .await;

    assert_serving(&mut client, &[("access-token", &pair.access_token)]).await;
    let bearer = format!("Bearer {}", pair.access_token);
    assert_serving(&mut client, &[("authorization", &bearer)]).await;
}

#[tokio::test]
async fn master_level_on_a_grpc_method() {
    let auth = auth_builder()
        .master_paths(["/grpc.health.v1.Health/Check"])
        .store(MemoryTokenStore::new())
        .build()
        .unwrap();
    let mut client = client(serve_health(&auth).await).await;

    assert_refused(&mut client, &[], Code::Unauthenticated, "Master token missing").await;
    assert_refused(
        &mut client,
        &[("master-token", "not-the-master-token")],
        Code::Unauthenticated,
        "Unauthorized Master Token",
    )
    .await;
    // An access token does not open a master-level method.
    let pair = fastauth::hooks::codec(&auth).issue_pair("c1").unwrap();
    assert_refused(
        &mut client,
        &[("access-token", &pair.access_token)],
        Code::Unauthenticated,
        "Master token missing",
    )
    .await;
    assert_serving(&mut client, &[("master-token", MASTER)]).await;

    // The pattern names one method: the service's other method is not protected.
    let mut stream = client
        .watch(check(&[]))
        .await
        .expect("Watch is not a protected method")
        .into_inner();
    let first = stream.message().await.unwrap().expect("a first status");
    assert_eq!(first.status, ServingStatus::Serving as i32);
}

/// tonic's server records the peer of each TCP connection (`TcpConnectInfo`): the
/// brute-force protection counts failures by it with no extractor configured, and locks
/// the address out even for the right master token.
#[tokio::test]
async fn the_failure_limit_counts_a_tonic_peer() {
    let auth = auth_builder()
        .master_paths(["/grpc.health.v1.Health/Check"])
        .store(MemoryTokenStore::new())
        .build()
        .unwrap();
    let mut client = client(serve_health(&auth).await).await;
    for _ in 0..10 {
        assert_refused(
            &mut client,
            &[("master-token", "not-the-master-token")],
            Code::Unauthenticated,
            "Unauthorized Master Token",
        )
        .await;
    }
    assert_refused(
        &mut client,
        &[("master-token", MASTER)],
        Code::ResourceExhausted,
        "Too many failed attempts",
    )
    .await;
    let stats = auth.failure_limit_stats().expect("the limit is on by default");
    assert_eq!((stats.tracked, stats.locked), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn layer_wraps_one_named_service() {
    let auth = auth_builder()
        .access_paths(["/grpc.health.v1.Health"])
        .stateless()
        .build()
        .unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let (incoming, addr) = bind().await;
    // `add_service` needs `NamedService`, which the `tonic` feature passes through.
    tokio::spawn(
        Server::builder()
            .add_service(auth.layer().layer(health))
            .serve_with_incoming(incoming),
    );
    let mut client = client(addr).await;
    let pair = fastauth::hooks::codec(&auth).issue_pair("c1").unwrap();

    assert_refused(&mut client, &[], Code::Unauthenticated, "Access token missing").await;
    assert_refused(
        &mut client,
        &[("access-token", "garbage")],
        Code::Unauthenticated,
        "Unauthorized Access Token",
    )
    .await;
    assert_refused(
        &mut client,
        &[("access-token", &pair.refresh_token)],
        Code::Unauthenticated,
        "Wrong token type",
    )
    .await;
    assert_serving(&mut client, &[("access-token", &pair.access_token)]).await;
    let bearer = format!("Bearer {}", pair.access_token);
    assert_serving(&mut client, &[("authorization", &bearer)]).await;
}

#[tokio::test]
async fn unreachable_store_is_unavailable_not_unauthenticated() {
    let auth = auth_builder()
        .access_paths(["/grpc.health.v1.Health"])
        .store(DownStore)
        .build()
        .unwrap();
    let mut client = client(serve_health(&auth).await).await;
    // Minted without the store, which cannot save it.
    let pair = fastauth::hooks::codec(&auth).issue_pair("c1").unwrap();

    assert_refused(
        &mut client,
        &[("access-token", &pair.access_token)],
        Code::Unavailable,
        "Token store unavailable",
    )
    .await;
    // Decisions that need no store are still made.
    assert_refused(&mut client, &[], Code::Unauthenticated, "Access token missing").await;
    assert_refused(
        &mut client,
        &[("access-token", &pair.refresh_token)],
        Code::Unauthenticated,
        "Wrong token type",
    )
    .await;
}

#[tokio::test]
async fn stored_mode_revokes_the_previous_pair() {
    let auth = auth_builder()
        .access_paths(["/grpc.health.v1.Health"])
        .store(MemoryTokenStore::new())
        .build()
        .unwrap();
    let mut client = client(serve_health(&auth).await).await;

    let first = auth.issue(Some("c1")).await.unwrap();
    assert_serving(&mut client, &[("access-token", &first.access_token)]).await;

    // Issued in the same second as the first: the pairs must still differ.
    let second = auth.issue(Some("c1")).await.unwrap();
    assert_ne!(first.access_token, second.access_token);
    assert_refused(
        &mut client,
        &[("access-token", &first.access_token)],
        Code::Unauthenticated,
        "Access token revoked",
    )
    .await;
    let bearer = format!("Bearer {}", first.access_token);
    assert_refused(
        &mut client,
        &[("authorization", &bearer)],
        Code::Unauthenticated,
        "Access token revoked",
    )
    .await;
    assert_serving(&mut client, &[("access-token", &second.access_token)]).await;

    // Validly signed but never stored: refused as well.
    let unstored = fastauth::hooks::codec(&auth).issue_pair("c2").unwrap();
    assert_refused(
        &mut client,
        &[("access-token", &unstored.access_token)],
        Code::Unauthenticated,
        "Access token revoked",
    )
    .await;

    auth.revoke("c1").await.unwrap();
    assert_refused(
        &mut client,
        &[("access-token", &second.access_token)],
        Code::Unauthenticated,
        "Access token revoked",
    )
    .await;
}
