//! The attack corpus: forged, malformed and replayed credentials, and every spelling of a
//! protected path we could think of, sent to a real axum server on 127.0.0.1 over a raw
//! `TcpStream` (no client normalises anything on the way).
//!
//! Each case names the status and the exact message it must get. For every refused case
//! the test also checks that the answer is not a 5xx and that nothing reached the inner
//! service: the handlers sit behind a counting layer, inside the fastauth layer.
//!
//! Access-token cases run against stateless servers on purpose: a token that slipped
//! through the header policy or the signature check would be *accepted* there, whereas in
//! stored mode the store lookup would hide the mistake behind "Access token revoked".
#![cfg(feature = "axum")]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{Router, routing::get};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use fastauth::{FastAuth, FastAuthBuilder, store::MemoryTokenStore, token::MAX_TOKEN_LEN};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower::util::MapRequestLayer;

/// A Fernet-shaped key: its UTF-8 bytes (not its base64 decoding) are the HMAC key.
const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
const OTHER_KEY: &str = "Zm9yZ2VkIGtleSwgbm90IHRoZSBzZXJ2ZXIncyBrZXk=";
/// The key ring of the rotation server: `k2` signs, `k1` and the kid-less `KEY` verify.
const K1: &str = "first-key-0123456789-0123456789-0123456789";
const K2: &str = "second-key-0123456789-0123456789-0123456789";
const K3: &str = "third-key-0123456789-0123456789-0123456789";
const MASTER: &str = "a-long-random-master-token-0123456789";
const CLIENT: &str = "corpus-client";

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

const MISSING_MASTER: &str = "Master token missing";
const INVALID_MASTER: &str = "Unauthorized Master Token";
const MISSING_ACCESS: &str = "Access token missing";

/// What the access level must answer to a token. The refresh endpoint's answer
/// follows from it (see [`Expect::refresh`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// No token found at all.
    Missing,
    /// Malformed, not HS256, badly signed, bad claims, unknown key, not yet valid.
    Invalid,
    /// Correctly signed, but `exp` has passed.
    Expired,
    /// Correctly signed, but not the token type this endpoint takes.
    WrongType,
}

impl Expect {
    /// The access level's answer: always 401, with the stable message.
    fn access(self) -> &'static str {
        match self {
            Expect::Missing => MISSING_ACCESS,
            Expect::Invalid => "Unauthorized Access Token",
            Expect::Expired => "Access token expired",
            Expect::WrongType => "Wrong token type",
        }
    }

    /// `GET /auth/token/refresh?refresh_token=…`: its own messages, in the envelope. A
    /// query value is not trimmed as a header value is, so only an empty one is missing.
    fn refresh(self, token: &str) -> (u16, &'static str) {
        match self {
            Expect::Missing if token.is_empty() => (400, "Missing refresh_token"),
            Expect::Missing => (401, "Invalid refresh token"),
            Expect::Expired => (401, "Refresh token expired"),
            Expect::Invalid | Expect::WrongType => (401, "Invalid refresh token"),
        }
    }
}

struct Case {
    name: String,
    token: String,
    expect: Expect,
}

fn case(name: impl Into<String>, token: impl Into<String>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        token: token.into(),
        expect,
    }
}

// ---------------------------------------------------------------------------------------
// The server and a raw HTTP/1.1 client.

