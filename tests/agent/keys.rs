//! Agents with API keys: an `agent` key bound to a queue runs that queue's work end to end and
//! nothing else.

use rigel_common::client::RigelClient;
use rigel_common::state::StateType;
use rigel_common::work_queue::WorkQueueCreate;

use super::support::{AgentProcess, ServerProcess};
use super::{deploy, finished, run, start_server};

/// A client with an admin key made the way a first one is: offline, in the server's database.
fn admin_of(server: &ServerProcess) -> RigelClient {
    let out = std::process::Command::new(super::support::rigel_bin())
        .args(["api-key", "create", "root", "--role", "admin", "--offline"])
        .env("RIGEL_HOME", &server.home)
        .env("RIGEL_API_URL", &server.api_url)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    RigelClient::new(&server.api_url).with_api_key(&key)
}

/// An agent key bound to `queue`.
async fn agent_key(admin: &RigelClient, name: &str, queue: &str) -> String {
    let body = serde_json::json!({"name": name, "role": "agent", "queues": [queue]});
    admin
        .create_api_key(&serde_json::from_value(body).unwrap())
        .await
        .unwrap()
        .key
}

#[tokio::test]
async fn an_agent_key_bound_to_a_queue_runs_it_and_no_other() {
    let (_home, server, open) = start_server(&["--require-auth"]);
    // before any key, nothing but health answers
    let denied = open.list_api_keys().await.unwrap_err();
    assert_eq!(denied.status(), Some(401), "{denied}");

    let admin = admin_of(&server);
    for name in ["gpu", "cpu"] {
        let body = WorkQueueCreate {
            name: name.into(),
            ..Default::default()
        };
        admin.create_work_queue(&body).await.unwrap();
    }
    let agent_key = agent_key(&admin, "gpu-agent", "gpu").await;

    // the flow shows the key it was given: its run's token, never the agent's key
    let deployment = deploy(&admin, "keyed", "echo \"key=$RIGEL_API_KEY\"", None).await;
    let created = run(&admin, deployment, serde_json::json!({})).await;

    // the agent key can't be used for the other queue: the agent says so and stops
    let refused = AgentProcess::command(&server, "cpu", &[])
        .env("RIGEL_API_KEY", &agent_key)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("may not use the queue 'cpu'"), "{said}");

    let _agent = AgentProcess::start_with(
        &server,
        "gpu",
        &["--heartbeat-seconds", "1"],
        &[("RIGEL_API_KEY", agent_key.as_str())],
    );
    let done = finished(&admin, created.id, 60).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = super::logs(&admin, created.id).await;
    let shown = lines
        .iter()
        .find_map(|l| l.strip_prefix("key="))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(shown.starts_with("rgr_"), "{shown}");
    assert_ne!(shown, agent_key);
}

#[tokio::test]
async fn an_agent_key_runs_flows_with_engines_inside_the_agent() {
    let (_home, server, _) = start_server(&["--require-auth"]);
    let admin = admin_of(&server);
    admin
        .create_work_queue(&WorkQueueCreate {
            name: "inside".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let agent_key = agent_key(&admin, "box", "inside").await;
    let deployment = deploy(&admin, "inside", "echo \"inside the agent\"", None).await;
    let created = run(&admin, deployment, serde_json::json!({})).await;
    let _agent = AgentProcess::start_with(
        &server,
        "inside",
        &["--heartbeat-seconds", "1", "--engine", "in-agent"],
        &[("RIGEL_API_KEY", agent_key.as_str())],
    );
    let done = finished(&admin, created.id, 60).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = super::logs(&admin, created.id).await;
    assert!(lines.iter().any(|l| l == "inside the agent"), "{lines:?}");
}
