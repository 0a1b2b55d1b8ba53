//! The server's one error type. Every failure becomes the shared JSON body with a matching status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rigel_common::error::{ErrorBody, ErrorCode};
use rigel_common::validation::FieldError;

#[derive(Debug, Clone, thiserror::Error)]
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
    /// The database can't do it now (a full disk, a lock another process holds): 503
    /// `unavailable`, and `GET /api/health` reports it at its next probe.
    #[error("{message}")]
    DatabaseUnavailable {
        message: String,
        problems: Vec<String>,
    },
    /// The database file is damaged (SQLite's own finding is the detail): 503 `unavailable`,
    /// and `GET /api/health` says so from then on (see `routes::health::Probe`).
    #[error("the database is damaged (the part this request needs can't be read); restore a backup — see `rigel db backup` — and restart the server")]
    Damaged(String),
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

    /// The database's condition (a full disk, a lock held elsewhere, damage) rather than
    /// something about the request: a write job that meets one stops writing and fails whole,
    /// since SQLite may have rolled its transaction back (see `db::writer`).
    pub fn is_database_condition(&self) -> bool {
        matches!(
            self,
            ApiError::DatabaseUnavailable { .. } | ApiError::Damaged(_)
        )
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
            ApiError::Unavailable { message, problems }
            | ApiError::DatabaseUnavailable { message, problems } => {
                let mut body = ErrorBody::new(ErrorCode::Unavailable, message);
                body.error.details = serde_json::json!({ "problems": problems });
                body
            }
            ApiError::Damaged(detail) => {
                let mut body = ErrorBody::new(ErrorCode::Unavailable, self.to_string());
                body.error.details = serde_json::json!({ "problems": [detail] });
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
        if let Some(condition) = database_condition(&e) {
            return condition;
        }
        if let sqlx::Error::Database(db) = &e {
            // sqlx reports SQLite's extended result code; its low byte is the primary code
            let primary = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            // SQLITE_INTERRUPT: a read stopped by its budget (see `db::DbOptions::read_budget`)
            if primary == Some(9) {
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

/// The database's condition behind `e`, when it is one rather than a bug (a full disk, a lock
/// another process holds, a damaged file): 503 (`unavailable`) saying what an operator can do,
/// rather than a bare 500.
pub(crate) fn database_condition(e: &sqlx::Error) -> Option<ApiError> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    // sqlx reports SQLite's extended result code; its low byte is the primary code
    let code = db.code()?.parse::<i32>().ok()? & 0xff;
    let message = match code {
        // SQLITE_FULL: the disk (or the database's size limit) is full; writes resume as soon
        // as space is freed, without a restart
        13 => {
            "the database cannot grow: its disk is full. Nothing was written; writes resume as \
             soon as space is freed"
        }
        // SQLITE_BUSY: another process held the database's write lock past the busy timeout
        // (a backup tool, a `sqlite3` shell left inside a transaction)
        5 => {
            "the database is locked by another process; nothing was written. Writes resume as \
             soon as it lets go"
        }
        // SQLITE_CORRUPT, SQLITE_NOTADB: the file is damaged; only an operator can mend it
        11 | 26 => return Some(ApiError::Damaged(db.message().to_string())),
        _ => return None,
    };
    Some(ApiError::DatabaseUnavailable {
        message: message.into(),
        problems: vec![db.message().to_string()],
    })
}

impl ApiError {
    /// The body a caller is sent; an internal error's detail is logged (not sent).
    pub(crate) fn answer(&self) -> ErrorBody {
        match self {
            ApiError::Internal(detail) => tracing::error!(%detail, "request failed"),
            ApiError::Damaged(detail) => tracing::error!(%detail, "the database is damaged"),
            _ => {}
        }
        self.body()
    }
}

/// Marks an answer given for the database's condition, for the health probe to report
/// (`routes::health::Probe::watch`): its own small probe may not meet what requests met.
#[derive(Debug, Clone)]
pub struct DatabaseCondition {
    pub detail: String,
    /// Damage, which waiting does not mend (kept until a restart).
    pub damaged: bool,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.answer();
        let status = StatusCode::from_u16(body.error.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        let condition = match self {
            ApiError::Damaged(detail) => Some(DatabaseCondition {
                detail,
                damaged: true,
            }),
            ApiError::DatabaseUnavailable { message, .. } => Some(DatabaseCondition {
                detail: message,
                damaged: false,
            }),
            _ => None,
        };
        if let Some(condition) = condition {
            response.extensions_mut().insert(condition);
        }
        response
    }
}
