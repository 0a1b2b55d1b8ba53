//! API keys and roles: every route declares who may call it, and the guard holds to it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rigel_common::api_key::{ApiKeyCreate, Role};
use rigel_server::auth::access::Access;
use rigel_server::auth::AuthMode;
use rigel_server::clock::ManualClock;
use rigel_server::routes;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{assert_error, TestApp};

/// Sends a request with `key` (if any) as a bearer key; answers status, headers and JSON body.
/// The body of a stream (`/api/events`) is not read.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = req
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    if path.starts_with("/api/events") && status.is_success() {
        return (status, headers, Value::Null);
    }
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

async fn key(app: &TestApp, name: &str, role: Role, queues: &[&str]) -> String {
    let body = ApiKeyCreate {
        name: name.into(),
        role,
        queues: queues.iter().map(|q| q.to_string()).collect(),
        expires_in_seconds: None,
    };
    routes::api_keys::create(&app.state, &body, None)
        .await
        .unwrap()
        .key
}

/// A run of deployment `d` started with `key`; answers it (and asserts it was created).
async fn start_run(app: &TestApp, d: &Value, key: &str) -> Value {
    let path = format!(
        "/api/deployments/{}/create_flow_run",
        d["id"].as_str().unwrap()
    );
    let (status, _, run) = send(app, "POST", &path, Some(json!({})), Some(key)).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    run
}

