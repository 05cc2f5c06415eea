use std::net::SocketAddr;

use axum::{
    Router,
    http::{HeaderValue, Method, header},
    response::Html,
    routing::get,
};
use fastauth::{Claims, FastAuth, Level, store::MemoryTokenStore};
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

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
    // The page is served from one origin, the API from another (another port is another
    // origin), so the browser asks the API first with a CORS preflight.
    let page =
        TcpListener::bind(std::env::var("PAGE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned())).await?;
    let api =
        TcpListener::bind(std::env::var("API_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned())).await?;
    let page_origin = format!("http://{}", page.local_addr()?);
    let api_origin = format!("http://{}", api.local_addr()?);

    // CRYPTOGRAPHY_KEY and MASTER_TOKEN are read from the environment.
    let auth = FastAuth::builder()
        .default_level(Level::Access)
        .store(MemoryTokenStore::new())
        .build()?;
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_str(&page_origin)?)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let api_app = Router::new()
        .route(
            "/api/me",
            get(|claims: Claims| async move { format!("hello, {}", claims.client_id()) }),
        )
        .nest_service("/auth", auth.token_router())
        // Outside the auth layer: the CORS layer answers preflights itself, and adds its
        // headers to every answer, the auth layer's 401s included.
        .layer(auth.layer())
        .layer(cors);

    let html = PAGE.replace("API_ORIGIN", &api_origin);
    let page_app = Router::new().route("/", get(move || async move { Html(html) }));

    println!("page on {page_origin}, API on {api_origin}");
    tokio::try_join!(
        axum::serve(api, api_app.into_make_service_with_connect_info::<SocketAddr>()),
        axum::serve(page, page_app),
    )?;
    Ok(())
}

/// Calls the API with the access token from the page's fragment (`#token=…`) and shows
/// the answer.
const PAGE: &str = r#"<!doctype html>
<title>fastauth from another origin</title>
<pre id="result">calling the API…</pre>
<script>
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  fetch("API_ORIGIN/api/me", { headers: { "Authorization": "Bearer " + token } })
    .then(async (response) => {
      document.getElementById("result").textContent = response.status + " " + (await response.text());
    })
    .catch((error) => {
      document.getElementById("result").textContent = "failed: " + error;
    });
</script>
"#;
