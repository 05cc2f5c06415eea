//! [`EncryptedStore`]: tokens at rest as AES-256-GCM ciphertext, over any store.

use async_trait::async_trait;

use super::{Rotation, StoredTokens, TokenStore};
use crate::{
    crypto::{CryptoError, SealingKey, constant_time_eq},
    error::StoreError,
};

/// A [`TokenStore`] that seals tokens before they reach the inner store and opens them
/// when they come back.
///
/// Wrap the store that talks to the database, and the database holds only sealed
/// values (see [`crypto`](crate::crypto) for the key derivation and the format): a copy
/// of the database, a backup or a read-only SQL injection yields no token that a client
/// could present. The key is derived from the configured cryptography key, so nothing
/// new needs to be kept secret.
///
/// ```
/// use fastauth::{
///     FastAuth,
///     store::{EncryptedStore, MemoryTokenStore},
/// };
///
/// let key = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";
/// let auth = FastAuth::builder()
///     .ignore_environment()
///     .cryptography_key(key)
///     .access_paths(["/api"])
///     .store(EncryptedStore::with_key(MemoryTokenStore::new(), key)?)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Opt-in, and what it costs
///
/// This is off unless you wrap a store in it, because a sealed database can no longer
/// be shared with fastauth-api (Python) deployments: they store and compare the tokens
/// in plain text. Records written before encryption was turned on, or sealed with
/// another key, do not open: such a load is a [`StoreError`] (the layer answers 503 and
/// logs the cause), so switching on encryption, or changing the key, means issuing
/// the clients new pairs.
///
/// Each token is sealed with its client id and its role as associated data
/// (`access\0<client_id>` or `refresh\0<client_id>`), so a sealed value moved to another
/// client's record, or from the access field to the refresh field, does not open either.
///
/// [`rotate`](TokenStore::rotate) opens the stored refresh token, compares it with the
/// presented one in constant time, and then asks the inner store to swap the pair only
/// if the record still holds the sealed value it just opened. An inner store that
/// compares and swaps atomically (Redis) therefore stays atomic under encryption.
#[derive(Debug, Clone)]
pub struct EncryptedStore<S> {
    inner: S,
    key: SealingKey,
}

impl<S> EncryptedStore<S> {
    /// Seals with `key`.
    pub fn new(inner: S, key: SealingKey) -> Self {
        Self { inner, key }
    }

