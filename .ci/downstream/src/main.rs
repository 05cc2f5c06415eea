//! Issues, verifies and refreshes tokens with fastauth's default features, and verifies a
//! token fastauth would not write itself (members in another order, an extra claim): that
//! one takes the general verification path, which must work without any JWT crypto
//! backend. Exits non-zero, saying what failed, if anything does.

use std::{
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fastauth::{AuthError, FastAuth, store::MemoryTokenStore};
use hmac::{KeyInit, Mac};

const KEY: &str = "downstream-check-key-0123456789-abcdefghijklmnop";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("downstream: issue, verify (canonical and not), refresh: all fine");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("downstream: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let stored = FastAuth::builder()
        .cryptography_key(KEY)
        .store(MemoryTokenStore::new())
        .build()
        .map_err(|e| format!("stored mode: {e}"))?;
    let pair = stored
        .issue(Some("downstream"))
        .await
        .map_err(|e| format!("issue: {e}"))?;
    let claims = stored
        .verify_access(&pair.access_token)
        .await
        .map_err(|e| format!("verify the issued access token: {e}"))?;
    if claims.client_id() != "downstream" {
        return Err(format!("issued for {:?}", claims.client_id()));
    }
    let renewed = stored
        .refresh(&pair.refresh_token)
        .await
        .map_err(|e| format!("refresh: {e}"))?;
    stored
        .verify_access(&renewed.access_token)
        .await
        .map_err(|e| format!("verify the refreshed access token: {e}"))?;
    if stored.refresh(&pair.refresh_token).await.is_ok() {
        return Err("a used refresh token was accepted again".into());
    }

    let stateless = FastAuth::builder()
        .cryptography_key(KEY)
        .stateless()
        .build()
        .map_err(|e| format!("stateless mode: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let unusual = sign(
        r#"{"typ":"JWT","alg":"HS256"}"#,
        &format!(
            r#"{{"exp":{},"type":"access","client_id":"other","note":"x"}}"#,
            now + 60
        ),
    );
    let claims = stateless
        .verify_access(&unusual)
        .await
        .map_err(|e| format!("verify a token in another member order: {e}"))?;
    if claims.client_id() != "other" {
        return Err(format!("unusual token read as {:?}", claims.client_id()));
    }
    let forged = sign_with(
        b"some other key, of the same length as the real one",
        r#"{"typ":"JWT","alg":"HS256"}"#,
        &format!(r#"{{"exp":{},"type":"access","client_id":"other"}}"#, now + 60),
    );
    match stateless.verify_access(&forged).await {
        Err(AuthError::InvalidAccessToken) => Ok(()),
        other => Err(format!("a token signed with another key: {other:?}")),
    }
}

fn sign(header: &str, claims: &str) -> String {
    sign_with(KEY.as_bytes(), header, claims)
}

fn sign_with(key: &[u8], header: &str, claims: &str) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(message.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{message}.{signature}")
}
