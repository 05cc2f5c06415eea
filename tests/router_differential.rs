//! The layer's view of a path is never more lenient than the router's, by test rather
//! than by argument.
//!
//! Route sets are generated (`{param}`, `{*rest}`, nesting, fallbacks), each route tagged
//! with the level its author meant; the patterns are derived from the routes the way an
//! author would write them (`{param}` → `*`, `{*rest}` → `**`, a protected nest's fallback
//! → its prefix). Hostile spellings of paths to every route are sent over real sockets
//! with no credential, an access token and the master token. The oracle is the real
//! router: every handler records the credential of each request it runs, and a handler
//! tagged protected that ran without its credential fails the test. The same generator
//! drives the `router_differential` fuzz target (fuzz/).
//!
//! Case counts are bounded for the normal test run; `PROPTEST_CASES` raises them.
#![cfg(all(feature = "axum", feature = "tonic"))]

mod common;

use std::{
    net::SocketAddr,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use fastauth::FastAuth;
use fastauth_testkit::router::{Credential, HitLog, Input, RouteSet, Tag, spell};
use http::Method;
use http_body_util::BodyExt;
use proptest::prelude::*;
use tokio::{net::TcpListener, runtime::Runtime};

use common::{
    auth::builder,
    grpc::{empty_message, grpc_request, h2_client, serve_health_counted},
    keys::MASTER,
    proptest_config::config,
    raw_http::exchange_bytes,
    server::Hits,
};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Routing, not the failure limit, is under test: thousands of wrong guesses come from
/// one address, so the limit is off.
fn auth_for(master: &[String], access: &[String]) -> FastAuth {
    builder()
        .master_token(MASTER)
        .failure_limit(None)
        .stateless()
        .master_paths(master)
        .access_paths(access)
        .build()
        .unwrap()
}

/// Protected handlers reached with their credential, over all cases: proof that the
/// generated requests do reach protected handlers, so an empty bypass list means something.
static AUTHORISED: AtomicUsize = AtomicUsize::new(0);

async fn check_axum(seed: Vec<u8>) -> Result<(), TestCaseError> {
    let mut input = Input::new(&seed);
    let set = RouteSet::decode(&mut input);
    let (master, access) = set.patterns();
    let auth = auth_for(&master, &access);
    let access_token = auth.issue(Some("differential")).await.unwrap().access_token;
    let log = HitLog::new(MASTER, &access_token);
    let Some(router) = set.router(&log) else {
        return Ok(()); // axum refuses this set (overlapping routes): no application has it
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router.layer(auth.layer())).await });

    let bearer = format!("Bearer {access_token}");
    let credentials: [&[(&str, &[u8])]; 3] = [
        &[],
        &[("Authorization", bearer.as_bytes())],
        &[("MASTER-TOKEN", MASTER.as_bytes())],
    ];
    for path in set.paths(&mut input) {
        for headers in credentials {
            let reply = exchange_bytes(addr, "GET", &path, headers, b"").await;
            prop_assert!(
                reply.status < 500,
                "{}: answered {} {}",
                String::from_utf8_lossy(&path),
                reply.status,
                reply.body
            );
        }
    }
    server.abort();
    let hits = log.hits();
    AUTHORISED.fetch_add(
        hits.iter()
            .filter(|h| {
                (h.tag == Tag::Master && h.credential == Credential::Master)
                    || (h.tag == Tag::Access && h.credential == Credential::Access)
            })
            .count(),
        Ordering::Relaxed,
    );
    let bypasses = log.bypasses();
    prop_assert!(
        bypasses.is_empty(),
        "protected handlers ran without their credential: {bypasses:#?}\nroutes: {set:#?}\nmaster patterns: {master:?}\naccess patterns: {access:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn no_spelling_reaches_a_protected_axum_handler_without_its_credential(
        seed in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        runtime().block_on(check_axum(seed))?;
    }
}

#[test]
fn the_generated_requests_reach_protected_handlers() {
    // Runs its own cases so that it does not depend on the property's order.
    let mut runner = proptest::test_runner::TestRunner::new(config(32));
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..256), |seed| {
            runtime().block_on(check_axum(seed))
        })
        .unwrap();
    assert!(
        AUTHORISED.load(Ordering::Relaxed) > 0,
        "no protected handler was ever reached"
    );
}

/// The health service guarded at master level, with a counter inside the layer: the
/// service reached without the master token is a bypass.
async fn tonic_server() -> (SocketAddr, Hits) {
    let auth = builder()
        .master_token(MASTER)
        .failure_limit(None)
        .master_paths(["/grpc.health.v1.Health"])
        .stateless()
        .build()
        .unwrap();
    serve_health_counted(&auth).await
}

/// One gRPC call (an empty message) to `path`; `None` if the path is no valid URI.
async fn grpc_call(addr: SocketAddr, path: &[u8], master: bool) -> Option<u16> {
    let path = std::str::from_utf8(path).ok()?;
    let mut request = grpc_request(Method::POST, &format!("http://{addr}{path}"));
    if master {
        request = request.header("master-token", MASTER);
    }
    let request = request.body(empty_message()).ok()?;
    let response = h2_client().request(request).await.ok()?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Some(status)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn no_spelling_reaches_a_protected_tonic_service_without_the_master_token(
        seed in prop::collection::vec(any::<u8>(), 0..64)
    ) {
        runtime().block_on(async {
            let (addr, reached) = tonic_server().await;
            let mut input = Input::new(&seed);
            for template in [
                "/grpc.health.v1.Health/Check",
                "/grpc.health.v1.Health/Watch",
                "/grpc.health.v1.Health/{*rest}",
            ] {
                for _ in 0..4 {
                    let path = spell(template, &mut input);
                    let _ = grpc_call(addr, &path, false).await;
                    prop_assert_eq!(
                        reached.get(),
                        0,
                        "{} reached the health service without the master token",
                        String::from_utf8_lossy(&path)
                    );
                }
            }
            // The canonical call with the token does reach it.
            prop_assert_eq!(grpc_call(addr, b"/grpc.health.v1.Health/Check", true).await, Some(200));
            prop_assert_eq!(reached.get(), 1);
            Ok(())
        })?;
    }
}
