//! fastauth's layer next to what users would pick instead, on one axum 0.8 app, in one run.
//!
//! `cargo bench --bench alternatives` (BENCHMARKS.md, "Side by side with the alternatives",
//! pins it with `taskset -c 1`). Every row sends the very same request — `GET /api/items`
//! with `Authorization: Bearer <token>`, the token one fastauth issued, which is an
//! ordinary HS256 JWT for the others (same key, same header) — through
//! `tower::ServiceExt::oneshot` on a prebuilt `Router` cloned per request, and checks the
//! answer is 200:
//!
//! - `baseline`: the app with no auth at all;
//! - `fastauth, stateless` and `fastauth, stored + memory store`: `FastAuth::layer()` on the
//!   app (`Router::layer`);
//! - `jsonwebtoken 12 layer`: a tower layer written the obvious way (`decode::<Claims>`
//!   with `Validation::new(HS256)` and `DecodingKey::from_secret`, the claims inserted into
//!   the request's extensions);
//! - `axum-jwt-auth 0.7 extractor`: its `Claims<T>` extractor in the handler, with a
//!   `LocalDecoder` (jsonwebtoken 10) in the router's state;
//! - `static bearer, tower-http`: `ValidateRequestHeaderLayer::bearer` (deprecated since
//!   tower-http 0.6.7, and its `==` is not constant-time), and the same check with a
//!   constant-time comparison through `ValidateRequestHeaderLayer::custom`.
//!
//! Two groups:
//! - `steady`: the same token on every request, as a client resends its token until it
//!   expires; fastauth's token cache on (its default) and holding the token;
//! - `first use`: every request carries another token, cycling through a pool of
//!   65,536 distinct tokens (distinct clients) issued beforehand. fastauth runs with its
//!   token cache off (`token_cache_capacity(0)`), which is what a token's first request
//!   costs in verification, and — in the rows marked `cache on` — with the default cache,
//!   where nearly every request is a miss that verifies and inserts (16 tokens for every
//!   slot). The others cache nothing, so for them first use is the same work as the
//!   steady state, measured on the same pool of tokens. The static bearer checks have one
//!   token only and appear in `steady` alone.
//!
//! Times are the benchmark thread's CPU time per request (`common/cpu_time.rs`): the
//! machine these figures come from is shared.

use std::{
    convert::Infallible,
    future::{Future, Ready, ready},
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use common::cpu_time::ThreadCpuTime;
use criterion::{Criterion, criterion_group, criterion_main};
use fastauth::{FastAuth, FastAuthBuilder, store::MemoryTokenStore};
use futures_util::future::Either;
use http::{HeaderValue, Request, Response, StatusCode, header::AUTHORIZATION};
use serde::Deserialize;
use tower::{Layer, Service, ServiceExt};
use tower_http::validate_request::ValidateRequestHeaderLayer;

mod common {
    pub mod cpu_time;
}

/// fastauth's cryptography key; its HS256 key is these bytes, as for PyJWT.
const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
const PATH: &str = "/api/items";
/// Distinct tokens of the `first use` group: 16 times the default token cache capacity.
const POOL: usize = 65_536;

/// The claims of a fastauth access token, as the alternatives read them.
#[derive(Clone, Debug, Deserialize)]
#[allow(
    dead_code,
    reason = "read by deserialization only, as a user's claims would be"
)]
struct JwtClaims {
    client_id: String,
    #[serde(rename = "type")]
    token_type: String,
    exp: u64,
    iat: u64,
    jti: Option<String>,
}

async fn handler() -> &'static str {
    "ok"
}

async fn handler_with_axum_jwt_auth(_claims: axum_jwt_auth::Claims<JwtClaims>) -> &'static str {
    "ok"
}

fn app() -> Router {
    Router::new().route(PATH, get(handler))
}

fn fastauth(store: Option<Arc<MemoryTokenStore>>, token_cache: bool) -> FastAuth {
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
        .access_paths(["/api"]);
    match store {
        None => builder.stateless(),
        Some(store) => builder.store(store),
    }
    .build()
    .unwrap()
}

/// A jsonwebtoken 12 layer written the obvious way.
#[derive(Clone)]
struct JwtLayer {
    key: Arc<jsonwebtoken::DecodingKey>,
    validation: Arc<jsonwebtoken::Validation>,
}

impl JwtLayer {
    fn new(secret: &[u8]) -> Self {
        Self {
            key: Arc::new(jsonwebtoken::DecodingKey::from_secret(secret).unwrap()),
            validation: Arc::new(jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256)),
        }
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = JwtService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
struct JwtService<S> {
    inner: S,
    layer: JwtLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for JwtService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let claims = token.and_then(|token| {
            jsonwebtoken::decode::<JwtClaims>(token, &self.layer.key, &self.layer.validation).ok()
        });
        match claims {
            Some(data) => {
                request.extensions_mut().insert(data.claims);
                Either::Right(self.inner.call(request))
            }
            None => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Either::Left(ready(Ok(response)))
            }
        }
    }
}

