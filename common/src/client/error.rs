//! What a call can fail with: no answer, no trusted TLS, the API's error body, or an answer that
//! isn't Rigel's.

use crate::error::{ErrorBody, ErrorCode};

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
