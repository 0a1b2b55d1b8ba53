//! The one JSON error body every failing API call returns; the server writes it, the client reads it.

use serde::{Deserialize, Serialize};

use crate::validation::FieldError;

/// How the message of the server's 404 for an unknown route starts (`no route for GET /x`), so a
/// client can tell a wrong address from a missing object.
pub const NO_ROUTE: &str = "no route for";

/// Machine-readable error codes. The HTTP status is derived from the code, so the two never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be read at all (malformed JSON, bad path segment).
    BadRequest,
    /// The request was readable but a field is invalid.
    ValidationError,
    NotFound,
    /// The request conflicts with existing data (duplicate name, object in use).
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    /// No API key, or one the server does not know (expired, revoked).
    Unauthorized,
    /// Understood and refused: a role too low, a cross-site request, a host name the server does
    /// not answer to.
    Forbidden,
    /// Too many failed attempts from one address; try again later.
    TooManyRequests,
    /// The server can't serve now (its database can't be read or written); try again later.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::ValidationError => 422,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// The body of every error response: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorDetail {
    pub code: ErrorCode,
    /// A sentence a person can act on.
    pub message: String,
    /// Structured context, e.g. `{"field": "schedule.timezone"}`; `null` when there is none.
    #[serde(default)]
    pub details: serde_json::Value,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ApiErrorDetail {
                code,
                message: message.into(),
                details: serde_json::Value::Null,
            },
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.error.details = details;
        self
    }

    /// A 422 naming the field at fault.
    pub fn field(err: &FieldError) -> Self {
        Self::new(ErrorCode::ValidationError, err.to_string())
            .with_details(serde_json::json!({ "field": err.field }))
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error.message)
    }
}
