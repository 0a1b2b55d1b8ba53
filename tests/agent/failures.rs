//! A run that fails before its flow starts says why in its logs, not only in its state
//! message, with either engine mode: `rigel flow-run logs ID` is never empty for it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_before_the_flow_starts_are_in_the_run_logs() {
    failures_are_logged(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_before_the_flow_starts_are_in_the_run_logs_in_agent() {
    failures_are_logged(&["--engine", "in-agent"]).await;
}

/// Four ways a run fails before its flow does anything: the runner names an interpreter or a
/// folder that is missing (found by the agent at submission), the flow's code cannot be fetched
/// or its own interpreter is missing (found by the engine).
async fn failures_are_logged(agent_args: &[&str]) {
    let (_home, server, client) = start_server(&[]);
    let subprocess = |config: serde_json::Value| {
        Some(serde_json::json!({"type": "subprocess", "config": config}))
    };
    let cases = [
        (
            deploy(
                &client,
                "no-python",
                "#!/bin/sh\necho never\n",
                subprocess(serde_json::json!({"python": "/nonexistent/python3"})),
            )
            .await,
            "python '/nonexistent/python3' does not exist",
        ),
        (
            deploy(
                &client,
                "no-folder",
                "#!/bin/sh\necho never\n",
                subprocess(serde_json::json!({"working_dir": "/no/such/folder"})),
            )
            .await,
            "working_dir '/no/such/folder' is not a folder",
        ),
        (
            deploy(
                &client,
                "no-interpreter",
                "#!/nonexistent/interpreter\necho never\n",
                None,
            )
            .await,
            "cannot start the flow script",
        ),
        (
            unfetchable(&client).await,
            "cannot read the flow file /nonexistent/flow.sh",
        ),
    ];
    let _agent = AgentProcess::start(&server, "default", agent_args);
    for (deployment, reason) in cases {
        let r = run(&client, deployment, serde_json::json!({})).await;
        let done = finished(&client, r.id, 30).await;
        assert_eq!(done.state.kind, StateType::Failed, "{:?}", done.state);
        let message = done.state.message.unwrap_or_default();
        assert!(message.contains(reason), "{message}");
        let shown = server.cli_ok(&["flow-run", "logs", &r.id.to_string()]);
        assert!(
            shown.contains(reason) && shown.contains("ERROR"),
            "`rigel flow-run logs` of a run that failed with '{message}' shows:\n{shown}"
        );
    }
}

/// A deployment whose flow file is a path no machine has.
async fn unfetchable(client: &RigelClient) -> Uuid {
    let body = serde_json::json!({
        "name": "unfetchable", "flow_name": "unfetchable",
        "flow_data": {"encoding": "file", "blob": "/nonexistent/flow.sh"},
    });
    let spec: DeploymentCreate = serde_json::from_value(body).unwrap();
    client.create_deployment(&spec).await.unwrap().0.id
}
