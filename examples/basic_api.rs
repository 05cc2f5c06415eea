//! The quick-start app of fastauth-api's README, in Rust.
//!
//! ```text
//! FASTAUTH_CONFIG=examples/fastauth.config.json cargo run --example basic_api
//! curl -s localhost:8000/health
//! curl -s -H 'MASTER-TOKEN: example-master-token' 'localhost:8000/auth/token/new?client_id=me'
//! curl -s -H "ACCESS-TOKEN: $ACCESS" localhost:8000/access/health
//! curl -s -H 'MASTER-TOKEN: example-master-token' localhost:8000/master/health
//! ```
//!
//! Reads `fastauth.config.json` from the working directory, or the file named by
//! `FASTAUTH_CONFIG`; without a file, `MASTER_TOKEN` and `CRYPTOGRAPHY_KEY` from the
//! environment with `/master` and `/access` as the protected paths. Listens on
//! 127.0.0.1 and the port in `PORT` (default 8000). Tokens live in memory (a restart logs
//! every client out) unless `DATABASE_API_PATH` names a fastauth-api token database
//! (`examples/token_database.rs` is one).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use axum::{Extension, Json, Router, extract::ConnectInfo, routing::get};
use fastauth::{Claims, ConfigError, FastAuth, FastAuthBuilder, store::MemoryTokenStore};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> ExitCode {
    // Info, as a production service runs: a debug line per request costs a third of the
    // throughput. RUST_LOG=info,fastauth=debug shows every decision.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("basic_api: {message}");
            ExitCode::from(2)
        }
    }
}

fn configuration() -> Result<FastAuthBuilder, String> {
    let explicit = std::env::var_os("FASTAUTH_CONFIG").map(PathBuf::from);
    let path = explicit
        .clone()
        .unwrap_or_else(|| PathBuf::from("fastauth.config.json"));
    if explicit.is_some() || path.exists() {
        tracing::info!(config = %path.display(), "reading configuration");
        return FastAuth::from_file(&path).map_err(|e| e.to_string());
    }
    tracing::info!("no fastauth.config.json: using MASTER_TOKEN and CRYPTOGRAPHY_KEY from the environment");
    Ok(FastAuth::builder()
        .master_paths(["/master"])
        .access_paths(["/access"]))
}

/// The client address the brute-force protection counts failures by. (With fastauth's
/// `axum` feature, axum's `ConnectInfo` is recognised without this.)
fn with_client_address(builder: FastAuthBuilder) -> FastAuthBuilder {
    builder.client_address(|extensions| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    })
}

/// The layer of this app: `configuration` read once more when it names no store.
fn build(
    configuration: impl Fn() -> Result<FastAuthBuilder, String>,
    database_api_path: Option<String>,
) -> Result<FastAuth, String> {
    // The token store is the configuration's (`database_api_path`, or `DATABASE_API_PATH`
    // here), none in stateless mode, and otherwise memory: this app's choice, said in the log.
    let mut builder = with_client_address(configuration()?);
    if let Some(url) = database_api_path {
        builder = builder.database_api_path(url);
    }
    match builder.build() {
        Err(ConfigError::MissingStore) => {
            tracing::info!(
                "no token store configured: tokens live in memory (a restart logs every client out)"
            );
            with_client_address(configuration()?)
                .store(MemoryTokenStore::new())
                .build()
        }
        built => built,
    }
    .map_err(|e| e.to_string())
}

async fn run() -> Result<(), String> {
    let auth = build(configuration, std::env::var("DATABASE_API_PATH").ok())?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number"))?,
        Err(_) => 8000,
    };

    let app = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "healthy"})) }))
        .route("/access/health", get(access_health))
        .route("/master/health", get(master_health))
        .nest_service(auth.token_prefix(), auth.token_router())
        .layer(auth.layer());

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, mode = ?auth.mode(), "basic_api listening");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server error: {e}"))
}

// The layer put the validated claims in the request extensions. (With the `axum`
// feature, `fastauth::Claims` and `fastauth::extract::ClientId` are extractors of their own.)
async fn access_health(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({
        "service": "access health that need access token",
        "status": "healthy",
        "client_id": claims.client_id(),
    }))
}

async fn master_health() -> Json<Value> {
    Json(json!({"service": "master health that need master token", "status": "healthy"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastauth::TokenMode;

    const KEY: &str = "basic-api-test-key-0123456789-0123456789";

    /// A configuration file with `json` in it, read as `configuration` reads one.
    fn file(json: &str) -> impl Fn() -> Result<FastAuthBuilder, String> {
        let path = std::env::temp_dir().join(format!(
            "fastauth-basic-api-{}-{:x}.json",
            std::process::id(),
            json.len() * 31 + json.bytes().map(usize::from).sum::<usize>()
        ));
        std::fs::write(&path, json).unwrap();
        move || FastAuth::from_file(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_of_configuration_starts() {
        let stateless = format!(
            r#"{{"cryptography_key": "{KEY}", "access_token_paths": ["/a"], "token_mode": "stateless"}}"#
        );
        assert_eq!(
            build(file(&stateless), None).unwrap().mode(),
            TokenMode::Stateless
        );

        let stored = format!(r#"{{"cryptography_key": "{KEY}", "access_token_paths": ["/a"]}}"#);
        assert_eq!(build(file(&stored), None).unwrap().mode(), TokenMode::Stored);

        let database =
            format!(r#"{{"cryptography_key": "{KEY}", "database_api_path": "http://127.0.0.1:9/db"}}"#);
        assert_eq!(build(file(&database), None).unwrap().mode(), TokenMode::Stored);
        assert_eq!(
            build(file(&stored), Some("http://127.0.0.1:9/db".into()))
                .unwrap()
                .mode(),
            TokenMode::Stored
        );
    }

    #[test]
    fn a_configuration_error_is_not_hidden_by_the_memory_store() {
        let weak = r#"{"cryptography_key": "short"}"#;
        let error = build(file(weak), None).expect_err("a weak key is refused");
        assert!(error.contains("at least 32"), "{error}");
    }
}
