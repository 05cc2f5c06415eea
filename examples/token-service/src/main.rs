use std::time::Duration;

use fastauth::FastAuth;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

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
    // Stateless: the services that accept these tokens verify them with the same
    // CRYPTOGRAPHY_KEY and need no store. Short access tokens, long refresh tokens.
    let auth = FastAuth::builder()
        .stateless()
        .access_token_lifetime(Duration::from_secs(15 * 60))
        .refresh_token_lifetime(Duration::from_secs(30 * 24 * 3600))
        .build()?;

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        // An accept error (too many open files, say) concerns one connection, not the service.
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // The client address, for the brute-force protection on the master token.
        let service = ServiceBuilder::new()
            .map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(client);
                request
            })
            .service(auth.token_router());
        tokio::spawn(async move {
            let server = auto::Builder::new(TokioExecutor::new());
            let connection = server.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                eprintln!("connection from {client}: {error}");
            }
        });
    }
}
