//! Scheduler benchmark, in-process against a temporary SQLite database, with a manual clock.
//!
//!     cargo bench -p rigel-server --bench scheduler
//!     RIGEL_BENCH_DEPLOYMENTS=1000 cargo bench -p rigel-server --bench scheduler   # quicker
//!
//! 10,000 deployments (mostly every-minute cron and interval schedules, some every-minute rrules
//! without DTSTART) are written straight into the database with their schedules active and no
//! runs — a restore, an upgrade or a bulk import — and the scheduler has to catch up:
//!
//! * the first sweep of a pass gives every deployment its next run;
//! * the pass then fills every deployment's one-hour horizon (≈ 600,000 runs);
//! * a pass with nothing to create;
//! * rounds in which 10 % of the deployments change schedule (through the HTTP handlers, each
//!   rescheduled at once) while a pass runs: no (deployment, time) may exist twice;
//! * marking every run Late after the clock jumps two hours, and a late pass with nothing to do;
//! * creating scheduled deployments through the API (each answer comes after its runs exist).
//!
//! Prints a Markdown table (docs/BENCHMARKS.md records it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use rigel_server::clock::ManualClock;
use rigel_server::services::late_runs::mark_late_once;
use rigel_server::services::scheduler::schedule_once;
use rigel_server::{router, AppState, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Row {
    metric: String,
    target: String,
    result: String,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn schedule_for(i: usize) -> Value {
    match i % 20 {
        0..=8 => json!({"cron": "* * * * *"}),
        9 => json!({"cron": "* * * * *", "timezone": "Europe/London"}),
        10..=17 => json!({"interval": 60.0, "anchor_date": "2020-01-01T00:00:00+00:00"}),
        _ => json!({"rrule": "FREQ=MINUTELY"}),
    }
}

async fn request(app: &axum::Router, method: &str, path: &str, body: Value) -> BenchResult<Value> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_string()))?;
    let resp = app.clone().oneshot(req).await?;
    let status = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !(status == StatusCode::OK || status == StatusCode::CREATED) {
        return Err(format!("{method} {path}: {status} {value}").into());
    }
    Ok(value)
}

async fn count(state: &AppState, sql: &str) -> BenchResult<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&state.db.read).await?;
    Ok(n)
}

async fn duplicates(state: &AppState) -> BenchResult<i64> {
    count(
        state,
        "SELECT COUNT(*) FROM (SELECT 1 FROM flow_run WHERE deployment_id IS NOT NULL
         GROUP BY deployment_id, next_scheduled_start_time HAVING COUNT(*) > 1)",
    )
    .await
}

