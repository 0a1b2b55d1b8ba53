//! Agent keys bound to work queues.

use super::*;

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
