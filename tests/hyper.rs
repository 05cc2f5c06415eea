//! `FastAuthLayer` around a plain hyper 1 service (no axum), over real sockets.

mod common;

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::poll_fn,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use fastauth::{Claims, FastAuth, FastAuthBuilder, body::ResponseBody};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

use common::keys::MASTER;

/// Stored mode, on the test key.
fn builder() -> FastAuthBuilder {
    common::auth::stored()
        .master_token(MASTER)
        .master_paths(["/admin"])
        .access_paths(["/api"])
}

struct App {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl App {
    /// Serves `auth.layer()` around a hyper service that counts its calls and echoes
    /// the method and the `client_id` of the claims the layer put in the extensions.
    async fn start(auth: &FastAuth) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let inner = service_fn(move |req: Request<Incoming>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let client_id = req
                .extensions()
                .get::<Claims>()
                .map_or("-".to_owned(), |claims| claims.client_id().to_owned());
            let body = format!("{} client_id={client_id}", req.method());
            async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
        });
        Self::serve(ServiceBuilder::new().layer(auth.layer()).service(inner), calls).await
    }

    /// Serves `service` over a real socket, each connection with its peer's address.
    async fn serve<S, B>(service: S, calls: Arc<AtomicUsize>) -> Self
    where
        S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                // The client address for the failure limit, as a hyper server passes it.
                let service = TowerToHyperService::new(service.clone().map_request(
                    move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(peer);
                        req
                    },
                ));
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { addr, calls, client }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(request.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers).await
    }
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    #[track_caller]
    fn assert_refused(&self, detail: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{self:?}");
        assert_eq!(self.headers[header::CONTENT_TYPE], "application/json", "{self:?}");
        let expected = serde_json::json!({ "detail": detail });
        let body: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(body, expected, "{self:?}");
    }
}