async fn without_future_run(state: &AppState, now: DateTime<Utc>) -> BenchResult<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM deployment d WHERE d.schedule IS NOT NULL
         AND d.is_schedule_active = 1 AND NOT EXISTS (SELECT 1 FROM flow_run r
         WHERE r.deployment_id = d.id AND r.auto_scheduled = 1
         AND r.next_scheduled_start_time > ?)",
    )
    .bind(now.timestamp_micros())
    .fetch_one(&state.db.read)
    .await?;
    Ok(n)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> BenchResult<()> {
    let n: usize = std::env::var("RIGEL_BENCH_DEPLOYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(n))
}

async fn run(n: usize) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let start: DateTime<Utc> = "2026-03-02T00:00:00Z".parse()?;
    let clock = ManualClock::new(start);
    let mut config = ServerConfig::new(format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ));
    config.clock = Arc::new(clock.clone());
    config.run_services = false;
    let state = AppState::open(config).await?;
    let app = router(state.clone());
    let mut rows: Vec<Row> = Vec::new();
    eprintln!(
        "scheduler bench: {n} deployments in {}",
        dir.path().display()
    );

    // a template deployment made by the API (paused: no runs), copied n times in SQL
    let template = request(
        &app,
        "POST",
        "/api/deployments/",
        json!({"name": "template", "flow_name": "bench",
            "flow_data": {"encoding": "text", "blob": "echo hi"},
            "parameters": {"size": 3}, "tags": ["bench"], "is_schedule_active": false}),
    )
    .await?;
    let template_id: Uuid = template["id"].as_str().ok_or("no id")?.parse()?;
    let t = Instant::now();
    let mut tx = state.db.write.begin().await?;
    for i in 0..n {
        sqlx::query(
            "INSERT INTO deployment (id, flow_id, name, description, flow_data, storage_block_id,
             schedule, is_schedule_active, parameters, parameter_schema, tags, flow_runner,
             work_queue_name, created, updated)
             SELECT ?, flow_id, ?, description, flow_data, storage_block_id, ?, 1, parameters,
             parameter_schema, tags, flow_runner, work_queue_name, created, updated
             FROM deployment WHERE id = ?",
        )
        .bind(Uuid::now_v7())
        .bind(format!("d{i:05}"))
        .bind(schedule_for(i).to_string())
        .bind(template_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    eprintln!("  inserted deployments in {}", ms(t.elapsed()));

    // 1. catching up from nothing
    let stats = schedule_once(&state).await?;
    let missing = without_future_run(&state, start).await?;
    let total = count(&state, "SELECT COUNT(*) FROM flow_run").await?;
    eprintln!("  first pass: {stats:?}, {total} runs, {missing} deployments without a run");
    rows.push(Row {
        metric: format!("every one of {n} deployments has its next run (first sweep)"),
        target: "≤ 1 s".into(),
        result: format!(
            "{} ({} deployments left without)",
            ms(stats.next_runs_elapsed),
            missing
        ),
    });
    rows.push(Row {
        metric: format!(
            "full one-hour horizon ({} runs), one pass",
            stats.runs_created
        ),
        target: "≤ 60 s (≥ 10,000 runs/s)".into(),
        result: format!(
            "{:.2} s ({:.0} runs/s)",
            stats.elapsed.as_secs_f64(),
            stats.runs_created as f64 / stats.elapsed.as_secs_f64()
        ),
    });

    // 2. nothing to do
    let mut idle = Vec::new();
    for _ in 0..5 {
        let s = schedule_once(&state).await?;
        if s.runs_created != 0 {
            return Err(format!("an idle pass created {} runs", s.runs_created).into());
        }
        idle.push(s.elapsed);
    }
    idle.sort();
    rows.push(Row {
        metric: format!("pass with nothing to create ({n} deployments), median of 5"),
        target: "≤ 200 ms".into(),
        result: ms(percentile(&idle, 0.5)),
    });

    // 3. a minute later: one new run per deployment
    clock.advance(chrono::Duration::seconds(60));
    let s = schedule_once(&state).await?;
    rows.push(Row {
        metric: "pass one minute later (one new run per deployment)".into(),
        target: "—".into(),
        result: format!("{} ({} runs)", ms(s.elapsed), s.runs_created),
    });

    // 4. 10 % of the deployments change schedule while passes run
    let ids: Vec<Uuid> = sqlx::query_as::<_, (Uuid,)>(
        "SELECT id FROM deployment WHERE name != 'template' ORDER BY id",
    )
    .fetch_all(&state.db.read)
    .await?
    .into_iter()
    .map(|(id,)| id)
    .collect();
    let per_round = (ids.len() / 10).max(1);
    let rounds = 5;
    let mut patch_latencies = Vec::new();
    let mut round_times = Vec::new();
    for round in 0..rounds {
        clock.advance(chrono::Duration::seconds(1));
        let chunk: Vec<Uuid> = ids
            .iter()
            .skip((round * per_round) % ids.len())
            .take(per_round)
            .copied()
            .collect();
        let schedule = if round % 2 == 0 {
            json!({"interval": 120})
        } else {
            json!({"cron": "*/3 * * * *"})
        };
        let t = Instant::now();
        let updates = async {
            let mut lat = Vec::with_capacity(chunk.len());
            for id in &chunk {
                let t = Instant::now();
                request(
                    &app,
                    "PATCH",
                    &format!("/api/deployments/{id}"),
                    json!({ "schedule": schedule }),
                )
                .await?;
                lat.push(t.elapsed());
            }
            BenchResult::Ok(lat)
        };
        let (lat, pass) = tokio::join!(updates, schedule_once(&state));
        patch_latencies.extend(lat?);
        pass?;
        round_times.push(t.elapsed());
    }
    let dups = duplicates(&state).await?;
    patch_latencies.sort();
    round_times.sort();
    rows.push(Row {
        metric: format!(
            "{per_round} schedule changes (10 %) during a pass, {rounds} rounds: time per round"
        ),
        target: "—".into(),
        result: format!(
            "median {}, max {}",
            ms(percentile(&round_times, 0.5)),
            ms(percentile(&round_times, 1.0))
        ),
    });
    rows.push(Row {
        metric: "PATCH schedule (reschedules at once) latency".into(),
        target: "—".into(),
        result: format!(
            "p50 {}, p99 {}",
            ms(percentile(&patch_latencies, 0.5)),
            ms(percentile(&patch_latencies, 0.99))
        ),
    });
    rows.push(Row {
        metric: "duplicate (deployment, scheduled time) after the rounds".into(),
        target: "0".into(),
        result: dups.to_string(),
    });

    // 5. creating scheduled deployments through the API
    let mut create = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        request(
            &app,
            "POST",
            "/api/deployments/",
            json!({"name": format!("api-{i}"), "flow_name": "bench-api",
                "flow_data": {"encoding": "text", "blob": "echo hi"},
                "schedule": {"cron": "* * * * *"}}),
        )
        .await?;
        create.push(t.elapsed());
    }
    create.sort();
    rows.push(Row {
        metric: "create an every-minute deployment via the API (its ~60 runs exist on return)"
            .into(),
        target: "next run within 1 s".into(),
        result: format!(
            "p50 {}, p99 {}",
            ms(percentile(&create, 0.5)),
            ms(percentile(&create, 0.99))
        ),
    });

    // 6. late runs
    clock.advance(chrono::Duration::hours(2));
    let t = Instant::now();
    let late = mark_late_once(&state).await?;
    let late_time = t.elapsed();
    rows.push(Row {
        metric: format!("mark {late} overdue runs Late"),
        target: "—".into(),
        result: format!(
            "{:.2} s ({:.0} runs/s)",
            late_time.as_secs_f64(),
            late as f64 / late_time.as_secs_f64()
        ),
    });
    let t = Instant::now();
    let again = mark_late_once(&state).await?;
    rows.push(Row {
        metric: "late-runs pass with nothing to mark".into(),
        target: "—".into(),
        result: format!("{} ({again} runs)", ms(t.elapsed())),
    });
    let dups = duplicates(&state).await?;
    if dups != 0 {
        return Err(format!("{dups} duplicate runs").into());
    }

    println!("\n| Scheduler ({n} deployments) | Target | Result |");
    println!("|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.metric, r.target, r.result);
    }
    state.db.close().await;
    Ok(())
}
