//! Extractors whose rejections use the shared error body and name what was wrong.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::objects_only::ObjectsOnly;

/// A JSON body, which must be sent as `Content-Type: application/json` (or another `+json`
/// type): a browser may send `text/plain` to any address without asking first, so accepting it
/// would let web pages drive the API. An empty body (no content type needed) or `null` reads as
/// `{}`, so filter endpoints can be called without one.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(CONTENT_TYPE).cloned();
        let bytes = read_body(req, state).await?;
        if !bytes.trim_ascii().is_empty() && !is_json(content_type.as_ref()) {
            let given = content_type
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map_or("none".to_string(), |t| format!("'{t}'"));
            return Err(ApiError::UnsupportedMediaType(format!(
                "send the body as JSON with the header `Content-Type: application/json` \
                 (the request's Content-Type is {given})"
            )));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// `application/json`, or a `+json` type, with any parameters (`; charset=utf-8`).
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(essence) = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
    else {
        return false;
    };
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Reads a whole body, turning the size limit into a 413.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(inner)
            if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::TooLarge
        }
        other => ApiError::BadRequest(format!("could not read the request body: {other}")),
    })
}

/// Deepest nesting of arrays and objects a body may have. What the server stores it answers
/// again inside larger documents (a run's parameters inside a claim answer, an event): with
/// this bound they stay far inside what every client decodes (serde_json stops at 128).
pub const MAX_NESTING: usize = 32;

/// How deep `[`/`{` nest in a JSON text (brackets inside strings don't count). A linear scan,
/// run before parsing; a malformed text is left for the parser to describe.
fn nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses JSON, telling malformed documents (400) from well-formed ones with a bad field (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let trimmed = bytes.trim_ascii();
    let bytes: &[u8] = if trimmed.is_empty() || trimmed == b"null" {
        b"{}"
    } else {
        bytes
    };
    if nesting(bytes) > MAX_NESTING {
        return Err(ApiError::BadRequest(format!(
            "the JSON body nests arrays and objects more than {MAX_NESTING} deep"
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(ObjectsOnly(de)) {
        Ok(value) => Ok(value),
        Err(err) if is_whole_float_error(&err) => read_whole_floats(bytes, err).map_err(invalid),
        Err(err) => Err(invalid(err)),
    }
}

type PathError = serde_path_to_error::Error<serde_json::Error>;

/// Most integers spelt as floats (`2.0`) one body may hold; past that the first one is refused.
/// Each costs a decoding of the whole body.
const MAX_WHOLE_FLOATS: usize = 64;

/// JSON Schema (and so the OpenAPI document) calls `2.0` an integer, and some clients spell
/// whole numbers that way (Python's `json.dumps(4 / 2)`), but serde refuses a float where it
/// wants an integer. Such a body is read again from a `Value`, with the number serde refused
/// turned into the integer it is, until it reads or fails otherwise. Only the fields serde
/// wanted as integers change: a float inside free-form data (`parameters`) stays as sent.
fn read_whole_floats<T: DeserializeOwned>(bytes: &[u8], first: PathError) -> Result<T, PathError> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(first);
    };
    let mut err = first;
    for _ in 0..MAX_WHOLE_FLOATS {
        if !is_whole_float_error(&err) || !make_integer(&mut value, err.path()) {
            return Err(err);
        }
        match serde_path_to_error::deserialize(ObjectsOnly(&value)) {
            Ok(read) => return Ok(read),
            Err(next) => err = next,
        }
    }
    Err(err)
}

fn is_whole_float_error(err: &PathError) -> bool {
    err.inner()
        .to_string()
        .starts_with("invalid type: floating point `")
}

/// Turns the whole float at `path` into an integer; false when there is none there.
fn make_integer(value: &mut serde_json::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let mut at = value;
    for segment in path.iter() {
        at = match (segment, at) {
            (Segment::Seq { index }, serde_json::Value::Array(items)) => {
                match items.get_mut(*index) {
                    Some(item) => item,
                    None => return false,
                }
            }
            (
                Segment::Map { key } | Segment::Enum { variant: key },
                serde_json::Value::Object(map),
            ) => match map.get_mut(key) {
                Some(item) => item,
                None => return false,
            },
            _ => return false,
        };
    }
    let Some(f) = at.as_f64().filter(|f| f.fract() == 0.0 && at.is_f64()) else {
        return false;
    };
    // within ±2^53 every integer is exactly a float, and both i64 and u64 hold it
    if f.abs() > 9_007_199_254_740_992.0 {
        return false;
    }
    *at = serde_json::Value::from(f as i64);
    true
}

/// A body that is JSON but not what the operation reads: a syntax error is 400, the rest 422
/// naming the field.
fn invalid(err: PathError) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::BadRequest(format!("malformed JSON body: {inner}"))
        }
        serde_json::error::Category::Io | serde_json::error::Category::Data => {
            let message = strip_position(&inner.to_string());
            let mut field = if path == "." { String::new() } else { path };
            // the path names the object a required field is missing from; name the field
            if let Some(missing) = missing_field(&message) {
                field = if field.is_empty() {
                    missing.to_string()
                } else {
                    format!("{field}.{missing}")
                };
            }
            ApiError::invalid(field, message)
        }
    }
}

/// The field of serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(name, _)| name)
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Path parameters, with a clear 422 when one doesn't parse (e.g. a malformed UUID).
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| match e {
                PathRejection::FailedToDeserializePathParams(inner) => path_error(inner.kind()),
                other => ApiError::BadRequest(other.body_text()),
            })
    }
}

fn path_error(kind: &ErrorKind) -> ApiError {
    let describe = |ty: &str| {
        if ty.contains("Uuid") {
            "a UUID".to_string()
        } else {
            format!("a {}", ty.rsplit("::").next().unwrap_or(ty))
        }
    };
    match kind {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => ApiError::invalid(
            key.as_str(),
            format!(
                "'{value}' in the URL path is not {}",
                describe(expected_type)
            ),
        ),
        ErrorKind::ParseErrorAtIndex {
            value,
            expected_type,
            ..
        }
        | ErrorKind::ParseError {
            value,
            expected_type,
        } => ApiError::invalid(
            "path",
            format!(
                "'{value}' in the URL path is not {}",
                describe(expected_type)
            ),
        ),
        ErrorKind::DeserializeError {
            key,
            value,
            message,
        } => {
            let why = if message.contains("UUID") {
                "expected a UUID".to_string()
            } else {
                message.clone()
            };
            ApiError::invalid(
                key.as_str(),
                format!("'{value}' in the URL path is not a valid {key} ({why})"),
            )
        }
        other => ApiError::BadRequest(format!("invalid URL path: {other}")),
    }
}

/// The client's address, when the server knows it (served with connect info; not in-process).
pub struct PeerAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting(b"{}"), 1);
        assert_eq!(nesting(br#"{"a": [1, {"b": "[[[{{{"}]}"#), 3);
        assert_eq!(nesting(br#"{"a": "\"[[", "b": [[]]}"#), 3);
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(nesting(deep.as_bytes()), 40);
        assert!(parse_json::<serde_json::Value>(deep.as_bytes()).is_err());
    }
}
