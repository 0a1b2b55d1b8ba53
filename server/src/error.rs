//! The server's one error type. Every failure becomes the shared JSON body with a matching status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rigel_common::error::{ErrorBody, ErrorCode};
use rigel_common::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Invalid(FieldError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the server accepts (see `max_body_bytes`)")]
    TooLarge,
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request is understood and refused (a foreign origin, an unknown host name).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The server can't serve now: `problems` say why.
    #[error("{message}")]
    Unavailable {
        message: String,
        problems: Vec<String>,
    },
    /// Something went wrong on our side; the detail is logged, never sent to the client.
    #[error("internal error")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// What went wrong, internal details included (for logs and health reports, not answers).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Internal(d) => d.clone(),
            other => other.to_string(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(FieldError::new(field, message))
    }

    fn body(&self) -> ErrorBody {
        match self {
            ApiError::BadRequest(m) => ErrorBody::new(ErrorCode::BadRequest, m),
            ApiError::Invalid(e) => ErrorBody::field(e),
            ApiError::NotFound(m) => ErrorBody::new(ErrorCode::NotFound, m),
            ApiError::Conflict(m) => ErrorBody::new(ErrorCode::Conflict, m),
            ApiError::TooLarge => ErrorBody::new(ErrorCode::PayloadTooLarge, self.to_string()),
            ApiError::MethodNotAllowed(m) => ErrorBody::new(ErrorCode::MethodNotAllowed, m),
            ApiError::Forbidden(m) => ErrorBody::new(ErrorCode::Forbidden, m),
            ApiError::UnsupportedMediaType(m) => ErrorBody::new(ErrorCode::UnsupportedMediaType, m),
            ApiError::Unavailable { message, problems } => {
                let mut body = ErrorBody::new(ErrorCode::Unavailable, message);
                body.error.details = serde_json::json!({ "problems": problems });
                body
            }
            ApiError::Internal(_) => ErrorBody::new(ErrorCode::Internal, "internal error"),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            // SQLITE_FULL: the disk (or the database's size limit) is full; writes resume as soon
            // as space is freed, without a restart
            if db.code().as_deref() == Some("13") {
                return ApiError::Unavailable {
                    message: "the database cannot grow: its disk is full. Nothing was written; \
                              writes resume as soon as space is freed"
                        .into(),
                    problems: vec![db.message().to_string()],
                };
            }
            // SQLITE_INTERRUPT: a read stopped by its budget (see `db::DbOptions::read_budget`)
            if db.code().as_deref() == Some("9") {
                return ApiError::BadRequest(format!(
                    "{}; narrow it (fewer or shorter tags, fewer ids, a smaller page)",
                    crate::db::READ_STOPPED
                ));
            }
            if db.is_unique_violation() {
                return ApiError::Conflict(format!("already exists: {}", db.message()));
            }
            if db.is_foreign_key_violation() {
                return ApiError::Conflict(
                    "the object is referenced by another object".to_string(),
                );
            }
        }
        if let sqlx::Error::RowNotFound = e {
            return ApiError::NotFound("not found".to_string());
        }
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    /// The body a caller is sent; an internal error's detail is logged (not sent).
    pub(crate) fn answer(&self) -> ErrorBody {
        if let ApiError::Internal(detail) = self {
            tracing::error!(%detail, "request failed");
        }
        self.body()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.answer();
        let status = StatusCode::from_u16(body.error.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(body)).into_response()
    }
}
