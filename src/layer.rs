//! [`FastAuthLayer`], the tower [`Layer`].

use tower_layer::Layer;

use crate::{auth::FastAuth, service::FastAuthService};

/// Protects the paths configured in [`FastAuth`]: master-level paths need the
/// `MASTER-TOKEN` header, access-level paths an access token (`ACCESS-TOKEN` header or
/// `Authorization: Bearer`). Other paths pass untouched.
///
/// Works with any `Service<http::Request<ReqBody>, Response = http::Response<ResBody>>`:
/// axum's `Router::layer`/`route_layer`, tonic's `Server::builder().layer`, or a plain
/// hyper service. A refusal is always a response (401, 503, or a gRPC status), never an
/// `Err`.
///
/// ```
/// use fastauth::FastAuth;
///
/// # fn main() -> Result<(), fastauth::ConfigError> {
/// let auth = FastAuth::builder()
///     .cryptography_key("an example key of at least thirty-two bytes")
///     .master_token("change me")
///     .master_paths(["/admin"])
///     .access_paths(["/api"])
///     .stateless()
///     .build()?;
/// let layer = auth.layer();
/// # let _ = layer;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FastAuthLayer {
    auth: FastAuth,
}

impl FastAuthLayer {
    /// A layer for this configuration (the same as [`FastAuth::layer`]).
    pub fn new(auth: FastAuth) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for FastAuthLayer {
    type Service = FastAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FastAuthService::new(inner, self.auth.clone())
    }
}
