//! [`FastAuthLayer`], the tower [`Layer`], and the ways a [`FastAuth`] hands one out.

use tower_layer::Layer;

use super::service::{FastAuthService, Guard};
use crate::{auth::FastAuth, paths::Level};

/// Requires of each request the credential its level asks for: the `MASTER-TOKEN`
/// header at master level, an access token (`ACCESS-TOKEN` header or
/// `Authorization: Bearer`) at access level; public requests pass untouched. Obtain it
/// from [`FastAuth::layer`], [`FastAuth::require_access`] or [`FastAuth::require_master`].
///
/// A granted access-level request carries the token's [`Claims`](crate::Claims) in its
/// extensions (with the `axum` feature, handlers take them as [extractors]). A refusal
/// is a response, never an error: JSON for HTTP, a trailers-only status for gRPC (see
/// [`AuthError`](crate::AuthError)).
///
/// Works with any `Service<http::Request<ReqBody>, Response = http::Response<ResBody>>`
/// that is `Clone`, for any request body: axum's `Router::layer` and `route_layer`,
/// tonic's `Server::builder().layer`, or a plain hyper service through
/// `tower::ServiceBuilder::new().layer(auth.layer()).service(svc)`. `poll_ready` is the
/// inner service's. Its responses have the inner service's body type, in which it writes
/// its refusals: a [`RefusalBody`](crate::body::RefusalBody), such as axum's `Body` (with
/// the `axum` feature), tonic's (with `tonic`) or `http-body-util`'s `Full`; any other
/// body goes through [`ResponseBody`](crate::body::ResponseBody).
///
/// # gRPC
///
/// Clients send the same names as gRPC metadata: `access-token`,
/// `authorization: Bearer …` or `master-token`; gRPC paths are
/// `/package.Service/Method`, so an access pattern such as `/grpc.health.v1.Health`
/// guards a whole service. With the `tonic` feature the layer can also wrap a single
/// service, `Server::builder().add_service(auth.layer().layer(svc))`: the service's
/// `NamedService` name passes through.
///
/// # Every method needs the credential
///
/// The layer never hands a request for a protected path to the inner service without a
/// valid credential, `OPTIONS` included: tonic, axum's `any(…)`, `route_service` and
/// proxies run the protected operation whatever the method, so a CORS preflight let
/// through would run it. Serve browsers with tower-http's `CorsLayer` *outside* the auth
/// layer: it answers preflights itself and adds its headers to the layer's refusals, so
/// the page can read them (the whole program is
/// [`examples/cors`](https://github.com/fastauth-rs/fastauth/blob/main/examples/cors/src/main.rs)):
///
/// ```
/// use axum::{Router, http::{HeaderValue, Method, header}, routing::get};
/// use tower_http::cors::CorsLayer;
///
/// fn app(auth: &fastauth::FastAuth) -> Router {
///     let cors = CorsLayer::new()
///         .allow_origin(HeaderValue::from_static("https://app.example"))
///         .allow_methods([Method::GET, Method::POST])
///         .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
///     Router::new()
///         .route("/api/items", get(|| async { "items" }))
///         .layer(auth.layer()) // inner: checks the credential
///         .layer(cors) // outer: answers preflights, adds CORS headers to every answer
/// }
/// # let auth = fastauth::FastAuth::builder()
/// #     .ignore_environment()
/// #     .cryptography_key("an example key of at least thirty-two bytes")
/// #     .access_paths(["/api"])
/// #     .stateless()
/// #     .build()
/// #     .unwrap();
/// # let _ = app(&auth);
/// ```
///
/// # `route_layer` guards only the routes it wraps
///
/// With axum's `Router::route_layer(auth.layer())`, unknown paths stay 404, but a
/// `fallback` (or a route added after it) under a protected prefix is not behind the
/// layer and runs without a credential. Put the layer on the whole router with
/// `.layer(…)` unless every handler below the prefix is a route added before the
/// `route_layer`.
///
/// # Around the router: the cheapest place
///
/// axum's `Router::layer` wraps each route, and axum then boxes and clones the wrapped
/// route for every request. Wrapping the finished router once guards every request it
/// receives, as `.layer(…)` on the whole router does, for about 500 fewer instructions a
/// request: in `basic_api`, 3 % of a small request's instructions, 0.5–2 % of its CPU
/// time with the kernel's part
/// ([BENCHMARKS.md](https://github.com/fastauth-rs/fastauth/blob/main/BENCHMARKS.md)):
///
/// ```
/// use std::net::SocketAddr;
///
/// use axum::{Router, ServiceExt, extract::Request, routing::get};
/// use tower::Layer;
///
/// async fn serve(auth: fastauth::FastAuth, listener: tokio::net::TcpListener) -> std::io::Result<()> {
///     let router = Router::new()
///         .route("/api/items", get(|| async { "items" }))
///         .nest_service("/auth", auth.token_router());
///     let app = auth.layer().layer(router);
///     // The client address for the failure limit, as with `Router::into_make_service_with_connect_info`.
///     axum::serve(listener, ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app)).await
/// }
/// # let _ = serve;
/// ```
///
#[cfg_attr(feature = "axum", doc = "[extractors]: crate::extract")]
#[cfg_attr(
    not(feature = "axum"),
    doc = "[extractors]: https://docs.rs/fastauth/latest/fastauth/extract/index.html"
)]
#[derive(Debug, Clone)]
pub struct FastAuthLayer {
    auth: FastAuth,
    guard: Guard,
}

impl<S> Layer<S> for FastAuthLayer {
    type Service = FastAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FastAuthService::new(inner, self.auth.clone(), self.guard)
    }
}

impl FastAuth {
    /// The layer that protects paths as configured: each request needs the level its
    /// path has under the patterns (`master_paths`, `access_paths`, `public_paths`) and
    /// the default level.
    pub fn layer(&self) -> FastAuthLayer {
        FastAuthLayer {
            auth: self.clone(),
            guard: Guard::Patterns,
        }
    }

    /// A layer that requires a valid access token of every request it wraps, whatever
    /// the path: for axum's `route_layer` or a nested router, where the routes it wraps
    /// are the routes it protects.
    pub fn require_access(&self) -> FastAuthLayer {
        FastAuthLayer {
            auth: self.clone(),
            guard: Guard::Fixed(Level::Access),
        }
    }

    /// A layer that requires the master token of every request it wraps, whatever the
    /// path. Without a configured master token it refuses everything.
    pub fn require_master(&self) -> FastAuthLayer {
        if self.shared().master.is_none() {
            tracing::warn!(
                target: "fastauth",
                "require_master() on a FastAuth without a master token: every request it wraps is refused"
            );
        }
        FastAuthLayer {
            auth: self.clone(),
            guard: Guard::Fixed(Level::Master),
        }
    }
}
