//! axum servers on 127.0.0.1, and a counter of what reaches the handlers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::Router;
use fastauth::FastAuth;
use tokio::net::TcpListener;
use tower::util::MapRequestLayer;

/// Counts the requests that reach the handlers behind it.
#[derive(Clone, Default)]
pub struct Hits(Arc<AtomicUsize>);

impl Hits {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A layer that counts every request going through it, of any request type (axum's,
    /// tonic's): put it *inside* the layer under test, so a count that moves means a
    /// request got through.
    pub fn layer<R>(&self) -> MapRequestLayer<impl Fn(R) -> R + Clone + Send + Sync + 'static> {
        let hits = self.0.clone();
        MapRequestLayer::new(move |req: R| {
            hits.fetch_add(1, Ordering::SeqCst);
            req
        })
    }

    /// `router` with every request that reaches it counted (see [`Hits::layer`]).
    pub fn count(&self, router: Router) -> Router {
        router.layer(self.layer::<axum::extract::Request>())
    }
}

/// `routes` with the token endpoints under `/auth`, all behind `auth.layer()`: the app
/// of fastauth-api's quick start.
pub fn protected(auth: &FastAuth, routes: Router) -> Router {
    routes
        .nest_service("/auth", auth.token_router())
        .layer(auth.layer())
}

/// Serves `app` with connect info on a free port of 127.0.0.1: the brute-force
/// protection sees the client address and counts its failures.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    addr
}

/// Serves `app` on a free port of 127.0.0.1 without connect info: no client address, so
/// the requests the failure limit counts are refused (500) unless the limit is off or
/// the app finds the address itself (`client_address`).
pub async fn serve_without_connect_info(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A port of 127.0.0.1 that was free a moment ago, and on which nothing listens now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
