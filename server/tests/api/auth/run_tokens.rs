//! Run tokens: the key a claim hands the engine serves its own run only, and ends with it.

use super::*;

/// A claimed run whose deployment's code is a key of a server block, next to another run
/// (of another deployment, with code of its own) that the token must not reach.
struct Claimed {
    app: TestApp,
    clock: ManualClock,
    /// The run token the claim answered.
    token: String,
    claim_token: String,
    run: String,
    other_run: String,
    own_deployment: String,
    other_deployment: String,
    block_id: String,
    /// The name of the claimed run's deployment ("mine" or "other"), which names its code.
    own_name: &'static str,
    other_name: &'static str,
}

/// A deployment body whose code is key `code-{name}` of block `block_id`.
fn deployment(block_id: &str, name: &str) -> Value {
    let mut body = TestApp::deployment_body("etl", name);
    body["flow_data"] = json!({"encoding": "blockstorage",
        "blob": json!({"data": format!("code-{name}"), "block_id": block_id}).to_string()});
    body
}

fn log(run: &str) -> Value {
    json!([{"flow_run_id": run, "level": 20, "message": "hi", "timestamp": chrono::Utc::now()}])
}

impl Claimed {
    async fn new() -> Self {
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
        let mut deployments = Vec::new();
        for name in ["mine", "other"] {
            let (_, _, d) = send(
                &app,
                "POST",
                "/api/deployments/",
                Some(deployment(&block_id, name)),
                Some(&admin),
            )
            .await;
            deployments.push(d);
        }
        let mut runs = Vec::new();
        for d in &deployments {
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
        let own_deployment = claim["flow_run"]["deployment_id"]
            .as_str()
            .unwrap()
            .to_string();
        let ids: Vec<String> = deployments
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        let other_deployment = ids.iter().find(|d| **d != own_deployment).unwrap().clone();
        let (own_name, other_name) = if own_deployment == ids[0] {
            ("mine", "other")
        } else {
            ("other", "mine")
        };
        Self {
            token: claim["run_token"].as_str().unwrap().to_string(),
            claim_token: claim["claim_token"].as_str().unwrap().to_string(),
            app,
            clock,
            run,
            other_run,
            own_deployment,
            other_deployment,
            block_id,
            own_name,
            other_name,
        }
    }

    /// Sends a request with the run token.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, answer) = send(&self.app, method, path, body, Some(&self.token)).await;
        (status, answer)
    }

    async fn set_state(&self, kind: &str) -> (StatusCode, Value) {
        let body = json!({"state": {"type": kind}, "claim_token": self.claim_token});
        let path = format!("/api/flow_runs/{}/set_state", self.run);
        self.send("POST", &path, Some(body)).await
    }
}

#[tokio::test]
async fn a_run_token_is_its_own_kind_of_key_and_does_not_hold_the_claim_token() {
    let c = Claimed::new().await;
    assert!(c.token.starts_with("rgr_"), "{}", c.token);
    assert!(!c.token.contains(&c.claim_token.replace('-', "")));
}

#[tokio::test]
async fn a_run_token_reads_its_run_its_deployment_and_its_code_only() {
    let c = Claimed::new().await;
    let block = format!("/api/blocks/{}", c.block_id);
    assert!(c.send("GET", &block, None).await.0.is_success());
    let (status, _) = c
        .send("GET", &format!("{block}/data/code-{}", c.own_name), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "its own code may be read (none was uploaded)"
    );
    let (status, answer) = c
        .send("GET", &format!("{block}/data/code-{}", c.other_name), None)
        .await;
    assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    let run = format!("/api/flow_runs/{}", c.run);
    assert!(c.send("GET", &run, None).await.0.is_success());
    let own = format!("/api/deployments/{}", c.own_deployment);
    assert!(c.send("GET", &own, None).await.0.is_success());
}

#[tokio::test]
async fn a_run_token_moves_its_run_and_writes_its_logs() {
    let c = Claimed::new().await;
    let (status, answer) = c.set_state("RUNNING").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = c.send("POST", "/api/logs/", Some(log(&c.run))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn a_run_token_is_refused_other_runs_and_everything_else() {
    let c = Claimed::new().await;
    for (method, path, body) in [
        ("GET", format!("/api/flow_runs/{}", c.other_run), None),
        (
            "GET",
            format!("/api/deployments/{}", c.other_deployment),
            None,
        ),
        ("POST", "/api/logs/".to_string(), Some(log(&c.other_run))),
        ("POST", "/api/flow_runs/filter".to_string(), Some(json!({}))),
        (
            "POST",
            "/api/deployments/".to_string(),
            Some(deployment(&c.block_id, "x")),
        ),
        ("DELETE", format!("/api/flow_runs/{}", c.run), None),
    ] {
        let (status, answer) = c.send(method, &path, body).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn a_run_token_ends_some_minutes_after_its_run() {
    let c = Claimed::new().await;
    c.set_state("RUNNING").await;
    c.set_state("COMPLETED").await;
    c.clock.advance(chrono::Duration::minutes(5));
    let (status, _) = c.send("POST", "/api/logs/", Some(log(&c.run))).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "late log lines of a finished run still land"
    );
    c.clock.advance(chrono::Duration::minutes(6));
    let (status, answer) = c
        .send("GET", &format!("/api/flow_runs/{}", c.run), None)
        .await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ended"));
}

#[tokio::test]
async fn a_forged_run_token_is_refused() {
    let c = Claimed::new().await;
    let last = if c.token.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &c.token[..c.token.len() - 1]);
    let (status, _, _) = send(
        &c.app,
        "GET",
        &format!("/api/flow_runs/{}", c.run),
        None,
        Some(&forged),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
