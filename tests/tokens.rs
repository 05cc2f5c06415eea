//! Access-token verification, end to end over a real axum server on 127.0.0.1.
//!
//! Every forged, malformed, expired or mistyped token is answered 401 with its stable
//! `{"detail":…}` body, never a panic or a 5xx, and the handler is never reached. Valid
//! tokens pass in both modes. Tokens are interchangeable with another HS256
//! implementation (Python's standard library), and both jsonwebtoken crypto backends
//! produce and accept the same signatures.

mod common;

use std::{net::SocketAddr, process::Command};

use axum::{Extension, Router, routing::get};
use fastauth::{Claims, FastAuth, token::TokenType};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use common::{
    bodies::{
        EXPIRED_ACCESS as EXPIRED, INVALID_ACCESS as INVALID, MISSING_ACCESS as MISSING, WRONG_TYPE, detail,
    },
    client::send,
    jwt::{HS256 as HS256_HEADER, b64, claims, hs256, now, unb64},
    keys::{KEY, OTHER_KEY},
    raw_http::exchange,
    server::{Hits, serve_without_connect_info},
};

struct Server {
    addr: SocketAddr,
    /// Requests that reached the handler behind the fastauth layer.
    hits: Hits,
    client: reqwest::Client,
}

impl Server {
    async fn start(auth: &FastAuth) -> Self {
        let hits = Hits::default();
        let handler = |Extension(claims): Extension<Claims>| async move { claims.client_id().to_owned() };
        let app = hits
            .count(Router::new().route("/api/x", get(handler)))
            .layer(auth.layer());
        Self {
            addr: serve_without_connect_info(app).await,
            hits,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/api/x", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.get()
    }

    async fn get(&self, header: &str, value: &str) -> (u16, Option<String>, String) {
        let answer = send(&self.client, Method::GET, &self.url(), &[(header, value)]).await;
        let challenge = answer
            .headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        if answer.status == 401 {
            assert_eq!(answer.headers["content-type"], "application/json");
        }
        (answer.status, challenge, answer.text)
    }

    /// Sends the token in `ACCESS-TOKEN` and as `Authorization: Bearer`, and checks
    /// that both are refused with `message` without reaching the handler.
    async fn assert_refused(&self, case: &str, token: &str, message: &str) {
        let before = self.hits();
        for (header, value) in [
            ("access-token", token.to_owned()),
            ("authorization", format!("Bearer {token}")),
        ] {
            let (status, challenge, body) = self.get(header, &value).await;
            assert_eq!(status, 401, "{case} via {header}: body {body}");
            assert_eq!(body, detail(message), "{case} via {header}");
            assert!(
                challenge.is_some_and(|c| c.starts_with("Bearer")),
                "{case} via {header}: WWW-Authenticate missing"
            );
        }
        assert_eq!(self.hits(), before, "{case}: the handler was reached");
    }

    async fn assert_accepted(&self, token: &str, client_id: &str) {
        let before = self.hits();
        for (header, value) in [
            ("access-token", token.to_owned()),
            ("authorization", format!("Bearer {token}")),
        ] {
            let (status, _, body) = self.get(header, &value).await;
            assert_eq!(status, 200, "via {header}: body {body}");
            assert_eq!(body, client_id, "via {header}: claims seen by the handler");
        }
        assert_eq!(self.hits(), before + 2);
    }
}

fn access_claims() -> Value {
    claims("c", "access", now() + 3600)
}

fn signed(payload: &Value) -> String {
    hs256(HS256_HEADER, &payload.to_string(), KEY)
}

fn builder() -> fastauth::FastAuthBuilder {
    common::auth::builder().access_paths(["/api"])
}

fn stateless() -> FastAuth {
    builder().stateless().build().unwrap()
}

fn stored() -> FastAuth {
    builder()
        .store(fastauth::store::MemoryTokenStore::new())
        .build()
        .unwrap()
}

/// Every refusal case: (name, token, expected message). Built after a `FastAuth`, so
/// that the crypto provider is installed.
fn refusal_cases() -> Vec<(&'static str, String, &'static str)> {
    let payload = access_claims().to_string();
    let key = EncodingKey::from_secret(KEY.as_bytes()).unwrap();
    let valid = signed(&access_claims());
    let (valid_message, valid_signature) = valid.rsplit_once('.').unwrap();
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)),
            b64(&payload)
        )
    };
    let with_exp = |exp: Value| {
        let mut c = access_claims();
        c["exp"] = exp;
        signed(&c)
    };
    let tampered = {
        let mut c = access_claims();
        c["client_id"] = json!("admin");
        let header = valid.split('.').next().unwrap();
        format!("{header}.{}.{valid_signature}", b64(c.to_string()))
    };
    let flipped_signature = {
        let mut sig = valid_signature.as_bytes().to_vec();
        sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
        format!("{valid_message}.{}", String::from_utf8(sig).unwrap())
    };
    // A 32-byte signature is 43 base64 characters; the last one carries 4 unused bits.
    let trailing_bits = {
        let mut sig = valid_signature.as_bytes().to_vec();
        let last = sig.len() - 1;
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.iter().position(|&c| c == sig[last]).unwrap();
        sig[last] = alphabet[index ^ 1];
        format!("{valid_message}.{}", String::from_utf8(sig).unwrap())
    };
    let mut not_yet = access_claims();
    not_yet["nbf"] = json!(now() + 3600);
    let duplicate_exp = format!(
        r#"{{"client_id":"c","type":"access","exp":{},"iat":{},"exp":{}}}"#,
        now() + 3600,
        now(),
        now() - 3600
    );
    let mut no_type = access_claims();
    no_type.as_object_mut().unwrap().remove("type");
    let mut no_exp = access_claims();
    no_exp.as_object_mut().unwrap().remove("exp");

    vec![
        ("alg none, empty signature", unsigned("none"), INVALID),
        ("alg None, empty signature", unsigned("None"), INVALID),
        ("alg NONE, empty signature", unsigned("NONE"), INVALID),
        (
            "alg none with an HS256 signature",
            hs256(r#"{"alg":"none","typ":"JWT"}"#, &payload, KEY),
            INVALID,
        ),
        (
            "HS384, same key",
            jsonwebtoken::encode(&Header::new(Algorithm::HS384), &access_claims(), &key).unwrap(),
            INVALID,
        ),
        (
            "HS512, same key",
            jsonwebtoken::encode(&Header::new(Algorithm::HS512), &access_claims(), &key).unwrap(),
            INVALID,
        ),
        (
            "RS256 header, HS256 signature",
            hs256(r#"{"alg":"RS256","typ":"JWT"}"#, &payload, KEY),
            INVALID,
        ),
        ("expired", with_exp(json!(now() - 3600)), EXPIRED),
        ("exp missing", signed(&no_exp), INVALID),
        (
            "exp a string",
            with_exp(json!((now() + 3600).to_string())),
            INVALID,
        ),
        ("exp a float", with_exp(json!(now() as f64 + 3600.5)), INVALID),
        ("exp null", with_exp(Value::Null), INVALID),
        ("exp negative", with_exp(json!(-1)), INVALID),
        (
            "type refresh",
            signed(&claims("c", "refresh", now() + 3600)),
            WRONG_TYPE,
        ),
        (
            "type unknown",
            signed(&claims("c", "admin", now() + 3600)),
            WRONG_TYPE,
        ),
        ("type missing", signed(&no_type), INVALID),
        (
            "client_id empty",
            signed(&claims("", "access", now() + 3600)),
            INVALID,
        ),
        ("tampered payload, old signature", tampered, INVALID),
        (
            "signature with non-canonical trailing bits",
            trailing_bits,
            INVALID,
        ),
        ("nbf in the future", signed(&not_yet), INVALID),
        (
            "duplicate exp, the last one expired",
            hs256(HS256_HEADER, &duplicate_exp, KEY),
            INVALID,
        ),
        ("altered signature", flipped_signature, INVALID),
        ("signature missing", format!("{valid_message}."), INVALID),
        ("two segments", valid_message.to_owned(), INVALID),
        ("four segments", format!("{valid}.{valid_signature}"), INVALID),
        (
            "signed with another key",
            hs256(HS256_HEADER, &payload, OTHER_KEY),
            INVALID,
        ),
        ("payload not JSON", hs256(HS256_HEADER, "not json", KEY), INVALID),
        ("payload a JSON array", hs256(HS256_HEADER, "[1,2]", KEY), INVALID),
        (
            "header not JSON",
            format!("{}.{}.{valid_signature}", b64("{"), b64(&payload)),
            INVALID,
        ),
        ("garbage word", "garbage".to_owned(), INVALID),
        ("garbage segments", "a.b.c".to_owned(), INVALID),
        ("not base64", "!!!.@@@.###".to_owned(), INVALID),
        ("empty segments ..", "..".to_owned(), INVALID),
        ("empty segments a..b", "a..b".to_owned(), INVALID),
        ("dots only", "....".to_owned(), INVALID),
        ("a lone dot", ".".to_owned(), INVALID),
    ]
}

#[tokio::test]
async fn a_hand_crafted_token_is_accepted() {
    // The refusal cases below change one thing each from this token: it must pass,
    // or they would prove nothing.
    let auth = stateless();
    let server = Server::start(&auth).await;
    let token = signed(&access_claims());
    assert_eq!(
        token.split('.').next(),
        fastauth::hooks::codec(&auth)
            .issue_pair("c")
            .unwrap()
            .access_token
            .split('.')
            .next()
    );
    server.assert_accepted(&token, "c").await;
}

#[tokio::test]
async fn bad_tokens_are_refused_with_their_stable_message() {
    let auth = stateless();
    let server = Server::start(&auth).await;
    for (case, token, message) in refusal_cases() {
        server.assert_refused(case, &token, message).await;
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn bad_tokens_are_refused_in_stored_mode_too() {
    let auth = stored();
    let server = Server::start(&auth).await;
    for (case, token, message) in refusal_cases() {
        server.assert_refused(case, &token, message).await;
    }
    // Well-formed and correctly signed, but never issued: not the client's current token.
    server
        .assert_refused(
            "valid but not stored",
            &signed(&access_claims()),
            "Access token revoked",
        )
        .await;
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_64_kib_token_is_a_401_not_431_or_500() {
    let auth = stateless();
    let server = Server::start(&auth).await;
    // hyper's HTTP/1 defaults (axum::serve) bound the whole head at ~400 KiB, not one
    // header, so 64 KiB reaches the layer, which refuses tokens above 8 KiB unread.
    let mut padded = access_claims();
    padded["pad"] = json!("p".repeat(64 * 1024));
    let big_but_signed = signed(&padded);
    assert!(big_but_signed.len() > 64 * 1024);
    server
        .assert_refused("64 KiB, correctly signed", &big_but_signed, INVALID)
        .await;
    server
        .assert_refused("64 KiB of garbage", &"x".repeat(64 * 1024), INVALID)
        .await;
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn non_utf8_header_bytes_are_a_401() {
    let auth = stateless();
    let server = Server::start(&auth).await;
    for (name, value) in [
        ("ACCESS-TOKEN", &b"\xff\xfe\x80token"[..]),
        ("ACCESS-TOKEN", &b"eyJ\xc3\x28.abc.def"[..]),
        ("Authorization", &b"Bearer \xff\xfe\x80token"[..]),
    ] {
        let reply = exchange(server.addr, "GET", "/api/x", &[(name, value)]).await;
        let shown = format!("{name}: {}", String::from_utf8_lossy(value));
        assert_eq!(reply.status, 401, "{shown}: {}", reply.body);
        assert_eq!(reply.body, detail(INVALID), "{shown}");
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn absent_or_foreign_credentials_are_missing() {
    let auth = stateless();
    let server = Server::start(&auth).await;
    let token = signed(&access_claims());
    for (header, value) in [
        ("authorization", "Bearer".to_owned()),
        ("authorization", "Bearer    ".to_owned()),
        ("authorization", "Basic xxx".to_owned()),
        ("authorization", format!("Basic {}", b64("user:pass"))),
        // A valid token under a scheme other than Bearer is not an access token.
        ("authorization", format!("Token {token}")),
        ("access-token", String::new()),
        ("access-token", "   ".to_owned()),
        ("x-unrelated", token.clone()),
    ] {
        let (status, challenge, body) = server.get(header, &value).await;
        assert_eq!(status, 401, "{header}: {value}");
        assert_eq!(body, detail(MISSING), "{header}: {value}");
        assert_eq!(challenge.as_deref(), Some("Bearer"), "{header}: {value}");
    }
    let response = server.client.get(server.url()).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.text().await.unwrap(), detail(MISSING));
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn valid_tokens_pass_in_stateless_mode() {
    let auth = stateless();
    let server = Server::start(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();
    server.assert_accepted(&pair.access_token, "c").await;
    // Stateless: a second pair does not revoke the first.
    let second = auth.issue(Some("c")).await.unwrap();
    server.assert_accepted(&second.access_token, "c").await;
    server.assert_accepted(&pair.access_token, "c").await;
    server
        .assert_refused("refresh token", &pair.refresh_token, WRONG_TYPE)
        .await;
}

#[tokio::test]
async fn valid_tokens_pass_in_stored_mode() {
    let auth = stored();
    let server = Server::start(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();
    server.assert_accepted(&pair.access_token, "c").await;
    server
        .assert_refused("refresh token", &pair.refresh_token, WRONG_TYPE)
        .await;
    // Stored: issuing a new pair revokes the old access token.
    let second = auth.issue(Some("c")).await.unwrap();
    server.assert_accepted(&second.access_token, "c").await;
    server
        .assert_refused(
            "superseded access token",
            &pair.access_token,
            "Access token revoked",
        )
        .await;
}

/// Runs `script` with `python3 -c`. Fails (does not skip) when python3 is missing.
fn python(script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is required by the HS256 interop tests and could not be run ({e}); \
                 install it (CI does: apt-get install -y python3)"
            )
        })
}

/// PyJWT's layout with only the standard library: sorted compact header, compact
/// claims in fastauth-api's order, HMAC-SHA256 over the UTF-8 bytes of the key string.
const PY_MINT: &str = r#"
import base64, hashlib, hmac, json, sys, time
key, client_id = sys.argv[1], sys.argv[2]
def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
now = int(time.time())
header = json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":"), sort_keys=True)
claims = json.dumps({"client_id": client_id, "type": "access", "exp": now + 3600, "iat": now},
                    separators=(",", ":"))
signing_input = b64(header.encode()) + "." + b64(claims.encode())
signature = hmac.new(key.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
print(signing_input + "." + b64(signature))
"#;

/// Verifies an HS256 token with the standard library and prints its header and claims
/// as JSON; exits 2 on a bad signature, 3 on bad claims.
const PY_VERIFY: &str = r#"
import base64, hashlib, hmac, json, sys, time
key, token = sys.argv[1], sys.argv[2]
def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
header_b64, claims_b64, signature_b64 = token.split(".")
expected = hmac.new(key.encode("utf-8"), (header_b64 + "." + claims_b64).encode("ascii"),
                    hashlib.sha256).digest()
if not hmac.compare_digest(expected, unb64(signature_b64)):
    print("bad signature", file=sys.stderr)
    sys.exit(2)
header = json.loads(unb64(header_b64))
claims = json.loads(unb64(claims_b64))
now = int(time.time())
if header != {"alg": "HS256", "typ": "JWT"} or type(claims.get("exp")) is not int \
        or claims["exp"] <= now or claims.get("type") not in ("access", "refresh"):
    print("bad claims", file=sys.stderr)
    sys.exit(3)
print(json.dumps({"header": header, "claims": claims}))
"#;

#[tokio::test]
async fn a_token_minted_by_python_is_accepted() {
    let auth = stateless();
    let server = Server::start(&auth).await;
    let out = python(PY_MINT, &[KEY, "py-client"]);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // Byte-for-byte the header our codec writes.
    assert_eq!(
        token.split('.').next(),
        Some("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")
    );
    server.assert_accepted(&token, "py-client").await;

    // The same Python token, signed with another key, is refused.
    let out = python(PY_MINT, &[OTHER_KEY, "py-client"]);
    assert!(out.status.success());
    let forged = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    server
        .assert_refused("python token, other key", &forged, INVALID)
        .await;
}

#[test]
fn our_tokens_verify_in_python() {
    let auth = stateless();
    let pair = fastauth::hooks::codec(&auth).issue_pair("rust-client").unwrap();
    for (token, token_type, lifetime) in [
        (&pair.access_token, "access", 2_592_000),
        (&pair.refresh_token, "refresh", 31_536_000),
    ] {
        let out = python(PY_VERIFY, &[KEY, token]);
        assert!(
            out.status.success(),
            "python refused our {token_type} token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["header"], json!({"alg": "HS256", "typ": "JWT"}));
        let claims = &seen["claims"];
        assert_eq!(claims["client_id"], "rust-client");
        assert_eq!(claims["type"], token_type);
        let (exp, iat) = (claims["exp"].as_u64().unwrap(), claims["iat"].as_u64().unwrap());
        assert_eq!(exp - iat, lifetime);
        assert!(iat.abs_diff(now()) <= 60, "iat {iat} is not now");
        // fastauth-api's four claims, plus a random `jti` so that same-second pairs differ.
        let mut keys: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["client_id", "exp", "iat", "jti", "type"], "{claims}");
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "{claims}");
    }

    // The Python verifier is a real one: a wrong key and a tampered payload fail there.
    let out = python(PY_VERIFY, &[OTHER_KEY, &pair.access_token]);
    assert_eq!(out.status.code(), Some(2), "wrong key accepted by python");
    let mut parts: Vec<String> = pair.access_token.split('.').map(str::to_owned).collect();
    let mut forged: Value = serde_json::from_slice(&unb64(&parts[1])).unwrap();
    forged["client_id"] = json!("admin");
    parts[1] = b64(forged.to_string());
    let out = python(PY_VERIFY, &[KEY, &parts.join(".")]);
    assert_eq!(out.status.code(), Some(2), "tampered token accepted by python");
}

/// fastauth signs with its own HMAC-SHA256 (no JWT crypto backend): the signatures are
/// what a plain HMAC-SHA256 and jsonwebtoken's own provider compute, and a tampered one
/// is refused by both.
#[test]
fn signatures_are_plain_hmac_sha256() {
    use hmac::{KeyInit, Mac};
    use jsonwebtoken::{DecodingKey, crypto::rust_crypto};

    let auth = stateless();
    let decoding = DecodingKey::from_secret(KEY.as_bytes()).unwrap();
    let verifier = (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&Algorithm::HS256, &decoding).unwrap();
    let pair = fastauth::hooks::codec(&auth).issue_pair("c").unwrap();
    for token in [&pair.access_token, &pair.refresh_token] {
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature = unb64(signature);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(signing_input.as_bytes());
        assert_eq!(mac.finalize().into_bytes().as_slice(), signature.as_slice());
        assert!(verifier.verify(signing_input.as_bytes(), &signature).is_ok());
        let mut tampered = signature.clone();
        tampered[0] ^= 1;
        assert!(verifier.verify(signing_input.as_bytes(), &tampered).is_err());
        let mut parts: Vec<&str> = token.split('.').collect();
        let tampered_b64 = b64(&tampered);
        parts[2] = &tampered_b64;
        assert_eq!(
            fastauth::hooks::verify_access_token(&auth, &parts.join(".")).unwrap_err(),
            fastauth::AuthError::InvalidAccessToken
        );
    }
}

/// A token of another shape than fastauth writes (members reordered, an extra header
/// member, an extra claim) goes through the general path, which checks its HMAC-SHA256
/// itself and decides as jsonwebtoken does.
#[test]
fn an_unusual_token_is_verified_without_a_crypto_backend() {
    let auth = stateless();
    let exp = now() + 600;
    let unusual = hs256(
        r#"{"typ":"JWT","alg":"HS256","cty":"none"}"#,
        &format!(r#"{{"exp":{exp},"type":"access","extra":[1],"client_id":"shape"}}"#),
        KEY,
    );
    let claims = fastauth::hooks::verify_access_token(&auth, &unusual).unwrap();
    assert_eq!((claims.client_id(), claims.expires_at()), ("shape", exp));
    let reference = fastauth_testkit::jwt::Reference::new([(None, KEY)], 0);
    assert_eq!(reference.verify(&unusual, TokenType::Access), Ok(claims));
    let foreign = hs256(
        r#"{"typ":"JWT","alg":"HS256"}"#,
        &format!(r#"{{"exp":{exp},"type":"access","client_id":"shape"}}"#),
        OTHER_KEY,
    );
    assert_eq!(
        fastauth::hooks::verify_access_token(&auth, &foreign).unwrap_err(),
        fastauth::AuthError::InvalidAccessToken
    );
}

/// A `MemoryTokenStore` that counts the layer's questions and forwards everything else,
/// its revision included. `answers_now: false` makes it a store that answers only
/// asynchronously (`is_current_now` is `None`), as a network store does.
struct CountingStore<S = fastauth::store::MemoryTokenStore> {
    inner: S,
    answers_now: bool,
    asked: std::sync::atomic::AtomicUsize,
}

impl CountingStore {
    fn new(answers_now: bool) -> Self {
        Self::around(fastauth::store::MemoryTokenStore::new(), answers_now)
    }
}

impl<S> CountingStore<S> {
    fn around(inner: S, answers_now: bool) -> Self {
        Self {
            inner,
            answers_now,
            asked: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self) {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl<S: fastauth::store::TokenStore> fastauth::store::TokenStore for CountingStore<S> {
    async fn save(
        &self,
        client_id: &str,
        tokens: &fastauth::store::StoredTokens,
    ) -> Result<(), fastauth::store::StoreError> {
        self.inner.save(client_id, tokens).await
    }
    async fn load(
        &self,
        client_id: &str,
    ) -> Result<Option<fastauth::store::StoredTokens>, fastauth::store::StoreError> {
        self.inner.load(client_id).await
    }
    async fn revoke(&self, client_id: &str) -> Result<(), fastauth::store::StoreError> {
        self.inner.revoke(client_id).await
    }
    async fn is_current(
        &self,
        client_id: &str,
        access_token: &str,
    ) -> Result<bool, fastauth::store::StoreError> {
        self.count();
        self.inner.is_current(client_id, access_token).await
    }
    fn is_current_now(&self, client_id: &str, access_token: &str) -> Option<bool> {
        if !self.answers_now {
            return None;
        }
        self.count();
        self.inner.is_current_now(client_id, access_token)
    }
    fn revision(&self, client_id: &str) -> Option<u64> {
        self.inner.revision(client_id)
    }
    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &fastauth::store::StoredTokens,
    ) -> Result<fastauth::store::Rotation, fastauth::store::StoreError> {
        self.inner.rotate(client_id, presented_refresh, new).await
    }
}

#[tokio::test]
async fn a_store_with_a_revision_is_asked_again_only_after_a_write() {
    let store = std::sync::Arc::new(CountingStore::new(true));
    let auth = builder().store(store.clone()).build().unwrap();
    let server = Server::start(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();
    let other = auth.issue(Some("other")).await.unwrap();

    // The first request verifies the token and asks the store; the second finds it in
    // the token cache and asks the store once more, recording the store's revision.
    server.assert_accepted(&pair.access_token, "c").await;
    assert_eq!(store.asked(), 2);
    for _ in 0..5 {
        server.assert_accepted(&pair.access_token, "c").await;
    }
    assert_eq!(
        store.asked(),
        2,
        "the revision did not change: the store is not asked again"
    );

    // A revocation changes the revision: the very next request asks, and is refused.
    auth.revoke("c").await.unwrap();
    server
        .assert_refused("revoked access token", &pair.access_token, "Access token revoked")
        .await;
    assert_eq!(store.asked(), 4);

    // A new pair for another client may share a revision with this one's: the layer
    // then asks again, and the answer is still right.
    server.assert_accepted(&other.access_token, "other").await;
    server.assert_accepted(&other.access_token, "other").await;
    let asked = store.asked();
    let again = auth.issue(Some("other")).await.unwrap();
    server
        .assert_refused(
            "superseded access token",
            &other.access_token,
            "Access token revoked",
        )
        .await;
    server.assert_accepted(&again.access_token, "other").await;
    assert!(store.asked() > asked);

    // A rotation too: the old access token is refused at once.
    server.assert_accepted(&again.access_token, "other").await;
    let rotated = auth.refresh(&again.refresh_token).await.unwrap();
    server
        .assert_refused(
            "rotated access token",
            &again.access_token,
            "Access token revoked",
        )
        .await;
    server.assert_accepted(&rotated.access_token, "other").await;
}

#[tokio::test]
async fn a_store_that_answers_asynchronously_is_remembered_by_its_revision_too() {
    let store = std::sync::Arc::new(CountingStore::new(false));
    let asked = || store.asked();
    let auth = builder().store(store.clone()).build().unwrap();
    let server = Server::start(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();
    server.assert_accepted(&pair.access_token, "c").await;
    assert_eq!(asked(), 2);
    server.assert_accepted(&pair.access_token, "c").await;
    assert_eq!(
        asked(),
        2,
        "the revision did not change: the store is not asked again"
    );
    auth.revoke("c").await.unwrap();
    server
        .assert_refused("revoked access token", &pair.access_token, "Access token revoked")
        .await;
    assert_eq!(asked(), 4);
}

#[tokio::test]
async fn an_encrypted_store_keeps_the_revision_of_the_store_it_seals_into() {
    use fastauth::store::{EncryptedStore, MemoryTokenStore};

    // As the crate docs compose it: the memory store sealed. Its answers are the
    // memory store's, opened, so they change only when that store's revision does.
    let sealed = EncryptedStore::with_key(MemoryTokenStore::new(), common::keys::KEY).unwrap();
    let store = std::sync::Arc::new(CountingStore::around(sealed, false));
    let auth = builder().store(store.clone()).build().unwrap();
    let server = Server::start(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();
    server.assert_accepted(&pair.access_token, "c").await;
    server.assert_accepted(&pair.access_token, "c").await;
    let asked = store.asked();
    for _ in 0..5 {
        server.assert_accepted(&pair.access_token, "c").await;
    }
    assert_eq!(
        store.asked(),
        asked,
        "the sealed store's revision did not change: it is not asked again"
    );
    auth.revoke("c").await.unwrap();
    server
        .assert_refused("revoked access token", &pair.access_token, "Access token revoked")
        .await;
    assert_eq!(
        store.asked(),
        asked + 2,
        "after the revocation, each of the two requests asks"
    );
}

#[tokio::test]
async fn a_cached_store_is_asked_again_by_the_time_its_answer_may_have_expired() {
    use std::{sync::Arc, time::Duration, time::Instant};

    use fastauth::store::{CachedTokenStore, MemoryTokenStore, TokenStore};

    // What other instances share: a revocation made there reaches this one only as
    // the cache entry expires, and the layer must not remember an answer for longer.
    let shared = Arc::new(MemoryTokenStore::new());
    let ttl = Duration::from_millis(1200);
    let period = ttl / 8;
    let cache = CachedTokenStore::builder(shared.clone()).ttl(ttl).build();
    let store = Arc::new(CountingStore::around(cache, true));
    let auth = builder().store(store.clone()).build().unwrap();
    let server = Server::start(&auth).await;
    let pair = auth.issue(Some("c")).await.unwrap();

    server.assert_accepted(&pair.access_token, "c").await;
    server.assert_accepted(&pair.access_token, "c").await;
    let (asked, started) = (store.asked(), Instant::now());
    for _ in 0..10 {
        server.assert_accepted(&pair.access_token, "c").await;
    }
    // Asked again only when a new period began (its revision moves on in each).
    let periods = started.elapsed().as_nanos() / period.as_nanos() + 1;
    assert!(
        (store.asked() - asked) as u128 <= periods,
        "asked {} times over 10 requests in {periods} period(s)",
        store.asked() - asked
    );

    // Revoked elsewhere: accepted at most until the entry cached before it expires.
    let revoked = Instant::now();
    shared.revoke("c").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent = Instant::now();
        let (status, _, _) = server.get("access-token", &pair.access_token).await;
        if status != 200 {
            assert_eq!(status, 401);
            break;
        }
        assert!(
            sent < revoked + ttl,
            "accepted {:?} after the revocation, with a TTL of {ttl:?}",
            sent - revoked
        );
        assert!(Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Revoked through this instance's cache: refused at once.
    let other = auth.issue(Some("other")).await.unwrap();
    server.assert_accepted(&other.access_token, "other").await;
    server.assert_accepted(&other.access_token, "other").await;
    store.revoke("other").await.unwrap();
    server
        .assert_refused(
            "revoked access token",
            &other.access_token,
            "Access token revoked",
        )
        .await;
}
