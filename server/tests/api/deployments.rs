use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::{assert_error, TestApp};

fn full_body() -> Value {
    json!({
        "name": "hello-world-daily",
        "flow_name": "hello-world",
        "description": "says hello",
        "flow_data": {"encoding": "text", "blob": "print('hi')"},
        "schedule": {"interval": 86400},
        "parameters": {"name": "Arthur"},
        "parameter_schema": {"properties": {"name": {"type": "string"}}},
        "tags": ["earth"],
        "flow_runner": {"type": "subprocess", "config": {"env": {"A": "1"}}},
        "work_queue_name": "default",
    })
}

#[tokio::test]
async fn create_stores_and_returns_every_property() {
    let app = TestApp::new().await;
    let (s, d) = app.post("/api/deployments/", full_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    for key in ["id", "created", "updated", "flow_id"] {
        assert!(d[key].is_string(), "{key} in {d}");
    }
    assert_eq!(d["name"], "hello-world-daily");
    assert_eq!(d["flow_name"], "hello-world");
    assert_eq!(d["description"], "says hello");
    assert_eq!(
        d["flow_data"],
        json!({"encoding": "text", "blob": "print('hi')"})
    );
    assert_eq!(d["schedule"]["interval"], json!(86400.0));
    assert!(
        d["schedule"]["anchor_date"].is_string(),
        "anchor filled in: {d}"
    );
    assert_eq!(d["is_schedule_active"], true);
    assert_eq!(d["parameters"], json!({"name": "Arthur"}));
    assert_eq!(
        d["parameter_schema"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(d["tags"], json!(["earth"]));
    assert_eq!(
        d["flow_runner"],
        json!({"type": "subprocess", "config": {"env": {"A": "1"}}})
    );
    assert_eq!(d["work_queue_name"], "default");
    let (s, got) = app
        .get(&format!("/api/deployments/{}", d["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, d);
    let (s, by_name) = app
        .get("/api/deployments/name/hello-world/hello-world-daily")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_name["id"], d["id"]);
}

#[tokio::test]
async fn defaults_follow_the_seed() {
    let app = TestApp::new().await;
    let d = app
        .create_deployment(TestApp::deployment_body("f", "d"))
        .await;
    assert_eq!(
        d["flow_runner"],
        json!({"type": "universal", "config": {"env": {}}})
    );
    assert_eq!(d["is_schedule_active"], true);
    assert_eq!(d["parameters"], json!({}));
    assert_eq!(d["tags"], json!([]));
    assert_eq!(d["schedule"], Value::Null);
    assert_eq!(d["description"], Value::Null);
}

#[tokio::test]
async fn create_again_updates_in_place() {
    let app = TestApp::new().await;
    let (s1, d1) = app.post("/api/deployments/", full_body()).await;
    assert_eq!(s1, StatusCode::CREATED);
    let mut changed = full_body();
    changed["tags"] = json!(["mars"]);
    changed["parameters"] = json!({"name": "Marvin"});
    let (s2, d2) = app.post("/api/deployments/", changed).await;
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(d1["id"], d2["id"]);
    assert_eq!(d1["created"], d2["created"]);
    assert_ne!(d1["updated"], d2["updated"]);
    assert_eq!(d2["tags"], json!(["mars"]));
    assert_eq!(d2["parameters"], json!({"name": "Marvin"}));
    let (_, n) = app.post("/api/deployments/count", json!({})).await;
    assert_eq!(n, json!(1));
}

#[tokio::test]
async fn redeploy_without_is_schedule_active_keeps_a_pause() {
    let app = TestApp::new().await;
    let d = app.create_deployment(full_body()).await;
    let id = d["id"].as_str().unwrap();
    let (s, paused) = app
        .post(
            &format!("/api/deployments/{id}/set_schedule_inactive"),
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(paused["is_schedule_active"], false);
    let again = app.create_deployment(full_body()).await;
    assert_eq!(again["is_schedule_active"], false);
    let mut explicit = full_body();
    explicit["is_schedule_active"] = json!(true);
    let resumed = app.create_deployment(explicit).await;
    assert_eq!(resumed["is_schedule_active"], true);
    let (_, p) = app
        .post(
            &format!("/api/deployments/{id}/set_schedule_inactive"),
            json!(null),
        )
        .await;
    assert_eq!(p["is_schedule_active"], false);
    let (_, r) = app
        .post(
            &format!("/api/deployments/{id}/set_schedule_active"),
            json!(null),
        )
        .await;
    assert_eq!(r["is_schedule_active"], true);
}

#[tokio::test]
async fn create_by_flow_id() {
    let app = TestApp::new().await;
    let (_, f) = app.post("/api/flows/", json!({"name": "etl"})).await;
    let mut body = TestApp::deployment_body("x", "d");
    body.as_object_mut().unwrap().remove("flow_name");
    body["flow_id"] = f["id"].clone();
    let d = app.create_deployment(body.clone()).await;
    assert_eq!(d["flow_name"], "etl");
    body["flow_id"] = json!("0190a0a0-0000-7000-8000-000000000000");
    let (s, e) = app.post("/api/deployments/", body).await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "flow_id"
    );
}

#[tokio::test]
async fn patch_changes_only_given_fields() {
    let app = TestApp::new().await;
    let d = app.create_deployment(full_body()).await;
    let path = format!("/api/deployments/{}", d["id"].as_str().unwrap());
    let (s, p) = app
        .patch(&path, json!({"tags": ["t1", "t2"], "description": null}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["tags"], json!(["t1", "t2"]));
    assert_eq!(p["description"], Value::Null);
    assert_eq!(p["parameters"], d["parameters"]);
    assert_eq!(p["schedule"], d["schedule"]);
    let (_, p) = app
        .patch(
            &path,
            json!({"parameters": {"name": "Zaphod"}, "is_schedule_active": false,
                   "flow_runner": {"type": "docker", "config": {"image": "python:3"}},
                   "schedule": {"cron": "0 9 * * *", "timezone": "Europe/London"}}),
        )
        .await;
    assert_eq!(p["parameters"], json!({"name": "Zaphod"}));
    assert_eq!(p["is_schedule_active"], false);
    assert_eq!(p["flow_runner"]["type"], "docker");
    assert_eq!(p["schedule"]["cron"], "0 9 * * *");
    assert_eq!(p["schedule"]["day_or"], true);
    let (_, p) = app.patch(&path, json!({"schedule": null})).await;
    assert_eq!(p["schedule"], Value::Null);
    let (s, e) = app.patch(&path, json!({"name": "renamed"})).await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    let (s, e) = app
        .patch(
            "/api/deployments/0190a0a0-0000-7000-8000-000000000000",
            json!({"tags": []}),
        )
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn delete_deployment() {
    let app = TestApp::new().await;
    let d = app.create_deployment(full_body()).await;
    let path = format!("/api/deployments/{}", d["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (s, e) = app.delete(&path).await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app
        .get("/api/deployments/name/hello-world/hello-world-daily")
        .await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn filter_and_count() {
    let app = TestApp::new().await;
    let specs = [
        ("hello", "arthur", json!(["earth", "daily"]), true),
        ("hello", "marvin", json!(["mars"]), false),
        ("bye", "trillian", json!(["earth"]), true),
    ];
    for (flow, name, tags, active) in specs {
        let mut body = TestApp::deployment_body(flow, name);
        body["tags"] = tags;
        body["is_schedule_active"] = json!(active);
        app.create_deployment(body).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = app.post("/api/deployments/filter", json!({})).await;
    assert_eq!(names(&all), ["arthur", "marvin", "trillian"]);
    let (_, desc) = app
        .post("/api/deployments/filter", json!({"sort": "NAME_DESC"}))
        .await;
    assert_eq!(names(&desc), ["trillian", "marvin", "arthur"]);
    let (_, created) = app
        .post("/api/deployments/filter", json!({"sort": "CREATED_DESC"}))
        .await;
    assert_eq!(names(&created), ["trillian", "marvin", "arthur"]);
    let (_, upd) = app
        .post("/api/deployments/filter", json!({"sort": "UPDATED_ASC"}))
        .await;
    assert_eq!(names(&upd), ["arthur", "marvin", "trillian"]);
    let (_, by_flow) = app
        .post(
            "/api/deployments/filter",
            json!({"flows": {"name": {"any_": ["hello"]}}}),
        )
        .await;
    assert_eq!(names(&by_flow), ["arthur", "marvin"]);
    let (_, by_name) = app
        .post(
            "/api/deployments/filter",
            json!({"deployments": {"name": {"any_": ["marvin", "trillian"]}}}),
        )
        .await;
    assert_eq!(names(&by_name), ["marvin", "trillian"]);
    let (_, earth) = app
        .post(
            "/api/deployments/filter",
            json!({"deployments": {"tags": {"all_": ["earth"]}}}),
        )
        .await;
    assert_eq!(names(&earth), ["arthur", "trillian"]);
    let (_, earth_daily) = app
        .post(
            "/api/deployments/filter",
            json!({"deployments": {"tags": {"all_": ["earth", "daily"]}}}),
        )
        .await;
    assert_eq!(names(&earth_daily), ["arthur"]);
    let (_, paused) = app
        .post(
            "/api/deployments/filter",
            json!({"deployments": {"is_schedule_active": {"eq_": false}}}),
        )
        .await;
    assert_eq!(names(&paused), ["marvin"]);
    let (_, page) = app
        .post("/api/deployments/filter", json!({"limit": 1, "offset": 1}))
        .await;
    assert_eq!(names(&page), ["marvin"]);
    let (_, none) = app
        .post(
            "/api/deployments/filter",
            json!({"deployments": {"name": {"any_": []}}}),
        )
        .await;
    assert_eq!(names(&none), Vec::<String>::new());
    let (_, n) = app
        .post(
            "/api/deployments/count",
            json!({"deployments": {"tags": {"all_": ["earth"]}}}),
        )
        .await;
    assert_eq!(n, json!(2));
    let (_, n) = app.post("/api/deployments/count", json!(null)).await;
    assert_eq!(n, json!(3));
    let (s, e) = app
        .post("/api/deployments/filter", json!({"limit": 0}))
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "limit"
    );
    let (s, e) = app
        .post("/api/deployments/filter", json!({"sort": "SIDEWAYS"}))
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "sort"
    );
    let (s, e) = app
        .post("/api/deployments/count", json!({"limit": 5}))
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
}

/// Each invalid deployment field gives a 422 naming that field.
#[tokio::test]
async fn invalid_fields_are_named() {
    let app = TestApp::new().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("name", json!(""), "name"),
        ("name", json!("a/b"), "name"),
        ("flow_name", json!("x<y"), "flow_name"),
        ("schedule", json!({"cron": "not a cron"}), "schedule.cron"),
        ("schedule", json!({"cron": "61 * * * *"}), "schedule.cron"),
        (
            "schedule",
            json!({"rrule": "FREQ=SOMETIMES"}),
            "schedule.rrule",
        ),
        (
            "schedule",
            json!({"interval": 60, "timezone": "Mars/Base"}),
            "schedule.timezone",
        ),
        ("schedule", json!({"interval": 0}), "schedule.interval"),
        ("schedule", json!({"interval": -5}), "schedule.interval"),
        ("schedule", json!({"every": 5}), "schedule"),
        ("flow_runner", json!({"type": "ssh"}), "flow_runner.type"),
        (
            "flow_runner",
            json!({"type": "subprocess", "config": {"env": {"A": 1}}}),
            "flow_runner.config.env.A",
        ),
        (
            "flow_data",
            json!({"encoding": "pickle", "blob": "x"}),
            "flow_data.encoding",
        ),
        (
            "flow_data",
            json!({"encoding": "blockstorage", "blob": "nope"}),
            "flow_data.blob",
        ),
        ("tags", json!(["ok", ""]), "tags[1]"),
        ("tags", json!("earth"), "tags"),
        ("parameters", json!([1, 2]), "parameters"),
        ("work_queue_name", json!("a%b"), "work_queue_name"),
    ];
    for (key, value, field) in cases {
        let mut body = TestApp::deployment_body("f", "d");
        body[key] = value.clone();
        let (s, e) = app.post("/api/deployments/", body).await;
        let got = assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
        assert!(
            got.starts_with(field),
            "{key}={value}: expected field {field}, got {got} ({e})"
        );
    }
    let mut missing = TestApp::deployment_body("f", "d");
    missing.as_object_mut().unwrap().remove("flow_data");
    let (s, e) = app.post("/api/deployments/", missing).await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("flow_data"),
        "{e}"
    );
    let mut no_flow = TestApp::deployment_body("f", "d");
    no_flow.as_object_mut().unwrap().remove("flow_name");
    let (s, e) = app.post("/api/deployments/", no_flow).await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "flow_id"
    );
    // nothing was stored by any of the failed attempts
    let (_, n) = app.post("/api/deployments/count", json!({})).await;
    assert_eq!(n, json!(0));
}

#[tokio::test]
async fn blockstorage_flow_data_must_point_at_an_existing_block() {
    let app = TestApp::new().await;
    let mut body = TestApp::deployment_body("f", "d");
    body["flow_data"] = json!({"encoding": "blockstorage",
        "blob": "{\"data\": \"k\", \"block_id\": \"0190a0a0-0000-7000-8000-000000000000\"}"});
    let (s, e) = app.post("/api/deployments/", body.clone()).await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "flow_data.blob"
    );
    let (_, block) = app
        .post("/api/blocks/", json!({"type": "server", "name": "db"}))
        .await;
    let blob = json!({"data": "k", "block_id": block["id"]}).to_string();
    body["flow_data"] = json!({"encoding": "blockstorage", "blob": blob});
    let d = app.create_deployment(body).await;
    assert_eq!(d["flow_data"]["encoding"], "blockstorage");
}

#[tokio::test]
async fn an_interval_may_be_written_as_a_duration() {
    let app = TestApp::new().await;
    let mut body = TestApp::deployment_body("etl", "hourly");
    body["schedule"] = json!({"interval": "PT1H"});
    let d = app.create_deployment(body.clone()).await;
    assert_eq!(
        d["schedule"]["interval"],
        json!(3600.0),
        "stored as seconds"
    );
    body["schedule"] = json!({"interval": "1 fortnight"});
    let (s, r) = app.post("/api/deployments/", body).await;
    let field = assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert!(field.starts_with("schedule"), "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("'1 fortnight' is not a duration"), "{r}");
}

#[tokio::test]
async fn parameters_and_settings_have_a_size_limit() {
    let app = TestApp::new().await;
    let mut body = TestApp::deployment_body("big", "params");
    body["parameters"] = json!({"blob": "x".repeat(300 * 1024)});
    let (status, e) = app.post("/api/deployments/", body).await;
    assert_eq!(
        assert_error(
            status,
            &e,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error"
        ),
        "parameters"
    );
    let mut body = TestApp::deployment_body("big", "runner");
    body["flow_runner"] =
        json!({"type": "subprocess", "config": {"env": {"BIG": "y".repeat(70 * 1024)}}});
    let (status, e) = app.post("/api/deployments/", body).await;
    assert_eq!(
        assert_error(
            status,
            &e,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error"
        ),
        "flow_runner.config"
    );
    let mut body = TestApp::deployment_body("big", "fits");
    body["parameters"] = json!({"blob": "x".repeat(200 * 1024)});
    let (status, e) = app.post("/api/deployments/", body).await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
}
