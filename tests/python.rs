//! End to end: Python `@flow` files and Python deployment files (the seed's examples, in
//! `examples/python/`) are created with `rigel deployment create` and run through a real agent,
//! with only `python3` installed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use rigel_common::client::RigelClient;
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::{DeploymentRunCreate, FlowRun, FlowRunFilter};
use rigel_common::log::{level, Log, LogCriteria, LogFilter};
use rigel_common::state::StateType;
use rigel_common::task_run::{TaskRun, TaskRunFilter};
use support::{eventually, AgentProcess, ServerProcess};
use uuid::Uuid;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("python")
        .join(name)
}

/// `rigel deployment create FILE… [extra]` with `TMPDIR` private to the test.
fn create(api_url: &str, tmp: &Path, files: &[&Path], extra: &[&str]) -> Output {
    std::process::Command::new(support::rigel_bin())
        .args(["deployment", "create"])
        .args(files)
        .args(extra)
        .env("RIGEL_API_URL", api_url)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn run(client: &RigelClient, flow: &str, name: &str, params: serde_json::Value) -> FlowRun {
    let d = client.read_deployment_by_name(flow, name).await.unwrap();
    let body = DeploymentRunCreate {
        parameters: serde_json::from_value(params).unwrap(),
        ..Default::default()
    };
    client.create_deployment_run(d.id, &body).await.unwrap().0
}

async fn finished(client: &RigelClient, id: Uuid) -> FlowRun {
    eventually(60, "the run to finish", || async {
        let r = client.read_flow_run(id).await.ok()?;
        r.state.kind.is_terminal().then_some(r)
    })
    .await
}

async fn logs(client: &RigelClient, id: Uuid) -> Vec<Log> {
    let filter = LogFilter {
        logs: LogCriteria {
            flow_run_id: Some(AnyFilter::new([id])),
            ..Default::default()
        },
        ..Default::default()
    };
    client.filter_logs(&filter).await.unwrap()
}

fn has(logs: &[Log], lvl: u8, text: &str) -> bool {
    logs.iter().any(|l| l.level == lvl && l.message == text)
}

/// The run went Scheduled → Pending → Running → Completed, each once.
async fn assert_ran_once(client: &RigelClient, id: Uuid) {
    let states: Vec<StateType> = client
        .flow_run_states(id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        states,
        [
            StateType::Scheduled,
            StateType::Pending,
            StateType::Running,
            StateType::Completed
        ]
    );
}

async fn task_runs(client: &RigelClient, id: Uuid) -> Vec<TaskRun> {
    client
        .filter_task_runs(&TaskRunFilter {
            flow_run_id: id,
            limit: 200,
            offset: 0,
        })
        .await
        .unwrap()
}

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

    // what the specs said
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

    let _agent = AgentProcess::start(&server, "default", &[]);

    // the single-file deployment: its DeploymentSpec line is harmless at run time
    let r = run(&client, "hello-world", "hello-world", serde_json::json!({})).await;
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    assert!(has(&lines, level::INFO, "Hello world!"), "{lines:#?}");
    assert_ran_once(&client, r.id).await;

    // deployment parameters, and a run's own over them; the __main__ block never runs
    let r = run(
        &client,
        "hello-world",
        "hello-trillian",
        serde_json::json!({}),
    )
    .await;
    let r2 = run(
        &client,
        "hello-world",
        "hello-marvin",
        serde_json::json!({"name": "Ford"}),
    )
    .await;
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    assert!(has(&lines, level::INFO, "Hello Trillian!"), "{lines:#?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.message.starts_with("Hello"))
            .count(),
        1,
        "{lines:#?}"
    );
    let done = finished(&client, r2.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    assert!(has(&logs(&client, r2.id).await, level::INFO, "Hello Ford!"));

    // the subprocess runner's env reaches the flow
    let r = run(
        &client,
        "hello-env",
        "hello-subprocess",
        serde_json::json!({}),
    )
    .await;
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
    assert!(has(&lines, level::INFO, "Howdy world!"), "{lines:#?}");

    // get_run_logger(): each record with its level; DEBUG is below the default level
    let r = run(
        &client,
        "hello-storage",
        "storage instance test",
        serde_json::json!({}),
    )
    .await;
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let lines = logs(&client, r.id).await;
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

const TASKS: &str = r#"
import time
from prefect import flow, task, get_run_logger

calls = {"flaky": 0}

@task(retries=2, retry_delay_seconds=0.1)
def flaky():
    calls["flaky"] += 1
    get_run_logger().info("flaky attempt %d", calls["flaky"])
    if calls["flaky"] < 2:
        raise ConnectionError("not yet")
    return 21

@task(retries=1, retry_delay_seconds=0)
def boom(x):
    raise ValueError("boom %d" % x)

@task
def sleepy():
    time.sleep(60)

@flow(name="tasks")
def with_tasks(explode: bool = False, count: int = 1):
    logger = get_run_logger()
    value = flaky() * 2
    logger.error("value is %d", value)
    if explode:
        boom(value)

@flow(name="sleeper")
def sleeper():
    print("sleeping")
    sleepy()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_task_runs_with_retries_and_failures_keep_their_traceback() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let flows = tmp.path().join("tasks_flow.py");
    std::fs::write(&flows, TASKS).unwrap();
    let spec = tmp.path().join("deploy.py");
    std::fs::write(
        &spec,
        "from prefect.deployments import DeploymentSpec\n\
         DeploymentSpec(name='t', flow_location='tasks_flow.py', flow_name='tasks')\n\
         DeploymentSpec(name='s', flow_location='tasks_flow.py', flow_name='sleeper')\n",
    )
    .unwrap();
    let out = create(&server.api_url, tmp.path(), &[&spec], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _agent = AgentProcess::start(&server, "default", &[]);

    // a task that fails once, then succeeds: one task run, two attempts
    let r = run(&client, "tasks", "t", serde_json::json!({})).await;
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
    let tasks = task_runs(&client, r.id).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(
        (
            tasks[0].name.as_str(),
            tasks[0].state.kind,
            tasks[0].run_count
        ),
        ("flaky", StateType::Completed, 2)
    );
    let lines = logs(&client, r.id).await;
    assert!(has(&lines, level::ERROR, "value is 42"), "{lines:#?}");
    let retry = lines
        .iter()
        .find(|l| {
            l.message
                .starts_with("Task run 'flaky' failed (ConnectionError: not yet)")
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(
        (retry.level, retry.task_run_id),
        (level::WARNING, Some(tasks[0].id))
    );
    let attempt = lines
        .iter()
        .find(|l| l.message == "flaky attempt 2")
        .unwrap();
    assert_eq!(
        attempt.task_run_id,
        Some(tasks[0].id),
        "tagged with its task run"
    );

    // a task that keeps failing fails the flow, with the traceback in the logs
    let r = run(&client, "tasks", "t", serde_json::json!({"explode": true})).await;
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Failed, "{:?}", done.state);
    assert_eq!(
        done.state.message.as_deref(),
        Some("the flow raised ValueError: boom 42")
    );
    let tasks = task_runs(&client, r.id).await;
    let boom = tasks.iter().find(|t| t.name == "boom").unwrap();
    assert_eq!((boom.state.kind, boom.run_count), (StateType::Failed, 2));
    assert_eq!(
        boom.state.message.as_deref(),
        Some("task 'boom' failed: ValueError: boom 42 (after 2 attempts)")
    );
    let lines = logs(&client, r.id).await;
    let traceback = lines
        .iter()
        .find(|l| l.message.starts_with("Flow 'tasks' failed:"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(traceback.level, level::ERROR);
    assert!(
        traceback
            .message
            .contains("Traceback (most recent call last)")
            && traceback
                .message
                .contains("tasks_flow.py\", line 17, in boom")
            && traceback.message.ends_with("ValueError: boom 42"),
        "{}",
        traceback.message
    );
    assert!(
        !traceback.message.contains("rigel-python"),
        "Rigel's own frames are left out: {}",
        traceback.message
    );
    // the engine tracks its runs: the flow's calls under it make no runs of their own
    let all = client
        .filter_flow_runs(&FlowRunFilter::default())
        .await
        .unwrap();
    assert!(all.iter().all(|r| r.deployment_id.is_some()), "{all:#?}");

    // parameters are checked against the signature's types (by the server, before a run
    // exists; the engine and the bootstrap check again)
    let d = client.read_deployment_by_name("tasks", "t").await.unwrap();
    let body = DeploymentRunCreate {
        parameters: serde_json::from_value(serde_json::json!({"count": "many"})).unwrap(),
        ..Default::default()
    };
    let err = client.create_deployment_run(d.id, &body).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("parameters.count: must be an integer"),
        "{err}"
    );

    // cancelling a running Python flow stops its process
    let r = run(&client, "sleeper", "s", serde_json::json!({})).await;
    eventually(30, "the flow to start", || async {
        let lines = logs(&client, r.id).await;
        lines.iter().any(|l| l.message == "sleeping").then_some(())
    })
    .await;
    server.cli_ok(&["flow-run", "cancel", &r.id.to_string()]);
    let done = finished(&client, r.id).await;
    assert_eq!(done.state.kind, StateType::Cancelled, "{:?}", done.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deployment_file_problems_name_the_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let dir = tmp.path();

    // a name outside the supported subset
    let unsupported = dir.join("unsupported.py");
    std::fs::write(
        &unsupported,
        "from prefect.deployments import DeploymentSpec\nfrom prefect.task_runners import DaskTaskRunner\n",
    )
    .unwrap();
    let out = create(&server.api_url, dir, &[&unsupported], &[]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let expected = format!(
        "error: {}:2: not supported by Rigel's Prefect-compatible module: prefect.task_runners",
        unsupported.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // one good spec, one bad, one pointing at a flow file with a syntax error: the good one
    // is created, the others are reported at their lines
    std::fs::write(
        dir.join("hello.py"),
        "from rigel import flow\n\n@flow\ndef hello(name: str = 'world'):\n    print(f'Hello {name}!')\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.py"),
        "from prefect import flow\n\n@flow\ndef broken(:\n    pass\n",
    )
    .unwrap();
    let mixed = dir.join("mixed.py");
    std::fs::write(
        &mixed,
        "import datetime\n\
         from prefect.deployments import DeploymentSpec\n\
         print('running the deployment file')\n\
         DeploymentSpec(name='good', flow_location='hello.py', parameters={'name': 'Zaphod'})\n\
         DeploymentSpec(\n    name='bad',\n    flow_location='hello.py',\n    parameters={'name': object()},\n)\n\
         DeploymentSpec(name='typed', flow_location='hello.py', parameters={'name': 42})\n\
         DeploymentSpec(name='syntax', flow_location='broken.py')\n\
         if __name__ == '__main__':\n    raise SystemExit('the __main__ block must not run')\n",
    )
    .unwrap();
    let out = create(&server.api_url, dir, &[&mixed], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    let m = mixed.display();
    assert!(err.contains("running the deployment file"), "{err}");
    assert!(err.contains("Created deployment 'hello/good'."), "{err}");
    assert!(
        err.contains(&format!(
            "error: {m}:8: parameters.name: a value of type object"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: {m}:10: flow 'hello': parameters.name: must be a string"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: {}:4: Python syntax error",
            dir.join("broken.py").display()
        )),
        "{err}"
    );
    assert!(err.contains("3 deployment(s) failed, 1 succeeded"), "{err}");
    let good = client
        .read_deployment_by_name("hello", "good")
        .await
        .unwrap();
    assert_eq!(good.parameters["name"], "Zaphod");

    // the seed's storage forms are understood (checked with --dry-run: S3 uploads are not
    // available yet, and the block id does not exist)
    let storage = dir.join("storage.py");
    std::fs::write(
        &storage,
        "from prefect import flow, get_run_logger\n\
         from prefect.deployments import DeploymentSpec\n\
         from prefect.blocks.storage import S3StorageBlock\n\
         from prefect.flow_runners import SubprocessFlowRunner\n\
         from prefect.orion.schemas.schedules import CronSchedule, RRuleSchedule\n\
         @flow\n\
         def hello_storage():\n    get_run_logger().info('Uses a storage block on the flow runner!')\n\
         DeploymentSpec(flow=hello_storage, name='storage instance test',\n    \
             flow_storage=S3StorageBlock(bucket='my-bucket', aws_access_key_id='AKIA', aws_secret_access_key='secret'),\n    \
             schedule=CronSchedule(cron='0 9 * * 1-5', timezone='Europe/London'))\n\
         DeploymentSpec(flow=hello_storage, name='storage id test', flow_storage='0b7e4bd6-2a7e-4bb5-9b2b-2f5b8e2d9a41',\n    \
             flow_runner=SubprocessFlowRunner(stream_output=True), schedule=RRuleSchedule(rrule='FREQ=DAILY'))\n",
    )
    .unwrap();
    // a dry run reads both specs and refuses what creating them would refuse, at their lines
    let out = create(&server.api_url, dir, &[&storage], &["--dry-run"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("storage.py:10: storage block 'a new s3 block' is an S3 block"),
        "{err}"
    );
    assert!(
        err.contains("storage.py:12: no storage block 0b7e4bd6-2a7e-4bb5-9b2b-2f5b8e2d9a41"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subprocess_runner_chooses_the_interpreter() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    // a virtual environment whose python is this machine's python3
    let real = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    let venv = tmp.path().join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::os::unix::fs::symlink(&real, venv.join("bin/python")).unwrap();
    std::fs::write(
        tmp.path().join("which.py"),
        "import os, shutil, sys\nfrom prefect import flow\n\n@flow\ndef which():\n    \
         print('python:', sys.executable)\n    print('venv:', os.environ.get('VIRTUAL_ENV'))\n",
    )
    .unwrap();
    let spec = tmp.path().join("deploy.py");
    std::fs::write(
        &spec,
        format!(
            "from prefect.deployments import DeploymentSpec\n\
             from prefect.flow_runners import SubprocessFlowRunner\n\
             DeploymentSpec(name='venv', flow_location='which.py', flow_runner=SubprocessFlowRunner(virtualenv={venv:?}))\n\
             DeploymentSpec(name='missing', flow_location='which.py', flow_runner=SubprocessFlowRunner(virtualenv='/no/such/venv'))\n"
        ),
    )
    .unwrap();
    let out = create(&server.api_url, tmp.path(), &[&spec], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // the same with engines in their own processes and inside the agent
    for engine in ["process", "in-agent"] {
        let _agent = AgentProcess::start(&server, "default", &["--engine", engine]);
        let r = run(&client, "which", "venv", serde_json::json!({})).await;
        let done = finished(&client, r.id).await;
        assert_eq!(
            done.state.kind,
            StateType::Completed,
            "{engine}: {:?}",
            done.state
        );
        let lines = logs(&client, r.id).await;
        let python = format!("python: {}", venv.join("bin/python").display());
        assert!(
            lines.iter().any(|l| l.message == python),
            "{engine}: {lines:#?}"
        );
        let marker = format!("venv: {}", venv.display());
        assert!(
            lines.iter().any(|l| l.message == marker),
            "{engine}: {lines:#?}"
        );

        let r = run(&client, "which", "missing", serde_json::json!({})).await;
        let done = finished(&client, r.id).await;
        assert_eq!(done.state.kind, StateType::Failed);
        assert!(
            done.state
                .message
                .unwrap_or_default()
                .contains("virtualenv '/no/such/venv' is not a virtual environment"),
            "{engine}: failed at submission"
        );
    }
}

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
