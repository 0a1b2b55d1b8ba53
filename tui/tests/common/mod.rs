//! Fixed data for the TUI's tests and benchmark: every time is relative to [`now`], every id is
//! fixed, so screens render the same on every machine and every day.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use rigel_common::agent::Agent;
use rigel_common::deployment::Deployment;
use rigel_common::flow_run::FlowRun;
use rigel_common::log::Log;
use rigel_common::state::{State, StateType};
use rigel_common::task_run::TaskRun;
use rigel_common::work_queue::{WorkQueue, WorkQueueStatus};
use rigel_tui::app::{App, AppEvent, Root, Settings, View};
use rigel_tui::msg::{Change, Msg, Request, RunDetails};
use rigel_tui::store::{QueueRow, RunRow, Snapshot, Store};
use rigel_tui::ui::theme::Theme;
use serde_json::{json, Value};
use uuid::Uuid;

pub const API_URL: &str = "http://127.0.0.1:4200/api";

/// The tests' "now": 2026-05-01 12:00:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

fn t(offset_secs: i64) -> String {
    (now() + Duration::seconds(offset_secs)).to_rfc3339()
}

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Deployment ids.
pub const DAILY: u128 = 0x100;
pub const MARVIN: u128 = 0x101;
pub const TRILLIAN: u128 = 0x102;
pub const NIGHTLY: u128 = 0x103;
pub const WEEKLY: u128 = 0x104;
pub const EARTH: u128 = 0x105;

/// Queue and agent ids.
pub const Q_DEFAULT: u128 = 0x200;
pub const Q_PROD: u128 = 0x201;
pub const Q_BACKLOG: u128 = 0x202;
pub const AGENT_A: u128 = 0x300;

/// The run the run-view tests open.
pub const FAILED_RUN: u128 = 0x403;

fn deployment(v: Value) -> Deployment {
    let mut base = json!({
        "created": t(-86_400 * 30),
        "updated": t(-86_400),
        "description": null,
        "flow_data": {"encoding": "blockstorage",
                      "blob": "{\"data\": \"3f2a9c\", \"block_id\": \"00000000-0000-0000-0000-000000000900\"}"},
        "schedule": null,
        "is_schedule_active": true,
        "parameters": {},
        "parameter_schema": null,
        "tags": [],
        "flow_runner": {"type": "universal", "config": {"env": {}}},
        "work_queue_name": null,
    });
    if let (Value::Object(b), Value::Object(v)) = (&mut base, v) {
        b.extend(v);
    }
    serde_json::from_value(base).expect("fixture deployment")
}

