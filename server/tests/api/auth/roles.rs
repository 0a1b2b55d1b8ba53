//! Roles: every route declares who may call it, the guard holds to it, and the OpenAPI
//! document says so; monitors see no secrets.

use super::*;

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