    /// Seals with the key derived from the configured cryptography key string
    /// ([`SealingKey::derive`]).
    pub fn with_key(inner: S, cryptography_key: &str) -> Result<Self, CryptoError> {
        Ok(Self::new(inner, SealingKey::derive(cryptography_key)?))
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn seal(&self, client_id: &str, tokens: &StoredTokens) -> StoredTokens {
        StoredTokens {
            access_token: self
                .key
                .seal_with_aad(tokens.access_token.as_bytes(), &aad(Field::Access, client_id)),
            refresh_token: self
                .key
                .seal_with_aad(tokens.refresh_token.as_bytes(), &aad(Field::Refresh, client_id)),
        }
    }

    fn open(&self, client_id: &str, field: Field, sealed: &str) -> Result<String, StoreError> {
        let opened = self
            .key
            .open_with_aad(sealed, &aad(field, client_id))
            .and_then(|bytes| String::from_utf8(bytes).map_err(|_| CryptoError::Malformed));
        opened.map_err(|error| {
            // Either the key changed, the record predates encryption, or someone wrote
            // to the database: worth a warning, and never a token in it.
            tracing::warn!(
                target: "fastauth::store",
                client_id = %client_id,
                field = field.name(),
                %error,
                "stored token does not open"
            );
            StoreError::with_source(format!("the stored {} token does not open", field.name()), error)
        })
    }

    fn open_pair(&self, client_id: &str, sealed: &StoredTokens) -> Result<StoredTokens, StoreError> {
        Ok(StoredTokens {
            access_token: self.open(client_id, Field::Access, &sealed.access_token)?,
            refresh_token: self.open(client_id, Field::Refresh, &sealed.refresh_token)?,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Access,
    Refresh,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Access => "access",
            Field::Refresh => "refresh",
        }
    }
}

/// `<field>\0<client_id>`: a client id cannot contain a NUL (control characters are
/// refused), so no two (field, client) pairs share associated data.
fn aad(field: Field, client_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(
        field
            .name()
            .len()
            .saturating_add(1)
            .saturating_add(client_id.len()),
    );
    aad.extend_from_slice(field.name().as_bytes());
    aad.push(0);
    aad.extend_from_slice(client_id.as_bytes());
    aad
}

#[async_trait]
impl<S: TokenStore> TokenStore for EncryptedStore<S> {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        self.inner.save(client_id, &self.seal(client_id, tokens)).await
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        match self.inner.load(client_id).await? {
            Some(sealed) => self.open_pair(client_id, &sealed).map(Some),
            None => Ok(None),
        }
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        self.inner.revoke(client_id).await
    }

    // Every answer is the inner store's record, opened with a key that never changes:
    // it changes exactly when the inner store's does.
    fn revision(&self, client_id: &str) -> Option<u64> {
        self.inner.revision(client_id)
    }

    async fn rotate(
        &self,
        client_id: &str,
        presented_refresh: &str,
        new: &StoredTokens,
    ) -> Result<Rotation, StoreError> {
        let Some(sealed) = self.inner.load(client_id).await? else {
            return Ok(Rotation::Stale);
        };
        let current = self.open(client_id, Field::Refresh, &sealed.refresh_token)?;
        if !constant_time_eq(&current, presented_refresh) {
            return Ok(Rotation::Stale);
        }
        // Sealing is randomized, so the inner store cannot compare plaintexts; it can
        // compare the sealed value just opened, which keeps its swap atomic.
        self.inner
            .rotate(client_id, &sealed.refresh_token, &self.seal(client_id, new))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, sync::Arc};

    use http::{Request, Response, StatusCode};
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::{FastAuth, TokenMode, crypto::SEALED_PREFIX, store::MemoryTokenStore};

    const KEY: &str = "k0Xq0C6yJ5qNn8V9i1yTgG1o8Zt2dJ0c3mK5vS7wX9A=";

    fn codec_auth() -> FastAuth {
        FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .stateless()
            .build()
            .unwrap()
    }

    /// Real tokens, so that "does not contain" is checked against realistic values.
    fn tokens(client_id: &str) -> StoredTokens {
        let pair = crate::hooks::codec(&codec_auth()).issue_pair(client_id).unwrap();
        StoredTokens {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }

    fn encrypted() -> (Arc<MemoryTokenStore>, EncryptedStore<Arc<MemoryTokenStore>>) {
        let inner = Arc::new(MemoryTokenStore::new());
        let store = EncryptedStore::with_key(inner.clone(), KEY).unwrap();
        (inner, store)
    }

    fn assert_holds_no_token(raw: &StoredTokens, plain: &StoredTokens) {
        for stored in [&raw.access_token, &raw.refresh_token] {
            assert!(stored.starts_with(SEALED_PREFIX), "{stored}");
            for token in [&plain.access_token, &plain.refresh_token] {
                assert_ne!(stored, token);
                assert!(!stored.contains(token.as_str()));
                // Not even a segment (header, claims, signature) of a token.
                for segment in token.split('.') {
                    assert!(!stored.contains(segment), "{segment}");
                }
            }
        }
        assert_ne!(raw.access_token, raw.refresh_token);
    }

    #[tokio::test]
    async fn the_inner_store_never_holds_a_usable_token() {
        let (inner, store) = encrypted();
        let plain = tokens("client-1");
        store.save("client-1", &plain).await.unwrap();
        let raw = inner.load("client-1").await.unwrap().unwrap();
        assert_holds_no_token(&raw, &plain);

        // Saving the same pair again seals it anew.
        store.save("client-1", &plain).await.unwrap();
        let again = inner.load("client-1").await.unwrap().unwrap();
        assert_ne!(again.access_token, raw.access_token);

        // After a rotation too.
        let next = tokens("client-1");
        store
            .rotate("client-1", &plain.refresh_token, &next)
            .await
            .unwrap();
        let raw = inner.load("client-1").await.unwrap().unwrap();
        assert_holds_no_token(&raw, &next);
        assert_holds_no_token(&raw, &plain);
    }

    #[tokio::test]
    async fn save_load_revoke_round_trip() {
        let (inner, store) = encrypted();
        assert_eq!(store.load("c").await.unwrap(), None);
        let first = tokens("c");
        store.save("c", &first).await.unwrap();
        assert_eq!(store.load("c").await.unwrap(), Some(first.clone()));
        let second = tokens("c");
        store.save("c", &second).await.unwrap();
        assert_eq!(store.load("c").await.unwrap(), Some(second));
        assert_eq!(store.load("other").await.unwrap(), None);
        store.revoke("c").await.unwrap();
        assert_eq!(store.load("c").await.unwrap(), None);
        assert!(inner.is_empty());
    }

    #[tokio::test]
    async fn rotate_compares_the_opened_refresh_token() {
        let (_inner, store) = encrypted();
        let first = tokens("c");
        let second = tokens("c");
        let third = tokens("c");
        assert_eq!(
            store.rotate("c", &first.refresh_token, &second).await.unwrap(),
            Rotation::Stale
        );
        store.save("c", &first).await.unwrap();
        assert_eq!(
            store.rotate("c", &first.access_token, &second).await.unwrap(),
            Rotation::Stale
        );
        assert_eq!(store.load("c").await.unwrap(), Some(first.clone()));
        assert_eq!(
            store.rotate("c", &first.refresh_token, &second).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(store.load("c").await.unwrap(), Some(second.clone()));
        // Re-use of the rotated refresh token is stale.
        assert_eq!(
            store.rotate("c", &first.refresh_token, &third).await.unwrap(),
            Rotation::Stale
        );
        assert_eq!(
            store.rotate("c", &second.refresh_token, &third).await.unwrap(),
            Rotation::Rotated
        );
        assert_eq!(store.load("c").await.unwrap(), Some(third));
    }

    #[tokio::test]
    async fn records_that_do_not_open_are_store_errors() {
        let plain = tokens("c");
        type Corrupt<'a> = Box<dyn Fn(&StoredTokens) -> StoredTokens + 'a>;
        let cases: Vec<(&str, Corrupt<'_>)> = vec![
            (
                "plain text, as a Python deployment stores it",
                Box::new(|_| plain.clone()),
            ),
            (
                "sealed with another key",
                Box::new(|_| {
                    EncryptedStore::with_key((), &crate::crypto::generate_cryptography_key())
                        .unwrap()
                        .seal("c", &plain)
                }),
            ),
            (
                "access and refresh swapped",
                Box::new(|raw| StoredTokens {
                    access_token: raw.refresh_token.clone(),
                    refresh_token: raw.access_token.clone(),
                }),
            ),
            (
                "tampered",
                Box::new(|raw| {
                    let mut refresh = raw.refresh_token.clone();
                    let last = if refresh.ends_with('A') { "B" } else { "A" };
                    refresh.replace_range(refresh.len() - 1.., last);
                    StoredTokens {
                        access_token: raw.access_token.clone(),
                        refresh_token: refresh,
                    }
                }),
            ),
            (
                "garbage",
                Box::new(|_| StoredTokens {
                    access_token: "v1.\u{0}".into(),
                    refresh_token: String::new(),
                }),
            ),
        ];
        for (case, corrupt) in cases {
            let (inner, store) = encrypted();
            store.save("c", &plain).await.unwrap();
            let raw = inner.load("c").await.unwrap().unwrap();
            inner.save("c", &corrupt(&raw)).await.unwrap();
            let err = store.load("c").await.unwrap_err();
            assert!(err.to_string().contains("does not open"), "{case}: {err}");
            assert!(!err.to_string().contains(&plain.access_token), "{case}");
            assert!(
                store
                    .rotate("c", &plain.refresh_token, &tokens("c"))
                    .await
                    .is_err(),
                "{case}"
            );
        }

        // A record moved to another client does not open there.
        let (inner, store) = encrypted();
        store.save("a", &plain).await.unwrap();
        let raw = inner.load("a").await.unwrap().unwrap();
        inner.save("b", &raw).await.unwrap();
        assert!(store.load("b").await.is_err());
        assert_eq!(store.load("a").await.unwrap(), Some(plain));
    }

    fn stored_auth(store: EncryptedStore<Arc<MemoryTokenStore>>) -> FastAuth {
        FastAuth::builder()
            .ignore_environment()
            .cryptography_key(KEY)
            .access_paths(["/api"])
            .token_mode(TokenMode::Stored)
            .store(store)
            .build()
            .unwrap()
    }

    async fn call_api(auth: &FastAuth, access_token: &str) -> StatusCode {
        let svc = ServiceBuilder::new()
            .layer(auth.layer())
            .service_fn(|_req: Request<String>| async {
                Ok::<_, Infallible>(Response::new(crate::body::FullBody::new("inner".into())))
            });
        let req = Request::get("/api/items")
            .header("access-token", access_token)
            .body(String::new())
            .unwrap();
        svc.oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_stored_mode_layer_accepts_what_it_issued() {
        let (inner, store) = encrypted();
        let auth = stored_auth(store);
        let pair = auth.issue(Some("client-1")).await.unwrap();
        let raw = inner.load("client-1").await.unwrap().unwrap();
        assert_holds_no_token(
            &raw,
            &StoredTokens {
                access_token: pair.access_token.clone(),
                refresh_token: pair.refresh_token.clone(),
            },
        );

        assert_eq!(call_api(&auth, &pair.access_token).await, StatusCode::OK);
        // The sealed value from the database is not a token the layer accepts.
        assert_eq!(call_api(&auth, &raw.access_token).await, StatusCode::UNAUTHORIZED);

        let next = auth.refresh(&pair.refresh_token).await.unwrap();
        assert_eq!(call_api(&auth, &next.access_token).await, StatusCode::OK);
        assert_eq!(
            call_api(&auth, &pair.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        // Re-use of the rotated refresh token is detected and revokes the client.
        assert!(auth.refresh(&pair.refresh_token).await.is_err());
        assert_eq!(
            call_api(&auth, &next.access_token).await,
            StatusCode::UNAUTHORIZED
        );

        // A record that does not open: the layer fails closed (503), it does not panic.
        let fresh = auth.issue(Some("client-1")).await.unwrap();
        assert_eq!(call_api(&auth, &fresh.access_token).await, StatusCode::OK);
        let mut record = inner.load("client-1").await.unwrap().unwrap();
        record.access_token = "v1.AAAA".into();
        inner.save("client-1", &record).await.unwrap();
        assert_eq!(
            call_api(&auth, &fresh.access_token).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
