//! How the client reads addresses and classifies errors.

use super::*;
use crate::error::ErrorCode;

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
    let missing = serde_json::to_vec(&ErrorBody::new(ErrorCode::NotFound, "no flow x")).unwrap();
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
