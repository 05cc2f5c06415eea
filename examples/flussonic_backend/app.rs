//! Assembling the app: database, management key, routes, the `FastAuthLayer`, the
//! background cleanup; and serving it with a graceful shutdown.

use std::{future::Future, net::SocketAddr, ops::Deref, sync::Arc, time::Duration};

use axum::{Router, routing::get, serve::ListenerExt};
use tokio::{net::TcpListener, sync::Mutex, task::JoinHandle};

use crate::{
    api,
    api_key::{self, KeySource},
    auth, cleanup,
    config::Config,
    db::{Db, Tuning},
    decision::Policy,
    health,
    metrics::{self, Metrics},
};

/// What every handler shares (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The shared parts.
pub struct Shared {
    /// The database.
    pub db: Db,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// Decision settings.
    pub policy: Policy,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    cleanup: Mutex<Option<JoinHandle<()>>>,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Stops the background cleanup, finishes queued writes, checkpoints and closes
    /// the database. Call it after the server has stopped.
    pub async fn shutdown(&self) {
        if let Some(task) = self.cleanup.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
        self.db.close().await;
        tracing::info!(
            database = %self.db.path().display(),
            access_log = %self.db.log_path().display(),
            "databases closed"
        );
    }
}

/// The built app.
pub struct App {
    /// The routes, with the management API behind the `FastAuthLayer`.
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
    let guard = api::guard(&key).map_err(|e| format!("management API: {e}"))?;
    let db = Db::open(&config.database_path, &config.log_database_path, tuning).map_err(|e| e.to_string())?;
    let metrics = Arc::new(Metrics::default());
    let cleanup = cleanup::spawn(
        db.clone(),
        Arc::clone(&metrics),
        Duration::from_secs(config.session_cleanup_interval),
        config.access_log_retention_days,
    );
    let state = AppState(Arc::new(Shared {
        db,
        metrics,
        policy: Policy {
            auth_duration: config.auth_duration,
            session_grace: config.session_grace,
            access_logs: config.enable_access_logs,
        },
        max_body_bytes: config.max_body_bytes,
        cleanup: Mutex::new(Some(cleanup)),
    }));
    let router = Router::new()
        .route("/auth", get(auth::handle).post(auth::handle))
        .route("/health", get(health::handle))
        .route("/metrics", get(metrics::handle))
        .merge(api::routes())
        // Over every route, so that no spelling of an /api path (the layer normalises
        // `//`, `..`, percent-encoding and case) reaches a handler unchecked.
        .layer(guard.layer())
        .with_state(state.clone());
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
