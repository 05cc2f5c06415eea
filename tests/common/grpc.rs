//! gRPC over real sockets: tonic-health's service (so no protoc is needed) served behind
//! the layer on 127.0.0.1, and a plain HTTP/2 client that sends a gRPC call with any
//! method and path, as `curl --http2-prior-knowledge` would.

use std::net::SocketAddr;

use bytes::Bytes;
use fastauth::FastAuth;
use http::{Method, Request, header, request};
use http_body_util::Full;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};

use super::server::Hits;

/// A listener on a free port of 127.0.0.1, as tonic wants it.
pub async fn bind() -> (TcpIncoming, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (TcpIncoming::from(listener), addr)
}

/// The health service (overall status SERVING) with `auth.layer()` on the whole server.
pub async fn serve_health(auth: &FastAuth) -> SocketAddr {
    serve_health_counted(auth).await.0
}

/// [`serve_health`] with a counter inside the auth layer: a count that moves means a
/// call reached the service.
pub async fn serve_health_counted(auth: &FastAuth) -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let (reporter, health) = tonic_health::server::health_reporter();
    let (incoming, addr) = bind().await;
    let server = Server::builder()
        .layer(auth.layer())
        .layer(hits.layer::<http::Request<tonic::body::Body>>())
        .add_service(health)
        .serve_with_incoming(incoming);
    tokio::spawn(async move {
        // The reporter lives as long as the server.
        let _reporter = reporter;
        server.await
    });
    (addr, hits)
}

/// An HTTP/2-only client (gRPC's transport) without TLS.
pub fn h2_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>()
}

/// A gRPC request to `uri` by `method`, headers still open; finish it with
/// [`empty_message`]. A `uri` that is no URI fails at `body`.
pub fn grpc_request(method: Method, uri: &str) -> request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers")
}

/// An empty protobuf message in gRPC framing: the 5-byte frame header alone.
pub fn empty_message() -> Full<Bytes> {
    Full::new(Bytes::from_static(&[0, 0, 0, 0, 0]))
}
