//! What a Prefect user types in the first minutes, against a real server: `deployment ls FLOW`,
//! `flow ls|inspect`, `flow-run ls` past its first page and by state name, `deployment run` when
//! nothing would take the run, and `RIGEL_API_URL` without `/api`. (A sibling of `cli.rs`,
//! which is long enough.)

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rigel_common::client::RigelClient;
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::state::{SetState, StateCreate, StateType};
use serde_json::Value;
use support::{AgentProcess, ServerProcess};
use uuid::Uuid;

struct Cli {
    server: ServerProcess,
    home: tempfile::TempDir,
}

impl Cli {
    fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(home.path());
        Self { server, home }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(support::rigel_bin());
        c.env("RIGEL_API_URL", &self.server.api_url)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Stdout and stderr of a command that must succeed.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "rigel {args:?} failed ({:?}):\n{stderr}",
            out.status.code()
        );
        (String::from_utf8(out.stdout).unwrap(), stderr)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        serde_json::from_str(&self.ok(&full).0).unwrap()
    }

    /// Exit code and stderr of a command expected to fail.
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Writes a script flow `flow` that prints a line, and a spec of deployment `name` of it
    /// with these tags; creates it.
    fn deploy(&self, flow: &str, name: &str, tags: &[&str]) {
        let dir = self.home.path().join("specs");
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join(format!("{flow}.sh"));
        std::fs::write(
            &script,
            format!("#!/bin/sh\n# /// rigel\n# name = \"{flow}\"\n# ///\necho hi\n"),
        )
        .unwrap();
        let spec = dir.join(format!("{flow}-{name}.yaml"));
        std::fs::write(
            &spec,
            format!(
                "name: {name}\nflow_location: {}\ntags: [{}]\n",
                script.display(),
                tags.join(", ")
            ),
        )
        .unwrap();
        self.ok(&["deployment", "create", &spec.display().to_string()]);
    }

    fn client(&self) -> RigelClient {
        RigelClient::new(&self.server.api_url)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs of deployment `name` (`flow/deployment`), `n` of them, an hour from now.
fn create_runs(client: &RigelClient, name: &str, n: usize) -> Vec<Uuid> {
    block_on(async {
        let (flow, dep) = name.split_once('/').unwrap();
        let d = client.read_deployment_by_name(flow, dep).await.unwrap();
        let body = DeploymentRunCreate {
            scheduled_start_time: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            ..Default::default()
        };
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(
                client
                    .create_deployment_run(d.id, &body)
                    .await
                    .unwrap()
                    .0
                    .id,
            );
        }
        ids
    })
}

