//! TUI benchmark: time per keystroke (update + draw) with 10 000 deployments and 100 000 runs,
//! resident memory with that data loaded, and the time to the first full screen against a local
//! server.
//!
//!     cargo bench -p rigel-tui --bench frame
//!
//! Targets (issue 7): p99 ≤ 16 ms per keystroke; RSS ≤ 50 MB; first screen ≤ 300 ms.
//! docs/BENCHMARKS.md records the figures.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;
use rigel_common::deployment::Deployment;
use rigel_common::flow_run::FlowRun;
use rigel_common::state::{State, StateType};
use rigel_tui::app::{App, AppEvent, Settings};
use rigel_tui::store::{DeploymentRow, RunRow, Snapshot, Store};
use rigel_tui::ui::theme::Theme;
use serde_json::json;
use uuid::Uuid;

const DEPLOYMENTS: usize = 10_000;
const RUNS_PER_DEPLOYMENT: usize = 10;
const SIZE: (u16, u16) = (120, 40);

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn big_deployment(i: usize, now: DateTime<Utc>) -> Deployment {
    let schedule = match i % 3 {
        0 => {
            json!({"interval": 3600.0, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": null})
        }
        1 => json!({"cron": "*/15 * * * *", "timezone": "Europe/London", "day_or": true}),
        _ => serde_json::Value::Null,
    };
    serde_json::from_value(json!({
        "id": Uuid::from_u128(0x1_0000_0000 + i as u128),
        "created": now, "updated": now - chrono::Duration::seconds(i as i64),
        "name": format!("deployment-{i:05}"),
        "flow_id": Uuid::from_u128(0x2_0000_0000 + (i % 500) as u128),
        "flow_name": format!("flow-{:03}", i % 500),
        "description": "A deployment made up for the benchmark",
        "flow_data": {"encoding": "blockstorage",
                      "blob": format!("{{\"data\": \"{i:016x}\", \"block_id\": \"00000000-0000-0000-0000-000000000900\"}}")},
        "schedule": schedule,
        "is_schedule_active": i % 7 != 0,
        "parameters": {"name": format!("user-{i}")},
        "parameter_schema": {"type": "object", "required": [], "properties": {
            "name": {"type": "string", "default": "world", "position": 0},
            "count": {"type": "integer", "default": 1, "position": 1}}},
        "tags": [format!("team-{}", i % 20), if i % 2 == 0 { "prod" } else { "dev" }],
        "flow_runner": {"type": "universal", "config": {"env": {}}},
        "work_queue_name": null,
    }))
    .expect("deployment")
}

fn big_run(d: &Deployment, k: usize, n: u128, now: DateTime<Utc>) -> FlowRun {
    let kind = match (n % 23, k) {
        (_, 0) => StateType::Scheduled,
        (0, _) => StateType::Failed,
        (1, _) => StateType::Crashed,
        (2, _) => StateType::Cancelled,
        (3, 1) => StateType::Running,
        _ => StateType::Completed,
    };
    let at = now - chrono::Duration::minutes((k as i64) * 60 - 30);
    let started = !matches!(kind, StateType::Scheduled | StateType::Cancelled);
    FlowRun {
        id: Uuid::from_u128(n),
        created: at,
        updated: at,
        name: format!("run-{n:x}"),
        flow_id: d.flow_id,
        deployment_id: Some(d.id),
        work_queue_id: None,
        parameters: d.parameters.clone(),
        tags: d.tags.clone(),
        idempotency_key: Some(format!("scheduled {} {}", d.id, at.to_rfc3339())),
        auto_scheduled: true,
        flow_runner: Some(d.flow_runner.clone()),
        state: State {
            kind,
            name: kind.default_name().to_string(),
            timestamp: at,
            message: None,
            scheduled_time: (kind == StateType::Scheduled).then_some(at),
            actor: None,
        },
        run_count: u32::from(started),
        expected_start_time: Some(at),
        next_scheduled_start_time: Some(at),
        start_time: started.then_some(at),
        end_time: (started && kind != StateType::Running).then_some(at),
        total_run_time: if started { 12.5 } else { 0.0 },
        agent_id: None,
    }
}

fn big_snapshot(now: DateTime<Utc>) -> Snapshot {
    // made compact one by one, as the fetcher does with each page
    let deployments: Vec<DeploymentRow> = (0..DEPLOYMENTS)
        .map(|i| DeploymentRow::from(big_deployment(i, now)))
        .collect();
    let mut runs = Vec::with_capacity(DEPLOYMENTS * RUNS_PER_DEPLOYMENT);
    let mut n = 0x9_0000_0000u128;
    for (i, row) in deployments.iter().enumerate() {
        let d = big_deployment(i, now);
        debug_assert_eq!(d.id, row.id);
        for k in 0..RUNS_PER_DEPLOYMENT {
            n += 1;
            // converted at once, as the fetcher does: the full record is never kept
            runs.push(RunRow::from(&big_run(&d, k, n, now)));
        }
    }
    Snapshot {
        deployments,
        runs,
        queues: common::queues(),
        agents: common::agents(),
        run_total: (DEPLOYMENTS * RUNS_PER_DEPLOYMENT) as u64,
        fetched_at: now,
    }
}

struct Samples {
    name: &'static str,
    times: Vec<Duration>,
}

impl Samples {
    fn report(&mut self) {
        self.times.sort();
        let pick = |q: f64| {
            let i = ((self.times.len() as f64 - 1.0) * q).round() as usize;
            self.times[i].as_secs_f64() * 1000.0
        };
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} |",
            self.name,
            self.times.len(),
            pick(0.5),
            pick(0.99),
            pick(1.0)
        );
    }
}

