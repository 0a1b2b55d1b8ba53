//! What `GET /api/openapi.json` promises for every operation (checked in full against a running
//! server by `.ci/schemathesis`).

use axum::http::StatusCode;
use rigel_common::filter::MAX_LIMIT;
use rigel_server::routes::openapi::LIMITS;
use serde_json::{json, Value};

use crate::TestApp;

async fn document() -> Value {
    let (s, doc) = TestApp::new().await.get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    doc
}

/// Every operation with its method and path.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_operation_declares_the_errors_its_request_can_meet() {
    let doc = document().await;
    let ops = operations(&doc);
    assert!(ops.len() > 50, "{} operations", ops.len());
    for (method, path, op) in ops {
        let at = format!("{method} {path}");
        let declared = |status: &str| op["responses"].get(status).is_some();
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no security"));
        let public = security.iter().any(|r| r.as_object().unwrap().is_empty());
        let mut expected = vec!["403", "503"];
        if !public {
            expected.extend(["401", "429"]);
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if params.iter().any(|p| p["in"] == "path") {
            expected.extend(["400", "404", "422"]);
        }
        if params.iter().any(|p| p["in"] == "query") {
            expected.push("422");
        }
        let body = &op["requestBody"]["content"];
        if body.is_object() {
            expected.push("413");
        }
        if body.get("application/json").is_some() {
            expected.extend(["400", "415", "422"]);
        }
        for status in expected {
            assert!(declared(status), "{at} does not declare {status}");
        }
        // every error answer is the shared error body
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                let text = response.to_string();
                assert!(
                    text.contains("ErrorBody") || text.contains("#/components/responses/"),
                    "{at} {status}: {text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_body_that_may_be_left_out_is_optional_in_the_document() {
    let doc = document().await;
    let filter = &doc["paths"]["/api/flows/filter"]["post"]["requestBody"];
    assert_eq!(filter["required"], false, "{filter}");
    let create = &doc["paths"]["/api/flows/"]["post"]["requestBody"];
    assert_eq!(create["required"], true, "{create}");
    let count = &doc["paths"]["/api/flow_runs/count"]["post"]["responses"]["200"]["content"];
    assert!(count.get("application/json").is_some(), "{count}");
    let events = &doc["paths"]["/api/events"]["get"]["responses"]["200"]["content"];
    assert!(
        events["text/event-stream"]["schema"]["properties"]["data"].is_object(),
        "{events}"
    );
}

#[tokio::test]
async fn the_limits_in_the_document_are_the_servers() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["FlowFilter"]["properties"]["limit"]["maximum"],
        json!(MAX_LIMIT)
    );
    assert_eq!(schemas["FlowFilter"]["properties"]["limit"]["minimum"], 1);
    // a u32 reaches 2^32 - 1, beyond the int32 format utoipa writes
    assert_eq!(
        schemas["FlowFilter"]["properties"]["offset"]["maximum"],
        json!(u32::MAX)
    );
    // the table names schemas and fields that exist, and each gets a constraint
    for (schema, property, limit) in LIMITS {
        let field = &schemas[*schema]["properties"][*property];
        let text = field.to_string();
        let constrained = ["maximum", "minimum", "maxLength", "maxItems", "uuid"]
            .iter()
            .any(|k| text.contains(k));
        assert!(constrained, "{schema}.{property} ({limit:?}): {text}");
    }
}

#[tokio::test]
async fn an_integer_spelt_as_a_float_is_read_as_the_integer() {
    let app = TestApp::new().await;
    let (s, queue) = app
        .post(
            "/api/work_queues/",
            json!({"name": "q", "concurrency_limit": 3.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{queue}");
    assert_eq!(queue["concurrency_limit"], 3);
    let (s, _) = app
        .post("/api/flows/filter", json!({"limit": 5.0, "offset": 0.0}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // a fraction is still refused, naming the field
    let (s, e) = app.post("/api/flows/filter", json!({"limit": 5.5})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["details"]["field"], "limit", "{e}");
    // free-form data keeps the float as sent
    let (_, flow) = app.post("/api/flows/", json!({"name": "f"})).await;
    let (s, run) = app
        .post(
            "/api/flow_runs/",
            json!({"flow_id": flow["id"], "parameters": {"x": 2.0}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    assert!(run["parameters"]["x"].is_f64(), "{run}");
}

#[tokio::test]
async fn an_idempotency_key_is_measured_in_characters() {
    let app = TestApp::new().await;
    let (_, flow) = app.post("/api/flows/", json!({"name": "f"})).await;
    let key = "é".repeat(500);
    let (s, run) = app
        .post(
            "/api/flow_runs/",
            json!({"flow_id": flow["id"], "idempotency_key": key}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    let longer = "é".repeat(501);
    let (s, _) = app
        .post(
            "/api/flow_runs/",
            json!({"flow_id": flow["id"], "idempotency_key": longer}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_object_sent_as_an_array_is_refused() {
    let app = TestApp::new().await;
    // serde alone reads a struct from an array of its field values
    let (s, e) = app.post("/api/flows/filter", json!([null, 5])).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, e) = app
        .post("/api/flows/filter", json!({"flows": [null, null, null]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["details"]["field"], "flows", "{e}");
    let (s, _) = app.post("/api/flows/filter", json!({"flows": {}})).await;
    assert_eq!(s, StatusCode::OK);
}