fn force_state(client: &RigelClient, run: Uuid, state: StateCreate) {
    let body = SetState {
        state,
        force: true,
        claim_token: None,
        transition_id: None,
    };
    block_on(client.set_flow_run_state(run, &body)).unwrap();
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn deployments_of_a_flow_and_the_flows_themselves() {
    let cli = Cli::start();
    cli.deploy("etl", "nightly", &["prod"]);
    cli.deploy("etl", "hourly", &[]);
    cli.deploy("report", "weekly", &[]);

    // a positional flow name, as in Prefect, alongside --flow-name
    let of_etl = cli.json(&["deployment", "ls", "etl"]);
    let names: Vec<&str> = of_etl
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hourly", "nightly"], "{of_etl}");
    let (table, _) = cli.ok(&["deployment", "ls", "report"]);
    assert!(
        table.contains("report/weekly") && !table.contains("etl/"),
        "{table}"
    );

    let (_, err) = cli.ok(&["deployment", "ls", "nope"]);
    assert!(err.contains("No deployments match"), "{err}");

    let (table, _) = cli.ok(&["flow", "ls"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("DEPLOYMENTS"));
    let etl_row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(etl_row[0], "etl", "{table}");
    assert_eq!(etl_row[1], "2", "two deployments: {table}");
    let report_row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((report_row[0], report_row[1]), ("report", "1"), "{table}");
    let flows = cli.json(&["flow", "ls"]);
    assert_eq!(flows.as_array().unwrap().len(), 2, "{flows}");
    let etl_id = flows[0]["id"].as_str().unwrap().to_string();

    let by_name = cli.json(&["flow", "inspect", "etl"]);
    assert_eq!(by_name["id"], etl_id.as_str());
    assert_eq!(
        by_name["deployments"],
        serde_json::json!(["hourly", "nightly"])
    );
    let (yaml, _) = cli.ok(&["flow", "inspect", &etl_id]);
    assert!(yaml.contains("name: etl"), "{yaml}");

    let (code, err) = cli.fails(&["flow", "inspect", "nope"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no flow 'nope'") && err.contains("rigel flow ls"),
        "{err}"
    );
    let (code, err) = cli.fails(&["flow", "inspect", &Uuid::now_v7().to_string()]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn flow_run_ls_says_what_it_left_out_and_reads_every_page() {
    let cli = Cli::start();
    cli.deploy("etl", "nightly", &[]);
    create_runs(&cli.client(), "etl/nightly", 260);

    let (table, err) = cli.ok(&["flow-run", "ls"]);
    assert_eq!(table.lines().count(), 1 + 50, "header and 50 runs");
    assert!(err.contains("… 210 more; use --limit N or --all"), "{err}");
    // more than one page of the API (200)
    let some = cli.run(&["-o", "json", "flow-run", "ls", "--limit", "230"]);
    let listed: Value = serde_json::from_slice(&some.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 230);
    let mut unique = ids(&listed);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 230, "pages don't overlap");
    assert!(String::from_utf8_lossy(&some.stderr).contains("… 30 more"));

    let all = cli.run(&["-o", "json", "flow-run", "ls", "--all"]);
    let listed: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 260);
    assert!(
        !String::from_utf8_lossy(&all.stderr).contains("more"),
        "nothing left out"
    );
    let (_, err) = cli.ok(&["flow-run", "ls", "--limit", "260"]);
    assert!(!err.contains("more"), "exactly all: {err}");

    let (code, err) = cli.fails(&["flow-run", "ls", "--limit", "0"]);
    assert_eq!(code, 5, "{err}");
    let (code, err) = cli.fails(&["flow-run", "ls", "--limit", "5", "--all"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn flow_run_ls_by_state_name_flow_and_deployment() {
    let cli = Cli::start();
    cli.deploy("etl", "nightly", &[]);
    cli.deploy("report", "weekly", &[]);
    let client = cli.client();
    let etl = create_runs(&client, "etl/nightly", 3);
    let report = create_runs(&client, "report/weekly", 2);
    // Late is a Scheduled run's name; the late-runs service would give it after 15 s
    force_state(
        &client,
        etl[0],
        StateCreate::new(StateType::Scheduled).named("Late"),
    );
    force_state(&client, report[0], StateCreate::new(StateType::Failed));

    for word in ["late", "Late", "LATE"] {
        let late = cli.json(&["flow-run", "ls", "--state", word]);
        assert_eq!(ids(&late), [etl[0].to_string()], "--state {word}");
    }
    // a name and a type together: either
    let mut either = ids(&cli.json(&["flow-run", "ls", "--state", "late", "--state", "failed"]));
    either.sort();
    let mut want = vec![etl[0].to_string(), report[0].to_string()];
    want.sort();
    assert_eq!(either, want);
    // the type still takes every name it has
    let scheduled = cli.json(&["flow-run", "ls", "--state", "scheduled"]);
    assert_eq!(scheduled.as_array().unwrap().len(), 4, "{scheduled}");
    let (code, err) = cli.fails(&["flow-run", "ls", "--state", "lat"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown state 'lat'") && err.contains("late"),
        "{err}"
    );

    let of_flow = cli.json(&["flow-run", "ls", "--flow", "report"]);
    let mut got = ids(&of_flow);
    got.sort();
    let mut want: Vec<String> = report.iter().map(Uuid::to_string).collect();
    want.sort();
    assert_eq!(got, want);
    let of_dep = cli.json(&[
        "flow-run",
        "ls",
        "--deployment",
        "etl/nightly",
        "--state",
        "late",
    ]);
    assert_eq!(ids(&of_dep), [etl[0].to_string()]);
    let (code, err) = cli.fails(&["flow-run", "ls", "--flow", "nope"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("rigel flow ls"), "{err}");
}

/// Reads lines until one contains `want`; panics after `secs` seconds.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, want: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if line.contains(want) {
                return line;
            }
            seen.push(line);
        }
    }
    panic!("no line with {want:?} within {secs}s; saw {seen:#?}");
}

#[test]
fn deployment_run_warns_when_nothing_would_take_the_run_and_watch_says_what_it_waits_for() {
    let cli = Cli::start();
    cli.deploy("etl", "nightly", &["prod"]);

    let (_, err) = cli.ok(&["deployment", "run", "etl/nightly"]);
    assert!(
        err.contains("warning: no work queue offers this run (tags prod)"),
        "{err}"
    );
    // a queue whose filter doesn't match changes nothing
    cli.ok(&["work-queue", "create", "dev", "-t", "dev"]);
    let (_, err) = cli.ok(&["deployment", "run", "etl/nightly"]);
    assert!(err.contains("no work queue offers this run"), "{err}");

    cli.ok(&["work-queue", "create", "prod", "-t", "prod"]);
    let (stdout, err) = cli.ok(&["deployment", "run", "etl/nightly"]);
    assert!(!stdout.contains("warning"), "warnings go to stderr");
    assert!(
        err.contains("warning: no agent has polled the work queue 'prod' that offers this run")
            && err.contains("rigel agent start prod"),
        "{err}"
    );
    cli.ok(&["work-queue", "pause", "prod"]);
    let (_, err) = cli.ok(&["deployment", "run", "etl/nightly"]);
    assert!(
        err.contains("the work queue 'prod' that offers this run is paused"),
        "{err}"
    );
    cli.ok(&["work-queue", "resume", "prod"]);

    // --watch says what it waits for, then follows the run once an agent comes
    let mut watch = cli
        .cmd()
        .args(["deployment", "run", "etl/nightly", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = watch.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_for_line(
        &lines,
        "Waiting for an agent on queue prod to pick the run up (no agent is polling it now)…",
        30,
    );
    let _agent = AgentProcess::start(&cli.server, "prod", &[]);
    wait_for_line(&lines, "Completed", 60);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "--watch did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    // with an agent polling the queue, a run gets no warning
    let (_, err) = cli.ok(&["deployment", "run", "etl/nightly"]);
    assert!(!err.contains("warning"), "{err}");
}

/// `RIGEL_API_URL` as the server's address alone (`http://host:port`) works for the CLI and for
/// an agent and the engines it starts; a path that isn't the API's says to add `/api`.
#[test]
fn an_api_url_without_api_works_and_a_wrong_path_says_so() {
    let cli = Cli::start();
    cli.deploy("etl", "nightly", &[]);
    let bare = cli.server.api_url.trim_end_matches("/api").to_string();
    assert_ne!(bare, cli.server.api_url);
    for url in [bare.clone(), format!("{bare}/")] {
        let out = cli
            .cmd()
            .env("RIGEL_API_URL", &url)
            .args(["-o", "json", "deployment", "ls"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(list[0]["name"], "nightly");
    }

    let out = cli
        .cmd()
        .env("RIGEL_API_URL", format!("{bare}/rigel"))
        .args(["deployment", "ls"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "not a Rigel API: {err}");
    assert!(
        err.contains("Rigel's API is served under /api")
            && err.contains(&format!("{bare}/rigel/api")),
        "{err}"
    );

    // an agent (and the engine processes it starts) given the bare address runs a flow
    let _agent = AgentProcess {
        child: AgentProcess::command(&cli.server, "default", &["--heartbeat-seconds", "1"])
            .env("RIGEL_API_URL", &bare)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let (run, _) = cli.ok(&["deployment", "run", "etl/nightly"]);
    let id = run.trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = cli.json(&["flow-run", "inspect", &id])["state"]["type"].clone();
        if state == "COMPLETED" {
            break;
        }
        assert!(
            Instant::now() < deadline && !matches!(state.as_str(), Some("FAILED" | "CRASHED")),
            "run ended {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
