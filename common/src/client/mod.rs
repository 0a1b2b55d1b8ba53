//! The typed HTTP client. The CLI, the agent, the TUI and the tests all talk to the server through it.

mod agents;
mod events;
mod keys;
mod logs;
mod queues;
mod runs;
mod schedules;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::block::{Block, BlockCreate, BlockFilter, StoredData};
use crate::deployment::{
    Deployment, DeploymentCount, DeploymentCreate, DeploymentFilter, DeploymentUpdate,
};
use crate::error::{ErrorBody, ErrorCode, NO_ROUTE};
use crate::flow::{Flow, FlowCreate, FlowFilter};
use crate::Health;

pub use events::EventStream;
pub use runs::Cancellation;

/// The API address used when `RIGEL_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:4200/api";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the address (connection refused, DNS, timeout while connecting).
    #[error("cannot reach the Rigel server at {url}; start it with `rigel server start` or set RIGEL_API_URL")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A TLS connection could not be made, mostly because the server's certificate isn't trusted.
    #[error("no trusted TLS connection to {url}: {detail}; if the server's certificate comes from a private authority, set RIGEL_CA_CERT to that authority's PEM file")]
    Tls { url: String, detail: String },
    /// The server answered with an error body.
    #[error("{body}")]
    Api { status: u16, body: ErrorBody },
    /// The server answered something that isn't Rigel's API.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    Protocol {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl ClientError {
    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { body, .. } => Some(body.error.code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(ErrorCode::NotFound)
    }

    /// Whether the same request may succeed later: no answer came (connection refused, timeout,
    /// a connection dropped mid-answer), the server failed (HTTP 5xx) or asked to slow down
    /// (429). False for other 4xx API errors and for answers below 500 that aren't Rigel's API.
    pub fn is_transient(&self) -> bool {
        self.status()
            .is_none_or(|status| status >= 500 || status == 429)
    }

    /// Whether the server refused the caller's key or role (401, 403).
    pub fn is_denied(&self) -> bool {
        matches!(
            self.code(),
            Some(ErrorCode::Unauthorized | ErrorCode::Forbidden)
        )
    }

    /// The HTTP status of the answer, when one came.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Unreachable { .. }
            | ClientError::Http { .. }
            | ClientError::Tls { .. } => None,
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => Some(*status),
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

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

    // ---- flows

    pub async fn create_flow(&self, body: &FlowCreate) -> ClientResult<(Flow, Upserted)> {
        let (status, flow) = self.call(Method::POST, "/flows/", Some(body)).await?;
        Ok((flow, Self::upserted(status)))
    }

    pub async fn read_flow(&self, id: Uuid) -> ClientResult<Flow> {
        self.get(&format!("/flows/{id}")).await
    }

    pub async fn read_flow_by_name(&self, name: &str) -> ClientResult<Flow> {
        self.get(&format!("/flows/name/{}", segment(name))).await
    }

    pub async fn filter_flows(&self, filter: &FlowFilter) -> ClientResult<Vec<Flow>> {
        self.post("/flows/filter", filter).await
    }

    pub async fn delete_flow(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/flows/{id}"))
            .await
    }

    // ---- deployments

    /// Creates the deployment or updates the existing one with the same flow and name.
    pub async fn create_deployment(
        &self,
        body: &DeploymentCreate,
    ) -> ClientResult<(Deployment, Upserted)> {
        let (status, d) = self.call(Method::POST, "/deployments/", Some(body)).await?;
        Ok((d, Self::upserted(status)))
    }

    pub async fn read_deployment(&self, id: Uuid) -> ClientResult<Deployment> {
        self.get(&format!("/deployments/{id}")).await
    }

    pub async fn read_deployment_by_name(
        &self,
        flow: &str,
        name: &str,
    ) -> ClientResult<Deployment> {
        self.get(&format!(
            "/deployments/name/{}/{}",
            segment(flow),
            segment(name)
        ))
        .await
    }

    pub async fn filter_deployments(
        &self,
        filter: &DeploymentFilter,
    ) -> ClientResult<Vec<Deployment>> {
        self.post("/deployments/filter", filter).await
    }

    pub async fn count_deployments(&self, filter: &DeploymentCount) -> ClientResult<u64> {
        self.post("/deployments/count", filter).await
    }

    pub async fn update_deployment(
        &self,
        id: Uuid,
        patch: &DeploymentUpdate,
    ) -> ClientResult<Deployment> {
        Ok(self
            .call(Method::PATCH, &format!("/deployments/{id}"), Some(patch))
            .await?
            .1)
    }

    pub async fn delete_deployment(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/deployments/{id}"))
            .await
    }

    pub async fn set_schedule_active(&self, id: Uuid, active: bool) -> ClientResult<Deployment> {
        let verb = if active { "active" } else { "inactive" };
        self.post_empty(&format!("/deployments/{id}/set_schedule_{verb}"))
            .await
    }

    // ---- storage blocks

    pub async fn create_block(&self, body: &BlockCreate) -> ClientResult<(Block, Upserted)> {
        let (status, b) = self.call(Method::POST, "/blocks/", Some(body)).await?;
        Ok((b, Self::upserted(status)))
    }

    pub async fn read_block(&self, id: Uuid) -> ClientResult<Block> {
        self.get(&format!("/blocks/{id}")).await
    }

    pub async fn filter_blocks(&self, filter: &BlockFilter) -> ClientResult<Vec<Block>> {
        self.post("/blocks/filter", filter).await
    }

    pub async fn delete_block(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/blocks/{id}"))
            .await
    }

    /// The default storage block, or `None` when none is set.
    pub async fn default_block(&self) -> ClientResult<Option<Block>> {
        match self.get("/blocks/default").await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_default_block(&self, id: Uuid) -> ClientResult<Block> {
        self.post_empty(&format!("/blocks/{id}/set_default")).await
    }

    pub async fn clear_default_block(&self) -> ClientResult<()> {
        self.no_content(Method::POST, "/blocks/clear_default").await
    }

    pub async fn put_block_data(
        &self,
        id: Uuid,
        key: &str,
        data: Vec<u8>,
    ) -> ClientResult<StoredData> {
        let path = format!("/blocks/{id}/data/{}", segment(key));
        let (status, bytes) = self
            .send(Method::PUT, &path, Some(reqwest::Body::from(data)), false)
            .await?;
        self.decode(&path, status, &bytes)
    }

    pub async fn get_block_data(&self, id: Uuid, key: &str) -> ClientResult<Vec<u8>> {
        let path = format!("/blocks/{id}/data/{}", segment(key));
        Ok(self.send(Method::GET, &path, None, false).await?.1)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `reqwest::Error` made without a network (a request to an invalid URL).
    fn transport_error() -> reqwest::Error {
        reqwest::Client::new()
            .get("not a url")
            .build()
            .expect_err("an invalid URL")
    }

    fn api(code: ErrorCode) -> ClientError {
        ClientError::Api {
            status: code.http_status(),
            body: ErrorBody::new(code, "nope"),
        }
    }

    fn protocol(status: u16) -> ClientError {
        ClientError::Protocol {
            url: "http://127.0.0.1:4200/api/x".into(),
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn a_bare_server_address_gets_the_api_path() {
        for (given, base) in [
            ("http://host:4200", "http://host:4200/api"),
            ("http://host:4200/", "http://host:4200/api"),
            ("https://rigel.example.com", "https://rigel.example.com/api"),
            ("http://host:4200/api", "http://host:4200/api"),
            ("http://host:4200/api/", "http://host:4200/api"),
            // a proxy may serve the API elsewhere: any other path is the user's choice
            ("http://proxy/rigel", "http://proxy/rigel"),
            ("http://proxy/rigel/api", "http://proxy/rigel/api"),
            // not a URL: left for the request to report
            ("localhost:4200", "localhost:4200"),
        ] {
            assert_eq!(api_base(given), base, "{given}");
            assert_eq!(RigelClient::new(given).base_url(), base, "{given}");
        }
    }

    #[test]
    fn a_missing_route_outside_api_says_to_add_api() {
        let no_route = serde_json::to_vec(&ErrorBody::new(
            ErrorCode::NotFound,
            format!("{NO_ROUTE} GET /rigel/health"),
        ))
        .unwrap();
        let proxied = RigelClient::new("http://proxy/rigel");
        let e = proxied.error_from_response(StatusCode::NOT_FOUND, &no_route, "u".into());
        assert!(
            matches!(e, ClientError::Protocol { status: 404, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("http://proxy/rigel/api"), "{e}");
        // a proxy's own 404 page
        let e = proxied.error_from_response(StatusCode::NOT_FOUND, b"<html>", "u".into());
        assert!(e.to_string().contains("served under /api"), "{e}");
        // an object that isn't there is a plain "not found", wherever the API lives
        let missing =
            serde_json::to_vec(&ErrorBody::new(ErrorCode::NotFound, "no flow x")).unwrap();
        let e = proxied.error_from_response(StatusCode::NOT_FOUND, &missing, "u".into());
        assert!(e.is_not_found(), "{e:?}");
        // under /api a missing route is reported as it is
        let api = RigelClient::new("http://host:4200/api");
        let e = api.error_from_response(StatusCode::NOT_FOUND, &no_route, "u".into());
        assert!(e.is_not_found(), "{e:?}");
    }

    #[test]
    fn no_answer_and_server_failures_are_transient() {
        let unreachable = ClientError::Unreachable {
            url: DEFAULT_API_URL.into(),
            source: transport_error(),
        };
        let http = ClientError::Http {
            url: DEFAULT_API_URL.into(),
            source: transport_error(),
        };
        assert!(unreachable.is_transient());
        assert!(http.is_transient());
        assert!(api(ErrorCode::Internal).is_transient());
        assert!(protocol(502).is_transient());
    }

    #[test]
    fn answers_below_500_are_not_transient() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::ValidationError,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Forbidden,
        ] {
            assert!(!api(code).is_transient(), "{code:?}");
        }
        // a proxy's 404 page; an answer that could not be decoded; a request not encodable
        assert!(!protocol(404).is_transient());
        assert!(!protocol(200).is_transient());
        assert!(!protocol(0).is_transient());
    }
}
