//! axum servers on 127.0.0.1, served with the client address (so the brute-force
//! protection counts per client), and a counter of what reaches the handlers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::Router;
use tokio::net::TcpListener;
use tower::util::MapRequestLayer;

/// Counts the requests that reach the handlers behind it.
#[derive(Clone, Default)]
pub struct Hits(Arc<AtomicUsize>);

impl Hits {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// `router` with every request that reaches it counted: put it *inside* the layer
    /// under test, so a count that moves means a request got through.
    pub fn count(&self, router: Router) -> Router {
        let hits = self.0.clone();
        router.layer(MapRequestLayer::new(move |req: axum::extract::Request| {
            hits.fetch_add(1, Ordering::SeqCst);
            req
        }))
    }
}

/// Serves `app` with connect info on a free port of 127.0.0.1.
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
