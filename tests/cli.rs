//! The `rigel` CLI against a real server started by the test, as a user would type it.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::str::contains;
use serde_json::Value;
use support::ServerProcess;

struct Cli {
    server: ServerProcess,
    _home: tempfile::TempDir,
}

impl Cli {
    fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(home.path());
        Self {
            server,
            _home: home,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(support::rigel_bin());
        c.env("RIGEL_API_URL", &self.server.api_url)
            .env("NO_COLOR", "1");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "rigel {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ok(&full)).unwrap()
    }

    fn code(&self, args: &[&str]) -> (i32, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example(name: &str) -> String {
    examples().join(name).display().to_string()
}

#[test]
fn every_example_is_created() {
    let cli = Cli::start();
    let mut specs = Vec::new();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue; // examples/python has its own tests
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // flow files are used by the specs; every other file is a spec
        if name == "hello_world.sh" || name == "hello-flow.yaml" {
            continue;
        }
        specs.push(path);
    }
    assert!(specs.len() >= 7, "{specs:?}");
    for spec in &specs {
        let out = cli
            .cmd()
            .args(["deployment", "create"])
            .arg(spec)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            spec.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = cli.json(&["deployment", "ls"]);
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["flow_name"].as_str().unwrap(),
                d["name"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "hello-world/hello-world-daily",
        "hello-yaml/hello-world-earth",
        "hello-world/hello-trillian",
        "hello-world/hello-arthur",
        "hello-world/hello-marvin",
        "count-files/count-tmp",
        "hello-world/hello-subprocess",
        "hello-world/storage-instance-test",
        "hello-world/hello-json",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    // the seed's daily deployment, as the seed's inspect shows it
    let d = cli.json(&["deployment", "inspect", "hello-world/hello-world-daily"]);
    assert_eq!(d["schedule"]["interval"], 86400.0);
    assert_eq!(d["tags"], serde_json::json!(["earth"]));
    assert_eq!(
        d["flow_runner"],
        serde_json::json!({"type": "universal", "config": {"env": {}}})
    );
    assert_eq!(d["flow_data"]["encoding"], "blockstorage");
    let marvin = cli.json(&["deployment", "inspect", "hello-world/hello-marvin"]);
    assert_eq!(marvin["parameters"]["name"], "Marvin");
    assert_eq!(marvin["schedule"]["interval"], 604800.0);
    let sub = cli.json(&["deployment", "inspect", "hello-world/hello-subprocess"]);
    assert_eq!(
        sub["flow_runner"]["config"]["env"]["GREETING_STYLE"],
        "loud"
    );
    // creating the same file again updates in place
    let again = cli
        .cmd()
        .args(["deployment", "create", &example("hello-daily.yaml")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr)
        .contains("Updated deployment 'hello-world/hello-world-daily'"));
    let d2 = cli.json(&["deployment", "inspect", "hello-world/hello-world-daily"]);
    assert_eq!(d2["id"], d["id"]);
}

#[test]
fn create_ls_inspect_run_cancel_delete() {
    let cli = Cli::start();
    cli.cmd()
        .args(["deployment", "create", &example("three-deployments.yaml")])
        .assert()
        .success()
        .stderr(contains("Created deployment 'hello-world/hello-marvin'."))
        .stderr(contains(
            "rigel deployment inspect 'hello-world/hello-marvin'",
        ));
    let table = cli.ok(&["deployment", "ls", "--tag", "weekly"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("hello-world/hello-marvin") && !table.contains("hello-arthur"),
        "{table}"
    );
    let yaml = cli.ok(&[
        "-o",
        "yaml",
        "deployment",
        "inspect",
        "hello-world/hello-arthur",
    ]);
    assert!(yaml.contains("name: hello-arthur"), "{yaml}");

    let run = cli.json(&[
        "deployment",
        "run",
        "hello-world/hello-trillian",
        "-p",
        "name=Ford",
        "--tag",
        "adhoc",
        "--start-in",
        "1h",
    ]);
    assert_eq!(run["parameters"]["name"], "Ford");
    assert!(run["tags"]
        .as_array()
        .unwrap()
        .contains(&Value::from("adhoc")));
    let id = run["id"].as_str().unwrap().to_string();
    let runs = cli.json(&[
        "flow-run",
        "ls",
        "--deployment",
        "hello-world/hello-trillian",
    ]);
    assert_eq!(runs[0]["id"], id.as_str());
    let table = cli.ok(&["flow-run", "ls", "--state", "scheduled"]);
    assert!(
        table.contains(&id) && table.contains("hello-world/hello-trillian"),
        "{table}"
    );
    let inspected = cli.json(&["flow-run", "inspect", &id]);
    assert_eq!(inspected["state_history"][0]["type"], "SCHEDULED");
    cli.cmd()
        .args(["flow-run", "cancel", &id])
        .assert()
        .success()
        .stderr(contains("Cancelled flow run"));
    assert_eq!(
        cli.json(&["flow-run", "inspect", &id])["state"]["type"],
        "CANCELLED"
    );
    let logs = cli.json(&["flow-run", "logs", &id]);
    assert_eq!(logs, serde_json::json!([]));

    cli.cmd()
        .args(["deployment", "delete", "hello-world/hello-trillian", "-y"])
        .assert()
        .success();
    let (code, err) = cli.code(&["deployment", "inspect", "hello-world/hello-trillian"]);
    assert_eq!(code, 3, "{err}");
    cli.ok(&["flow-run", "delete", &id, "-y"]);
    assert_eq!(cli.code(&["flow-run", "inspect", &id]).0, 3);
}

#[test]
fn schedules_from_the_cli() {
    let cli = Cli::start();
    cli.ok(&["deployment", "create", &example("hello-daily.yaml")]);
    let name = "hello-world/hello-world-daily";
    cli.ok(&[
        "deployment",
        "set-schedule",
        name,
        "--cron",
        "0 9 * * *",
        "--timezone",
        "Europe/London",
    ]);
    let d = cli.json(&["deployment", "inspect", name]);
    assert_eq!(d["schedule"]["cron"], "0 9 * * *");
    let times = cli.json(&["deployment", "preview", name, "-n", "3"]);
    let times = times.as_array().unwrap();
    assert_eq!(times.len(), 3);
    for t in times {
        let t: chrono::DateTime<chrono::Utc> = t.as_str().unwrap().parse().unwrap();
        let local = t.with_timezone(&chrono_tz::Europe::London);
        assert_eq!(local.format("%H:%M").to_string(), "09:00");
    }
    cli.ok(&["deployment", "pause-schedule", name]);
    assert_eq!(
        cli.json(&["deployment", "inspect", name])["is_schedule_active"],
        false
    );
    cli.ok(&["deployment", "resume-schedule", name]);
    assert_eq!(
        cli.json(&["deployment", "inspect", name])["is_schedule_active"],
        true
    );
    let (code, err) = cli.code(&["deployment", "set-schedule", name, "--cron", "61 * * * *"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cron"), "{err}");
    let (code, _) = cli.code(&["deployment", "set-schedule", name]);
    assert_eq!(code, 2, "one of --interval/--cron/--rrule is required");
}

#[test]
fn exit_codes_and_messages() {
    let cli = Cli::start();
    cli.ok(&["deployment", "create", &example("hello-daily.yaml")]);
    let (code, err) = cli.code(&[
        "deployment",
        "run",
        "hello-world/hello-world-daily",
        "-p",
        "nmae=x",
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("nmae") && err.contains("name"),
        "lists the valid names: {err}"
    );
    assert_eq!(cli.code(&["deployment", "inspect", "no/such"]).0, 3);
    assert_eq!(cli.code(&["deployment", "inspect", "justaname"]).0, 5);
    assert_eq!(cli.code(&["deployment", "frobnicate"]).0, 2);
    assert_eq!(cli.code(&["flow-run", "inspect", "not-an-id"]).0, 5);
    let (code, err) = cli.code(&["deployment", "delete", "hello-world/hello-world-daily"]);
    assert_eq!(code, 5, "no terminal and no -y: {err}");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = Command::new(support::rigel_bin())
        .env("RIGEL_API_URL", format!("http://127.0.0.1:{port}/api"))
        .args(["deployment", "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the Rigel server") && err.contains("rigel server start"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn bad_specs_are_reported_with_their_line_and_do_not_stop_the_others() {
    let cli = Cli::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples().join("hello_world.sh"),
        dir.path().join("hello_world.sh"),
    )
    .unwrap();
    let spec = dir.path().join("mixed.yaml");
    std::fs::write(
        &spec,
        "name: good-one\nflow_location: ./hello_world.sh\n---\nname: bad-one\nflow_location: ./hello_world.sh\nschedule:\n  cron: \"every day\"\n---\nname: good-two\nflow_location: ./hello_world.sh\n",
    )
    .unwrap();
    let out = cli
        .cmd()
        .args(["deployment", "create"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mixed.yaml:7")
            || err.contains("mixed.yaml:6")
            || err.contains("mixed.yaml:4"),
        "{err}"
    );
    assert!(err.contains("1 deployment(s) failed, 2 succeeded"), "{err}");
    let names = cli.ok(&["deployment", "ls"]);
    assert!(
        names.contains("good-one") && names.contains("good-two") && !names.contains("bad-one"),
        "{names}"
    );
    // --dry-run validates and creates nothing
    let dry = dir.path().join("dry.yaml");
    std::fs::write(&dry, "name: dry\nflow_location: ./hello_world.sh\n").unwrap();
    cli.cmd()
        .args(["deployment", "create", "--dry-run"])
        .arg(&dry)
        .assert()
        .success();
    assert!(!cli.ok(&["deployment", "ls"]).contains("dry"));
    // a flow file is not a spec
    let (code, err) = cli.code(&["deployment", "create", &example("hello-flow.yaml")]);
    assert_eq!(code, 5, "{err}");
}

#[test]
fn flow_code_modes_and_storage() {
    let cli = Cli::start();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    cli.ok(&[
        "storage",
        "create",
        "local",
        "--name",
        "disk",
        "--path",
        store.to_str().unwrap(),
    ]);
    cli.ok(&["storage", "set-default", "disk"]);
    let blocks = cli.json(&["storage", "ls"]);
    assert_eq!(blocks[0]["is_default"], true);
    cli.ok(&["deployment", "create", &example("hello-daily.yaml")]);
    let written: Vec<_> = std::fs::read_dir(&store).unwrap().collect();
    assert_eq!(
        written.len(),
        1,
        "flow code written under the local block's path"
    );
    // same bytes again: stored once
    cli.ok(&["deployment", "create", &example("three-deployments.yaml")]);
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 1);
    cli.ok(&["storage", "reset-default"]);
    cli.ok(&[
        "deployment",
        "create",
        "--flow-data",
        "text",
        &example("hello-earth.yaml"),
    ]);
    let d = cli.json(&["deployment", "inspect", "hello-yaml/hello-world-earth"]);
    assert_eq!(d["flow_data"]["encoding"], "text");
    assert!(d["flow_data"]["blob"].as_str().unwrap().contains("flows:"));
    cli.ok(&[
        "deployment",
        "create",
        "--flow-data",
        "file",
        &example("hello-earth.yaml"),
    ]);
    let d = cli.json(&["deployment", "inspect", "hello-yaml/hello-world-earth"]);
    assert_eq!(d["flow_data"]["encoding"], "file");
    assert!(d["flow_data"]["blob"]
        .as_str()
        .unwrap()
        .ends_with("hello-flow.yaml"));
    let (code, _) = cli.code(&["storage", "create", "local"]);
    assert_eq!(code, 5, "local needs --path");
}

#[test]
fn work_queues_and_agents() {
    let cli = Cli::start();
    cli.ok(&["deployment", "create", &example("three-deployments.yaml")]);
    cli.ok(&[
        "work-queue",
        "create",
        "prod",
        "-t",
        "daily",
        "--limit",
        "2",
        "-d",
        "hello-world/hello-arthur",
        "-r",
        "universal",
    ]);
    let q = cli.json(&["work-queue", "inspect", "prod"]);
    assert_eq!(q["concurrency_limit"], 2);
    assert_eq!(q["filter"]["tags"], serde_json::json!(["daily"]));
    assert_eq!(q["status"]["status"], "not_ready");
    cli.ok(&["work-queue", "pause", "prod"]);
    assert_eq!(
        cli.json(&["work-queue", "inspect", "prod"])["is_paused"],
        true
    );
    cli.ok(&["work-queue", "resume", "prod"]);
    cli.ok(&["work-queue", "set-concurrency-limit", "prod", "5"]);
    assert_eq!(
        cli.json(&["work-queue", "inspect", "prod"])["concurrency_limit"],
        5
    );
    cli.ok(&["work-queue", "clear-concurrency-limit", "prod"]);
    assert_eq!(
        cli.json(&["work-queue", "inspect", "prod"])["concurrency_limit"],
        Value::Null
    );
    cli.ok(&["deployment", "run", "hello-world/hello-arthur"]);
    cli.ok(&["deployment", "run", "hello-world/hello-marvin"]);
    // due by now only: a wider window would also hold the daily schedule's next run whenever
    // the test runs within that window of midnight
    let preview = cli.json(&["work-queue", "preview", "prod", "--hours", "0"]);
    assert_eq!(
        preview.as_array().unwrap().len(),
        1,
        "only arthur's run matches: {preview}"
    );
    let table = cli.ok(&["work-queue", "ls"]);
    assert!(
        table.contains("prod") && table.contains("not ready"),
        "{table}"
    );
    let (code, _) = cli.code(&["work-queue", "create", "prod"]);
    assert_eq!(code, 5, "duplicate name");
    cli.ok(&["work-queue", "delete", "prod", "-y"]);
    assert_eq!(cli.code(&["work-queue", "inspect", "prod"]).0, 3);
    assert_eq!(cli.json(&["agent", "ls"]), serde_json::json!([]));
    let bash = cli.ok(&["completions", "bash"]);
    assert!(bash.contains("rigel"));
}
