//! The typed HTTP client. The CLI, the agent, the TUI and the tests all talk to the server through it.

mod agents;
mod blocks;
mod deployments;
mod error;
mod events;
mod keys;
mod logs;
mod queues;
mod runs;
mod schedules;
#[cfg(test)]
mod tests;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ErrorBody, NO_ROUTE};
use crate::Health;

pub use error::{ClientError, ClientResult};
pub use events::EventStream;
pub use runs::Cancellation;

/// The API address used when `RIGEL_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:4200/api";

/// Whether a create call made a new object or found (and possibly updated) an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Existing,
}

#[derive(Debug, Clone)]
pub struct RigelClient {
    base: String,
    http: reqwest::Client,
    /// For the event stream: no overall timeout (it lasts), but a read timeout instead.
    stream_http: reqwest::Client,
    api_key: Option<String>,
}

impl RigelClient {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:4200/api`; a bare server address
    /// such as `http://127.0.0.1:4200` gets `/api` appended, see [`api_base`]).
    pub fn new(base: impl Into<String>) -> Self {
        Self::with_roots(base, &[])
    }

    /// A client that also trusts the certificate authorities of `roots` (a private CA).
    pub fn with_roots(base: impl Into<String>, roots: &[reqwest::Certificate]) -> Self {
        let trusting = |mut builder: reqwest::ClientBuilder| {
            for root in roots {
                builder = builder.add_root_certificate(root.clone());
            }
            builder
        };
        let http = trusting(reqwest::Client::builder())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        let stream_http = trusting(reqwest::Client::builder())
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(events::STREAM_READ_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            base: api_base(&base.into()),
            http,
            stream_http,
            api_key: None,
        }
    }

