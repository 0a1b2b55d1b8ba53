use axum::http::StatusCode;
use serde_json::json;

use crate::{assert_error, TestApp};

#[tokio::test]
async fn create_is_idempotent_by_name() {
    let app = TestApp::new().await;
    let (s1, f1) = app
        .post("/api/flows/", json!({"name": "etl", "tags": ["a"]}))
        .await;
    assert_eq!(s1, StatusCode::CREATED);
    let (s2, f2) = app.post("/api/flows/", json!({"name": "etl"})).await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(f1["id"], f2["id"]);
    assert_eq!(f2["tags"], json!(["a"]));
}

#[tokio::test]
async fn read_by_id_and_name_and_delete() {
    let app = TestApp::new().await;
    let (_, f) = app
        .post("/api/flows/", json!({"name": "hello world"}))
        .await;
    let id = f["id"].as_str().unwrap();
    let (s, got) = app.get(&format!("/api/flows/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["name"], "hello world");
    let (s, got) = app.get("/api/flows/name/hello%20world").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["id"], f["id"]);
    let (s, _) = app.delete(&format!("/api/flows/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get(&format!("/api/flows/{id}")).await;
    assert_error(s, &body, StatusCode::NOT_FOUND, "not_found");
    let (s, body) = app.delete(&format!("/api/flows/{id}")).await;
    assert_error(s, &body, StatusCode::NOT_FOUND, "not_found");
    let (s, body) = app.get("/api/flows/name/nope").await;
    assert_error(s, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn deleting_a_flow_deletes_its_deployments() {
    let app = TestApp::new().await;
    let d = app
        .create_deployment(TestApp::deployment_body("etl", "daily"))
        .await;
    let (s, _) = app
        .delete(&format!("/api/flows/{}", d["flow_id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .get(&format!("/api/deployments/{}", d["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn filter_by_name_and_tags_with_sort_and_paging() {
    let app = TestApp::new().await;
    for (name, tags) in [
        ("b", json!(["x"])),
        ("a", json!(["x", "y"])),
        ("c", json!([])),
    ] {
        app.post("/api/flows/", json!({"name": name, "tags": tags}))
            .await;
    }
    let (_, all) = app.post("/api/flows/filter", json!({})).await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let (_, desc) = app
        .post(
            "/api/flows/filter",
            json!({"sort": "NAME_DESC", "limit": 2}),
        )
        .await;
    assert_eq!(desc[0]["name"], "c");
    assert_eq!(desc.as_array().unwrap().len(), 2);
    let (_, tagged) = app
        .post(
            "/api/flows/filter",
            json!({"flows": {"tags": {"all_": ["x"]}}}),
        )
        .await;
    assert_eq!(tagged.as_array().unwrap().len(), 2);
    let (_, both) = app
        .post(
            "/api/flows/filter",
            json!({"flows": {"tags": {"all_": ["x", "y"]}}}),
        )
        .await;
    assert_eq!(both.as_array().unwrap().len(), 1);
    let (_, named) = app
        .post(
            "/api/flows/filter",
            json!({"flows": {"name": {"any_": ["c", "zz"]}}}),
        )
        .await;
    assert_eq!(named[0]["name"], "c");
    let (_, paged) = app.post("/api/flows/filter", json!({"offset": 2})).await;
    assert_eq!(paged[0]["name"], "c");
}

#[tokio::test]
async fn bad_flow_input_is_rejected_naming_the_field() {
    let app = TestApp::new().await;
    for bad in ["", "a/b", "50%", "x&y", "a>b", "a<b"] {
        let (s, body) = app.post("/api/flows/", json!({"name": bad})).await;
        let field = assert_error(
            s,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        );
        assert_eq!(field, "name", "{bad:?}");
    }
    let (s, body) = app
        .post("/api/flows/", json!({"name": "ok", "color": "red"}))
        .await;
    assert_error(
        s,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("color"),
        "{body}"
    );
    let (s, body) = app.post("/api/flows/", json!({"name": 5})).await;
    let field = assert_error(
        s,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
    assert_eq!(field, "name");
    let (s, body) = app.post("/api/flows/filter", json!({"limit": 201})).await;
    let field = assert_error(
        s,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
    assert_eq!(field, "limit");
    let (s, body) = app.get("/api/flows/not-a-uuid").await;
    assert_error(
        s,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
}

#[tokio::test]
async fn a_tag_filter_matches_flows_holding_every_tag_it_names() {
    let app = TestApp::new().await;
    for (name, tags) in [
        ("all", json!(["b", "a", "c", "a"])),
        ("some", json!(["a"])),
        ("none", json!([])),
    ] {
        let (s, f) = app
            .post("/api/flows/", json!({"name": name, "tags": tags}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{f}");
    }
    let names = |v: &serde_json::Value| {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    // a tag named twice is wanted once; tags the flow has besides don't matter
    let (_, found) = app
        .post(
            "/api/flows/filter",
            json!({"flows": {"tags": {"all_": ["a", "b", "a"]}}}),
        )
        .await;
    assert_eq!(names(&found), ["all"]);
    let (_, found) = app
        .post(
            "/api/flows/filter",
            json!({"flows": {"tags": {"all_": ["a"]}}}),
        )
        .await;
    assert_eq!(names(&found), ["all", "some"]);
    let (_, found) = app
        .post(
            "/api/flows/filter",
            json!({"flows": {"tags": {"all_": ["a", "z"]}}}),
        )
        .await;
    assert_eq!(names(&found), Vec::<String>::new());
}
