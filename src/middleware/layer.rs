//! [`FastAuthLayer`], the tower [`Layer`], and the ways a [`FastAuth`] hands one out.

use tower_layer::Layer;

use super::service::{FastAuthService, Guard};
use crate::{auth::FastAuth, paths::Level};

/// Requires of each request the credential its level asks for: the `MASTER-TOKEN`
/// header at master level, an access token (`ACCESS-TOKEN` header or
/// `Authorization: Bearer`) at access level; public requests pass untouched. Obtain it
/// from [`FastAuth::layer`], [`FastAuth::require_access`] or [`FastAuth::require_master`].
///
/// Works with any `Service<http::Request<ReqBody>, Response = http::Response<ResBody>>`
/// whose `ResBody: Default` (axum and tonic bodies are): axum's `Router::layer` and
/// `route_layer`, tonic's `Server::builder().layer`, or a plain hyper service. A refusal
/// is a response (JSON, or a trailers-only gRPC status for gRPC requests), never an error.
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
