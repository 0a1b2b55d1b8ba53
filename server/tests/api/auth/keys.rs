//! API keys: when a server needs one, listing, revocation and expiry, and writes recorded with
//! the name of their key.

use super::*;

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