/// Times `update(event)` plus a full draw, for each event.
fn time_keys(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    name: &'static str,
    events: Vec<AppEvent>,
) -> Samples {
    let mut times = Vec::with_capacity(events.len());
    for ev in events {
        let start = Instant::now();
        app.update(ev);
        terminal
            .draw(|f| rigel_tui::ui::draw(app, f))
            .expect("draw");
        times.push(start.elapsed());
    }
    Samples { name, times }
}

fn typing(words: &[&str], rounds: usize) -> Vec<AppEvent> {
    let mut out = Vec::new();
    for _ in 0..rounds {
        for w in words {
            out.extend(w.chars().map(common::ch));
            out.push(common::ctrl('u'));
        }
    }
    out
}

fn keystrokes() {
    let now = common::now();
    let rss_before = rss_kib("VmRSS:");
    let start = Instant::now();
    let snapshot = big_snapshot(now);
    let made = start.elapsed();
    let start = Instant::now();
    let store = Store::build(snapshot, now);
    let indexed = start.elapsed();
    let mut app = App::new(Settings {
        api_url: common::API_URL.to_string(),
        readonly: false,
        theme: Theme { color: true },
        size: SIZE,
        now,
    });
    let start = Instant::now();
    app.set_store(store);
    let listed = start.elapsed();
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
    terminal
        .draw(|f| rigel_tui::ui::draw(&app, f))
        .expect("draw");
    let rss = rss_kib("VmRSS:");
    println!(
        "data: {DEPLOYMENTS} deployments, {} runs; generated in {made:.0?}, indexed in {indexed:.0?} (background task), listed in {listed:.0?}",
        app.store.runs.len()
    );
    println!(
        "resident memory with the data loaded: {:.1} MB (process before generating it: {:.1} MB)\n",
        rss as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "terminal {}x{}; times in ms (update + draw)\n",
        SIZE.0, SIZE.1
    );
    println!("| keystrokes | n | p50 | p99 | max |");
    println!("|---|---|---|---|---|");

    app.update(common::ch('/'));
    let words = ["deployment-0421", "team-7 prod", "flow-09", "zzz"];
    time_keys(
        &mut app,
        &mut terminal,
        "deployments: filter as you type",
        typing(&words, 40),
    )
    .report();
    app.update(common::key(KeyCode::Enter));
    let sorts: Vec<AppEvent> = (0..200)
        .map(|i| common::ch(if i % 5 == 4 { 'S' } else { 's' }))
        .collect();
    time_keys(
        &mut app,
        &mut terminal,
        "deployments: change sort key",
        sorts,
    )
    .report();
    let moves: Vec<AppEvent> = (0..2000)
        .map(|i| match i % 100 {
            0 => common::key(KeyCode::End),
            50 => common::key(KeyCode::Home),
            j if j < 50 => common::key(KeyCode::PageUp),
            _ => common::ch('j'),
        })
        .collect();
    time_keys(&mut app, &mut terminal, "deployments: move", moves).report();

    app.update(common::ch('2'));
    app.update(common::ch('/'));
    time_keys(
        &mut app,
        &mut terminal,
        "runs (100k): filter as you type",
        typing(&["run-9000001", "flow-1", "qq"], 40),
    )
    .report();
    app.update(common::key(KeyCode::Enter));
    let toggles: Vec<AppEvent> = (0..200)
        .map(|i| common::ch(if i % 3 == 0 { 'f' } else { 'x' }))
        .collect();
    time_keys(
        &mut app,
        &mut terminal,
        "runs (100k): state / faults filter",
        toggles,
    )
    .report();
}

