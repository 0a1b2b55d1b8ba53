//! End to end: `rigel flow-run logs --follow` and `rigel deployment run --watch` against a real
//! server, while the test plays the engine through the API (states and logs).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rigel_common::client::RigelClient;
use rigel_common::deployment::DeploymentCreate;
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::log::LogCreate;
use rigel_common::state::{SetState, SetStateStatus, StateCreate, StateType};
use support::ServerProcess;
use uuid::Uuid;

/// Within this, a change must show up: well under the commands' 5 s safety poll, so only the
/// event stream can make it.
const LIVE: Duration = Duration::from_millis(2500);

/// A running `rigel` command whose stdout and stderr lines are read as they come.
struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    fn start(api_url: &str, args: &[&str]) -> Self {
        let mut child = Command::new(support::rigel_bin())
            .args(args)
            .env("RIGEL_API_URL", api_url)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `text`; returns it.
    fn stdout_line(&mut self, text: &str, within: Duration) -> String {
        wait_line(&self.stdout, &mut self.seen_out, text, within)
    }

    fn stderr_line(&mut self, text: &str, within: Duration) -> String {
        wait_line(&self.stderr, &mut self.seen_err, text, within)
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit; returns the code and every line printed.
    fn finish(mut self, within: Duration) -> (i32, Vec<String>, Vec<String>) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the command did not exit; stdout {:?}, stderr {:?}",
                    self.seen_out, self.seen_err
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // the reader threads end with the pipes
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            self.seen_out.push(l);
        }
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.seen_err.push(l);
        }
        (
            status.code().unwrap_or(-1),
            std::mem::take(&mut self.seen_out),
            std::mem::take(&mut self.seen_err),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_line(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    text: &str,
    within: Duration,
) -> String {
    if let Some(l) = seen.iter().find(|l| l.contains(text)) {
        return l.clone();
    }
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if l.contains(text) {
                    return l;
                }
            }
            Err(_) => panic!("no line with {text:?} within {within:?}; saw {seen:#?}"),
        }
    }
}

/// The engine's side of a run, through the API.
struct Engine {
    client: RigelClient,
    run: Uuid,
    token: Option<Uuid>,
}

impl Engine {
    async fn state(&mut self, kind: StateType) {
        let body = SetState {
            state: StateCreate::new(kind),
            force: false,
            claim_token: self.token,
            transition_id: None,
        };
        let r = self
            .client
            .set_flow_run_state(self.run, &body)
            .await
            .unwrap();
        assert_eq!(r.status, SetStateStatus::Accept, "{r:?}");
        if kind == StateType::Pending {
            self.token = r.details.claim_token;
        }
    }

    async fn log(&self, message: &str) {
        self.client
            .create_logs(&[LogCreate {
                flow_run_id: self.run,
                task_run_id: None,
                level: 20,
                timestamp: chrono::Utc::now(),
                message: message.to_string(),
            }])
            .await
            .unwrap();
    }
}

async fn deployment(client: &RigelClient, name: &str) -> Uuid {
    let spec: DeploymentCreate = serde_json::from_value(serde_json::json!({
        "name": name,
        "flow_name": "events",
        "flow_data": {"encoding": "text", "blob": "echo hi"},
    }))
    .unwrap();
    client.create_deployment(&spec).await.unwrap().0.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_prints_records_as_they_arrive_until_the_run_ends() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let d = deployment(&client, "follow-me").await;
    let (run, _) = client
        .create_deployment_run(d, &DeploymentRunCreate::default())
        .await
        .unwrap();
    let mut engine = Engine {
        client: client.clone(),
        run: run.id,
        token: None,
    };
    engine.log("written before following").await;

    let run_id = run.id.to_string();
    let mut follow = Running::start(&server.api_url, &["flow-run", "logs", &run_id, "--follow"]);
    follow.stdout_line("written before following", Duration::from_secs(15));
    engine.state(StateType::Pending).await;
    engine.state(StateType::Running).await;
    for i in 0..3 {
        let message = format!("live line {i}");
        let posted = Instant::now();
        engine.log(&message).await;
        let line = follow.stdout_line(&message, LIVE);
        assert!(line.contains("INFO"), "{line}");
        assert!(posted.elapsed() < LIVE);
        assert!(follow.still_running(), "it follows until the run ends");
    }
    engine.log("last words").await;
    engine.state(StateType::Completed).await;
    let ended = Instant::now();
    let (code, out, err) = follow.finish(Duration::from_secs(10));
    assert!(
        ended.elapsed() < LIVE,
        "exits on the Completed event, not a poll"
    );
    assert_eq!(code, 0, "stderr: {err:?}");
    let messages: Vec<&str> = out
        .iter()
        .filter_map(|l| l.split("INFO     ").nth(1))
        .collect();
    assert_eq!(
        messages,
        [
            "written before following",
            "live line 0",
            "live line 1",
            "live line 2",
            "last words"
        ],
        "each record once, in order"
    );
    assert!(err.iter().any(|l| l.contains("is Completed")), "{err:?}");

    // a finished run: prints what there is and exits at once
    let (code, out, _) = Running::start(
        &server.api_url,
        &["-o", "json", "flow-run", "logs", &run_id, "--follow"],
    )
    .finish(Duration::from_secs(10));
    assert_eq!(code, 0);
    assert_eq!(out.len(), 5, "{out:?}");
    let first: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(first["message"], "written before following");
}

/// Starts `deployment run --watch`, reads the new run's id, and waits until the watch is live.
async fn start_watch(server: &ServerProcess, name: &str) -> (Running, Engine) {
    let client = RigelClient::new(&server.api_url);
    deployment(&client, name).await;
    let mut watch = Running::start(
        &server.api_url,
        &["deployment", "run", &format!("events/{name}"), "--watch"],
    );
    let id = watch.stdout_line("-", Duration::from_secs(15));
    let run: Uuid = id.trim().parse().unwrap();
    // the first state is printed from the history once the subscription is live
    watch.stderr_line("Scheduled", Duration::from_secs(10));
    let engine = Engine {
        client,
        run,
        token: None,
    };
    (watch, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_each_state_as_it_happens_and_exits_0_on_completed() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let (mut watch, mut engine) = start_watch(&server, "watch-ok").await;
    for (kind, word) in [
        (StateType::Pending, "Pending"),
        (StateType::Running, "Running"),
    ] {
        engine.state(kind).await;
        watch.stderr_line(word, LIVE);
        assert!(watch.still_running());
    }
    engine.state(StateType::Completed).await;
    let ended = Instant::now();
    let (code, _, err) = watch.finish(Duration::from_secs(10));
    assert!(ended.elapsed() < LIVE, "exits on the event, not a poll");
    assert_eq!(code, 0, "{err:?}");
    let states: Vec<&str> = err.iter().filter_map(|l| l.split(" UTC ").nth(1)).collect();
    assert_eq!(states, ["Scheduled", "Pending", "Running", "Completed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_1_when_the_run_does_not_complete() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let (mut watch, mut engine) = start_watch(&server, "watch-fail").await;
    engine.state(StateType::Pending).await;
    engine.state(StateType::Running).await;
    watch.stderr_line("Running", LIVE);
    engine.state(StateType::Failed).await;
    let (code, _, err) = watch.finish(Duration::from_secs(10));
    assert_eq!(code, 1, "{err:?}");
    assert!(err.iter().any(|l| l.ends_with(" UTC Failed")), "{err:?}");
    assert!(err.iter().any(|l| l.contains("ended Failed")), "{err:?}");
}
