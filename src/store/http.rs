//! [`HttpTokenStore`]: the token-database HTTP API of fastauth-api.

use std::{collections::BTreeMap, time::Duration};

use async_trait::async_trait;
use reqwest::{
    Client, Method, StatusCode, Url,
    header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};
use serde::{Deserialize, Serialize};

use super::{StoredTokens, TokenStore};
use crate::error::{ConfigError, StoreError};

/// Default time allowed to open a connection to the database API.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time allowed for a whole call to the database API.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body accepted from the database API.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A [`TokenStore`] speaking fastauth-api's token-database HTTP API.
///
/// With base URL `B` (config `database_api_path`, such as `http://127.0.0.1:6789/mydb/data`):
///
/// - save: `POST B/token?client_id=<id>` with `{"data":{"access_token":…,"refresh_token":…}}`,
///   success is HTTP 200;
/// - load: `GET B/token?client_id=<id>`, 200 with `{"data":{"access_token":…,…}}`, or 404
///   when nothing is stored;
/// - revoke: the API has no delete, so the pair is overwritten with empty tokens,
///   which never match a presented token (a Python deployment sharing the database
///   refuses them too).
///
/// Unlike fastauth-api, the configured `headers` go with every call (so the database
/// API can be protected), `client_id` is URL-encoded, one pooled async client is reused,
/// every call has a connect and a request timeout (2 s and 5 s by default, see
/// [`HttpTokenStoreBuilder`]), and every answer other than 200/404, a timeout, a refused
/// connection, a malformed body or one over 64 KiB is a [`StoreError`], which the layer
/// turns into a 503 (fail closed) and logs.
///
/// Plain `http://` works with the default features; `https://` needs the `rustls`
/// feature.
#[derive(Debug, Clone)]
pub struct HttpTokenStore {
    client: Client,
    token_url: Url,
}

/// Configures an [`HttpTokenStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpTokenStoreBuilder {
    base_url: String,
    headers: BTreeMap<String, String>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl HttpTokenStoreBuilder {
    /// Headers sent on every call (for example an API key of the database API).
    pub fn headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// One header sent on every call.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Time allowed to open a connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for a whole call, connection included (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Checks the URL and headers and builds the store with its connection pool.
    pub fn build(self) -> Result<HttpTokenStore, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue {
            field: "database_api_path",
            reason,
        };
        let mut url = Url::parse(&self.base_url).map_err(|e| invalid(format!("{:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(format!(
                "{:?} must be an http(s) URL without query or fragment",
                self.base_url
            )));
        }
        url.path_segments_mut()
            .map_err(|_| invalid(format!("{:?} cannot be a base URL", self.base_url)))?
            .pop_if_empty()
            .push("token");

        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConfigError::InvalidValue {
                    field: "headers",
                    reason: format!("{name:?} is not a valid header name"),
                })?;
            let mut header_value = HeaderValue::from_str(value).map_err(|_| ConfigError::InvalidValue {
                field: "headers",
                reason: format!("the value of {name:?} is not a valid header value"),
            })?;
            header_value.set_sensitive(true);
            headers.insert(header_name, header_value);
        }
        let client = Client::builder()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTokenStore {
            client,
            token_url: url,
        })
    }
}

#[derive(Serialize)]
struct SaveBody<'a> {
    data: SaveData<'a>,
}

#[derive(Serialize)]
struct SaveData<'a> {
    access_token: &'a str,
    refresh_token: &'a str,
}

#[derive(Deserialize)]
struct LoadBody {
    data: LoadData,
}

#[derive(Deserialize)]
struct LoadData {
    access_token: String,
    // Records written by other tools may lack it; such a record cannot be refreshed.
    #[serde(default)]
    refresh_token: String,
}

impl HttpTokenStore {
    /// A store with default timeouts and no extra headers.
    pub fn new(base_url: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder(base_url).build()
    }

    /// A builder for a store at `base_url`.
    pub fn builder(base_url: impl Into<String>) -> HttpTokenStoreBuilder {
        HttpTokenStoreBuilder {
            base_url: base_url.into(),
            headers: BTreeMap::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The URL calls go to (without the `client_id` query).
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    fn url_for(&self, client_id: &str) -> Url {
        let mut url = self.token_url.clone();
        url.query_pairs_mut().append_pair("client_id", client_id);
        url
    }

    async fn send(
        &self,
        method: Method,
        client_id: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Vec<u8>), StoreError> {
        let mut request = self.client.request(method.clone(), self.url_for(client_id));
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let what = format!("{method} {}", self.token_url);
        let mut response = request
            .send()
            .await
            .map_err(|e| StoreError::with_source(format!("{what} failed"), e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| StoreError::with_source(format!("{what}: reading the response failed"), e))?
        {
            if bytes.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(StoreError::new(format!(
                    "{what}: response larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    async fn put(&self, client_id: &str, access_token: &str, refresh_token: &str) -> Result<(), StoreError> {
        let body = serde_json::to_vec(&SaveBody {
            data: SaveData {
                access_token,
                refresh_token,
            },
        })
        .map_err(|e| StoreError::with_source("cannot encode the request", e))?;
        let (status, _) = self.send(Method::POST, client_id, Some(body)).await?;
        if status == StatusCode::OK {
            Ok(())
        } else {
            Err(StoreError::new(format!(
                "POST {} answered {status}, expected 200",
                self.token_url
            )))
        }
    }
}

#[async_trait]
impl TokenStore for HttpTokenStore {
    async fn save(&self, client_id: &str, tokens: &StoredTokens) -> Result<(), StoreError> {
        self.put(client_id, &tokens.access_token, &tokens.refresh_token)
            .await
    }

    async fn load(&self, client_id: &str) -> Result<Option<StoredTokens>, StoreError> {
        let (status, body) = self.send(Method::GET, client_id, None).await?;
        match status {
            StatusCode::OK => {
                let parsed: LoadBody = serde_json::from_slice(&body).map_err(|e| {
                    StoreError::with_source(format!("GET {}: malformed body", self.token_url), e)
                })?;
                if parsed.data.access_token.is_empty() {
                    // A revoked record.
                    return Ok(None);
                }
                Ok(Some(StoredTokens {
                    access_token: parsed.data.access_token,
                    refresh_token: parsed.data.refresh_token,
                }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(StoreError::new(format!(
                "GET {} answered {other}, expected 200 or 404",
                self.token_url
            ))),
        }
    }

    async fn revoke(&self, client_id: &str) -> Result<(), StoreError> {
        self.put(client_id, "", "").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_and_client_ids_encoded() {
        let store = HttpTokenStore::new("http://127.0.0.1:6789/mydb/data/").unwrap();
        assert_eq!(
            store.token_url().as_str(),
            "http://127.0.0.1:6789/mydb/data/token"
        );
        assert_eq!(
            store.url_for("a&admin=1 x/é").as_str(),
            "http://127.0.0.1:6789/mydb/data/token?client_id=a%26admin%3D1+x%2F%C3%A9"
        );
    }

    #[test]
    fn bad_urls_and_headers_are_refused() {
        for url in ["not a url", "ftp://x/y", "http://x/y?q=1", "mailto:a@b"] {
            assert!(HttpTokenStore::new(url).is_err(), "{url}");
        }
        let err = HttpTokenStore::builder("http://x/y")
            .header("bad name", "v")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("bad name"), "{err}");
    }
}