/// axum-jwt-auth's documented setup: a `LocalDecoder` in the state, the extractor in the
/// handler. `LocalDecoder` insists on an audience; a token without `aud` (as fastauth's)
/// still passes, since jsonwebtoken checks `aud` only when the token has one.
fn axum_jwt_auth_app(secret: &[u8]) -> Router {
    let mut validation = jsonwebtoken10::Validation::new(jsonwebtoken10::Algorithm::HS256);
    validation.set_audience(&["fastauth-bench"]);
    let decoder = axum_jwt_auth::LocalDecoder::builder()
        .keys(vec![jsonwebtoken10::DecodingKey::from_secret(secret)])
        .validation(validation)
        .build()
        .unwrap();
    let decoder: axum_jwt_auth::Decoder<JwtClaims> = Arc::new(decoder);
    Router::new()
        .route(PATH, get(handler_with_axum_jwt_auth))
        .with_state(decoder)
}

/// A static bearer check with a constant-time comparison (tower-http's own uses `==`).
#[allow(
    clippy::result_large_err,
    reason = "tower-http's `ValidateRequest` closures return the refusal as `Err(Response)`"
)]
fn constant_time_bearer(
    token: &str,
) -> ValidateRequestHeaderLayer<impl Fn(&mut Request<Body>) -> Result<(), Response<Body>> + Clone + use<>> {
    let expected: Arc<[u8]> = format!("Bearer {token}").into_bytes().into();
    ValidateRequestHeaderLayer::custom(move |request: &mut Request<Body>| {
        let presented = request.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
        if presented.is_some_and(|presented| constant_time_eq(presented, &expected)) {
            Ok(())
        } else {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Err(response)
        }
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Polls a future that is expected to be ready at once (no I/O is involved).
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future was not ready"),
    }
}

fn request(token: &HeaderValue) -> Request<Body> {
    Request::get(PATH)
        .header(AUTHORIZATION, token.clone())
        .body(Body::empty())
        .unwrap()
}

/// One request through a clone of `app`, as a server serves it.
fn serve(app: &Router, token: &HeaderValue) {
    let response: Result<Response<Body>, Infallible> = now(app.clone().oneshot(request(token)));
    assert_eq!(response.unwrap().status(), StatusCode::OK);
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::try_from(format!("Bearer {token}")).unwrap()
}

fn alternatives(c: &mut Criterion<ThreadCpuTime>) {
    // One store for both stored-mode instances, holding the pairs of the pool's clients.
    let store = Arc::new(MemoryTokenStore::new());
    let issuer = fastauth(Some(store.clone()), false);
    let tokens: Vec<String> = (0..POOL)
        .map(|i| {
            now(issuer.issue(Some(&format!("bench-client-{i}"))))
                .unwrap()
                .access_token
        })
        .collect();
    let pool: Vec<HeaderValue> = tokens.iter().map(|token| bearer(token)).collect();
    let steady_token = &tokens[0];
    let steady = &pool[0];

    let jwt = JwtLayer::new(KEY.as_bytes());
    let fastauth_rows = |cache: bool| {
        [
            ("fastauth, stateless", fastauth(None, cache)),
            (
                "fastauth, stored + memory store",
                fastauth(Some(store.clone()), cache),
            ),
        ]
    };

    let mut group = c.benchmark_group("steady");
    let mut rows: Vec<(String, Router)> = vec![("baseline: no auth".into(), app())];
    #[allow(
        deprecated,
        reason = "measured as what users have; its deprecation is noted in BENCHMARKS.md"
    )]
    let tower_http_bearer = ValidateRequestHeaderLayer::bearer(steady_token);
    rows.push((
        "static bearer, tower-http (==)".into(),
        app().layer(tower_http_bearer),
    ));
    rows.push((
        "static bearer, constant-time".into(),
        app().layer(constant_time_bearer(steady_token)),
    ));
    for (name, auth) in fastauth_rows(true) {
        rows.push((name.into(), app().layer(auth.layer())));
    }
    rows.push(("jsonwebtoken 12 layer".into(), app().layer(jwt.clone())));
    rows.push((
        "axum-jwt-auth 0.7 extractor".into(),
        axum_jwt_auth_app(KEY.as_bytes()),
    ));
    for (name, app) in &rows {
        group.bench_function(name.as_str(), |b| b.iter(|| serve(app, steady)));
    }
    group.finish();

    let mut group = c.benchmark_group("first use");
    let mut rows: Vec<(String, Router)> = vec![("baseline: no auth".into(), app())];
    for (name, auth) in fastauth_rows(false) {
        rows.push((format!("{name}, cache off"), app().layer(auth.layer())));
    }
    for (name, auth) in fastauth_rows(true) {
        rows.push((
            format!("{name}, cache on (miss, insert)"),
            app().layer(auth.layer()),
        ));
    }
    rows.push(("jsonwebtoken 12 layer".into(), app().layer(jwt)));
    rows.push((
        "axum-jwt-auth 0.7 extractor".into(),
        axum_jwt_auth_app(KEY.as_bytes()),
    ));
    for (name, app) in &rows {
        let mut next = 0;
        group.bench_function(name.as_str(), |b| {
            b.iter(|| {
                serve(app, &pool[next]);
                next = (next + 1) % POOL;
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // A shared two-core machine: short runs, so the whole file takes a few minutes.
    config = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = alternatives
}
criterion_main!(benches);
