use std::net::SocketAddr;

use axum::{Router, routing::get};
use fastauth::{Claims, FastAuth, Level, store::MemoryTokenStore};

#[tokio::main]
async fn main() {
    // Info by default; RUST_LOG=fastauth=debug shows every decision.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    if let Err(error) = run().await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // CRYPTOGRAPHY_KEY (at least 32 bytes: `fastauth keygen` makes one) and MASTER_TOKEN
    // are read from the environment.
    // ANCHOR: app
    let auth = FastAuth::builder()
        .default_level(Level::Access) // every route needs an access token…
        .public_paths(["/health"]) // …but these need nothing
        .master_paths(["/admin"]) // and these need the master token
        .store(MemoryTokenStore::new()) // issued pairs (RedisTokenStore for several instances)
        .build()?;

    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/api/me", get(me))
        .route("/admin/stats", get(|| async { "all good\n" }))
        .nest_service("/auth", auth.token_router()) // /auth/token/new, /auth/token/refresh
        .layer(auth.layer());
    // ANCHOR_END: app

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    // The client address lets the brute-force protection count failures per client.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

/// The layer verified the token and put its claims in the request.
async fn me(claims: Claims) -> String {
    format!("hello, {}\n", claims.client_id())
}