/// Every route of the router, as (method, path) of the OpenAPI document built from it.
fn every_route() -> Vec<(&'static str, String)> {
    let (_, doc) = routes::api().split_for_parts();
    let mut out = vec![("GET", "/api/openapi.json".to_string())];
    for (path, item) in &doc.paths.paths {
        for (method, present) in [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ] {
            if present {
                out.push((method, path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_declares_who_may_call_it() {
    let table = routes::access_table();
    let routes = every_route();
    assert!(routes.len() > 50, "{} routes", routes.len());
    let missing: Vec<_> = routes
        .iter()
        .filter(|(m, p)| table.get(m, p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "routes without an access rule: {missing:?}"
    );
    let stale: Vec<_> = table
        .iter()
        .filter(|(m, p, _)| !routes.iter().any(|(rm, rp)| rm == m && rp == p))
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "rules for routes that don't exist: {stale:?}"
    );
}

/// A path with its parameters filled in (ids that match nothing).
fn concrete(path: &str) -> String {
    path.replace("{id}", "0190b0c0-0000-7000-8000-000000000000")
        .replace("{flow}", "no-flow")
        .replace("{name}", "no-name")
        .replace("{key}", "no-key")
}

#[tokio::test]
async fn every_route_answers_each_role_as_declared() {
    let app = TestApp::new().await;
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, key(&app, role.as_str(), role, &[]).await));
    }
    let table = routes::access_table();
    for (method, path) in every_route() {
        let access = table.get(method, &path).unwrap();
        let url = concrete(&path);
        let body = matches!(method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        let (status, headers, answer) = send(&app, method, &url, body.clone(), None).await;
        if access == Access::Public {
            assert!(
                status.is_success(),
                "{method} {path} without a key: {status}"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {answer}"
            );
            assert_eq!(answer["error"]["code"], "unauthorized");
            assert!(headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"));
        }
        for (role, key) in &keys {
            let (status, _, answer) = send(&app, method, &url, body.clone(), Some(key)).await;
            if access.admits(*role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {status} {answer}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
                let message = answer["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(&access.describe()) && message.contains(role.as_str()),
                    "{message}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_loopback_server_is_open_until_a_key_exists() {
    let app = TestApp::new().await;
    let (status, _, me) = send(&app, "GET", "/api/me", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["auth_required"], false);
    // a stale RIGEL_API_KEY sent to an open server does no harm
    let (status, _, _) = send(&app, "GET", "/api/me", None, Some("rgl_nonsense")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, created) = send(
        &app,
        "POST",
        "/api/api_keys/",
        Some(json!({"name": "root", "role": "admin"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let (status, _, body) = send(&app, "POST", "/api/flows/filter", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _, me) = send(&app, "GET", "/api/me", None, Some(&key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["key_name"], "root");
    assert_eq!(me["auth_required"], true);
    // the health check stays open for load balancers
    let (status, _, _) = send(&app, "GET", "/api/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn required_auth_refuses_everything_before_the_first_key() {
    let app = TestApp::with_config(|c| c.auth_mode = AuthMode::Required).await;
    let (status, _, body) = send(&app, "GET", "/api/me", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _, _) = send(
        &app,
        "POST",
        "/api/api_keys/",
        Some(json!({"name": "root", "role": "admin"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_are_listed_without_themselves_and_stop_at_revocation_or_expiry() {
    let clock = ManualClock::new(chrono::Utc::now());
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| cfg.clock = std::sync::Arc::new(c)).await;
    let admin = key(&app, "root", Role::Admin, &[]).await;
    let (status, _, created) = send(
        &app,
        "POST",
        "/api/api_keys/",
        Some(json!({"name": "ci", "role": "operator", "expires_in_seconds": 3600})),
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let ci = created["key"].as_str().unwrap().to_string();
    assert_eq!(ci.len(), 4 + 64);

    let (status, _, listed) = send(&app, "GET", "/api/api_keys/", None, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let text = listed.to_string();
    assert!(
        !text.contains(&ci[4..]) && !text.contains(&admin[4..]),
        "{text}"
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // the same name twice is a conflict while the first is in use
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/api_keys/",
        Some(json!({"name": "ci", "role": "monitor"})),
        Some(&admin),
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/api_keys/",
        Some(json!({"name": "q", "role": "monitor", "queues": ["a"]})),
        Some(&admin),
    )
    .await;
    assert_eq!(
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error"
        ),
        "queues"
    );

    let (status, _, _) = send(&app, "GET", "/api/me", None, Some(&ci)).await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(chrono::Duration::seconds(3601));
    let (status, _, body) = send(&app, "GET", "/api/me", None, Some(&ci)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));

    let id = created["api_key"]["id"].as_str().unwrap();
    let root_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "root")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, revoked) = send(
        &app,
        "DELETE",
        &format!("/api/api_keys/{id}"),
        None,
        Some(&admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked"].is_string());
    // a second admin key, then the first one revoked: it stops working at once
    let other = key(&app, "root2", Role::Admin, &[]).await;
    let (status, _, _) = send(
        &app,
        "DELETE",
        &format!("/api/api_keys/{root_id}"),
        None,
        Some(&other),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = send(&app, "GET", "/api/me", None, Some(&admin)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn an_agent_key_bound_to_a_queue_works_only_from_it() {
    let app = TestApp::new().await;
    let admin = key(&app, "root", Role::Admin, &[]).await;
    let agent = key(&app, "gpu-agent", Role::Agent, &["gpu"]).await;
    let mut queue_ids = Vec::new();
    for name in ["gpu", "cpu"] {
        let (status, _, q) = send(
            &app,
            "POST",
            "/api/work_queues/",
            Some(json!({ "name": name })),
            Some(&admin),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{q}");
        queue_ids.push(q["id"].as_str().unwrap().to_string());
    }
    let (status, _, registered) = send(
        &app,
        "POST",
        "/api/agents/",
        Some(json!({"name": "a1", "work_queue_name": "gpu"})),
        Some(&agent),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let agent_id = registered["id"].as_str().unwrap();
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/agents/",
        Some(json!({"name": "a2", "work_queue_name": "cpu"})),
        Some(&agent),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("'cpu'"));

    let claim = json!({ "agent_id": agent_id });
    let (status, _, claimed) = send(
        &app,
        "POST",
        &format!("/api/work_queues/{}/claim", queue_ids[0]),
        Some(claim.clone()),
        Some(&agent),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let (status, _, body) = send(
        &app,
        "POST",
        &format!("/api/work_queues/{}/claim", queue_ids[1]),
        Some(claim),
        Some(&agent),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // it reaches the runs its agents hold only
    let (_, _, d) = send(
        &app,
        "POST",
        "/api/deployments/",
        Some(TestApp::deployment_body("f", "d")),
        Some(&admin),
    )
    .await;
    let held = start_run(&app, &d, &admin).await;
    let claim = json!({ "agent_id": agent_id, "limit": 1 });
    let claim_path = format!("/api/work_queues/{}/claim", queue_ids[0]);
    let (_, _, claimed) = send(&app, "POST", &claim_path, Some(claim), Some(&agent)).await;
    assert_eq!(claimed[0]["flow_run"]["id"], held["id"], "{claimed}");
    let token = claimed[0]["claim_token"].clone();
    let other = start_run(&app, &d, &admin).await;
    let run_path = |r: &Value| format!("/api/flow_runs/{}", r["id"].as_str().unwrap());
    let (status, _, _) = send(&app, "GET", &run_path(&held), None, Some(&agent)).await;
    assert_eq!(status, StatusCode::OK);
    let deployment = format!("/api/deployments/{}", d["id"].as_str().unwrap());
    let (status, _, _) = send(&app, "GET", &deployment, None, Some(&agent)).await;
    assert_eq!(status, StatusCode::OK, "the deployment of a run it holds");
    let running = json!({"state": {"type": "RUNNING"}, "claim_token": token});
    let set_state = |r: &Value| format!("{}/set_state", run_path(r));
    let (status, _, answer) =
        send(&app, "POST", &set_state(&held), Some(running), Some(&agent)).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!("ACCEPT"))
    );

    let (status, _, body) = send(&app, "GET", &run_path(&other), None, Some(&agent)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("its agents hold"));
    let cancel = json!({"state": {"type": "CANCELLED"}});
    let (status, _, body) =
        send(&app, "POST", &set_state(&other), Some(cancel), Some(&agent)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("claim_token"));
    let stale = json!({"state": {"type": "CANCELLED"}, "claim_token": token});
    let (status, _, body) = send(&app, "POST", &set_state(&other), Some(stale), Some(&agent)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let log = json!([{"flow_run_id": other["id"], "level": 20, "message": "x", "timestamp": chrono::Utc::now()}]);
    let (status, _, body) = send(&app, "POST", "/api/logs/", Some(log), Some(&agent)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _, body) = send(&app, "POST", "/api/flow_runs/filter", None, Some(&agent)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn monitors_see_no_secrets_and_only_admins_force_or_store_credentials() {
    let app = TestApp::new().await;
    let admin = key(&app, "root", Role::Admin, &[]).await;
    let monitor = key(&app, "dash", Role::Monitor, &[]).await;
    let operator = key(&app, "ops", Role::Operator, &[]).await;
    let deployer = key(&app, "ci", Role::Deployer, &[]).await;
    let mut body = TestApp::deployment_body("etl", "nightly");
    body["flow_runner"] =
        json!({"type": "subprocess", "config": {"env": {"DB_PASSWORD": "hunter2"}}});
    let (status, _, d) = send(
        &app,
        "POST",
        "/api/deployments/",
        Some(body),
        Some(&deployer),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap();
    let path = format!("/api/deployments/{id}");
    let (_, _, seen) = send(&app, "GET", &path, None, Some(&monitor)).await;
    assert_eq!(seen["flow_runner"]["config"]["env"]["DB_PASSWORD"], "***");
    let (_, _, seen) = send(
        &app,
        "POST",
        "/api/deployments/filter",
        None,
        Some(&monitor),
    )
    .await;
    assert!(!seen.to_string().contains("hunter2"), "{seen}");
    let (_, _, seen) = send(&app, "GET", &path, None, Some(&operator)).await;
    assert_eq!(
        seen["flow_runner"]["config"]["env"]["DB_PASSWORD"],
        "hunter2"
    );

    let run = start_run(&app, &d, &operator).await;
    let run_id = run["id"].as_str().unwrap();
    let force = json!({"state": {"type": "COMPLETED"}, "force": true});
    let set_state = format!("/api/flow_runs/{run_id}/set_state");
    let (status, _, body) = send(
        &app,
        "POST",
        &set_state,
        Some(force.clone()),
        Some(&operator),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _, _) = send(&app, "POST", &set_state, Some(force), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let cancel = json!({"state": {"type": "CANCELLED"}});
    let (status, _, _) = send(&app, "POST", &set_state, Some(cancel), Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);

    let s3 = json!({"type": "s3", "config": {"bucket": "b", "aws_access_key_id": "AK", "aws_secret_access_key": "SECRET"}});
    let (status, _, body) = send(
        &app,
        "POST",
        "/api/blocks/",
        Some(s3.clone()),
        Some(&deployer),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _, block) = send(&app, "POST", "/api/blocks/", Some(s3), Some(&admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{block}");
    assert_eq!(block["config"]["aws_secret_access_key"], "***");
    let (_, _, listed) = send(&app, "POST", "/api/blocks/filter", None, Some(&admin)).await;
    assert!(!listed.to_string().contains("SECRET"), "{listed}");
}

#[tokio::test]
async fn the_openapi_document_names_each_operations_roles() {
    let app = TestApp::new().await;
    let (_, _, doc) = send(&app, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    let create = &doc["paths"]["/api/deployments/"]["post"]["security"];
    assert_eq!(create, &json!([{"api_key": ["deployer", "admin"]}]));
    let health = &doc["paths"]["/api/health"]["get"]["security"];
    assert_eq!(health, &json!([{}]));
}

#[tokio::test]
async fn a_run_token_serves_its_own_run_only_and_ends_with_it() {
    let clock = ManualClock::new(chrono::Utc::now());
    let c = clock.clone();
    let app = TestApp::with_config(move |cfg| cfg.clock = std::sync::Arc::new(c)).await;
    let admin = key(&app, "root", Role::Admin, &[]).await;
    let agent = key(&app, "box", Role::Agent, &[]).await;
    let (_, _, queue) = send(
        &app,
        "POST",
        "/api/work_queues/",
        Some(json!({"name": "q"})),
        Some(&admin),
    )
    .await;
    let (_, _, registered) = send(
        &app,
        "POST",
        "/api/agents/",
        Some(json!({"name": "a", "work_queue_name": "q"})),
        Some(&agent),
    )
    .await;
    let (_, _, block) = send(
        &app,
        "POST",
        "/api/blocks/",
        Some(json!({"type": "server", "name": "code"})),
        Some(&admin),
    )
    .await;
    let block_id = block["id"].as_str().unwrap().to_string();
    // each deployment's code is its own key of one block
    let deployment = |name: &str| {
        let mut body = TestApp::deployment_body("etl", name);
        body["flow_data"] = json!({"encoding": "blockstorage",
            "blob": json!({"data": format!("code-{name}"), "block_id": block_id}).to_string()});
        body
    };
    let (_, _, mine) = send(
        &app,
        "POST",
        "/api/deployments/",
        Some(deployment("mine")),
        Some(&admin),
    )
    .await;
    let (_, _, other) = send(
        &app,
        "POST",
        "/api/deployments/",
        Some(deployment("other")),
        Some(&admin),
    )
    .await;
    let mut runs = Vec::new();
    for d in [&mine, &other] {
        let run = start_run(&app, d, &admin).await;
        runs.push(run["id"].as_str().unwrap().to_string());
    }
    let (status, _, claimed) = send(
        &app,
        "POST",
        &format!("/api/work_queues/{}/claim", queue["id"].as_str().unwrap()),
        Some(json!({"agent_id": registered["id"], "limit": 1})),
        Some(&agent),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let claim = &claimed[0];
    let run = claim["flow_run"]["id"].as_str().unwrap().to_string();
    let other_run = runs.iter().find(|r| **r != run).unwrap().clone();
    let token = claim["run_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("rgr_"), "{token}");
    let claim_token = claim["claim_token"].as_str().unwrap();
    assert!(!token.contains(&claim_token.replace('-', "")));
    let own_deployment = claim["flow_run"]["deployment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_deployment = [&mine, &other]
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .find(|d| *d != own_deployment)
        .unwrap();

    let t = Some(token.as_str());
    let ok = |status: StatusCode| status.is_success();
    let own_name = if own_deployment == mine["id"].as_str().unwrap() {
        "mine"
    } else {
        "other"
    };
    let other_name = if own_name == "mine" { "other" } else { "mine" };
    assert!(ok(send(
        &app,
        "GET",
        &format!("/api/blocks/{block_id}"),
        None,
        t
    )
    .await
    .0));
    let (status, _, _) = send(
        &app,
        "GET",
        &format!("/api/blocks/{block_id}/data/code-{own_name}"),
        None,
        t,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "its own code may be read (none was uploaded)"
    );
    let (status, _, answer) = send(
        &app,
        "GET",
        &format!("/api/blocks/{block_id}/data/code-{other_name}"),
        None,
        t,
    )
    .await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert!(ok(send(
        &app,
        "GET",
        &format!("/api/flow_runs/{run}"),
        None,
        t
    )
    .await
    .0));
    assert!(ok(send(
        &app,
        "GET",
        &format!("/api/deployments/{own_deployment}"),
        None,
        t
    )
    .await
    .0));
    let running = json!({"state": {"type": "RUNNING"}, "claim_token": claim_token});
    let (status, _, answer) = send(
        &app,
        "POST",
        &format!("/api/flow_runs/{run}/set_state"),
        Some(running),
        t,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let log = |r: &str| json!([{"flow_run_id": r, "level": 20, "message": "hi", "timestamp": chrono::Utc::now()}]);
    let (status, _, answer) = send(&app, "POST", "/api/logs/", Some(log(&run)), t).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    for (method, path, body) in [
        ("GET", format!("/api/flow_runs/{other_run}"), None),
        ("GET", format!("/api/deployments/{other_deployment}"), None),
        ("POST", "/api/logs/".to_string(), Some(log(&other_run))),
        ("POST", "/api/flow_runs/filter".to_string(), Some(json!({}))),
        (
            "POST",
            "/api/deployments/".to_string(),
            Some(deployment("x")),
        ),
        ("DELETE", format!("/api/flow_runs/{run}"), None),
    ] {
        let (status, _, answer) = send(&app, method, &path, body, t).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    }

    let done = json!({"state": {"type": "COMPLETED"}, "claim_token": claim_token});
    send(
        &app,
        "POST",
        &format!("/api/flow_runs/{run}/set_state"),
        Some(done),
        t,
    )
    .await;
    clock.advance(chrono::Duration::minutes(5));
    let (status, _, _) = send(&app, "POST", "/api/logs/", Some(log(&run)), t).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "late log lines of a finished run still land"
    );
    clock.advance(chrono::Duration::minutes(6));
    let (status, _, answer) = send(&app, "GET", &format!("/api/flow_runs/{run}"), None, t).await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ended"));
    let last = if token.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    let (status, _, _) = send(
        &app,
        "GET",
        &format!("/api/flow_runs/{run}"),
        None,
        Some(&forged),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn writes_are_recorded_with_the_name_of_their_key() {
    let app = TestApp::new().await;
    let admin = key(&app, "root", Role::Admin, &[]).await;
    let operator = key(&app, "ops", Role::Operator, &[]).await;
    let deployer = key(&app, "ci", Role::Deployer, &[]).await;
    let body = TestApp::deployment_body("etl", "nightly");
    let (_, _, d) = send(
        &app,
        "POST",
        "/api/deployments/",
        Some(body),
        Some(&deployer),
    )
    .await;
    let run = start_run(&app, &d, &operator).await;
    let run_id = run["id"].as_str().unwrap();
    let cancel = json!({"state": {"type": "CANCELLED", "message": "not tonight"}});
    let (status, _, _) = send(
        &app,
        "POST",
        &format!("/api/flow_runs/{run_id}/set_state"),
        Some(cancel),
        Some(&operator),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (_, _, history) = send(
        &app,
        "GET",
        &format!("/api/flow_runs/{run_id}/states"),
        None,
        Some(&admin),
    )
    .await;
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "CANCELLED");
    assert_eq!(last["actor"], "ops", "{history}");
    assert!(
        history[0].get("actor").is_none(),
        "the first state came from no key: {history}"
    );

    let (status, _, audit) = send(&app, "GET", "/api/audit", None, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("-").to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries[0],
        ("ops".to_string(), "flow_run.set_state".to_string()),
        "{audit}"
    );
    assert_eq!(audit[0]["detail"], "CANCELLED");
    assert!(
        entries.contains(&("ci".to_string(), "deployment.create".to_string())),
        "{audit}"
    );
    let (_, _, mine) = send(
        &app,
        "GET",
        "/api/audit?key=ci&limit=10",
        None,
        Some(&admin),
    )
    .await;
    assert!(
        mine.as_array().unwrap().iter().all(|e| e["actor"] == "ci"),
        "{mine}"
    );
    let (status, _, body) = send(&app, "GET", "/api/audit?limit=0", None, Some(&admin)).await;
    assert_eq!(
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error"
        ),
        "limit"
    );
}
