//! What every handler shares: the database, the metrics, the decision policy and the
//! body limit. Handlers import this module; it imports no handler, so that the routes
//! (`app.rs`) can import the handlers without an import cycle.

use std::{ops::Deref, sync::Arc};

use tokio::{sync::Mutex, task::JoinHandle};

use crate::{db::Db, flussonic::decision::Policy, ops::metrics::recorder::Metrics};

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
    /// The state of an app whose background cleanup is `cleanup` (stopped by [`AppState::shutdown`]).
    pub fn new(
        db: Db,
        metrics: Arc<Metrics>,
        policy: Policy,
        max_body_bytes: usize,
        cleanup: JoinHandle<()>,
    ) -> Self {
        Self(Arc::new(Shared {
            db,
            metrics,
            policy,
            max_body_bytes,
            cleanup: Mutex::new(Some(cleanup)),
        }))
    }

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
