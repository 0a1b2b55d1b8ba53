//! The engine on its own: `rigel deployment execute` and its code cache, and an engine process
//! reading its claim from standard input.

use super::*;

/// `rigel deployment execute`: the flow runs in the foreground (no agent), tracked as a run; its
/// code, stored under its content hash, is kept in `RIGEL_HOME/cache/flows` for the next run,
/// and a damaged copy there is fetched again rather than run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_execute_runs_in_the_foreground_and_caches_the_code() {
    let (home, server, client) = start_server(&[]);
    let rigel = |args: &[&str]| {
        std::process::Command::new(support::rigel_bin())
            .args(args)
            .env("RIGEL_API_URL", &server.api_url)
            .env("RIGEL_HOME", home.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = rigel(&["deployment", "create", &example("hello-daily.yaml")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = client
        .read_deployment_by_name("hello-world", "hello-world-daily")
        .await
        .unwrap();
    let blob: serde_json::Value = serde_json::from_str(&d.flow_data.blob).unwrap();
    let key = blob["data"].as_str().unwrap().to_string();
    let cached = home.path().join("cache").join("flows").join(&key);
    let code = std::fs::read_to_string(example("hello_world.sh")).unwrap();

    let execute = || {
        rigel(&[
            "deployment",
            "execute",
            "hello-world/hello-world-daily",
            "-p",
            "name=Marvin",
        ])
    };
    let out = execute();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Hello Marvin!"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), code);

    std::fs::write(&cached, "#!/bin/sh\necho tampered\n").unwrap();
    let out = execute();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Hello Marvin!") && !stdout.contains("tampered"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), code);

    // (the deployment's schedule adds Scheduled runs of its own)
    let runs = client.filter_flow_runs(&Default::default()).await.unwrap();
    let completed = runs.iter().filter(|r| r.state.kind == StateType::Completed);
    assert_eq!(completed.count(), 2, "{runs:?}");
    // a failing flow: execute exits non-zero and the run is Failed
    std::fs::write(home.path().join("fail.sh"), "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::write(
        home.path().join("fail.yaml"),
        "name: fail\nflow_location: ./fail.sh\nflow_name: fail\n",
    )
    .unwrap();
    let out = rigel(&[
        "deployment",
        "create",
        home.path().join("fail.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rigel(&["deployment", "execute", "fail/fail"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exit code 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An engine process reads its claim (run and deployment) from standard input when its agent
/// says so — the flow code it runs is the claim's — and a claim it cannot use (unreadable, or
/// another run's) is not fatal: it reads the run and deployment from the server instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_uses_its_claim_from_stdin_and_falls_back_when_it_is_unusable() {
    use std::io::Write;
    let (home, server, client) = start_server(&[]);
    let d = deploy(&client, "plain", "echo from the server", None).await;
    let queue = client
        .create_work_queue(&rigel_common::work_queue::WorkQueueCreate {
            name: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let agent = client
        .register_agent(&rigel_common::agent::AgentCreate {
            name: "by-hand".into(),
            work_queue_name: "default".into(),
            hostname: None,
            pid: None,
            version: None,
        })
        .await
        .unwrap();
    for _ in 0..3 {
        run(&client, d, serde_json::json!({})).await;
    }
    let claimed = client
        .claim_runs(
            queue.id,
            &rigel_common::work_queue::ClaimRequest {
                agent_id: agent.id,
                limit: 3,
                prefetch_seconds: 0.0,
                wait_seconds: 0.0,
            },
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    // a claim whose deployment says something else: what runs shows which one was used
    let mut own = claimed[0].clone();
    own.deployment.as_mut().unwrap().flow_data.blob = "echo from the claim".into();
    let cases = [
        (
            &claimed[0],
            serde_json::to_vec(&own).unwrap(),
            "from the claim",
        ),
        (&claimed[1], b"not a claim".to_vec(), "from the server"),
        (
            &claimed[2],
            serde_json::to_vec(&claimed[1]).unwrap(),
            "from the server",
        ),
    ];
    for (claim, input, said) in cases {
        let mut engine = std::process::Command::new(support::rigel_bin())
            .args(["engine", "run", &claim.flow_run.id.to_string()])
            .env("RIGEL_API_URL", &server.api_url)
            .env("RIGEL_HOME", home.path())
            .env("RIGEL_CLAIM_TOKEN", claim.claim_token.to_string())
            .env("RIGEL_ENGINE_CLAIM_ON_STDIN", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        engine.stdin.take().unwrap().write_all(&input).unwrap();
        let out = engine.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert_eq!(
            err.contains("reading the run instead"),
            said == "from the server",
            "{err}"
        );
        let done = finished(&client, claim.flow_run.id, 30).await;
        assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
        let lines = logs(&client, done.id).await;
        assert!(lines.contains(&said.to_string()), "{said}: {lines:?}");
    }
}

/// What a new user sees first: a flow file's declared defaults reach the flow when nobody gives
/// a value, and a script without a name header is named, in its logs and in its own `$0`, after
/// the file it was deployed from, not after the content hash it is stored under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_defaults_and_file_names_reach_the_flow() {
    let (home, server, client) = start_server(&[]);
    let dir = home.path().join("specs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("my_job.sh"),
        "#!/bin/sh\necho \"I am $(basename \"$0\")\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("specs.yaml"),
        format!(
            "name: plain\nflow_location: {}\n---\nname: job\nflow_location: ./my_job.sh\n",
            example("hello-flow.yaml")
        ),
    )
    .unwrap();
    server.cli_ok(&[
        "deployment",
        "create",
        dir.join("specs.yaml").to_str().unwrap(),
    ]);
    let execute = |name: &str| {
        let out = std::process::Command::new(support::rigel_bin())
            .args(["deployment", "execute", name])
            .env("RIGEL_API_URL", &server.api_url)
            .env("RIGEL_HOME", home.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    // hello-flow.yaml declares `name` with default "world"; the deployment gives no parameters
    let stdout = execute("hello-yaml/plain");
    assert!(
        stdout.contains("Hello world!") && stdout.contains("Goodbye world."),
        "{stdout}"
    );
    let stdout = execute("my-job/job");
    assert!(stdout.contains("I am my_job.sh"), "{stdout}");
    let runs = client.filter_flow_runs(&Default::default()).await.unwrap();
    let job = client
        .read_deployment_by_name("my-job", "job")
        .await
        .unwrap();
    let run = runs
        .iter()
        .find(|r| r.deployment_id == Some(job.id))
        .unwrap();
    let lines = logs(&client, run.id).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Running flow 'my-job' (run")),
        "{lines:#?}"
    );
    let plain = client
        .read_deployment_by_name("hello-yaml", "plain")
        .await
        .unwrap();
    let run = runs
        .iter()
        .find(|r| r.deployment_id == Some(plain.id))
        .unwrap();
    assert_eq!(run.parameters["name"], "world", "stored on the run");
}

/// Engine processes get the agent's allowed folders: a local flow file elsewhere is refused.
#[tokio::test]
async fn engine_processes_read_local_flow_files_only_from_allowed_folders() {
    let (_home, server, client) = start_server(&[]);
    let allowed = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for (dir, name) in [(allowed.path(), "inside"), (elsewhere.path(), "outside")] {
        let file = dir.join(format!("{name}.sh"));
        std::fs::write(&file, format!("echo {name}\n")).unwrap();
        let spec: DeploymentCreate = serde_json::from_value(serde_json::json!({
            "name": name, "flow_name": name,
            "flow_data": {"encoding": "file", "blob": file.to_str().unwrap()},
        }))
        .unwrap();
        let d = client.create_deployment(&spec).await.unwrap().0.id;
        ids.push(run(&client, d, serde_json::json!({})).await.id);
    }
    let _agent = AgentProcess::start(
        &server,
        "default",
        &["--allow-local-root", allowed.path().to_str().unwrap()],
    );
    let inside = finished(&client, ids[0], 30).await;
    assert_eq!(
        inside.state.kind,
        StateType::Completed,
        "{:?}",
        inside.state
    );
    let outside = finished(&client, ids[1], 30).await;
    assert_eq!(outside.state.kind, StateType::Failed, "{:?}", outside.state);
    assert!(outside
        .state
        .message
        .unwrap_or_default()
        .contains("--allow-local-root"));
}
