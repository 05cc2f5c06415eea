use fastauth::{FastAuth, Level, store::MemoryTokenStore};
use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};

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
    let auth = FastAuth::builder()
        .default_level(Level::Access) // every RPC needs an access token
        .store(MemoryTokenStore::new()) // issued pairs (RedisTokenStore for several instances)
        .build()?;

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:50051".to_owned());
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);

    // ANCHOR: server
    let (_health_reporter, health) = tonic_health::server::health_reporter();
    // The token endpoints on the same port as the services: a client gets a pair from
    // `/auth/token/new` (HTTP/1.1 or HTTP/2) and sends `authorization: Bearer …` metadata.
    let token_router = axum::Router::new().nest_service("/auth", auth.token_router());
    let routes = Routes::from(token_router).add_service(health);
    Server::builder()
        .accept_http1(true) // for the token endpoints
        .layer(auth.layer())
        .add_routes(routes)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    // ANCHOR_END: server
    Ok(())
}
