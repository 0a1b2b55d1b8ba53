use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{assert_error, TestApp};

async fn block(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/api/blocks/", body).await
}

#[tokio::test]
async fn identical_blocks_are_not_duplicated() {
    let app = TestApp::new().await;
    let (s1, b1) = block(
        &app,
        json!({"type": "local", "name": "here", "config": {"path": "/srv/flows"}}),
    )
    .await;
    assert_eq!(s1, StatusCode::CREATED, "{b1}");
    assert_eq!(b1["type"], "local");
    assert_eq!(b1["config"], json!({"path": "/srv/flows"}));
    assert_eq!(b1["is_default"], false);
    let (s2, b2) = block(
        &app,
        json!({"type": "local", "config": {"path": "/srv/flows"}}),
    )
    .await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(b1["id"], b2["id"]);
    // same config with keys in another order is the same block
    let cfg = json!({"region": "eu", "bucket": "b"});
    let (_, s3a) = block(&app, json!({"type": "s3", "config": cfg})).await;
    let (s, s3b) = app
        .raw(
            Method::POST,
            "/api/blocks/",
            r#"{"type":"s3","config":{"bucket":"b","region":"eu"}}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(s3a["id"], s3b["id"]);
    assert!(
        s3a["name"].as_str().unwrap().starts_with("s3-"),
        "derived name: {s3a}"
    );
    // a different config under a taken name is a conflict
    let (s, e) = block(
        &app,
        json!({"type": "local", "name": "here", "config": {"path": "/other"}}),
    )
    .await;
    assert_error(s, &e, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn get_filter_delete() {
    let app = TestApp::new().await;
    let (_, a) = block(&app, json!({"type": "server", "name": "a"})).await;
    let (_, b) = block(
        &app,
        json!({"type": "local", "name": "b", "config": {"path": "/x"}}),
    )
    .await;
    let (s, got) = app
        .get(&format!("/api/blocks/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, a);
    let (_, all) = app.post("/api/blocks/filter", json!({})).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, local) = app
        .post(
            "/api/blocks/filter",
            json!({"blocks": {"type": {"any_": ["local"]}}}),
        )
        .await;
    assert_eq!(local.as_array().unwrap().len(), 1);
    assert_eq!(local[0]["id"], b["id"]);
    let (_, named) = app
        .post(
            "/api/blocks/filter",
            json!({"blocks": {"name": {"any_": ["a"]}}}),
        )
        .await;
    assert_eq!(named[0]["id"], a["id"]);
    let path = format!("/api/blocks/{}", b["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (s, e) = app.get(&path).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_block_in_use_cannot_be_deleted() {
    let app = TestApp::new().await;
    let (_, b) = block(&app, json!({"type": "server", "name": "code"})).await;
    let mut body = TestApp::deployment_body("hello", "daily");
    body["flow_data"] = json!({"encoding": "blockstorage",
        "blob": json!({"data": "abc", "block_id": b["id"]}).to_string()});
    let d = app.create_deployment(body).await;
    let path = format!("/api/blocks/{}", b["id"].as_str().unwrap());
    let (s, e) = app.delete(&path).await;
    assert_error(s, &e, StatusCode::CONFLICT, "conflict");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("hello/daily"),
        "{e}"
    );
    app.delete(&format!("/api/deployments/{}", d["id"].as_str().unwrap()))
        .await;
    assert_eq!(app.delete(&path).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn default_block() {
    let app = TestApp::new().await;
    let (s, e) = app.get("/api/blocks/default").await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (_, a) = block(&app, json!({"type": "server", "name": "a"})).await;
    let (_, b) = block(
        &app,
        json!({"type": "local", "name": "b", "config": {"path": "/x"}}),
    )
    .await;
    let (s, d) = app
        .post(
            &format!("/api/blocks/{}/set_default", a["id"].as_str().unwrap()),
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["is_default"], true);
    app.post(
        &format!("/api/blocks/{}/set_default", b["id"].as_str().unwrap()),
        json!(null),
    )
    .await;
    let (_, d) = app.get("/api/blocks/default").await;
    assert_eq!(d["id"], b["id"]);
    let (_, a_now) = app
        .get(&format!("/api/blocks/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(a_now["is_default"], false, "only one default at a time");
    let (s, _) = app.post("/api/blocks/clear_default", json!(null)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get("/api/blocks/default").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = app
        .post(
            "/api/blocks/0190a0a0-0000-7000-8000-000000000000/set_default",
            json!(null),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn server_blocks_store_bytes() {
    let app = TestApp::new().await;
    let (_, b) = block(&app, json!({"type": "server", "name": "code"})).await;
    let id = b["id"].as_str().unwrap();
    let path = format!("/api/blocks/{id}/data/f8e7f81f.py");
    let (s, stored) = app.raw(Method::PUT, &path, "print('hello')\n").await;
    assert_eq!(s, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["size"], 15);
    let (s, again) = app.raw(Method::PUT, &path, "print('bye')\n").await;
    assert_eq!(s, StatusCode::OK, "{again}");
    let (s, body) = app.get(&path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, json!("print('bye')\n"));
    let (s, e) = app.get(&format!("/api/blocks/{id}/data/missing")).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app
        .get("/api/blocks/0190a0a0-0000-7000-8000-000000000000/data/k")
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app
        .raw(Method::PUT, &format!("/api/blocks/{id}/data/a%20b"), "x")
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "key"
    );
    // local blocks don't keep bytes on the server
    let (_, l) = block(&app, json!({"type": "local", "config": {"path": "/x"}})).await;
    let (s, e) = app
        .raw(
            Method::PUT,
            &format!("/api/blocks/{}/data/k", l["id"].as_str().unwrap()),
            "x",
        )
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
}

#[tokio::test]
async fn oversize_data_is_413() {
    let app = TestApp::with_config(|c| c.max_body_bytes = 1024).await;
    let (_, b) = block(&app, json!({"type": "server", "name": "code"})).await;
    let path = format!("/api/blocks/{}/data/big", b["id"].as_str().unwrap());
    let (s, e) = app.raw(Method::PUT, &path, vec![b'x'; 2048]).await;
    assert_error(s, &e, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (s, _) = app.raw(Method::PUT, &path, vec![b'x'; 1000]).await;
    assert_eq!(s, StatusCode::CREATED);
    // the same limit applies to JSON bodies
    let big = json!({"name": "x".repeat(4000)});
    let (s, e) = app.post("/api/flows/", big).await;
    assert_error(s, &e, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn bad_block_input() {
    let app = TestApp::new().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "ftp"}), "type"),
        (json!({"type": "local"}), "config.path"),
        (
            json!({"type": "local", "config": {"path": ""}}),
            "config.path",
        ),
        (
            json!({"type": "server", "config": {"path": "/x"}}),
            "config.path",
        ),
        (
            json!({"type": "s3", "config": {"region": "eu"}}),
            "config.bucket",
        ),
        (json!({"type": "server", "name": "a/b"}), "name"),
        (json!({"type": "server", "name": ""}), "name"),
        (json!({"type": "server", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let (s, e) = block(&app, body.clone()).await;
        let got = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
        assert_eq!(got, field, "{body}: {e}");
    }
}
