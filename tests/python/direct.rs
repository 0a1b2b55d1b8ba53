//! A flow file run directly with `python3`, as a user runs it: tracked by the server when one
//! answers, untracked when none does, heartbeating while it runs long.

use super::*;

/// The seed's `hello_flow.py`: a flow called at the bottom of its file.
const HELLO_FLOW: &str = r#"from prefect import flow

@flow
def hello_world(name="world"):
    print(f"Hello {name}!")

hello_world()
"#;

/// `rigel python-path` in `home`: the folder it prints, which must hold the module.
fn python_path(home: &Path) -> PathBuf {
    let out = std::process::Command::new(support::rigel_bin())
        .arg("python-path")
        .env("RIGEL_HOME", home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    assert!(dir.is_absolute() && dir.starts_with(home), "{dir:?}");
    assert!(dir.join("prefect/__init__.py").is_file(), "{dir:?}");
    dir
}

/// `python3 FILE` in the file's folder with Rigel's module on `PYTHONPATH`, as a user runs it.
fn python_direct(file: &Path, python_path: &Path, api_url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(file)
        .current_dir(file.parent().unwrap())
        .env("PYTHONPATH", python_path)
        .env("RIGEL_API_URL", api_url)
        .env_remove("RIGEL_FLOW_RUN_ID")
        .env_remove("RIGEL_STRUCTURED_OUTPUT")
        .env_remove("RIGEL_API_KEY")
        .env_remove("RIGEL_ENGINE_HEARTBEAT_SECONDS");
    cmd
}

/// Every run on the server.
async fn all_runs(client: &RigelClient) -> Vec<FlowRun> {
    client
        .filter_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_file_run_directly_is_a_tracked_run_without_deployment() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let module = python_path(home.path());
    assert_eq!(
        python_path(home.path()),
        module,
        "the same folder every time"
    );
    let file = tmp.path().join("hello_flow.py");
    std::fs::write(&file, HELLO_FLOW).unwrap();

    let out = python_direct(&file, &module, &server.api_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello world!\n");
    assert!(!stderr(&out).contains("rigel:"), "{}", stderr(&out));

    // python3 has returned: the run is finished and its logs are in
    let runs = all_runs(&client).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let r = &runs[0];
    assert_eq!(r.deployment_id, None);
    assert_eq!(r.state.kind, StateType::Completed, "{:?}", r.state);
    assert_eq!(
        serde_json::to_value(&r.parameters).unwrap(),
        serde_json::json!({"name": "world"})
    );
    let flow = client.read_flow(r.flow_id).await.unwrap();
    assert_eq!(flow.name, "hello-world");
    assert_ran_once(&client, r.id).await;
    let lines = logs(&client, r.id).await;
    assert!(has(&lines, level::INFO, "Hello world!"), "{lines:#?}");

    let table = server.cli_ok(&["flow-run", "ls"]);
    assert!(
        table.contains(&r.id.to_string()) && table.contains("hello-world (no deployment)"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_flow_file_run_directly_ends_failed_with_its_traceback() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let file = tmp.path().join("towel_flow.py");
    std::fs::write(
        &file,
        "from prefect import flow, task, get_run_logger\n\
         \n\
         @task\n\
         def check(towel):\n\
         \x20   if not towel:\n\
         \x20       raise ValueError('no towel')\n\
         \n\
         @flow(name='towel')\n\
         def towel_flow(towel: bool, planet='Earth'):\n\
         \x20   get_run_logger().warning('leaving %s', planet)\n\
         \x20   check(towel)\n\
         \n\
         towel_flow(False)\n",
    )
    .unwrap();

    let out = python_direct(&file, &python_path(home.path()), &server.api_url)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ValueError: no towel"), "re-raised: {err}");

    let runs = all_runs(&client).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let r = &runs[0];
    assert_eq!(r.deployment_id, None);
    assert_eq!(r.state.kind, StateType::Failed, "{:?}", r.state);
    assert_eq!(
        r.state.message.as_deref(),
        Some("the flow raised ValueError: no towel")
    );
    assert_eq!(
        serde_json::to_value(&r.parameters).unwrap(),
        serde_json::json!({"towel": false, "planet": "Earth"})
    );
    let lines = logs(&client, r.id).await;
    assert!(has(&lines, level::WARNING, "leaving Earth"), "{lines:#?}");
    let traceback = lines
        .iter()
        .find(|l| l.message.starts_with("Flow 'towel' failed:"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(traceback.level, level::ERROR);
    assert!(
        traceback
            .message
            .contains("Traceback (most recent call last)")
            && traceback.message.contains("line 6, in check")
            && traceback.message.ends_with("ValueError: no towel"),
        "{}",
        traceback.message
    );
    let tasks = task_runs(&client, r.id).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(
        (tasks[0].name.as_str(), tasks[0].state.kind),
        ("check", StateType::Failed)
    );
}

#[test]
fn a_flow_file_runs_untracked_when_no_server_answers() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = tmp.path().join("hello_flow.py");
    std::fs::write(
        &file,
        format!("{HELLO_FLOW}hello_world('Arthur')\nprint('after the flows')\n"),
    )
    .unwrap();
    let out = python_direct(
        &file,
        &python_path(home.path()),
        &format!("http://127.0.0.1:{port}/api"),
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello world!\nHello Arthur!\nafter the flows\n"
    );
    assert_eq!(err.matches("rigel: ").count(), 1, "one warning: {err}");
    assert!(
        err.contains(&format!(
            "rigel: flow 'hello-world' runs untracked: cannot reach http://127.0.0.1:{port}/api"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_flow_run_directly_heartbeats_so_it_is_not_crashed() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // a Running run without a heartbeat for 1.5 s is crashed by the server
    let server = ServerProcess::start_with(
        home.path(),
        &["--port", "0", "--run-heartbeat-timeout", "1.5"],
    );
    let client = RigelClient::new(&server.api_url);
    let file = tmp.path().join("slow_flow.py");
    std::fs::write(
        &file,
        "import time
from rigel import flow

@flow
def slow():
    time.sleep(4)

slow()
",
    )
    .unwrap();
    let out = python_direct(&file, &python_path(home.path()), &server.api_url)
        .env("RIGEL_ENGINE_HEARTBEAT_SECONDS", "0.3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("rigel:"), "{}", stderr(&out));
    let runs = all_runs(&client).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(
        runs[0].state.kind,
        StateType::Completed,
        "{:?}",
        runs[0].state
    );
}
