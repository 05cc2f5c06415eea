//! Microbenchmarks of the work fastauth adds to a request.
//!
//! `cargo bench --bench auth`. The jsonwebtoken decode of the same token is measured in
//! the same run as the reference. See BENCHMARKS.md for the figures and the method.

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use criterion::{Criterion, criterion_group, criterion_main};
use fastauth::{
    FastAuth, FastAuthBuilder,
    body::FullBody,
    store::{CachedTokenStore, MemoryTokenStore},
    token::TokenType,
};
use http::{HeaderValue, Request, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tower::{Layer, Service};

const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

#[derive(Clone, Copy)]
enum Mode {
    Stateless,
    /// Stored mode, the pair in a `MemoryTokenStore`.
    Memory,
    /// Stored mode, the pair served from a `CachedTokenStore` hit.
    CacheHit,
}

fn auth_with(mode: Mode, token_cache: bool) -> FastAuth {
    let builder = FastAuth::builder()
        .ignore_environment()
        .token_cache_capacity(if token_cache {
            FastAuthBuilder::DEFAULT_TOKEN_CACHE_CAPACITY
        } else {
            0
        })
        .cryptography_key(KEY)
        .master_token("master")
        .master_paths(["/admin", "/auth/token/new"])
        .access_paths(["/api", "/ws", "/v1/*/items"]);
    match mode {
        Mode::Stateless => builder.stateless(),
        Mode::Memory => builder.store(MemoryTokenStore::new()),
        Mode::CacheHit => builder.store(
            CachedTokenStore::builder(MemoryTokenStore::new())
                .ttl(Duration::from_secs(3600))
                .build(),
        ),
    }
    .build()
    .unwrap()
}

fn auth(stateless: bool) -> FastAuth {
    auth_with(if stateless { Mode::Stateless } else { Mode::Memory }, true)
}

/// Polls a future that is expected to be ready at once (no I/O is involved).
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future was not ready"),
    }
}

fn tokens(c: &mut Criterion) {
    let auth = auth(true);
    let token = fastauth::hooks::codec(&auth)
        .issue_pair("bench-client")
        .unwrap()
        .access_token;
    let mut group = c.benchmark_group("token");
    group.bench_function("verify (fastauth)", |b| {
        b.iter(|| {
            fastauth::hooks::codec(&auth)
                .verify(black_box(&token), TokenType::Access)
                .unwrap()
        })
    });
    group.bench_function("verify (jsonwebtoken::decode, reference)", |b| {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct C {
            client_id: String,
            #[serde(rename = "type")]
            t: String,
            exp: u64,
            iat: u64,
        }
        let key = DecodingKey::from_secret(KEY.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        b.iter(|| jsonwebtoken::decode::<C>(black_box(&token), &key, &validation).unwrap())
    });
    group.bench_function("issue pair", |b| {
        b.iter(|| {
            fastauth::hooks::codec(&auth)
                .issue_pair(black_box("bench-client"))
                .unwrap()
        })
    });
    group.finish();
}

fn paths(c: &mut Criterion) {
    let auth = auth(true);
    let mut group = c.benchmark_group("paths");
    group.bench_function("level_for /api/items/42", |b| {
        b.iter(|| auth.level_for(black_box("/api/items/42")))
    });
    group.bench_function("level_for /public/assets/app.js", |b| {
        b.iter(|| auth.level_for(black_box("/public/assets/app.js")))
    });
    group.bench_function("level_for //API/./x/../items%2F1", |b| {
        b.iter(|| auth.level_for(black_box("//API/./x/../items%2F1")))
    });
    group.finish();
}

fn layer(c: &mut Criterion) {
    let inner = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(FullBody::default()))
    });
    // Every request carries the same header value object, as a server hands the layer a
    // header parsed out of its read buffer: the benchmark measures the layer, not copying
    // the token into a new `HeaderValue`.
    let request = |path: &str, token: &HeaderValue| {
        Request::get(path)
            .header("access-token", token.clone())
            .body(())
            .unwrap()
    };
    let mut group = c.benchmark_group("layer");
    for (name, mode, cache) in [
        ("stateless", Mode::Stateless, true),
        ("stateless, token cache off", Mode::Stateless, false),
        ("stored, memory store", Mode::Memory, true),
        ("stored, cache hit", Mode::CacheHit, true),
    ] {
        let auth = auth_with(mode, cache);
        let token =
            HeaderValue::try_from(now(auth.issue(Some("bench-client"))).unwrap().access_token).unwrap();
        let mut service = auth.layer().layer(inner);
        group.bench_function(format!("valid access token, {name}"), |b| {
            b.iter(|| {
                let response = now(service.call(request("/api/items/42", &token))).unwrap();
                assert_eq!(response.status(), 200);
            })
        });
    }
    let auth = auth(true);
    let token = HeaderValue::try_from(
        fastauth::hooks::codec(&auth)
            .issue_pair("bench-client")
            .unwrap()
            .access_token,
    )
    .unwrap();
    let mut service = auth.layer().layer(inner);
    group.bench_function("unprotected path", |b| {
        b.iter(|| now(service.call(request("/public/assets/app.js", &token))).unwrap())
    });
    group.bench_function("baseline: inner service alone", |b| {
        let mut inner = inner;
        b.iter(|| now(inner.call(request("/api/items/42", &token))).unwrap())
    });
    group.finish();
}

/// The two readings of the time the per-request paths could make (src/clock.rs): the
/// precise clock, and the kernel's coarse one that fastauth reads on Linux.
fn clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    group.bench_function("SystemTime::now", |b| b.iter(std::time::SystemTime::now));
    group.bench_function("Instant::now", |b| b.iter(std::time::Instant::now));
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    group.bench_function("clock_gettime(CLOCK_REALTIME_COARSE)", |b| {
        b.iter(|| rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse))
    });
    group.finish();
}

criterion_group!(benches, tokens, paths, layer, clock);
criterion_main!(benches);