struct Server {
    addr: SocketAddr,
    /// Requests that reached the handlers (or the fallback) behind the fastauth layer.
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The routes of the protected app. Every one answers 200 with its name, so a refused
/// request can never be mistaken for a routed one.
fn app_routes() -> Router {
    Router::new()
        .route("/admin/users", get(|| async { "admin/users" }))
        .route("/admin/{id}", get(|| async { "admin/{id}" }))
        .route("/api/items", get(|| async { "api/items" }))
        .route("/api/items/{id}", get(|| async { "api/items/{id}" }))
        .route("/api/x", get(|| async { "api/x" }))
        .route("/files/{id}/raw", get(|| async { "files/{id}/raw" }))
        .route(
            "/grpc.health.v1.Health/Check",
            get(|| async { "Check" }).post(|| async { "Check" }),
        )
        .route(
            "/grpc.health.v1.Health/Watch",
            get(|| async { "Watch" }).post(|| async { "Watch" }),
        )
        .route("/grpc.health.v1.HealthCheck", get(|| async { "HealthCheck" }))
        .route("/administrator", get(|| async { "administrator" }))
        .route("/admin-panel", get(|| async { "admin-panel" }))
        .route("/apiary", get(|| async { "apiary" }))
        .route("/api2/items", get(|| async { "api2/items" }))
        .route("/public/x", get(|| async { "public/x" }))
        .route("/public/admin", get(|| async { "public/admin" }))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") })
}

/// Counts every request that gets through to `router`.
fn counted(router: Router, hits: &Arc<AtomicUsize>) -> Router {
    let hits = hits.clone();
    router.layer(MapRequestLayer::new(move |req: axum::extract::Request| {
        hits.fetch_add(1, Ordering::SeqCst);
        req
    }))
}

async fn spawn(app: Router, hits: Arc<AtomicUsize>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    Server { addr, hits }
}

/// The flat app: the fastauth layer on the router itself, the token endpoints under `/auth`.
async fn serve(auth: &FastAuth) -> Server {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = counted(app_routes(), &hits)
        .nest_service("/auth", auth.token_router())
        .layer(auth.layer());
    spawn(app, hits).await
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request exactly as written (`target` untouched) and reads the whole answer.
async fn exchange(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &[u8])]) -> Reply {
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    parse_response(&response).unwrap_or_else(|| {
        panic!(
            "{method} {target}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&response)
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Reply {
        status,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).ok()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

fn detail(message: &str) -> String {
    json!({ "detail": message }).to_string()
}

/// The token endpoints' envelope, keys in fastauth-api's order.
fn envelope(status: u16, message: &str) -> String {
    format!(
        r#"{{"status":"error","message":{},"code":{status}}}"#,
        json!(message)
    )
}

// ---------------------------------------------------------------------------------------
// Token construction.

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac(message: &str, key: &[u8]) -> String {
    jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(key),
        Algorithm::HS256,
    )
    .unwrap()
}

/// Header and payload segments as given, HS256-signed with `key` over exactly them.
fn sign_segments(header_b64: &str, payload_b64: &str, key: &[u8]) -> String {
    let message = format!("{header_b64}.{payload_b64}");
    let signature = hmac(&message, key);
    format!("{message}.{signature}")
}

/// `header` and `payload` JSON text as written, HS256-signed with `key`.
fn signed_with(header: &str, payload: &str, key: &str) -> String {
    sign_segments(&b64(header), &b64(payload), key.as_bytes())
}

fn signed(header: &str, payload: &str) -> String {
    signed_with(header, payload, KEY)
}

fn claims(token_type: &str, exp: u64) -> Value {
    json!({ "client_id": CLIENT, "type": token_type, "exp": exp, "iat": now() })
}

/// `claims` with one member replaced (or removed, with `None`).
fn claims_with(token_type: &str, member: &str, value: Option<Value>) -> String {
    let mut c = claims(token_type, now() + 3600);
    match value {
        Some(v) => c[member] = v,
        None => {
            c.as_object_mut().unwrap().remove(member);
        }
    }
    c.to_string()
}

/// The claims as raw JSON text, so that members can be repeated or made unparseable.
fn raw_claims(token_type: &str, exp: &str) -> String {
    format!(
        r#"{{"client_id":"{CLIENT}","type":"{token_type}","exp":{exp},"iat":{}}}"#,
        now()
    )
}

fn header_with(member: &str, value: Value) -> String {
    let mut h = json!({ "alg": "HS256", "typ": "JWT" });
    h[member] = value;
    h.to_string()
}

/// A correctly signed token of exactly `len` bytes, grown with an extra claim.
fn token_of_len(token_type: &str, len: usize) -> String {
    for pad in 0..len {
        let mut c = claims(token_type, now() + 3600);
        c["pad"] = json!("x".repeat(pad));
        let token = signed(HS256, &c.to_string());
        if token.len() == len {
            return token;
        }
        assert!(token.len() < len, "no token of exactly {len} bytes");
    }
    unreachable!()
}

/// Base64 with `=` padding: the JSON gets trailing spaces (still the same JSON) until its
/// length is not a multiple of three, so the padding is real.
fn padded_b64(json: &str) -> String {
    let mut json = json.to_owned();
    while json.len().is_multiple_of(3) {
        json.push(' ');
    }
    let encoded = URL_SAFE.encode(&json);
    assert!(encoded.ends_with('='));
    encoded
}

/// `{"a":[[[…]]]}`, deeper than any JSON parser here recurses.
fn deeply_nested(depth: usize) -> String {
    format!(r#"{{"a":{}{}}}"#, "[".repeat(depth), "]".repeat(depth))
}

/// Valid claims plus an extra claim nested far deeper than any recursion limit.
fn nested_claims(token_type: &str) -> String {
    let mut c = deeply_nested(2500);
    let members = format!(
        r#""client_id":"{CLIENT}","type":"{token_type}","exp":{},"#,
        now() + 3600
    );
    c.insert_str(1, &members);
    c
}

fn other_type(token_type: &str) -> &'static str {
    if token_type == "access" {
        "refresh"
    } else {
        "access"
    }
}

/// Replaces the signature of `token`.
fn with_signature(token: &str, signature: &str) -> String {
    let (message, _) = token.rsplit_once('.').unwrap();
    format!("{message}.{signature}")
}

/// Replaces the payload of `token`, keeping its header and signature.
fn with_payload(token: &str, payload_json: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    let payload = b64(payload_json);
    parts[1] = &payload;
    parts.join(".")
}

/// Every token case that holds for a server whose kid-less key is `KEY`, for an endpoint
/// taking `token_type` tokens. The cases differ from the accepted `valid` token in one
/// thing each.
fn token_cases(token_type: &str) -> Vec<Case> {
    use Expect::*;
    let t = token_type;
    let other = other_type(t);
    let payload = claims(t, now() + 3600).to_string();
    let valid = signed(HS256, &payload);
    let (valid_message, valid_signature) = valid.rsplit_once('.').unwrap();
    let valid_header = valid.split('.').next().unwrap();
    let valid_payload = valid.split('.').nth(1).unwrap();
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)),
            b64(&payload)
        )
    };
    let alg_header = |alg: &str| format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
    let encoding = EncodingKey::from_secret(KEY.as_bytes());
    let jwt = |alg: Algorithm| {
        jsonwebtoken::encode(&Header::new(alg), &claims(t, now() + 3600), &encoding).unwrap()
    };
    let with_exp = |exp: &str| signed(HS256, &raw_claims(t, exp));
    let fake_signature = |bytes: usize| b64(vec![0x5a; bytes]);

    // Tokens whose signature (or payload) has a character of the standard alphabet.
    let standard_alphabet_signature = (0..)
        .map(|i| {
            let mut c = claims(t, now() + 3600);
            c["jti"] = json!(format!("j{i}"));
            signed(HS256, &c.to_string())
        })
        .find_map(|token| {
            let (message, sig) = token.rsplit_once('.').unwrap();
            sig.contains(['-', '_'])
                .then(|| format!("{message}.{}", sig.replace('-', "+").replace('_', "/")))
        })
        .unwrap();
    let standard_alphabet_payload = (0..)
        .map(|i| {
            let mut c = claims(t, now() + 3600);
            c["jti"] = json!(format!("{i}>>>???"));
            STANDARD_NO_PAD.encode(c.to_string())
        })
        .find(|p| p.contains(['+', '/']))
        .map(|p| sign_segments(valid_header, &p, KEY.as_bytes()))
        .unwrap();

    let tampered_client = with_payload(
        &valid,
        &json!({ "client_id": "admin", "type": t, "exp": now() + 3600, "iat": now() }).to_string(),
    );
    let other_type_token = signed(HS256, &claims(other, now() + 3600).to_string());
    let retyped = with_payload(&other_type_token, &payload);
    let expired_token = signed(HS256, &claims(t, now() - 3600).to_string());
    let revived = with_payload(&expired_token, &claims(t, now() + 3600).to_string());
    let bit_flipped = {
        let mut bytes = payload.clone().into_bytes();
        // `"client_id":"corpus-client"` → `"client_id":"corpus-clienu"`.
        let at = payload.find(CLIENT).unwrap() + CLIENT.len() - 1;
        bytes[at] ^= 1;
        with_payload(&valid, std::str::from_utf8(&bytes).unwrap())
    };
    let second_token = {
        let mut c = claims(t, now() + 3600);
        c["jti"] = json!("another");
        signed(HS256, &c.to_string())
    };
    let decoded_key = base64::engine::general_purpose::STANDARD.decode(KEY).unwrap();

    vec![
        // alg: none in its spellings, and other algorithms.
        case("alg none, empty signature", unsigned("none"), Invalid),
        case("alg None, empty signature", unsigned("None"), Invalid),
        case("alg NONE, empty signature", unsigned("NONE"), Invalid),
        case(
            "alg none, no signature segment",
            unsigned("none").trim_end_matches('.'),
            Invalid,
        ),
        case(
            "alg none, HS256 signature by the key",
            signed(&alg_header("none"), &payload),
            Invalid,
        ),
        case(
            "alg None, HS256 signature by the key",
            signed(&alg_header("None"), &payload),
            Invalid,
        ),
        case(
            "alg NONE, HS256 signature by the key",
            signed(&alg_header("NONE"), &payload),
            Invalid,
        ),
        case(
            "alg none, garbage signature",
            format!("{}{}", unsigned("none"), fake_signature(32)),
            Invalid,
        ),
        case(
            "HS384 header and signature, same key",
            jwt(Algorithm::HS384),
            Invalid,
        ),
        case(
            "HS512 header and signature, same key",
            jwt(Algorithm::HS512),
            Invalid,
        ),
        case(
            "HS384 header, HS256 signature by the key",
            signed(&alg_header("HS384"), &payload),
            Invalid,
        ),
        case(
            "HS512 header, HS256 signature by the key",
            signed(&alg_header("HS512"), &payload),
            Invalid,
        ),
        case(
            "RS256 header, HMAC signature with the key (key confusion)",
            signed(&alg_header("RS256"), &payload),
            Invalid,
        ),
        case(
            "RS256 header, 256-byte signature",
            format!(
                "{}.{}.{}",
                b64(alg_header("RS256")),
                b64(&payload),
                fake_signature(256)
            ),
            Invalid,
        ),
        case(
            "ES256 header, HMAC signature with the key",
            signed(&alg_header("ES256"), &payload),
            Invalid,
        ),
        case(
            "ES256 header, 64-byte signature",
            format!(
                "{}.{}.{}",
                b64(alg_header("ES256")),
                b64(&payload),
                fake_signature(64)
            ),
            Invalid,
        ),
        case(
            "alg hs256 in lower case",
            signed(&alg_header("hs256"), &payload),
            Invalid,
        ),
        case(
            "alg \"HS256 \" with a space",
            signed(&alg_header("HS256 "), &payload),
            Invalid,
        ),
        case("alg missing", signed(r#"{"typ":"JWT"}"#, &payload), Invalid),
        case(
            "alg null",
            signed(r#"{"alg":null,"typ":"JWT"}"#, &payload),
            Invalid,
        ),
        case(
            "alg an array",
            signed(r#"{"alg":["HS256"],"typ":"JWT"}"#, &payload),
            Invalid,
        ),
        case("header a JSON array", signed(r#"["HS256"]"#, &payload), Invalid),
        case("header null", signed("null", &payload), Invalid),
        // Headers that would make a verifier fetch or trust outside material.
        case(
            "jku header",
            signed(
                &header_with("jku", json!("https://attacker.invalid/jwks.json")),
                &payload,
            ),
            Invalid,
        ),
        case(
            "x5u header",
            signed(
                &header_with("x5u", json!("https://attacker.invalid/cert.pem")),
                &payload,
            ),
            Invalid,
        ),
        case(
            "crit header",
            signed(&header_with("crit", json!(["exp"])), &payload),
            Invalid,
        ),
        case(
            "crit header, empty list",
            signed(&header_with("crit", json!([])), &payload),
            Invalid,
        ),
        case(
            "jwk header with the attacker's key",
            signed(
                &header_with("jwk", json!({ "kty": "oct", "k": b64(KEY) })),
                &payload,
            ),
            Invalid,
        ),
        case(
            "x5c header",
            signed(&header_with("x5c", json!(["MIIBszCCAVmgAwIBAgIU"])), &payload),
            Invalid,
        ),
        // kid: this server has a kid-less key only (or kids other than these).
        case(
            "kid naming no key",
            signed(&header_with("kid", json!("k9")), &payload),
            Invalid,
        ),
        case(
            "kid empty",
            signed(&header_with("kid", json!("")), &payload),
            Invalid,
        ),
        case(
            "kid a number",
            signed(&header_with("kid", json!(2)), &payload),
            Invalid,
        ),
        case(
            "kid an object",
            signed(&header_with("kid", json!({"k": "k2"})), &payload),
            Invalid,
        ),
        case(
            "kid a path",
            signed(&header_with("kid", json!("../../../../../dev/null")), &payload),
            Invalid,
        ),
        case(
            "kid SQL",
            signed(&header_with("kid", json!("' OR '1'='1")), &payload),
            Invalid,
        ),
        // exp.
        case(
            "exp missing",
            signed(HS256, &claims_with(t, "exp", None)),
            Invalid,
        ),
        case(
            "exp a string",
            signed(
                HS256,
                &claims_with(t, "exp", Some(json!((now() + 3600).to_string()))),
            ),
            Invalid,
        ),
        case("exp a float", with_exp(&format!("{}.5", now() + 3600)), Invalid),
        case(
            "exp a float with no fraction",
            with_exp(&format!("{}.0", now() + 3600)),
            Invalid,
        ),
        case("exp in exponent notation", with_exp("1e10"), Invalid),
        case("exp null", with_exp("null"), Invalid),
        case("exp true", with_exp("true"), Invalid),
        case("exp an array", with_exp(&format!("[{}]", now() + 3600)), Invalid),
        case("exp an object", with_exp(r#"{"$gt":0}"#), Invalid),
        case("exp 1e400 (overflows f64)", with_exp("1e400"), Invalid),
        case(
            "exp 2^64 (overflows u64)",
            with_exp("18446744073709551616"),
            Invalid,
        ),
        case(
            "exp 2^64 * 10^20",
            with_exp("184467440737095516160000000000000000000000"),
            Invalid,
        ),
        case("exp -1", with_exp("-1"), Invalid),
        case("exp -2^63", with_exp("-9223372036854775808"), Invalid),
        case("exp 0", with_exp("0"), Expired),
        case("exp 1 (far in the past)", with_exp("1"), Expired),
        case("exp an hour ago", with_exp(&(now() - 3600).to_string()), Expired),
        case("exp a second ago", with_exp(&(now() - 1).to_string()), Expired),
        // nbf.
        case(
            "nbf in an hour",
            signed(HS256, &claims_with(t, "nbf", Some(json!(now() + 3600)))),
            Invalid,
        ),
        case(
            "nbf u64::MAX",
            signed(HS256, &claims_with(t, "nbf", Some(json!(u64::MAX)))),
            Invalid,
        ),
        case(
            "nbf a string in the future",
            signed(
                HS256,
                &claims_with(t, "nbf", Some(json!((now() + 3600).to_string()))),
            ),
            Invalid,
        ),
        // type.
        case(
            format!("type swapped ({other} token)"),
            other_type_token.clone(),
            WrongType,
        ),
        case(
            "type in upper case",
            signed(HS256, &claims_with(t, "type", Some(json!(t.to_uppercase())))),
            WrongType,
        ),
        case(
            "type with a trailing space",
            signed(HS256, &claims_with(t, "type", Some(json!(format!("{t} "))))),
            WrongType,
        ),
        case(
            "type unknown",
            signed(HS256, &claims_with(t, "type", Some(json!("admin")))),
            WrongType,
        ),
        case(
            "type missing",
            signed(HS256, &claims_with(t, "type", None)),
            Invalid,
        ),
        case(
            "type a number",
            signed(HS256, &claims_with(t, "type", Some(json!(1)))),
            Invalid,
        ),
        case(
            "type an array",
            signed(HS256, &claims_with(t, "type", Some(json!([t])))),
            Invalid,
        ),
        // Duplicate members: parsers disagree on which one wins, so none may.
        case(
            "header alg twice, none then HS256",
            signed(r#"{"alg":"none","alg":"HS256","typ":"JWT"}"#, &payload),
            Invalid,
        ),
        case(
            "header alg twice, HS256 then none",
            signed(r#"{"alg":"HS256","alg":"none","typ":"JWT"}"#, &payload),
            Invalid,
        ),
        case(
            "header alg twice, HS256 both times",
            signed(r#"{"alg":"HS256","alg":"HS256","typ":"JWT"}"#, &payload),
            Invalid,
        ),
        case(
            format!("claims type twice, {other} then {t}"),
            signed(
                HS256,
                &format!(
                    r#"{{"client_id":"{CLIENT}","type":"{other}","type":"{t}","exp":{}}}"#,
                    now() + 3600
                ),
            ),
            Invalid,
        ),
        case(
            format!("claims type twice, {t} then {other}"),
            signed(
                HS256,
                &format!(
                    r#"{{"client_id":"{CLIENT}","type":"{t}","type":"{other}","exp":{}}}"#,
                    now() + 3600
                ),
            ),
            Invalid,
        ),
        case(
            "claims client_id twice",
            signed(
                HS256,
                &format!(
                    r#"{{"client_id":"{CLIENT}","client_id":"admin","type":"{t}","exp":{}}}"#,
                    now() + 3600
                ),
            ),
            Invalid,
        ),
        case(
            "claims exp twice, valid then expired",
            signed(
                HS256,
                &format!(
                    r#"{{"client_id":"{CLIENT}","type":"{t}","exp":{},"exp":1}}"#,
                    now() + 3600
                ),
            ),
            Invalid,
        ),
        case(
            "claims exp twice, expired then valid",
            signed(
                HS256,
                &format!(
                    r#"{{"client_id":"{CLIENT}","type":"{t}","exp":1,"exp":{}}}"#,
                    now() + 3600
                ),
            ),
            Invalid,
        ),
        // Trailing data.
        case(
            "payload JSON followed by text",
            signed(HS256, &format!("{payload}x")),
            Invalid,
        ),
        case(
            "payload two JSON objects",
            signed(HS256, &format!("{payload}{payload}")),
            Invalid,
        ),
        case(
            "payload JSON followed by NUL",
            signed(HS256, &format!("{payload}\0")),
            Invalid,
        ),
        case(
            "payload with a byte-order mark",
            signed(HS256, &format!("\u{feff}{payload}")),
            Invalid,
        ),
        case(
            "header JSON followed by text",
            signed(&format!("{HS256}x"), &payload),
            Invalid,
        ),
        case("a fourth, empty segment", format!("{valid}."), Invalid),
        case("a fourth segment", format!("{valid}.{valid_signature}"), Invalid),
        case("a character after the signature", format!("{valid}A"), Invalid),
        // Padding and whitespace, each signed over exactly what is sent.
        case(
            "padding in the header segment",
            sign_segments(&padded_b64(r#"{"alg":"HS256"}"#), valid_payload, KEY.as_bytes()),
            Invalid,
        ),
        case(
            "padding in the payload segment",
            sign_segments(valid_header, &padded_b64(&payload), KEY.as_bytes()),
            Invalid,
        ),
        case("padding after the signature", format!("{valid}="), Invalid),
        case(
            "a space inside the header segment",
            sign_segments(
                &format!("{} {}", &valid_header[..10], &valid_header[10..]),
                valid_payload,
                KEY.as_bytes(),
            ),
            Invalid,
        ),
        case(
            "a space inside the payload segment",
            sign_segments(
                valid_header,
                &format!("{} {}", &valid_payload[..10], &valid_payload[10..]),
                KEY.as_bytes(),
            ),
            Invalid,
        ),
        case(
            "a tab inside the signature",
            format!(
                "{valid_message}.{}\t{}",
                &valid_signature[..10],
                &valid_signature[10..]
            ),
            Invalid,
        ),
        case(
            "a space before the signature",
            format!("{valid_message}. {valid_signature}"),
            Invalid,
        ),
        case(
            "a space after the header",
            format!("{valid_header} .{valid_payload}.{valid_signature}"),
            Invalid,
        ),
        case(
            "standard base64 alphabet in the signature",
            standard_alphabet_signature,
            Invalid,
        ),
        case(
            "standard base64 alphabet in the payload",
            standard_alphabet_payload,
            Invalid,
        ),
        // Valid base64 with tampered claims, and foreign signatures.
        case("client_id changed, signature kept", tampered_client, Invalid),
        case(
            format!("{other} token's payload retyped to {t}, signature kept"),
            retyped,
            Invalid,
        ),
        case("expired token's exp extended, signature kept", revived, Invalid),
        case("one bit of the payload flipped", bit_flipped, Invalid),
        case(
            "signature of another valid token",
            with_signature(&valid, second_token.rsplit_once('.').unwrap().1),
            Invalid,
        ),
        case(
            "signed with another key",
            signed_with(HS256, &payload, OTHER_KEY),
            Invalid,
        ),
        case(
            "signed with the base64-decoded key bytes",
            sign_segments(valid_header, valid_payload, &decoded_key),
            Invalid,
        ),
        case(
            "signed with an empty key",
            sign_segments(valid_header, valid_payload, b""),
            Invalid,
        ),
        case(
            "signed with the key and a newline",
            sign_segments(valid_header, valid_payload, format!("{KEY}\n").as_bytes()),
            Invalid,
        ),
        case(
            "signature truncated by one character",
            with_signature(&valid, &valid_signature[1..]),
            Invalid,
        ),
        case(
            "signature all zero bits",
            with_signature(&valid, &"A".repeat(43)),
            Invalid,
        ),
        // Empty segments and non-tokens.
        case("empty", "", Missing),
        case("only spaces", "   ", Missing),
        case("a lone dot", ".", Invalid),
        case("two dots", "..", Invalid),
        case("three dots", "...", Invalid),
        case(
            "empty header segment",
            format!(".{valid_payload}.{valid_signature}"),
            Invalid,
        ),
        case(
            "empty payload segment",
            format!("{valid_header}..{valid_signature}"),
            Invalid,
        ),
        case("empty signature segment", format!("{valid_message}."), Invalid),
        case("two segments", valid_message, Invalid),
        case("one word", "garbage", Invalid),
        // Claims that are not what they claim.
        case("claims null", signed(HS256, "null"), Invalid),
        case("claims an array", signed(HS256, "[]"), Invalid),
        case("claims empty", signed(HS256, "{}"), Invalid),
        case("claims not JSON", signed(HS256, "client_id=admin"), Invalid),
        case(
            "client_id empty",
            signed(HS256, &claims_with(t, "client_id", Some(json!("")))),
            Invalid,
        ),
        case(
            "client_id with a NUL",
            signed(HS256, &claims_with(t, "client_id", Some(json!("a\u{0}b")))),
            Invalid,
        ),
        case(
            "client_id with a newline",
            signed(HS256, &claims_with(t, "client_id", Some(json!("a\nb")))),
            Invalid,
        ),
        case(
            "client_id of 257 bytes",
            signed(HS256, &claims_with(t, "client_id", Some(json!("x".repeat(257))))),
            Invalid,
        ),
        case(
            "client_id a number",
            signed(HS256, &claims_with(t, "client_id", Some(json!(7)))),
            Invalid,
        ),
        case(
            "client_id missing",
            signed(HS256, &claims_with(t, "client_id", None)),
            Invalid,
        ),
        case(
            "iat 1e400",
            signed(
                HS256,
                &format!(
                    r#"{{"client_id":"{CLIENT}","type":"{t}","exp":{},"iat":1e400}}"#,
                    now() + 3600
                ),
            ),
            Invalid,
        ),
        case(
            "a claim nested 2500 deep, signed with another key",
            signed_with(HS256, &nested_claims(t), OTHER_KEY),
            Invalid,
        ),
        case(
            "a header nested 2500 deep",
            signed(
                &deeply_nested(2500).replacen('{', r#"{"alg":"HS256","#, 1),
                &payload,
            ),
            Invalid,
        ),
        // Size limits.
        case(
            "8 KiB + 1, correctly signed",
            token_of_len(t, MAX_TOKEN_LEN + 1),
            Invalid,
        ),
        case(
            "64 KiB",
            format!("{valid}{}", "A".repeat(64 * 1024 - valid.len())),
            Invalid,
        ),
    ]
}

/// Key-ring cases for the server whose ring is `k2` (current, K2), `k1` (K1) and the
/// kid-less KEY.
fn ring_cases(token_type: &str) -> Vec<Case> {
    use Expect::*;
    let payload = claims(token_type, now() + 3600).to_string();
    let kid = |kid: &str| header_with("kid", json!(kid));
    vec![
        case(
            "kid k2, signed with k1's key",
            signed_with(&kid("k2"), &payload, K1),
            Invalid,
        ),
        case(
            "kid k1, signed with k2's key",
            signed_with(&kid("k1"), &payload, K2),
            Invalid,
        ),
        case(
            "kid k2, signed with the kid-less key",
            signed_with(&kid("k2"), &payload, KEY),
            Invalid,
        ),
        case(
            "no kid, signed with k2's key",
            signed_with(HS256, &payload, K2),
            Invalid,
        ),
        case(
            "kid null, signed with k2's key",
            signed_with(&header_with("kid", Value::Null), &payload, K2),
            Invalid,
        ),
        case(
            "kid K2 (case changed), signed with k2's key",
            signed_with(&kid("K2"), &payload, K2),
            Invalid,
        ),
        case(
            "kid \"k2 \", signed with k2's key",
            signed_with(&kid("k2 "), &payload, K2),
            Invalid,
        ),
        case(
            "kid k3, a key this server never had",
            signed_with(&kid("k3"), &payload, K3),
            Invalid,
        ),
        case(
            "kid twice, k9 then k2, signed with k2's key",
            signed_with(r#"{"alg":"HS256","kid":"k9","kid":"k2"}"#, &payload, K2),
            Invalid,
        ),
        case(
            "kid twice, k2 then k1, signed with k1's key",
            signed_with(r#"{"alg":"HS256","kid":"k2","kid":"k1"}"#, &payload, K1),
            Invalid,
        ),
        case(
            "kid k2 with a jku header, signed with k2's key",
            signed_with(
                r#"{"alg":"HS256","kid":"k2","jku":"https://attacker.invalid/k"}"#,
                &payload,
                K2,
            ),
            Invalid,
        ),
        case(
            "kid k2 with alg none",
            format!("{}.{}.", b64(r#"{"alg":"none","kid":"k2"}"#), b64(&payload)),
            Invalid,
        ),
    ]
}

fn plain() -> FastAuthBuilder {
    FastAuth::builder()
        .ignore_environment()
        .cryptography_key(KEY)
        .master_token(MASTER)
        .master_paths(["/admin", "/grpc.health.v1.Health/Watch"])
        .access_paths(["/api", "/files/*/raw", "/grpc.health.v1.Health"])
        // Hundreds of refused credentials from one address: the limiter is not under test.
        .failure_limit(None)
}

fn ring() -> FastAuthBuilder {
    plain()
        .cryptography_key(K2)
        .key_id("k2")
        .previous_key("k1", K1)
        .previous_key_without_kid(KEY)
}

/// Sends `token` in `ACCESS-TOKEN` and as `Authorization: Bearer` to an access-level
/// path; each must get 401 with the exact message, and not reach the handler.
async fn assert_access_refused(server: &Server, label: &str, c: &Case) {
    let before = server.hits();
    let bearer = format!("Bearer {}", c.token);
    for (header, value) in [
        ("access-token", c.token.as_str()),
        ("authorization", bearer.as_str()),
    ] {
        let reply = exchange(server.addr, "GET", "/api/x", &[(header, value.as_bytes())]).await;
        let what = format!("{label}: {} (via {header})", c.name);
        assert!(reply.status < 500, "{what}: answered {}", reply.status);
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(c.expect.access()).as_str()),
            "{what}"
        );
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{what}: no WWW-Authenticate challenge"
        );
    }
    assert_eq!(server.hits(), before, "{label}: {}: reached the handler", c.name);
}

async fn assert_access_accepted(server: &Server, label: &str, token: &str) {
    let before = server.hits();
    let reply = exchange(
        server.addr,
        "GET",
        "/api/x",
        &[("access-token", token.as_bytes())],
    )
    .await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "api/x"),
        "{label}: the control token"
    );
    assert_eq!(server.hits(), before + 1);
}

/// `GET /auth/token/refresh?refresh_token=…`: refused in the envelope, no pair issued.
async fn assert_refresh_refused(server: &Server, label: &str, c: &Case) {
    let target = format!(
        "/auth/token/refresh?refresh_token={}",
        utf8_percent_encode(&c.token, NON_ALPHANUMERIC)
    );
    let reply = exchange(server.addr, "GET", &target, &[]).await;
    let what = format!("{label}: {} (refresh endpoint)", c.name);
    assert!(reply.status < 500, "{what}: answered {}", reply.status);
    let (status, message) = c.expect.refresh(&c.token);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (status, envelope(status, message).as_str()),
        "{what}"
    );
}

#[tokio::test]
async fn forged_and_malformed_access_tokens_never_reach_the_handler() {
    let servers = [
        ("stateless", plain().stateless().build().unwrap()),
        ("stateless with a key ring", ring().stateless().build().unwrap()),
        ("stored", plain().store(MemoryTokenStore::new()).build().unwrap()),
    ];
    let mut refused = 0;
    for (label, auth) in &servers {
        let server = serve(auth).await;
        // The one token every case departs from is accepted.
        let valid = signed(HS256, &claims("access", now() + 3600).to_string());
        if auth.mode() == fastauth::TokenMode::Stateless {
            assert_access_accepted(&server, label, &valid).await;
            // The size limit is a limit, not an off-by-one.
            assert_access_accepted(&server, label, &token_of_len("access", MAX_TOKEN_LEN)).await;
            // Unknown claims are ignored, however deep: no recursion limit, no stack overflow.
            assert_access_accepted(&server, label, &signed(HS256, &nested_claims("access"))).await;
        } else {
            let pair = auth.issue(Some(CLIENT)).await.unwrap();
            assert_access_accepted(&server, label, &pair.access_token).await;
        }
        let cases = token_cases("access");
        assert!(cases.len() >= 100, "{} cases", cases.len());
        for c in &cases {
            assert_access_refused(&server, label, c).await;
            refused += 1;
        }
    }
    assert!(refused >= 300);
}

#[tokio::test]
async fn key_ids_are_held_to_the_key_ring() {
    let auth = ring().stateless().build().unwrap();
    let server = serve(&auth).await;
    let payload = claims("access", now() + 3600).to_string();
    for (kid, key) in [(Some("k2"), K2), (Some("k1"), K1), (None, KEY)] {
        let header = match kid {
            Some(kid) => header_with("kid", json!(kid)),
            None => HS256.to_owned(),
        };
        assert_access_accepted(
            &server,
            &format!("kid {kid:?}"),
            &signed_with(&header, &payload, key),
        )
        .await;
    }
    // What the server issues itself names its current key and is accepted.
    let issued = fastauth::hooks::codec(&auth)
        .issue_pair(CLIENT)
        .unwrap()
        .access_token;
    assert_access_accepted(&server, "issued", &issued).await;
    for c in ring_cases("access") {
        assert_access_refused(&server, "key ring", &c).await;
    }
    // A server without key ids knows none of them.
    let plain_server = serve(&plain().stateless().build().unwrap()).await;
    for (kid, key) in [("k2", K2), ("k2", KEY), ("k1", K1)] {
        let c = case(
            format!("kid {kid} on a server without key ids"),
            signed_with(&header_with("kid", json!(kid)), &payload, key),
            Expect::Invalid,
        );
        assert_access_refused(&plain_server, "no key ids", &c).await;
    }
}

#[tokio::test]
async fn the_refresh_endpoint_refuses_the_same_corpus() {
    for (label, auth) in [
        ("stateless", plain().stateless().build().unwrap()),
        ("stateless with a key ring", ring().stateless().build().unwrap()),
    ] {
        let server = serve(&auth).await;
        let valid = signed(HS256, &claims("refresh", now() + 3600).to_string());
        let reply = exchange(
            server.addr,
            "GET",
            &format!("/auth/token/refresh?refresh_token={valid}"),
            &[],
        )
        .await;
        assert_eq!(reply.status, 200, "{label}: the control token: {}", reply.body);
        let cases: Vec<Case> = token_cases("refresh")
            .into_iter()
            .chain(ring_cases("refresh"))
            // 64 KiB does not fit in a request line (hyper answers 414 before any of us).
            .filter(|c| c.token.len() < 16 * 1024)
            .collect();
        assert!(cases.len() >= 100);
        for c in &cases {
            assert_refresh_refused(&server, label, c).await;
        }
        // An access token is not a refresh token.
        let access = fastauth::hooks::codec(&auth)
            .issue_pair(CLIENT)
            .unwrap()
            .access_token;
        let c = case(
            "an access token on the refresh endpoint",
            access,
            Expect::WrongType,
        );
        assert_refresh_refused(&server, label, &c).await;
        assert_eq!(server.hits(), 0, "the token endpoints are not behind the counter");
    }
}

/// Request headers as raw bytes (values need not be UTF-8).
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

#[tokio::test]
async fn master_token_corpus() {
    let auth = plain().stateless().build().unwrap();
    let server = serve(&auth).await;
    let access_token = fastauth::hooks::codec(&auth)
        .issue_pair(CLIENT)
        .unwrap()
        .access_token;
    let bearer_master = format!("Bearer {MASTER}");
    let long = MASTER.repeat(30);
    let huge = "m".repeat(64 * 1024);
    let mut non_utf8 = MASTER.as_bytes().to_vec();
    non_utf8.push(0xff);
    let upper = MASTER.to_uppercase();
    let encoded = utf8_percent_encode(MASTER, NON_ALPHANUMERIC).to_string();
    let b64_master = b64(MASTER);
    let cookie = format!("MASTER-TOKEN={MASTER}");
    let with_nul_escape = format!("{MASTER}\\0");
    let one_more = format!("{MASTER}x");
    let cases: Vec<(&str, Headers, &str)> = vec![
        ("no header", vec![], MISSING_MASTER),
        ("empty header", vec![("master-token", b"")], INVALID_MASTER),
        ("wrong token", vec![("master-token", b"guess")], INVALID_MASTER),
        (
            "upper case",
            vec![("master-token", upper.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "a prefix",
            vec![("master-token", &MASTER.as_bytes()[..MASTER.len() - 1])],
            INVALID_MASTER,
        ),
        (
            "one character more",
            vec![("master-token", one_more.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "an escaped NUL after it",
            vec![("master-token", with_nul_escape.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "repeated past 1 KiB",
            vec![("master-token", long.as_bytes())],
            INVALID_MASTER,
        ),
        ("64 KiB", vec![("master-token", huge.as_bytes())], INVALID_MASTER),
        (
            "a non-UTF-8 byte after it",
            vec![("master-token", &non_utf8)],
            INVALID_MASTER,
        ),
        (
            "percent-encoded",
            vec![("master-token", encoded.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "base64-encoded",
            vec![("master-token", b64_master.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "an access token instead",
            vec![("master-token", access_token.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "wrong, then right, in two headers",
            vec![("master-token", b"guess"), ("master-token", MASTER.as_bytes())],
            INVALID_MASTER,
        ),
        (
            "as a bearer token",
            vec![("authorization", bearer_master.as_bytes())],
            MISSING_MASTER,
        ),
        (
            "in ACCESS-TOKEN",
            vec![("access-token", MASTER.as_bytes())],
            MISSING_MASTER,
        ),
        ("in a cookie", vec![("cookie", cookie.as_bytes())], MISSING_MASTER),
        (
            "header spelt master_token",
            vec![("master_token", MASTER.as_bytes())],
            MISSING_MASTER,
        ),
    ];
    for (name, headers, message) in &cases {
        let reply = exchange(server.addr, "GET", "/admin/users", headers).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(message).as_str()),
            "{name}"
        );
        // The token endpoint checks the master token itself, with the same outcome.
        let reply = exchange(server.addr, "GET", "/auth/token/new?client_id=x", headers).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, envelope(401, message).as_str()),
            "{name} (token endpoint)"
        );
    }
    let reply = exchange(
        server.addr,
        "GET",
        &format!("/admin/users?master_token={MASTER}"),
        &[],
    )
    .await;
    assert_eq!(
        (reply.status, reply.body),
        (401, detail(MISSING_MASTER)),
        "in the query"
    );
    assert_eq!(server.hits(), 0);
    // Control: the right token passes.
    let reply = exchange(
        server.addr,
        "GET",
        "/admin/users",
        &[("master-token", MASTER.as_bytes())],
    )
    .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "admin/users"));
    assert_eq!(server.hits(), 1);
}

// ---------------------------------------------------------------------------------------
// Paths.

fn encode_all(segment: &str, upper_hex: bool) -> String {
    segment
        .bytes()
        .map(|b| {
            if upper_hex {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

fn alternate_case(segment: &str) -> String {
    segment
        .chars()
        .enumerate()
        .map(|(i, c)| if i % 2 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// Every spelling of `/{seg}/{tail}` (and of `/{seg}` alone) that some server, proxy or
/// client treats as that path.
fn spellings(seg: &str, tail: &str) -> Vec<String> {
    let first = seg.as_bytes()[0];
    let rest = &seg[1..];
    let up = seg.to_uppercase();
    vec![
        format!("/{seg}/{tail}"),
        format!("/{seg}"),
        format!("/{seg}/"),
        format!("/{seg}/{tail}/"),
        format!("/{seg}/."),
        format!("/{seg}/{tail}/."),
        format!("/{seg}/{tail}."),
        // Case.
        format!("/{up}/{tail}"),
        format!("/{}/{tail}", alternate_case(seg)),
        format!(
            "/{}{rest}/{}",
            (first as char).to_ascii_uppercase(),
            tail.to_uppercase()
        ),
        // Percent-encoded letters.
        format!("/%{first:02x}{rest}/{tail}"),
        format!("/%{:02X}{rest}/{tail}", first.to_ascii_uppercase()),
        format!("/{}/{tail}", encode_all(seg, false)),
        format!("/{}/{}", encode_all(seg, true), encode_all(tail, true)),
        format!("/{}", encode_all(&up, true)),
        // Encoded and literal separators.
        format!("/{seg}%2F{tail}"),
        format!("/{seg}%2f{tail}"),
        format!("/{seg}%5C{tail}"),
        format!("/{seg}\\{tail}"),
        format!("/public%2F..%2F{seg}/{tail}"),
        format!("/public%2f%2e%2e%2f{seg}"),
        format!("/public\\..\\{seg}\\{tail}"),
        format!("/public%5c..%5c{seg}/{tail}"),
        // Doubled slashes.
        format!("//{seg}/{tail}"),
        format!("/{seg}//{tail}"),
        format!("///{seg}///{tail}///"),
        // Dot segments, literal and encoded.
        format!("/./{seg}/{tail}"),
        format!("/{seg}/./{tail}"),
        format!("/public/../{seg}/{tail}"),
        format!("/../{seg}/{tail}"),
        format!("/../../../{seg}/{tail}"),
        format!("/{seg}/{tail}/.."),
        format!("/{seg}/{tail}/x/../.."),
        format!("/%2e/{seg}/{tail}"),
        format!("/public/%2e%2e/{seg}/{tail}"),
        format!("/public/%2E%2E/{seg}/{tail}"),
        format!("/public/.%2e/{seg}/{tail}"),
        format!("/public/%2e./{seg}/{tail}"),
        // Semicolon parameters.
        format!("/{seg};x=1/{tail}"),
        format!("/{seg};/{tail}"),
        format!("/{seg}/{tail};jsessionid=0"),
        format!("/public/..;/{seg}/{tail}"),
        format!("/public;x=1/../{seg}/{tail}"),
        // Query and fragment.
        format!("/{seg}/{tail}?x=1"),
        format!("/{seg}?next=/public"),
        format!("/{seg}/{tail}#/../../public"),
        // Absolute form: the path is still the path.
        format!("http://localhost/{seg}/{tail}"),
        format!("http://localhost//{up}"),
    ]
}

/// Sends each path and checks 401 with `message`; the handler is never reached.
async fn assert_paths_refused(server: &Server, label: &str, paths: &[String], message: &str) {
    let before = server.hits();
    for path in paths {
        let reply = exchange(server.addr, "GET", path, &[]).await;
        assert!(reply.status < 500, "{label}: {path}: answered {}", reply.status);
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, detail(message).as_str()),
            "{label}: {path}"
        );
    }
    assert_eq!(
        server.hits(),
        before,
        "{label}: a protected spelling reached the handler"
    );
}

/// Near misses: not protected, so they reach the inner service.
async fn assert_paths_open(server: &Server, label: &str, paths: &[&str]) {
    for path in paths {
        let before = server.hits();
        let reply = exchange(server.addr, "GET", path, &[]).await;
        assert!(
            reply.status != 401 && reply.status < 500,
            "{label}: {path} answered {}: {}",
            reply.status,
            reply.body
        );
        assert_eq!(
            server.hits(),
            before + 1,
            "{label}: {path} did not reach the inner service"
        );
    }
}

const NEAR_MISSES: [&str; 10] = [
    "/administrator",
    "/apiary",
    "/admin-panel",
    "/api2/items",
    "/public/admin",
    "/public/x",
    "/adm",
    "/",
    "/grpc.health.v1.HealthCheck",
    "/files/raw",
];

#[tokio::test]
async fn protected_paths_under_every_spelling() {
    let auth = plain().stateless().build().unwrap();
    let server = serve(&auth).await;
    let master = spellings("admin", "users");
    let access = spellings("api", "items");
    assert!(master.len() >= 40 && access.len() >= 40);
    assert_paths_refused(&server, "master", &master, MISSING_MASTER).await;
    assert_paths_refused(&server, "access", &access, MISSING_ACCESS).await;
    // A one-segment wildcard in the pattern.
    let files: Vec<String> = [
        "/files/a/raw",
        "/FILES/a/RAW",
        "/files//a//raw/",
        "/files/a/./raw",
        "/files/a/b/../raw",
        "/files/%61/%72aw",
        "/files/a%2Fraw",
        "/files/a;v=1/raw;x",
        "/files/a/raw/deeper",
    ]
    .map(String::from)
    .to_vec();
    assert_paths_refused(&server, "files/*/raw", &files, MISSING_ACCESS).await;
    assert_paths_open(&server, "near misses", &NEAR_MISSES).await;
    assert_paths_open(
        &server,
        "wildcard near misses",
        &["/files/a/b/raw", "/files/a/rawx"],
    )
    .await;
}

#[tokio::test]
async fn grpc_style_paths() {
    let auth = plain().stateless().build().unwrap();
    let server = serve(&auth).await;
    let watch: Vec<String> = [
        "/grpc.health.v1.Health/Watch",
        "/GRPC.HEALTH.V1.HEALTH/WATCH",
        "/grpc.health.v1.Health//Watch",
        "//grpc.health.v1.Health/Watch",
        "/grpc%2Ehealth%2Ev1%2EHealth/Watch",
        "/grpc.health.v1.Health%2FWatch",
        "/grpc.health.v1.Health/Watch/",
        "/x/../grpc.health.v1.Health/Watch",
        "/grpc.health.v1.Health/./Watch",
        "/grpc.health.v1.Health;x/Watch",
        "/grpc.health.v1.Health/%57atch",
        // Read with the dots kept, this is below Watch: the stricter level applies.
        "/grpc.health.v1.Health/Watch/../Check",
    ]
    .map(String::from)
    .to_vec();
    assert_paths_refused(&server, "gRPC master", &watch, MISSING_MASTER).await;
    let check: Vec<String> = [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.health/check",
        "/grpc.health.v1.Health//Check",
        "/grpc%2ehealth.v1.Health/Check",
        "/grpc.health.v1.Health/x/../Check",
        "/grpc.health.v1.Health",
    ]
    .map(String::from)
    .to_vec();
    assert_paths_refused(&server, "gRPC access", &check, MISSING_ACCESS).await;
    // Spoken as gRPC: a trailers-only answer with grpc-status 16 and the same message.
    let before = server.hits();
    for (path, message) in [
        ("/grpc.health.v1.Health/Watch", MISSING_MASTER),
        ("/GRPC.health.v1.Health//Watch", MISSING_MASTER),
        ("/grpc.health.v1.Health/Check", MISSING_ACCESS),
        ("/grpc.health.v1.Health/%43heck", MISSING_ACCESS),
    ] {
        let reply = exchange(
            server.addr,
            "POST",
            path,
            &[
                ("content-type", b"application/grpc"),
                ("te", b"trailers"),
                ("content-length", b"0"),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("grpc-status"), Some("16"), "{path}");
        assert_eq!(reply.header("grpc-message"), Some(message), "{path}");
    }
    assert_eq!(server.hits(), before);
}

#[tokio::test]
async fn a_mount_prefix_on_the_outer_router() {
    // The app is nested under /v1 and the layer wraps the outer router, so the patterns
    // name the full path.
    let auth = plain()
        .stateless()
        .master_paths(["/v1/admin"])
        .access_paths(["/v1/api"])
        .build()
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let app = counted(
        Router::new()
            .nest("/v1", app_routes())
            .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") }),
        &hits,
    )
    .layer(auth.layer());
    let server = spawn(app, hits).await;
    let prefixed = |seg: &str, tail: &str| -> Vec<String> {
        let mut paths: Vec<String> = spellings(seg, tail)
            .into_iter()
            // Dots that climb above the root would climb out of the mount: see below.
            .filter(|p| !p.starts_with("/../"))
            .map(|p| match p.strip_prefix("http://localhost") {
                Some(rest) => format!("http://localhost/v1{rest}"),
                None => format!("/v1{p}"),
            })
            .collect();
        // The prefix itself, spelt otherwise.
        for prefix in ["/V1", "/%76%31", "//v1/", "/v1;x", "/x/../v1", "/./v1", "/v1%2F."] {
            paths.push(format!("{prefix}/{seg}/{tail}"));
        }
        paths.push(format!("/v1%2F{seg}%2F{tail}"));
        paths
    };
    let master = prefixed("admin", "users");
    let access = prefixed("api", "items");
    assert!(master.len() >= 50);
    assert_paths_refused(&server, "/v1 master", &master, MISSING_MASTER).await;
    assert_paths_refused(&server, "/v1 access", &access, MISSING_ACCESS).await;
    assert_paths_open(
        &server,
        "/v1 near misses",
        &[
            "/v1/administrator",
            "/v1/apiary",
            "/v1",
            "/admin/users",
            "/api/items",
            "/v2/admin/users",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_layer_on_the_nested_router_sees_relative_paths() {
    // The layer wraps the inner app, whose patterns are relative to the mount point:
    // axum hands the nested router the path below /v1.
    let auth = plain().stateless().build().unwrap();
    let inner_hits = Arc::new(AtomicUsize::new(0));
    let inner = counted(app_routes(), &inner_hits).layer(auth.layer());
    let app = Router::new()
        .nest("/v1", inner)
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "outer: not found") });
    let server = spawn(app, inner_hits).await;
    // Only spellings that axum routes into the mount reach the layer at all.
    let relative = |seg: &str, tail: &str| -> Vec<String> {
        spellings(seg, tail)
            .into_iter()
            .filter(|p| p.starts_with('/'))
            .map(|p| format!("/v1{p}"))
            .collect()
    };
    let master = relative("admin", "users");
    let access = relative("api", "items");
    assert!(master.len() >= 40);
    assert_paths_refused(&server, "nested master", &master, MISSING_MASTER).await;
    assert_paths_refused(&server, "nested access", &access, MISSING_ACCESS).await;
    assert_paths_refused(
        &server,
        "nested, dots above the mount",
        &[
            "/v1/x/../../admin/users".to_owned(),
            "/v1/../admin/users".to_owned(),
        ],
        MISSING_MASTER,
    )
    .await;
    assert_paths_open(
        &server,
        "nested near misses",
        &["/v1/administrator", "/v1/apiary", "/v1/public/x"],
    )
    .await;
    // Outside the mount nothing routes into the inner app, protected or not.
    let before = server.hits();
    for path in ["/V1/admin/users", "/admin/users", "/v2/admin/users"] {
        let reply = exchange(server.addr, "GET", path, &[]).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (404, "outer: not found"),
            "{path}"
        );
    }
    assert_eq!(server.hits(), before);
}

/// A `..` right after a protected segment removes that segment from the normalised
/// path (RFC 3986 resolution), but axum does not resolve dot segments: it routes
/// `/admin/..` to `/admin/{id}` with `id = ".."`, and `/api/../items` to
/// `/api/{version}/items`, so the handler behind the protected prefix runs with no token.
///
/// So `PathRules::level_for` also reads the path with its dot segments kept, and the
/// stricter level applies: a `..` segment never lowers the level.
#[tokio::test]
async fn dot_segments_cannot_remove_a_protected_segment() {
    let auth = plain()
        .stateless()
        .master_paths(["/admin", "/ops"])
        .access_paths(["/api", "/files/*/raw"])
        .build()
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let app = counted(
        Router::new()
            .route("/admin/{id}", get(|| async { "admin/{id}" }))
            .route("/api/{version}/items", get(|| async { "api/{version}/items" }))
            .route("/files/{id}/raw", get(|| async { "files/{id}/raw" }))
            .nest("/ops", Router::new().route("/{id}", get(|| async { "ops/{id}" })))
            .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") }),
        &hits,
    )
    .layer(auth.layer());
    let server = spawn(app, hits).await;
    let cases = [
        ("/admin/..", MISSING_MASTER),
        ("/admin/%2e%2e", MISSING_MASTER),
        ("/admin/.%2E", MISSING_MASTER),
        ("/admin/..;x", MISSING_MASTER),
        ("/admin/%2F..", MISSING_MASTER),
        ("/admin/%5C..", MISSING_MASTER),
        ("/ops/..", MISSING_MASTER),
        ("/api/../items", MISSING_ACCESS),
        ("/api/%2e%2e/items", MISSING_ACCESS),
        ("/files/../raw", MISSING_ACCESS),
    ];
    let mut bypasses = Vec::new();
    for (path, message) in cases {
        let before = server.hits();
        let reply = exchange(server.addr, "GET", path, &[]).await;
        if (reply.status, reply.body.as_str()) != (401, detail(message).as_str()) || server.hits() != before {
            bypasses.push(format!("{path} -> {} {}", reply.status, reply.body));
        }
    }
    assert!(
        bypasses.is_empty(),
        "reached a protected handler without a token: {bypasses:#?}"
    );
}
