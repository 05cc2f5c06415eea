//! The reference servers of `benches/load.py`: what the cheapest alternatives to a JWT check
//! cost in the very server the layer is measured in. Not an example to copy.
//!
//! The app is `basic_api`'s unprotected baseline as far as `load.py` requests it: the same
//! routes (the two protected ones answer without reading claims; only `/health` is
//! requested, with the same answer), the same configuration file (`FASTAUTH_CONFIG`, read
//! with the same client address), fastauth's layer with no protected path, logging at `info`. Around the whole
//! router (no per-route box, the cheapest place for a layer) sits one reference layer,
//! chosen by `REFERENCE`:
//!
//! - `static-token`: a static token check, the cheapest credential check there is:
//!   tower-http's `ValidateRequestHeaderLayer::custom` comparing the `ACCESS-TOKEN` header
//!   with `REFERENCE_TOKEN` in constant time (tower-http's own `bearer` compares with `==`),
//!   401 otherwise.
//! - `pass-through`: the same tower-http layer with a validator that lets every request
//!   through: what the layer itself costs, so that the static check's own cost is the
//!   difference between the two (fastauth's layer is in the baseline already, so its rows
//!   show its check alone).
//! - `claims-only`: checks nothing and inserts into the request's extensions a value shaped
//!   as fastauth's `Claims` (an `Arc<str>` clone and five words): the cost of handing
//!   claims to the handler the way every tower layer does.
//!
//! - `no-layer`: the app without fastauth's layer, and nothing in its place: paired with
//!   the baseline, what fastauth's layer costs a request it lets through untouched (the
//!   ratio is above 1), so that a user's whole cost of each layer can be compared.
//! - `layer-around`: fastauth's layer with the same configuration, around the whole router
//!   (`auth.layer().layer(router)`) instead of axum's `Router::layer`, which wraps every
//!   route in it: what that placement saves.
//!
//! `load.py` pairs each with the baseline, the same bytes sent to both, as it pairs the
//! layer's configurations.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use axum::{
    Extension, Json, Router, ServiceExt,
    body::Body,
    extract::{ConnectInfo, Request},
    http::{Response, StatusCode},
    routing::get,
};
use fastauth::FastAuth;
use serde_json::json;
use tower::Layer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load_reference: {message}");
            ExitCode::from(2)
        }
    }
}

/// Shaped as `fastauth::Claims`: one shared text and five words.
#[derive(Clone)]
#[allow(
    dead_code,
    reason = "carried, as claims are, for a handler that may read them"
)]
struct CarriedClaims {
    text: Arc<str>,
    client_id_len: usize,
    token_id_end: usize,
    token_type: u8,
    exp: u64,
    iat: u64,
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

async fn run() -> Result<(), String> {
    let config = var("FASTAUTH_CONFIG")?;
    let auth = FastAuth::from_file(&config)
        .map_err(|e| e.to_string())?
        .client_address(|extensions| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        })
        .build()
        .map_err(|e| e.to_string())?;
    let port: u16 = var("PORT")?
        .parse()
        .map_err(|_| "PORT is not a port number".to_owned())?;
    let app = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "healthy"})) }))
        .route(
            "/access/health",
            get(|| async { Json(json!({"status": "healthy"})) }),
        )
        .route(
            "/master/health",
            get(|| async { Json(json!({"status": "healthy"})) }),
        )
        .nest_service(auth.token_prefix(), auth.token_router());
    let reference = var("REFERENCE")?;
    // `no-layer` is the same app without fastauth's layer, and `layer-around` puts it
    // around the router below; the others keep `Router::layer`, as the baseline does.
    let app = match reference.as_str() {
        "no-layer" | "layer-around" => app,
        _ => app.layer(auth.layer()),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, %reference, "load_reference listening");
    let served = match reference.as_str() {
        "static-token" => {
            let app = static_token(var("REFERENCE_TOKEN")?.into_bytes()).layer(app);
            axum::serve(
                listener,
                ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
            )
            .await
        }
        "no-layer" => axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await,
        "layer-around" => {
            let app = auth.layer().layer(app);
            axum::serve(
                listener,
                ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
            )
            .await
        }
        "pass-through" => {
            let app = pass_through().layer(app);
            axum::serve(
                listener,
                ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
            )
            .await
        }
        "claims-only" => {
            let claims = CarriedClaims {
                text: Arc::from("bench-client-and-a-token-id"),
                client_id_len: 5,
                token_id_end: 27,
                token_type: 0,
                exp: u64::MAX,
                iat: 0,
            };
            // axum's `Extension` as a layer: a clone into the extensions per request.
            let app = Extension(claims).layer(app);
            axum::serve(
                listener,
                ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
            )
            .await
        }
        other => {
            return Err(format!(
                "REFERENCE={other:?}: expected static-token, pass-through, claims-only, no-layer or layer-around"
            ));
        }
    };
    served.map_err(|e| format!("server error: {e}"))
}

#[allow(
    clippy::result_large_err,
    reason = "tower-http's `ValidateRequest` closures return the refusal as `Err(Response)`"
)]
fn static_token(
    expected: Vec<u8>,
) -> ValidateRequestHeaderLayer<impl Fn(&mut Request) -> Result<(), Response<Body>> + Clone> {
    let expected: Arc<[u8]> = expected.into();
    ValidateRequestHeaderLayer::custom(move |request: &mut Request| {
        let presented = request.headers().get("access-token").map(|v| v.as_bytes());
        if presented.is_some_and(|presented| constant_time_eq(presented, &expected)) {
            Ok(())
        } else {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Err(response)
        }
    })
}

#[allow(
    clippy::result_large_err,
    reason = "tower-http's `ValidateRequest` closures return the refusal as `Err(Response)`"
)]
fn pass_through() -> ValidateRequestHeaderLayer<impl Fn(&mut Request) -> Result<(), Response<Body>> + Clone> {
    ValidateRequestHeaderLayer::custom(|_: &mut Request| Ok(()))
}

/// Eight bytes at a time, as fastauth's own comparison.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    let mut diff = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        diff |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_tail.iter().zip(b_tail) {
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}
