use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{assert_error, TestApp};

#[tokio::test]
async fn health_and_openapi() {
    let app = TestApp::new().await;
    let (s, h) = app.get("/api/health").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    let (s, doc) = app.get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/health",
        "/api/flows/",
        "/api/flows/{id}",
        "/api/flows/name/{name}",
        "/api/flows/filter",
        "/api/deployments/",
        "/api/deployments/{id}",
        "/api/deployments/name/{flow}/{name}",
        "/api/deployments/filter",
        "/api/deployments/count",
        "/api/deployments/{id}/set_schedule_active",
        "/api/deployments/{id}/set_schedule_inactive",
        "/api/blocks/",
        "/api/blocks/{id}",
        "/api/blocks/filter",
        "/api/blocks/default",
        "/api/blocks/{id}/set_default",
        "/api/blocks/clear_default",
        "/api/blocks/{id}/data/{key}",
        "/api/flow_runs/{id}/set_state",
        "/api/flow_runs/set_states",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    assert!(doc["paths"]["/api/deployments/{id}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["DeploymentCreate"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    for schema in [
        "SetStates",
        "FlowRunProposal",
        "SetStatesResult",
        "ProposalOutcome",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "openapi lacks {schema}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    for body in ["{", "{\"name\": }", "not json", "{\"name\": \"x\",}"] {
        let (s, e) = app.raw(Method::POST, "/api/flows/", body).await;
        assert_error(s, &e, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("malformed JSON"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn wrong_types_and_unknown_fields_are_422() {
    let app = TestApp::new().await;
    let (s, e) = app
        .post("/api/flows/", json!({"name": "x", "tags": "a"}))
        .await;
    assert_eq!(
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "tags"
    );
    let (s, e) = app.post("/api/flows/", json!([])).await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    let (s, e) = app
        .post(
            "/api/deployments/filter",
            json!({"deployments": {"nmae": {}}}),
        )
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("nmae"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_uuids_in_paths_are_422() {
    let app = TestApp::new().await;
    for path in [
        "/api/deployments/123",
        "/api/flows/zzz",
        "/api/blocks/not-a-uuid",
        "/api/blocks/xyz/data/k",
    ] {
        let (s, e) = app.get(path).await;
        assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    }
    let (s, e) = app
        .call(Method::DELETE, "/api/deployments/nope", None)
        .await;
    assert_error(s, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_shape() {
    let app = TestApp::new().await;
    let (s, e) = app.get("/api/nothing/here").await;
    assert_error(s, &e, StatusCode::NOT_FOUND, "not_found");
    let (s, e) = app.call(Method::PUT, "/api/health", None).await;
    assert_error(s, &e, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn lists_and_tags_have_limits_not_server_errors() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..40_000)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    // at the limit: fine; past it: 422 naming the list
    let (s, r) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"id": {"any_": &ids[..1000]}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    for n in [1001, 40_000] {
        let (s, r) = app
            .post(
                "/api/flow_runs/filter",
                json!({"flow_runs": {"id": {"any_": &ids[..n]}}}),
            )
            .await;
        let field = assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
        assert_eq!(field, "flow_runs.id.any_", "{r}");
    }
    let tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let (s, r) = app
        .post(
            "/api/flow_runs/filter",
            json!({"flow_runs": {"tags": {"all_": &tags}}}),
        )
        .await;
    let field = assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error");
    assert_eq!(field, "flow_runs.tags.all_", "{r}");
    let mut body = TestApp::deployment_body("f", "many-tags");
    body["tags"] = json!(tags);
    let (s, r) = app.post("/api/deployments/", body).await;
    assert_eq!(
        assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "tags"
    );
    let mut body = TestApp::deployment_body("f", "long-tag");
    body["tags"] = json!(["x".repeat(201)]);
    let (s, r) = app.post("/api/deployments/", body).await;
    assert_eq!(
        assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "tags[0]"
    );
    let (s, r) = app
        .post(
            "/api/work_queues/",
            json!({"name": "q", "filter": {"tags": tags}}),
        )
        .await;
    assert_eq!(
        assert_error(s, &r, StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "filter.tags"
    );
}

#[tokio::test]
async fn bodies_nested_deeper_than_32_are_refused() {
    let app = TestApp::new().await;
    let nested = |depth: usize| {
        let mut v = json!("leaf");
        for _ in 0..depth {
            v = json!({ "k": v });
        }
        v
    };
    // the parameters sit two levels down in the body
    let mut body = TestApp::deployment_body("f", "deep");
    body["parameters"] = json!({ "p": nested(29) });
    let (s, r) = app.post("/api/deployments/", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    body["parameters"] = json!({ "p": nested(125) });
    let (s, r) = app.post("/api/deployments/", body).await;
    assert_error(s, &r, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 32 deep"),
        "{r}"
    );
}

#[tokio::test]
async fn a_read_past_its_budget_is_stopped_and_said_so() {
    let app = TestApp::with_config(|c| {
        c.database.read_budget = std::time::Duration::from_millis(100);
    })
    .await;
    let slow = sqlx::query_scalar::<_, i64>(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
         SELECT count(*) FROM (SELECT x FROM c LIMIT 2000000000)",
    )
    .fetch_one(&app.state.db.read);
    // (run to its end, this count would take minutes and succeed)
    let err = rigel_server::error::ApiError::from(slow.await.unwrap_err());
    let rigel_server::error::ApiError::BadRequest(message) = err else {
        panic!("{err:?}");
    };
    assert!(message.contains("stopped"), "{message}");
    // the reader is fine afterwards
    let n: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&app.state.db.read)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_connection_that_sends_half_a_request_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = crate::agents::RealServer::start(|c| {
        c.header_read_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    let addr = server
        .client
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // never finishing the headers: the server closes the connection (EOF or reset)
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        conn.read_to_end(&mut buf),
    )
    .await
    .expect("the server closed the connection");
    let _ = read;
    // a complete request on a new connection is answered as usual
    assert_eq!(server.client.health().await.unwrap().status, "ok");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = crate::agents::RealServer::start(|c| {
        c.header_read_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    let addr = server
        .client
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    conn.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // the connection is kept alive: a second request on it is answered too
    let mut answer = vec![0u8; 4096];
    let _ =
        tokio::time::timeout(std::time::Duration::from_millis(50), conn.read(&mut answer)).await;
    conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let n = conn.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "kept alive for a second request"
    );
    // then nothing more: the idle connection is closed by the server (EOF after the answer)
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        conn.read_to_end(&mut rest),
    )
    .await
    .expect("the server closed the idle connection")
    .unwrap();
}
