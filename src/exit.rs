//! Exit codes and the CLI's error: 0 ok, 1 failed (or the run did not complete), 2 usage,
//! 3 not found, 4 server unreachable, 5 invalid input, 6 not allowed (no key, a key the server
//! does not know, or a role too low).

use rigel_common::client::ClientError;
use rigel_common::error::ErrorCode;

pub const FAILED: u8 = 1;
pub const NOT_FOUND: u8 = 3;
pub const UNREACHABLE: u8 = 4;
pub const INVALID: u8 = 5;
pub const DENIED: u8 = 6;

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(FAILED, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(NOT_FOUND, message)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            // the server answered, but its answer could not be read: not an outage
            ClientError::Protocol { status, .. } if (200..300).contains(status) => FAILED,
            ClientError::Unreachable { .. }
            | ClientError::Tls { .. }
            | ClientError::Protocol { .. }
            | ClientError::Http { .. } => UNREACHABLE,
            ClientError::Api { body, .. } => match body.error.code {
                ErrorCode::NotFound => NOT_FOUND,
                ErrorCode::BadRequest
                | ErrorCode::ValidationError
                | ErrorCode::Conflict
                | ErrorCode::PayloadTooLarge
                | ErrorCode::UnsupportedMediaType => INVALID,
                ErrorCode::Unauthorized | ErrorCode::Forbidden => DENIED,
                ErrorCode::TooManyRequests | ErrorCode::Unavailable => UNREACHABLE,
                ErrorCode::MethodNotAllowed | ErrorCode::Internal => FAILED,
            },
        };
        CliError::new(code, e.to_string())
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::failed(format!("{e:#}"))
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;