    /// The certificates of the PEM file at `path` (`RIGEL_CA_CERT`), to trust as roots.
    pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not PEM certificates ({e})", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{}: no PEM certificate (`-----BEGIN CERTIFICATE-----`) in it",
                path.display()
            ));
        }
        Ok(certs)
    }

    /// A client configured from `RIGEL_API_URL`, `RIGEL_API_KEY` and `RIGEL_CA_CERT` (a PEM
    /// file of certificate authorities to trust besides the system's; the CLI checks it before
    /// anything else, so an unreadable one is reported there — here it is left out with a
    /// warning on stderr).
    pub fn from_env() -> Self {
        let url = std::env::var(crate::env::API_URL)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let roots = match std::env::var_os(crate::env::CA_CERT).filter(|v| !v.is_empty()) {
            Some(path) => Self::read_ca_file(std::path::Path::new(&path)).unwrap_or_else(|e| {
                eprintln!("warning: {} {e}; not trusted", crate::env::CA_CERT);
                Vec::new()
            }),
            None => Vec::new(),
        };
        let mut client = Self::with_roots(url, &roots);
        client.api_key = std::env::var(crate::env::API_KEY)
            .ok()
            .filter(|k| !k.is_empty());
        client
    }

    /// The client, sending `key` as its API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into()).filter(|k| !k.is_empty());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The full address of an API path.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds the API key to a request, when there is one.
    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    /// The error of a request to `url` that got no answer: `Unreachable` when nothing listens
    /// at the server's address.
    fn send_error(&self, source: reqwest::Error, url: &str) -> ClientError {
        // the root cause (rustls' words) is at the end of the chain
        let mut cause: &dyn std::error::Error = &source;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let detail = cause.to_string();
        if detail.to_ascii_lowercase().contains("certificate") {
            return ClientError::Tls {
                url: self.base.clone(),
                detail,
            };
        }
        if source.is_connect() {
            ClientError::Unreachable {
                url: self.base.clone(),
                source,
            }
        } else {
            ClientError::Http {
                url: url.to_string(),
                source,
            }
        }
    }

    /// Decodes the JSON answer to a request of `path`.
    fn decode<T: DeserializeOwned>(
        &self,
        path: &str,
        status: StatusCode,
        bytes: &[u8],
    ) -> ClientResult<T> {
        serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol {
            url: self.url(path),
            status: status.as_u16(),
            detail: format!("cannot decode the answer: {e}"),
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<reqwest::Body>,
        json: bool,
    ) -> ClientResult<(StatusCode, Vec<u8>)> {
        let url = self.url(path);
        let mut req = self.authorize(self.http.request(method, &url));
        if let Some(body) = body {
            let ct = if json {
                "application/json"
            } else {
                "application/octet-stream"
            };
            req = req.header(reqwest::header::CONTENT_TYPE, ct).body(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|source| self.send_error(source, &url))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ClientError::Http {
                url: url.clone(),
                source,
            })?
            .to_vec();
        if status.is_success() {
            return Ok((status, bytes));
        }
        Err(self.error_from_response(status, &bytes, url))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> ClientResult<(StatusCode, T)> {
        let body = match body {
            Some(b) => Some(reqwest::Body::from(serde_json::to_vec(b).map_err(|e| {
                ClientError::Protocol {
                    url: self.url(path),
                    status: 0,
                    detail: format!("cannot encode the request: {e}"),
                }
            })?)),
            None => None,
        };
        let (status, bytes) = self.send(method, path, body, true).await?;
        Ok((status, self.decode(path, status, &bytes)?))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        Ok(self.call::<(), T>(Method::GET, path, None).await?.1)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> ClientResult<T> {
        Ok(self.call(Method::POST, path, Some(body)).await?.1)
    }

    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        Ok(self.call::<(), T>(Method::POST, path, None).await?.1)
    }

    async fn no_content(&self, method: Method, path: &str) -> ClientResult<()> {
        self.send(method, path, None, true).await.map(|_| ())
    }

    fn upserted(status: StatusCode) -> Upserted {
        if status == StatusCode::CREATED {
            Upserted::Created
        } else {
            Upserted::Existing
        }
    }

    pub async fn health(&self) -> ClientResult<Health> {
        self.get("/health").await
    }
}

impl RigelClient {
    /// The error of a non-success answer from `url`: the API's error body, or `Protocol` when
    /// the body isn't one. A 404 for a route (not for an object) from a base URL that doesn't
    /// end in `/api` is almost always a misconfigured `RIGEL_API_URL`: it says so, and counts
    /// as a non-Rigel answer rather than as "not found".
    fn error_from_response(&self, status: StatusCode, bytes: &[u8], url: String) -> ClientError {
        let error = match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => ClientError::Api {
                status: status.as_u16(),
                body,
            },
            Err(_) => ClientError::Protocol {
                url: url.clone(),
                status: status.as_u16(),
                detail: String::from_utf8_lossy(bytes).chars().take(200).collect(),
            },
        };
        if status != StatusCode::NOT_FOUND || self.base.ends_with("/api") {
            return error;
        }
        let detail = match error {
            ClientError::Api { ref body, .. } if body.error.message.starts_with(NO_ROUTE) => {
                body.error.message.clone()
            }
            ClientError::Protocol { ref detail, .. } => detail.clone(),
            other => return other,
        };
        ClientError::Protocol {
            url,
            status: status.as_u16(),
            detail: format!(
                "{detail}; Rigel's API is served under /api: add it to RIGEL_API_URL (e.g. {}/api)",
                self.base
            ),
        }
    }
}

/// The API's base address from what a user gave (`RIGEL_API_URL`): without trailing slashes, and
/// with `/api` appended when the address names only a server (`http://host:4200` or
/// `http://host:4200/`), since the API is always served there. Any other path is kept as given,
/// for a proxy that serves the API somewhere else.
pub fn api_base(given: &str) -> String {
    let trimmed = given.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(url)
            if url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.has_host() =>
        {
            format!("{trimmed}/api")
        }
        _ => trimmed.to_string(),
    }
}

/// Percent-encodes one URL path segment (names may contain spaces and other characters).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every item of a paged listing: `page(limit, offset)` reads one page of the largest size.
pub async fn all_pages<T, F, Fut>(mut page: F) -> ClientResult<Vec<T>>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: std::future::Future<Output = ClientResult<Vec<T>>>,
{
    let limit = crate::filter::MAX_LIMIT;
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let items = page(limit, offset).await?;
        let n = items.len();
        all.extend(items);
        if n < limit as usize {
            return Ok(all);
        }
        offset += limit;
    }
}
