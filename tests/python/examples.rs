//! The seed's Python examples: created from their files, each run through an agent.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_python_examples_are_created_and_run_through_an_agent() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let files = [
        "single_file.py",
        "hello_deployment.py",
        "three_deployments.py",
        "subprocess_runner.py",
        "hello_storage.py",
    ]
    .map(example);
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = create(&server.api_url, tmp.path(), &refs, &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for line in [
        "Created deployment 'hello-world/hello-world'.",
        "Created deployment 'hello-world/hello-world-daily'.",
        "Created deployment 'hello-world/hello-trillian'.",
        "Created deployment 'hello-world/hello-arthur'.",
        "Created deployment 'hello-world/hello-marvin'.",
        "Created deployment 'hello-env/hello-subprocess'.",
        "Created deployment 'hello-storage/storage instance test'.",
    ] {
        assert!(err.contains(line), "{line} in {err}");
    }

    the_specs_reach_the_deployments(&client).await;

    let _agent = AgentProcess::start(&server, "default", &[]);

    a_single_file_deployment_runs(&client).await;
    parameters_reach_the_flow(&client).await;
    the_subprocess_runners_env_reaches_the_flow(&client).await;
    the_run_logger_keeps_each_level(&client, &tmp).await;
}

/// What the specs said: schedules, tags, parameters, the schema's defaults, the runner.
async fn the_specs_reach_the_deployments(client: &RigelClient) {
    let interval = |flow: &'static str, name: &'static str| {
        let client = client.clone();
        async move {
            let d = client.read_deployment_by_name(flow, name).await.unwrap();
            let s = serde_json::to_value(&d.schedule).unwrap();
            (s["interval"].as_f64(), d.tags, d.parameters)
        }
    };
    let (none, tags, params) = interval("hello-world", "hello-trillian").await;
    assert_eq!(none, None);
    assert_eq!(tags, ["trillian", "ad-hoc"]);
    assert_eq!(params["name"], "Trillian");
    assert_eq!(
        interval("hello-world", "hello-arthur").await.0,
        Some(86400.0)
    );
    assert_eq!(
        interval("hello-world", "hello-marvin").await.0,
        Some(604800.0)
    );
    assert_eq!(
        interval("hello-world", "hello-world-daily").await.1,
        ["earth"]
    );
    let single = client
        .read_deployment_by_name("hello-world", "hello-world")
        .await
        .unwrap();
    assert_eq!(single.tags, ["earth"]);
    let schema = single.parameter_schema.unwrap();
    assert_eq!(schema["properties"]["name"]["default"], "world");
    let sub = client
        .read_deployment_by_name("hello-env", "hello-subprocess")
        .await
        .unwrap();
    assert_eq!(sub.flow_runner.kind.as_str(), "subprocess");
    assert_eq!(sub.flow_runner.config["env"]["GREETING"], "Howdy");
}

/// The single-file deployment: its DeploymentSpec line is harmless at run time.
async fn a_single_file_deployment_runs(client: &RigelClient) {
    let r = run(client, "hello-world", "hello-world", serde_json::json!({})).await;
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(client, r.id).await;
    assert!(has(&lines, level::INFO, "Hello world!"), "{lines:#?}");
    assert_ran_once(client, r.id).await;
}

/// Deployment parameters, and a run's own over them; the `__main__` block never runs.
async fn parameters_reach_the_flow(client: &RigelClient) {
    let r = run(
        client,
        "hello-world",
        "hello-trillian",
        serde_json::json!({}),
    )
    .await;
    let r2 = run(
        client,
        "hello-world",
        "hello-marvin",
        serde_json::json!({"name": "Ford"}),
    )
    .await;
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(client, r.id).await;
    assert!(has(&lines, level::INFO, "Hello Trillian!"), "{lines:#?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.message.starts_with("Hello"))
            .count(),
        1,
        "{lines:#?}"
    );
    let done = finished(client, r2.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    assert!(has(&logs(client, r2.id).await, level::INFO, "Hello Ford!"));
}

/// The subprocess runner's env reaches the flow.
async fn the_subprocess_runners_env_reaches_the_flow(client: &RigelClient) {
    let r = run(
        client,
        "hello-env",
        "hello-subprocess",
        serde_json::json!({}),
    )
    .await;
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(client, r.id).await;
    assert!(has(&lines, level::INFO, "Howdy world!"), "{lines:#?}");
}

/// `get_run_logger()`: each record with its level; DEBUG is below the default level. The
/// code went to the local storage block.
async fn the_run_logger_keeps_each_level(client: &RigelClient, tmp: &tempfile::TempDir) {
    let r = run(
        client,
        "hello-storage",
        "storage instance test",
        serde_json::json!({}),
    )
    .await;
    let done = finished(client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(client, r.id).await;
    assert!(
        has(
            &lines,
            level::INFO,
            "Uses a storage block on the flow runner!"
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &lines,
            level::WARNING,
            "Storage is a local folder: agents on other machines cannot read it"
        ),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.message.contains("Only shown")));
    assert!(
        std::fs::read_dir(tmp.path().join("rigel-examples-storage"))
            .unwrap()
            .count()
            == 1,
        "the code went to the local block"
    );
}
