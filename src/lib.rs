//! Token authentication for [tower](https://docs.rs/tower) services: one layer that
//! requires a master token or an HS256 access token per route, the endpoints that issue
//! and refresh those tokens, and pluggable stores for the issued pairs. For axum, tonic,
//! hyper or any tower stack. The Rust successor of the Python package fastauth-api: the
//! same headers, tokens, token endpoints and token-database API, so a deployment can
//! switch and keep its clients.
//!
//! # How a request is checked
//!
//! 1. [`FastAuthLayer`] gives the request's path a [`Level`]: `public`, `access` or
//!    `master`, from the configured path patterns and the default level. Servers read
//!    paths differently (`;params`, `%2F`, `\`, dot and empty segments), so the path is
//!    matched in every way a server may read it and the strictest level applies.
//! 2. *Access*: the token in `ACCESS-TOKEN` or `Authorization: Bearer` must be an HS256
//!    JWT of this deployment (signature, `exp`, `"type":"access"`) and, in stored mode,
//!    its client's current token in the [`store`](crate::store). *Master*: the
//!    `MASTER-TOKEN` header must carry the master token (compared in constant time;
//!    repeated failures lock the client address out for a while, see [`FailureLimit`]).
//! 3. A request without the credential gets an answer from the layer — JSON 401 (or 429,
//!    or 503 when the store cannot answer; [`AuthError`] lists them), a trailers-only
//!    status for gRPC — and never reaches the inner service, whatever its method (see
//!    [`FastAuthLayer`] on CORS). A granted request carries the token's [`Claims`] in its
//!    extensions.
//!
//! Tokens come from the [`TokenRouter`] (`{prefix}/token/new` with the master token,
//! `{prefix}/token/refresh` with a refresh token, which rotates the pair) or from
//! [`FastAuth::issue`]. A configured [`FastAuth`] hands out both, and answers the same
//! questions directly ([`FastAuth::verify_access`], [`FastAuth::level_for`]).
//!
//! # Quick start with axum
//!
//! Every route needs an access token unless it is listed as public (deny by default),
//! `/admin` needs the master token, and the token endpoints are mounted at `/auth`. The
//! key and the master token come from `CRYPTOGRAPHY_KEY` and `MASTER_TOKEN`. The whole
//! program, with its `Cargo.toml`, is `examples/axum-quickstart` in the repository:
//!
//! <!-- example: examples/axum-quickstart/src/main.rs#app -->
#![cfg_attr(feature = "axum", doc = "```rust,no_run")]
#![cfg_attr(not(feature = "axum"), doc = "```rust,ignore")]
//! # use axum::{Router, routing::get};
//! # use fastauth::{Claims, FastAuth, Level, store::MemoryTokenStore};
//! # async fn me(claims: Claims) -> String { format!("hello, {}\n", claims.client_id()) }
//! # fn main() -> Result<(), fastauth::ConfigError> {
//! let auth = FastAuth::builder()
//!     .default_level(Level::Access) // every route needs an access token…
//!     .public_paths(["/health"]) // …but these need nothing
//!     .master_paths(["/admin"]) // and these need the master token
//!     .store(MemoryTokenStore::new()) // issued pairs (RedisTokenStore for several instances)
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok\n" }))
//!     .route("/api/me", get(me))
//!     .route("/admin/stats", get(|| async { "all good\n" }))
//!     .nest_service("/auth", auth.token_router()) // /auth/token/new, /auth/token/refresh
//!     .layer(auth.layer());
//! # let _: Router = app;
//! # Ok(())
//! # }
#![doc = "```"]
//!
//! Serve it with the client address, so that failed credentials are counted per client:
//! `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`.
//!
//! # Quick start with tonic
//!
//! The layer in front of every gRPC service, and the token endpoints on the same port,
//! where a client gets a pair over HTTP/1.1 or HTTP/2 (`examples/tonic-quickstart`):
//!
//! <!-- example: examples/tonic-quickstart/src/main.rs#server -->
#![cfg_attr(feature = "tonic", doc = "```rust,no_run")]
#![cfg_attr(not(feature = "tonic"), doc = "```rust,ignore")]
//! # use fastauth::FastAuth;
//! # use tokio::net::TcpListener;
//! # use tonic::{service::Routes, transport::{Server, server::TcpIncoming}};
//! # async fn run(auth: FastAuth, listener: TcpListener) -> Result<(), Box<dyn std::error::Error>> {
//! let (_health_reporter, health) = tonic_health::server::health_reporter();
//! // The token endpoints on the same port as the services: a client gets a pair from
//! // `/auth/token/new` (HTTP/1.1 or HTTP/2) and sends `authorization: Bearer …` metadata.
//! let token_router = axum::Router::new().nest_service("/auth", auth.token_router());
//! let routes = Routes::from(token_router).add_service(health);
//! Server::builder()
//!     .accept_http1(true) // for the token endpoints
//!     .layer(auth.layer())
//!     .add_routes(routes)
//!     .serve_with_incoming(TcpIncoming::from(listener))
//!     .await?;
//! # Ok(())
//! # }
#![doc = "```"]
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `http_store` (default) | [`HttpTokenStore`](store::HttpTokenStore) and the `database_api_path` setting |
//! | `axum` | [`Claims`] and [`ClientId`][ClientId] as extractors; axum's `ConnectInfo` as the client address |
//! | `tonic` | the layer's service is a `NamedService`; tonic's `TcpConnectInfo` as the client address |
//! | `redis` | [`RedisTokenStore`][RedisTokenStore]: one store for several instances, atomic rotation |
//! | `rustls` | `https://` for [`HttpTokenStore`](store::HttpTokenStore) |
//! | `utoipa` | [`openapi::FastAuthOpenApi`][FastAuthOpenApi]: the layer's requirements in an OpenAPI document |
//! | `cli` | the `fastauth` command: `keygen`, `token new`, `token inspect` |
//!
// Items of features this build leaves out are linked on docs.rs, which builds them all.
#![cfg_attr(feature = "axum", doc = "[ClientId]: extract::ClientId")]
#![cfg_attr(
    not(feature = "axum"),
    doc = "[ClientId]: https://docs.rs/fastauth/latest/fastauth/extract/struct.ClientId.html"
)]
#![cfg_attr(feature = "redis", doc = "[RedisTokenStore]: store::RedisTokenStore")]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[RedisTokenStore]: https://docs.rs/fastauth/latest/fastauth/store/struct.RedisTokenStore.html"
)]
#![cfg_attr(feature = "utoipa", doc = "[FastAuthOpenApi]: openapi::FastAuthOpenApi")]
#![cfg_attr(
    not(feature = "utoipa"),
    doc = "[FastAuthOpenApi]: https://docs.rs/fastauth/latest/fastauth/openapi/struct.FastAuthOpenApi.html"
)]
//!
//! fastauth signs and verifies every token with its own HMAC-SHA256 (over the `sha2`
//! crate's block function) and uses jsonwebtoken only to decode headers, with none of its
//! crypto backends: the default dependency tree holds no RSA, elliptic-curve, aws-lc or
//! ring crate, and nothing is installed process-wide. The `rust_crypto` and `aws_lc_rs`
//! features of 0.1 remain for one release and do nothing. Without `http_store`
//! (`default-features = false`), `database_api_path` is a configuration error that names
//! the feature. The minimum supported Rust version is 1.88.
//!
//! The `fastauth` command makes keys and mints and inspects tokens offline:
//! `cargo install fastauth --features cli`, then `fastauth keygen`,
//! `fastauth keygen --env-file .env`, `fastauth token new --client-id alice` or
//! `fastauth token inspect <token>`; `fastauth --help` documents each command and its
//! exit codes.
//!
//! # Logging
//!
//! Through [tracing](https://docs.rs/tracing), target `fastauth` (`fastauth::config` for
//! the configuration, `fastauth::store` for [`EncryptedStore`](store::EncryptedStore)).
//! Tokens, the master token and keys are never logged.
//!
//! | level | events | fields |
//! |---|---|---|
//! | debug | one per decision on a protected path (`request refused`, `access token accepted`, `master token accepted`) and per refusal of the token router | `outcome` (`allowed`, `denied`), `level`, `reason` ([`AuthError::reason`]), `checked` (an accepted access token: `signature`, or `store` when the store was asked too), `path` or `client_id` where known |
//! | info | `token pair issued`, `token pair refreshed`, `tokens revoked` | `client_id` |
//! | warn | a rotated refresh token presented again (the client's tokens are revoked); an address locked out; a stored token that does not open; [`FastAuth::require_master`] without a master token | `client_id`, `client_ip` |
//! | error | `token store error`, with its cause; a whole network locked out ([`FailureLimit`]); the first request refused for want of a client address | `operation`, `error`, `network`, `client_ip` |
//!
//! At build time, target `fastauth::config`: `fastauth configured` at debug (where each
//! secret came from, never its value) and a warning when stateless access tokens live
//! longer than an hour.
//!
//! # Migrating from fastauth-api
//!
//! - Keep `fastauth.config.json` as it is: its snake_case keys (what the Python code
//!   reads) and the hyphenated keys of its README are both accepted, and `MASTER_TOKEN`
//!   and `CRYPTOGRAPHY_KEY` still apply ([the configuration file](FastAuthBuilder#the-configuration-file)).
//! - Keep your clients: the `MASTER-TOKEN` and `ACCESS-TOKEN` headers,
//!   `/auth/token/new` and `/auth/token/refresh`, the same envelope ([`TokenRouter`]).
//!   `Authorization: Bearer` works too.
//! - Keep your tokens: with the same `CRYPTOGRAPHY_KEY`, tokens minted by the Python
//!   package are accepted here and ours there ([`token`]).
//! - Keep your token database: set `database_api_path` (and `headers`, which are now
//!   actually sent) for an [`HttpTokenStore`](store::HttpTokenStore). Stored mode needs a
//!   store: there is no default.
//! - What changes, on purpose: patterns match whole segments (`/access` no longer guards
//!   `/accessories`) in every spelling of the path, a mount prefix included; refresh
//!   tokens rotate (a rotated one is refused, and revokes the client's tokens); access
//!   tokens presented for refresh, tokens without `exp` and non-HS256 tokens are
//!   refused; error messages are stable ([`AuthError`]), never a library's text; a token
//!   database that is down gives a 503 in JSON instead of a bare 500; an empty master
//!   token opens nothing and is a build error; an unknown key in the configuration file
//!   is an error instead of being ignored.
//!
//! # Where things are
//!
//! - [`FastAuth::builder`] and [`FastAuth::from_file`]: the configuration (every setting
//!   has the name of its `fastauth.config.json` key), checked once by
//!   [`FastAuthBuilder::build`]; path patterns and key rotation are described there.
//! - [`FastAuth::layer`], [`FastAuth::require_access`], [`FastAuth::require_master`]: the
//!   layers; [`FastAuth::token_router`]: the token endpoints ([`TokenRouter`]).
//! - [`FailureLimit`]: the brute-force protection, on by default.
//! - [`store`]: the [`TokenStore`](store::TokenStore) trait (with a custom store
//!   example) and the stores: memory, fastauth-api's HTTP database, Redis, a cache in
//!   front of any store, encryption at rest.
//! - [`response`]: the refusals and [`Rejection`](response::Rejection), for
//!   [`FastAuthBuilder::on_failure`]; [`AuthError`] lists every refusal.
//! - [`crypto`]: key generation and AES-256-GCM sealing; [`token`]: token types and limits.
//!
//! In the repository: programs to start from in
//! [`examples/`](https://github.com/fastauth-rs/fastauth/tree/main/examples), among them
//! an authorization backend for Flussonic Media Server
//! ([`examples/flussonic_backend`](https://github.com/fastauth-rs/fastauth/blob/main/examples/flussonic_backend/README.md));
//! [SECURITY.md](https://github.com/fastauth-rs/fastauth/blob/main/SECURITY.md): what the
//! crate protects against and the tests that prove it;
//! [BENCHMARKS.md](https://github.com/fastauth-rs/fastauth/blob/main/BENCHMARKS.md): what
//! the layer costs per request, and how that was measured;
//! [CONTRIBUTING.md](https://github.com/fastauth-rs/fastauth/blob/main/CONTRIBUTING.md):
//! how to build, test and change the crate.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
// User input must never reach a panic: outside tests, every indexing, unwrap, panic and
// unchecked arithmetic is a compile error, and each exception names its reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod authorize;
pub mod body;
mod clock;
mod config;
mod credentials;
pub mod crypto;
mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;
pub mod future;
#[doc(hidden)]
pub mod hooks;
mod limiter;
mod middleware;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod paths;
pub mod response;
mod router;
mod state;
pub mod store;
pub mod token;

/// The attribute a [`TokenStore`](store::TokenStore) implementation needs on its `impl`
/// block (the trait's methods are `async`), re-exported so that a custom store needs no
/// dependency of its own.
pub use async_trait::async_trait;
pub use auth::FastAuth;
pub use config::FastAuthBuilder;
pub use error::{AuthError, ConfigError, IssueError, RefreshError};
pub use limiter::{FailureLimit, FailureLimitStats};
pub use middleware::{layer::FastAuthLayer, service::FastAuthService};
pub use paths::Level;
pub use router::TokenRouter;
pub use state::TokenMode;
pub use token::{Claims, TokenPair};
