//! Assembling the app: database, management key, routes, the layer guarding them, the
//! background cleanup; and serving it with a graceful shutdown. The top of the import
//! graph: only the binary and the tests import this module.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, routing::get, serve::ListenerExt};
use tokio::net::TcpListener;

use crate::{
    config::Config,
    db::{Db, Tuning},
    flussonic::{self, decision::Policy},
    management::{
        self,
        api_key::{self, KeySource},
        guard,
    },
    ops::{self, cleanup::LogBounds, metrics::recorder::Metrics},
    state::AppState,
};

/// The built app.
pub struct App {
    /// The routes, with the management API behind the guard.
    pub router: Router,
    /// Shared state (for [`AppState::shutdown`]).
    pub state: AppState,
    /// Where the management key came from.
    pub key_source: KeySource,
}

/// Builds the app from `config`: opens (or creates) the database, resolves the
/// management key, and starts the background cleanup. Needs a tokio runtime.
pub fn build(config: &Config) -> Result<App, String> {
    build_tuned(config, Tuning::default())
}

/// [`build`], with the database's limits set.
pub fn build_tuned(config: &Config, tuning: Tuning) -> Result<App, String> {
    let (key, key_source) = api_key::resolve(config.api_key.as_deref(), &config.api_key_file)?;
    let db = Db::open(&config.database_path, &config.log_database_path, tuning).map_err(|e| e.to_string())?;
    let metrics = Arc::new(Metrics::new());
    let cleanup = ops::cleanup::spawn(
        db.clone(),
        Arc::clone(&metrics),
        Duration::from_secs(config.session_cleanup_interval),
        LogBounds {
            retention_days: config.access_log_retention_days,
            max_rows: config.access_log_max_rows,
            max_bytes: config.access_log_max_size,
        },
    );
    let policy = Policy {
        auth_duration: config.auth_duration,
        session_grace: config.session_grace,
        access_logs: config.enable_access_logs,
        log_rechecks: config.access_log_rechecks,
    };
    let state = AppState::new(db, metrics, policy, config.max_body_bytes, cleanup);
    let routes = Router::new()
        .route(
            "/auth",
            get(flussonic::handler::handle).post(flussonic::handler::handle),
        )
        .route("/health", get(ops::health::handle))
        .route("/metrics", get(ops::metrics::handle))
        .merge(management::routes());
    // Over every route, so that no spelling of an /api path (the layer normalises
    // `//`, `..`, percent-encoding and case) reaches a handler unchecked.
    let router = guard::protect(routes, &key)?.with_state(state.clone());
    Ok(App {
        router,
        state,
        key_source,
    })
}

/// Serves `router` on `listener` until `signal` completes; requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Small answers: do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
    });
    // Connect info: the peer address, which the management API's brute-force
    // protection counts failures by.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .await
}
