use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use axum::{Router, routing::get};
use fastauth::{
    Claims, FastAuth, Level,
    store::{Rotation, StoreError, StoredTokens, TokenStore},
};
use tokio::sync::Mutex;

/// The issued pairs in one JSON file, rewritten (atomically, by rename) on every
/// change, so that a restart logs nobody out. For a single instance: several would
/// overwrite each other's file.
struct FileTokenStore {
    path: PathBuf,
    pairs: Mutex<HashMap<String, StoredTokens>>,
}

impl FileTokenStore {
    async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let pairs = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::with_source(format!("{} is not a token file", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                return Err(StoreError::with_source(
                    format!("cannot read {}", path.display()),
                    e,
                ));
            }
        };
        Ok(Self {
            path,
            pairs: Mutex::new(pairs),
        })
    }

    async fn write(&self, pairs: &HashMap<String, StoredTokens>) -> Result<(), StoreError> {
        let json =
            serde_json::to_vec(pairs).map_err(|e| StoreError::with_source("cannot encode the pairs", e))?;
        let temporary = self.path.with_extension("tmp");
        tokio::fs::write(&temporary, json)
            .await
            .map_err(|e| StoreError::with_source(format!("cannot write {}", temporary.display()), e))?;
        tokio::fs::rename(&temporary, &self.path)
            .await
            .map_err(|e| StoreError::with_source(format!("cannot replace {}", self.path.display()), e))
    }
}

// The trait's methods are `async`: the impl needs the attribute, which fastauth re-exports.
#[fastauth::async_trait]
impl TokenStore for FileTokenStore {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        let mut pairs = self.pairs.lock().await;
        pairs.insert(client_id.to_owned(), tokens.clone());
        self.write(&pairs).await
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        Ok(self.pairs.lock().await.get(client_id).cloned())
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        let mut pairs = self.pairs.lock().await;
        if pairs.remove(client_id).is_some() {
            self.write(&pairs).await?;
        }
        Ok(())
    }

    // Compare and swap under one lock: a refresh token is exchanged at most once.
    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        let mut pairs = self.pairs.lock().await;
        match pairs.get(client_id) {
            Some(current) if current.has_refresh_token(presented_refresh) => {
                pairs.insert(client_id.to_owned(), new.clone());
                self.write(&pairs).await?;
                Ok(Rotation::Rotated)
            }
            _ => Ok(Rotation::Stale),
        }
    }
}

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if let Err(error) = run().await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = PathBuf::from(std::env::var("TOKEN_FILE").unwrap_or_else(|_| "tokens.json".to_owned()));
    // CRYPTOGRAPHY_KEY and MASTER_TOKEN are read from the environment.
    let auth = FastAuth::builder()
        .default_level(Level::Access)
        .store(FileTokenStore::open(path).await?)
        .build()?;

    let app = Router::new()
        .route(
            "/api/me",
            get(|claims: Claims| async move { format!("hello, {}\n", claims.client_id()) }),
        )
        .nest_service("/auth", auth.token_router())
        .layer(auth.layer());

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