/// Counts the bytes a terminal would receive.
struct Counter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes sent to the terminal per second while nothing happens but the clock (one tick a
/// second; relative times such as "3s ago" move on).
fn idle_bytes() {
    use ratatui::backend::CrosstermBackend;
    use ratatui::layout::Rect;
    use ratatui::{TerminalOptions, Viewport};
    println!(
        "
| idle screen ({}x{}) | bytes per second |",
        SIZE.0, SIZE.1
    );
    println!("|---|---|");
    for (name, key) in [
        ("deployments", '1'),
        ("flow runs", '2'),
        ("work queues", '3'),
        ("agents", '4'),
    ] {
        let mut app = common::app(SIZE, false);
        app.update(common::ch(key));
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut terminal = Terminal::with_options(
            CrosstermBackend::new(Counter(count.clone())),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, SIZE.0, SIZE.1)),
            },
        )
        .expect("terminal");
        terminal
            .draw(|f| rigel_tui::ui::draw(&app, f))
            .expect("draw");
        count.store(0, std::sync::atomic::Ordering::Relaxed);
        let seconds = 60;
        for s in 1..=seconds {
            if app.update(AppEvent::Tick(common::now() + chrono::Duration::seconds(s))) {
                terminal
                    .draw(|f| rigel_tui::ui::draw(&app, f))
                    .expect("draw");
            }
        }
        let bytes = count.load(std::sync::atomic::Ordering::Relaxed);
        println!("| {name} | {:.0} |", bytes as f64 / seconds as f64);
    }
}

/// Time from starting the background tasks to the first screen with data on it, against a
/// real server on this machine (in-process, over loopback HTTP).
fn first_screen() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = rigel_server::ServerConfig::new(format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/api", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(rigel_server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        let client = rigel_common::client::RigelClient::new(url.clone());
        for _ in 0..100 {
            if client.health().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deployments = 200;
        for i in 0..deployments {
            let spec = serde_json::from_value(json!({
                "name": format!("deployment-{i:03}"), "flow_name": format!("flow-{}", i % 10),
                "flow_data": {"encoding": "text", "blob": "echo hi"},
                "schedule": {"interval": 3600.0}, "tags": ["bench"],
            }))
            .expect("spec");
            let (d, _) = client.create_deployment(&spec).await.expect("create");
            for _ in 0..5 {
                client
                    .create_deployment_run(d.id, &Default::default())
                    .await
                    .expect("run");
            }
        }
        let mut times = Vec::new();
        for _ in 0..10 {
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let start = Instant::now();
            let worker = rigel_tui::net::spawn(client.clone(), Duration::from_secs(60), tx);
            let mut app = App::new(Settings {
                api_url: url.clone(),
                readonly: false,
                theme: Theme { color: true },
                size: SIZE,
                now: Utc::now(),
            });
            let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
            while app.store.fetched_at.is_none() {
                let Some(msg) = rx.recv().await else { break };
                app.update(AppEvent::Msg(msg));
            }
            terminal
                .draw(|f| rigel_tui::ui::draw(&app, f))
                .expect("draw");
            times.push(start.elapsed());
            assert_eq!(app.store.deployments.len(), deployments);
            drop(worker);
        }
        times.sort();
        println!(
            "\nfirst full screen against a local server ({deployments} deployments, {} runs): median {:.0} ms, worst {:.0} ms of {}",
            deployments * 5,
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0,
            times.len()
        );
        let _ = stop.send(());
        let _ = server.await;
    });
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too, so keep it quick then
    if std::env::args().any(|a| a == "--bench") {
        keystrokes();
        idle_bytes();
        first_screen();
    } else {
        println!("frame benchmark: run with `cargo bench -p rigel-tui --bench frame`");
    }
}