pub fn deployments() -> Vec<Deployment> {
    let hello_schema = json!({"type": "object", "required": [], "properties": {
        "name": {"type": "string", "default": "world", "description": "Who to greet", "position": 0}}});
    vec![
        deployment(json!({
            "id": id(DAILY), "name": "hello-world-daily", "flow_id": id(0x10), "flow_name": "hello-world",
            "description": "The seed's hello-world, every day",
            "schedule": {"interval": 86400.0, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": null},
            "parameter_schema": hello_schema.clone(), "tags": ["earth"],
        })),
        deployment(json!({
            "id": id(MARVIN), "name": "hello-marvin", "flow_id": id(0x10), "flow_name": "hello-world",
            "schedule": {"interval": 604800.0, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": null},
            "parameters": {"name": "Marvin"}, "parameter_schema": hello_schema.clone(),
            "tags": ["marvin", "weekly"],
        })),
        deployment(json!({
            "id": id(TRILLIAN), "name": "hello-trillian", "flow_id": id(0x10), "flow_name": "hello-world",
            "parameters": {"name": "Trillian"}, "parameter_schema": hello_schema,
            "tags": ["trillian"],
        })),
        deployment(json!({
            "id": id(NIGHTLY), "name": "nightly-load", "flow_id": id(0x11), "flow_name": "etl",
            "schedule": {"cron": "0 2 * * *", "timezone": "Europe/London", "day_or": true},
            "is_schedule_active": false,
            "parameters": {"rows": 1000},
            "parameter_schema": {"type": "object", "required": ["rows"], "properties": {
                "rows": {"type": "integer", "description": "Rows per batch", "position": 0},
                "dry_run": {"type": "boolean", "default": false, "position": 1},
                "mode": {"type": "string", "enum": ["full", "delta"], "default": "delta", "position": 2}}},
            "tags": ["etl", "prod"], "work_queue_name": "prod",
            "flow_runner": {"type": "subprocess", "config": {"env": {"DB": "warehouse"}, "working_dir": "/srv/etl"}},
        })),
        deployment(json!({
            "id": id(WEEKLY), "name": "weekly-summary", "flow_id": id(0x12), "flow_name": "reports",
            "schedule": {"rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8", "timezone": null},
            "tags": ["reports"],
        })),
        deployment(json!({
            "id": id(EARTH), "name": "hello-world-earth", "flow_id": id(0x13), "flow_name": "hello-yaml",
            "schedule": {"interval": 3600.0, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": null},
            "flow_data": {"encoding": "text", "blob": "flows:\n  - name: hello-yaml\n"},
            "tags": ["foo", "bar"],
        })),
    ]
}

/// A state of `kind` named `name`, at `offset` seconds from now.
pub fn state(kind: StateType, name: &str, offset: i64) -> State {
    State {
        kind,
        name: name.to_string(),
        timestamp: now() + Duration::seconds(offset),
        message: None,
        scheduled_time: (kind == StateType::Scheduled).then(|| now() + Duration::seconds(offset)),
        actor: None,
    }
}

pub struct RunSpec {
    pub n: u128,
    pub name: &'static str,
    pub deployment: u128,
    pub kind: StateType,
    pub state_name: &'static str,
    /// Expected start, seconds from now.
    pub at: i64,
    /// Seconds it ran (for started runs).
    pub ran: f64,
}

pub fn flow_run(s: &RunSpec) -> FlowRun {
    let never_ran = matches!(s.kind, StateType::Scheduled | StateType::Pending)
        || (s.kind == StateType::Cancelled && s.ran == 0.0);
    let started = !never_ran;
    let state_at = if started { s.at + s.ran as i64 } else { s.at };
    let mut st = state(s.kind, s.state_name, state_at);
    if s.kind == StateType::Scheduled {
        st.scheduled_time = Some(now() + Duration::seconds(s.at));
    }
    let v = json!({
        "id": id(s.n), "created": t(s.at - 60), "updated": t(state_at),
        "name": s.name, "flow_id": id(0x10), "deployment_id": id(s.deployment),
        "work_queue_id": if started { Some(id(Q_DEFAULT)) } else { None },
        "parameters": {}, "tags": [], "idempotency_key": null, "auto_scheduled": true,
        "flow_runner": null, "state": st, "run_count": if started { 1 } else { 0 },
        "expected_start_time": t(s.at), "next_scheduled_start_time": t(s.at),
        "start_time": if started { Some(t(s.at)) } else { None },
        "end_time": if started && s.kind.is_terminal() { Some(t(s.at + s.ran as i64)) } else { None },
        "total_run_time": s.ran,
        "agent_id": if started { Some(id(AGENT_A)) } else { None },
    });
    serde_json::from_value(v).expect("fixture run")
}

pub fn run_specs() -> Vec<RunSpec> {
    use StateType::*;
    let r = |n, name, deployment, kind, state_name, at, ran| RunSpec {
        n,
        name,
        deployment,
        kind,
        state_name,
        at,
        ran,
    };
    vec![
        r(
            0x400,
            "brave-heron",
            DAILY,
            Completed,
            "Completed",
            -86_400 * 3,
            3.2,
        ),
        r(
            0x401,
            "calm-otter",
            DAILY,
            Completed,
            "Completed",
            -86_400 * 2,
            2.9,
        ),
        r(
            0x402,
            "eager-lynx",
            DAILY,
            Completed,
            "Completed",
            -86_400,
            3.4,
        ),
        r(
            FAILED_RUN,
            "fuzzy-walrus",
            NIGHTLY,
            Failed,
            "Failed",
            -36_000,
            125.0,
        ),
        r(
            0x404,
            "gentle-ibis",
            NIGHTLY,
            Completed,
            "Completed",
            -122_400,
            3_725.0,
        ),
        r(0x405, "happy-vole", EARTH, Running, "Running", -95, 0.0),
        r(0x406, "icy-magpie", EARTH, Crashed, "Crashed", -3_600, 12.0),
        r(
            0x407,
            "jolly-koala",
            EARTH,
            Completed,
            "Completed",
            -7_200,
            1.5,
        ),
        r(
            0x408,
            "keen-marten",
            MARVIN,
            Cancelled,
            "Cancelled",
            -604_800,
            0.0,
        ),
        r(0x409, "lucky-newt", WEEKLY, Scheduled, "Late", -300, 0.0),
        r(
            0x40a,
            "mellow-bison",
            DAILY,
            Scheduled,
            "Scheduled",
            43_200,
            0.0,
        ),
        r(
            0x40b,
            "noble-quail",
            EARTH,
            Scheduled,
            "Scheduled",
            1_800,
            0.0,
        ),
        r(0x40c, "proud-raven", TRILLIAN, Pending, "Pending", -20, 0.0),
    ]
}

pub fn runs() -> Vec<FlowRun> {
    run_specs().iter().map(flow_run).collect()
}

pub fn queues() -> Vec<QueueRow> {
    let q = |n: u128,
             name: &str,
             paused: bool,
             limit: Option<u32>,
             polled: Option<i64>,
             tags: &[&str]| {
        let v = json!({
            "id": id(n), "created": t(-86_400 * 30), "updated": t(-86_400), "name": name,
            "description": null, "is_paused": paused, "concurrency_limit": limit,
            "filter": {"tags": tags, "deployment_ids": null, "flow_runner_types": null},
            "last_polled": polled.map(t),
        });
        serde_json::from_value::<WorkQueue>(v).expect("fixture queue")
    };
    let status = |v: Value| serde_json::from_value::<WorkQueueStatus>(v).expect("fixture status");
    vec![
        QueueRow {
            queue: q(Q_BACKLOG, "backlog", false, None, Some(-3_600), &[]),
            status: Some(status(json!({"status": "not_ready", "late_runs": 2,
                "last_polled": t(-3_600), "active_runs": 0, "concurrency_limit": null}))),
        },
        QueueRow {
            queue: q(Q_DEFAULT, "default", false, None, Some(-3), &[]),
            status: Some(status(json!({"status": "ready", "late_runs": 0,
                "last_polled": t(-3), "active_runs": 1, "concurrency_limit": null}))),
        },
        QueueRow {
            queue: q(Q_PROD, "prod", true, Some(2), Some(-40), &["prod"]),
            status: Some(status(json!({"status": "paused", "late_runs": 0,
                "last_polled": t(-40), "active_runs": 0, "concurrency_limit": 2}))),
        },
    ]
}

pub fn agents() -> Vec<Agent> {
    let a = |n: u128, name: &str, queue: &str, status: &str, beat: i64, running: Vec<Uuid>| {
        let v = json!({
            "id": id(n), "name": name, "work_queue_id": id(Q_DEFAULT), "work_queue_name": queue,
            "hostname": "worker-1", "pid": 4242, "version": "0.1.0", "started": t(-86_400),
            "last_heartbeat": t(beat), "status": status, "heartbeat_age_seconds": -beat as f64,
            "runs_in_flight": running,
        });
        serde_json::from_value::<Agent>(v).expect("fixture agent")
    };
    vec![
        a(AGENT_A, "agent-a", "default", "online", -2, vec![id(0x405)]),
        a(0x301, "agent-b", "prod", "stale", -75, vec![]),
        a(0x302, "agent-c", "backlog", "offline", -7_200, vec![]),
    ]
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        deployments: deployments().into_iter().map(Into::into).collect(),
        runs: runs().iter().map(RunRow::from).collect(),
        queues: queues(),
        agents: agents(),
        run_total: 1_234,
        fetched_at: now() - Duration::seconds(2),
    }
}

pub fn store() -> Store {
    Store::build(snapshot(), now())
}

/// An app at `size` with the fixed data loaded.
pub fn app(size: (u16, u16), readonly: bool) -> App {
    let mut app = App::new(Settings {
        api_url: API_URL.to_string(),
        readonly,
        theme: Theme { color: false },
        size,
        now: now(),
    });
    app.set_store(store());
    app
}

/// The details and logs of the failed run, as the follower would send them.
pub fn failed_run_details() -> (Msg, Msg) {
    let run = flow_run(&run_specs()[3]);
    let mut history = vec![
        state(StateType::Scheduled, "Scheduled", -36_000),
        state(StateType::Pending, "Pending", -35_999),
        state(StateType::Running, "Running", -35_998),
    ];
    let mut failed = state(StateType::Failed, "Failed", -35_875);
    failed.message = Some("task 'load' exited with status 1".into());
    history.push(failed);
    let task = |n: u128, name: &str, kind: StateType, ran: f64| -> TaskRun {
        serde_json::from_value(json!({
            "id": id(n), "created": t(-35_998), "updated": t(-35_875), "flow_run_id": id(FAILED_RUN),
            "name": name, "state": state(kind, kind.default_name(), -35_875), "run_count": 1,
            "start_time": t(-35_998), "end_time": t(-35_875), "total_run_time": ran,
        }))
        .expect("fixture task run")
    };
    let tasks = vec![
        task(0x500, "extract", StateType::Completed, 40.0),
        task(0x501, "transform", StateType::Completed, 80.0),
        task(0x502, "load", StateType::Failed, 4.5),
    ];
    let details = Msg::RunDetails(Box::new(RunDetails {
        run,
        states: history,
        tasks,
    }));
    let lines = [
        (20, "Starting extract"),
        (20, "extract: read 1000 rows from warehouse"),
        (20, "Starting transform"),
        (30, "transform: 3 rows had no customer id"),
        (20, "transform: wrote 997 rows"),
        (20, "Starting load"),
        (
            40,
            "load: connection refused (warehouse:5432)\nTraceback: retry budget exhausted",
        ),
        (20, "Task 'load' failed"),
        (40, "Flow run failed: task 'load' exited with status 1"),
    ];
    let logs: Vec<Log> = lines
        .iter()
        .enumerate()
        .map(|(i, (level, message))| Log {
            id: i as i64 + 1,
            flow_run_id: id(FAILED_RUN),
            task_run_id: None,
            level: *level,
            timestamp: now() - Duration::seconds(35_990 - i as i64 * 13),
            message: message.to_string(),
        })
        .collect();
    let logs = Msg::Logs {
        run_id: id(FAILED_RUN),
        logs,
        reset: true,
    };
    (details, logs)
}

pub fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> AppEvent {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Types each character of `text`.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(ch(c));
    }
}

/// The screen as text.
pub fn render(app: &App) -> String {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal
        .draw(|f| rigel_tui::ui::draw(app, f))
        .expect("draw");
    terminal.backend().to_string()
}

// ---- helpers for the behaviour tests

pub fn selected_name(app: &App) -> String {
    let id = app.deployments.selected(&app.store).expect("a selection");
    app.store
        .deployment(id)
        .expect("exists")
        .1
        .full_name
        .clone()
}

pub fn performed(app: &mut App) -> Vec<Change> {
    app.take_requests()
        .into_iter()
        .filter_map(|r| match r {
            Request::Perform(c) => Some(c),
            _ => None,
        })
        .collect()
}

pub fn top(app: &App) -> &'static str {
    match app.stack.last() {
        Some(View::Root(Root::Deployments)) => "deployments",
        Some(View::Root(Root::Runs)) => "runs",
        Some(View::Root(Root::Queues)) => "queues",
        Some(View::Root(Root::Agents)) => "agents",
        Some(View::Deployment(_)) => "deployment",
        Some(View::Run(_)) => "run",
        Some(View::CustomRun(_)) => "custom run",
        None => "none",
    }
}

pub fn flash(app: &App) -> String {
    app.current_flash()
        .map(|f| f.text.clone())
        .unwrap_or_default()
}

/// Selects the deployment whose name contains `text` by filtering for it.
pub fn pick(app: &mut App, text: &str) {
    app.update(ch('/'));
    type_text(app, text);
    app.update(key(KeyCode::Enter));
}
