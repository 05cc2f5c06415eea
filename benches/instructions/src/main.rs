//! Instruction counts of the hot paths, for `benches/instructions.py`, which runs each
//! under valgrind's callgrind and compares the counts with a committed baseline. Counts
//! do not depend on the machine's load, so a CI run can tell a 3 % regression from noise.
//!
//! `instructions <name>` warms the path up, then runs it `ROUNDS` times inside
//! `measured`, the only function callgrind counts in (`--toggle-collect`). Valgrind's CPU
//! has no SHA extensions, so SHA-256 runs in software (~20k instructions an HMAC, far
//! more than the rest): for every path but `hmac`, which counts one HMAC-SHA256 on its
//! own, the script subtracts what the SHA-256 block function cost inside `measured`.

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::pin,
    process::ExitCode,
    task::{Context, Poll, Waker},
};

use fastauth::{FastAuth, FastAuthBuilder, body::FullBody, store::MemoryTokenStore, token::TokenType};
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

/// How many times the path runs inside `measured`; the script divides by it.
const ROUNDS: usize = 100;

const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

fn builder() -> FastAuthBuilder {
    FastAuth::builder()
        .ignore_environment()
        .cryptography_key(KEY)
        .master_token("bench-master-token")
        .master_paths(["/admin", "/auth/token/new"])
        .access_paths(["/api", "/ws", "/v1/*/items"])
}

/// Polls a future that is ready at once (no I/O is involved).
fn now<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future)
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The only function callgrind counts in.
#[inline(never)]
fn measured(run: &mut dyn FnMut()) {
    for _ in 0..ROUNDS {
        run();
    }
}

/// Runs `run` once to warm it up (lazy initialisation is not what is measured), then
/// `ROUNDS` times measured.
fn bench(mut run: impl FnMut()) {
    run();
    measured(&mut run);
}

/// A request through the layer to a trivial inner service, `ROUNDS` times.
fn layer_bench(auth: &FastAuth, path: &'static str) {
    let inner = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(FullBody::default()))
    });
    let mut service = auth.layer().layer(inner);
    let token = now(auth.issue(Some("bench-client")))
        .and_then(Result::ok)
        .map(|pair| pair.access_token)
        .and_then(|token| HeaderValue::try_from(token).ok());
    let Some(token) = token else {
        eprintln!("no token issued");
        return;
    };
    // The requests are built outside the measured function: a server hands the layer a
    // parsed request.
    let mut requests: Vec<Request<()>> = (0..=ROUNDS)
        .map(|_| {
            let mut request = Request::new(());
            *request.uri_mut() = http::Uri::from_static(path);
            request.headers_mut().insert("access-token", token.clone());
            request
        })
        .collect();
    bench(|| {
        if let Some(request) = requests.pop() {
            let response = now(service.call(request));
            assert!(matches!(response, Some(Ok(ref r)) if r.status() == 200));
        }
    });
}

fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    let stateless = || builder().stateless().build().expect("a valid configuration");
    match name.as_str() {
        "hmac" => {
            let auth = stateless();
            let codec = fastauth::hooks::codec(&auth);
            let message = [b'x'; 148];
            bench(|| {
                black_box(codec.hmac(black_box(&message)));
            });
        }
        "verify" => {
            let auth = stateless();
            let codec = fastauth::hooks::codec(&auth);
            let token = codec.issue_pair("bench-client").expect("a pair").access_token;
            bench(|| {
                black_box(codec.verify(black_box(&token), TokenType::Access).expect("valid"));
            });
        }
        "issue_pair" => {
            let auth = stateless();
            let codec = fastauth::hooks::codec(&auth);
            bench(|| {
                black_box(codec.issue_pair(black_box("bench-client")).expect("a pair"));
            });
        }
        "level_for" => {
            let auth = stateless();
            bench(|| {
                black_box(auth.level_for(black_box("/api/items/42")));
            });
        }
        "layer_stateless_hit" => layer_bench(&stateless(), "/api/items/42"),
        "layer_stored_hit" => layer_bench(
            &builder()
                .store(MemoryTokenStore::new())
                .build()
                .expect("a valid configuration"),
            "/api/items/42",
        ),
        "layer_first_use" => layer_bench(
            &builder()
                .stateless()
                .token_cache_capacity(0)
                .build()
                .expect("a valid configuration"),
            "/api/items/42",
        ),
        other => {
            eprintln!(
                "unknown benchmark {other:?}: hmac, verify, issue_pair, level_for, layer_stateless_hit, \
                 layer_stored_hit, layer_first_use"
            );
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