#[tokio::test]
async fn unprotected_path_reaches_the_inner_service() {
    let auth = builder().build().unwrap();
    let app = App::start(&auth).await;

    let reply = app.get("/public", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "GET client_id=-");
    // A path that only starts like a protected one is not protected.
    let reply = app.get("/apiary", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn access_level_refuses_without_calling_the_inner_service() {
    let auth = builder().build().unwrap();
    let app = App::start(&auth).await;
    let pair = auth.issue(Some("c1")).await.unwrap();

    let reply = app.get("/api/items", &[]).await;
    assert_eq!(reply.body, r#"{"detail":"Access token missing"}"#);
    reply.assert_refused("Access token missing");
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");

    let reply = app
        .get("/api/items", &[("authorization", "Bearer garbage")])
        .await;
    reply.assert_refused("Unauthorized Access Token");
    assert_eq!(
        reply.headers[header::WWW_AUTHENTICATE],
        r#"Bearer error="invalid_token", error_description="Unauthorized Access Token""#
    );

    let refresh = format!("Bearer {}", pair.refresh_token);
    app.get("/api/items", &[("authorization", &refresh)])
        .await
        .assert_refused("Wrong token type");
    // Another spelling of the protected path is protected too.
    app.get("/API//items/../items", &[])
        .await
        .assert_refused("Access token missing");
    // Validly signed but not the stored token of its client.
    let unstored = fastauth::hooks::codec(&auth).issue_pair("c2").unwrap();
    app.get("/api/items", &[("access-token", &unstored.access_token)])
        .await
        .assert_refused("Access token revoked");

    assert_eq!(app.calls(), 0, "the inner service saw a refused request");
}

#[tokio::test]
async fn valid_access_token_reaches_the_handler_with_claims() {
    let auth = builder().build().unwrap();
    let app = App::start(&auth).await;
    let pair = auth.issue(Some("client-42")).await.unwrap();

    let bearer = format!("Bearer {}", pair.access_token);
    let reply = app.get("/api/items", &[("authorization", &bearer)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "GET client_id=client-42");

    let reply = app.get("/api", &[("access-token", &pair.access_token)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "GET client_id=client-42");
    assert_eq!(app.calls(), 2);

    // A token that was just accepted (and cached), with non-ASCII around or in it.
    for spelled in [
        format!("{}\u{a0}", pair.access_token),
        format!("\u{a0}{}", pair.access_token),
        pair.access_token.replacen('.', "\u{2024}", 1),
    ] {
        app.get("/api", &[("access-token", &spelled)])
            .await
            .assert_refused("Unauthorized Access Token");
        app.get("/api", &[("authorization", &format!("Bearer {spelled}"))])
            .await
            .assert_refused("Unauthorized Access Token");
    }
    app.get(
        "/api",
        &[("authorization", &format!("Bearer\u{a0}{}", pair.access_token))],
    )
    .await
    .assert_refused("Access token missing");
    assert_eq!(app.calls(), 2);

    auth.revoke("client-42").await.unwrap();
    app.get("/api/items", &[("authorization", &bearer)])
        .await
        .assert_refused("Access token revoked");
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn master_level_needs_the_master_token() {
    let auth = builder().build().unwrap();
    let app = App::start(&auth).await;

    let reply = app.get("/admin/users", &[("master-token", MASTER)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(app.calls(), 1);

    let reply = app.get("/admin/users", &[("master-token", "wrong")]).await;
    reply.assert_refused("Unauthorized Master Token");
    app.get("/admin/users", &[])
        .await
        .assert_refused("Master token missing");
    // An access token does not open a master-level path.
    let pair = auth.issue(Some("c1")).await.unwrap();
    let bearer = format!("Bearer {}", pair.access_token);
    app.get("/admin", &[("authorization", &bearer)])
        .await
        .assert_refused("Master token missing");
    assert_eq!(app.calls(), 1, "the inner service saw a refused request");
}

#[tokio::test]
async fn cors_preflights_need_a_token_like_any_request() {
    // The inner service answers every method: a preflight let through would run it.
    let auth = builder().build().unwrap();
    let app = App::start(&auth).await;

    app.send(
        Method::OPTIONS,
        "/api/items",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await
    .assert_refused("Access token missing");
    app.send(
        Method::OPTIONS,
        "/api/items",
        &[("origin", "https://app.example")],
    )
    .await
    .assert_refused("Access token missing");
    assert_eq!(app.calls(), 0, "the inner service saw a refused request");

    // With a token, an OPTIONS request is served like any other.
    let pair = auth.issue(Some("c1")).await.unwrap();
    let bearer = format!("Bearer {}", pair.access_token);
    let reply = app
        .send(
            Method::OPTIONS,
            "/api/items",
            &[
                ("access-control-request-method", "GET"),
                ("authorization", &bearer),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "OPTIONS client_id=c1");
    assert_eq!(app.calls(), 1);
}

/// An inner service whose readiness the test controls.
#[derive(Clone)]
struct Gate {
    ready: Arc<AtomicBool>,
    fail: bool,
    polls: Arc<AtomicUsize>,
}

impl Service<Request<Empty<Bytes>>> for Gate {
    type Response = Response<Full<Bytes>>;
    type Error = String;
    type Future = std::future::Ready<Result<Self::Response, String>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            Poll::Ready(Err("inner service overloaded".to_owned()))
        } else if self.ready.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, _req: Request<Empty<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::default())))
    }
}

#[tokio::test]
async fn poll_ready_is_propagated() {
    let auth = builder().build().unwrap();
    let ready = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let mut service = auth.layer().layer(Gate {
        ready: ready.clone(),
        fail: false,
        polls: polls.clone(),
    });

    let poll = poll_fn(|cx| Poll::Ready(service.poll_ready(cx))).await;
    assert!(poll.is_pending(), "{poll:?}");
    assert_eq!(polls.load(Ordering::SeqCst), 1);

    ready.store(true, Ordering::SeqCst);
    let poll = poll_fn(|cx| Poll::Ready(service.poll_ready(cx))).await;
    assert!(matches!(poll, Poll::Ready(Ok(()))), "{poll:?}");
    assert_eq!(polls.load(Ordering::SeqCst), 2);

    let mut failing = auth.layer().layer(Gate {
        ready,
        fail: true,
        polls,
    });
    let err = failing.ready().await.err().expect("the inner error");
    assert_eq!(err, "inner service overloaded");
}

/// A body type fastauth cannot write a refusal in (not a `RefusalBody`): its frames, one
/// by one.
struct Frames(VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|data| Ok(http_body::Frame::data(data))))
    }
}

#[tokio::test]
async fn any_other_body_type_goes_through_response_body() {
    let auth = builder().build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |_: Request<Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let frames = ["streamed ", "in ", "three frames"].map(Bytes::from);
        async move { Ok::<_, Infallible>(Response::new(Frames(frames.into()))) }
    });
    let service = ServiceBuilder::new()
        .layer(auth.layer())
        .map_response(|response: Response<Frames>| response.map(ResponseBody::new))
        .service(inner);
    let app = App::serve(service, calls).await;

    // The inner service's frames pass through the wrapper as they are.
    let reply = app.get("/public", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body, "streamed in three frames");
    assert_eq!(app.calls(), 1);

    // The layer writes its refusal in the same type, the inner service is not called.
    app.get("/api/items", &[])
        .await
        .assert_refused("Access token missing");
    app.get("/admin", &[])
        .await
        .assert_refused("Master token missing");
    assert_eq!(app.calls(), 1);
}
