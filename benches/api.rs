//! API benchmark: run creation, list/filter/count on a large database, claims, server memory.
//! It starts the real `rigel server start` binary (release build) as a separate process.
//!
//!     cargo bench --bench api                 # everything (populating 1M runs takes a while)
//!     RIGEL_BENCH_QUICK=1 cargo bench --bench api   # smaller sizes, for a smoke run
//!     RIGEL_BENCH_ONLY=create,claims cargo bench --bench api   # some sections only
//!                                     # (create, auth, claims, filters)
//!     RIGEL_BENCH_CREATES=200000 …   # how many runs the creation load makes
//!
//! Figures are printed as a Markdown table; docs/BENCHMARKS.md records them.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rigel_common::client::RigelClient;
use rigel_common::deployment::DeploymentCreate;
use rigel_common::filter::AnyFilter;
use rigel_common::flow_run::{FlowRunCount, FlowRunCriteria, FlowRunFilter, StateCriteria};
use rigel_common::state::StateType;
use rigel_common::work_queue::{ClaimRequest, WorkQueueCreate};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;
use support::{cpu_time, ms, percentile, status_kib, ServerProcess};
use uuid::Uuid;

async fn deployment(client: &RigelClient, flow: &str, name: &str) -> Uuid {
    let spec: DeploymentCreate = serde_json::from_value(serde_json::json!({
        "name": name, "flow_name": flow,
        "flow_data": {"encoding": "text", "blob": "true"},
    }))
    .expect("spec");
    client
        .create_deployment(&spec)
        .await
        .expect("deployment")
        .0
        .id
}

fn http_client(conns: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .expect("http client")
}

/// POSTs `total` run creations from `conns` concurrent connections of `http`.
async fn create_load(
    http: &reqwest::Client,
    url: &str,
    deployment: Uuid,
    total: usize,
    conns: usize,
    key: Option<&str>,
) -> (f64, Vec<Duration>, usize) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let http = http.clone();
        let next = Arc::clone(&next);
        let endpoint = format!("{url}/deployments/{deployment}/create_flow_run");
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let t = Instant::now();
                let mut req = http
                    .post(&endpoint)
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                match req.body("{}").send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                lat.push(t.elapsed());
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("task");
        all.extend(lat);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (total as f64 / secs, all, errors)
}

/// Writes `deployments` deployments and `runs` runs straight into the database file.
async fn populate(db: &Path, deployments: usize, runs: usize) -> Vec<Uuid> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .connect()
        .await
        .expect("open db");
    let now = chrono::Utc::now().timestamp_micros();
    let flow = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO flow (id, name, tags, created, updated) VALUES (?, 'bench', '[]', ?, ?)",
    )
    .bind(flow)
    .bind(now)
    .bind(now)
    .execute(&mut conn)
    .await
    .expect("flow");
    let mut ids = Vec::with_capacity(deployments);
    sqlx::query("BEGIN")
        .execute(&mut conn)
        .await
        .expect("begin");
    for i in 0..deployments {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO deployment (id, flow_id, name, flow_data, flow_runner, created, updated)
             VALUES (?, ?, ?, '{\"encoding\":\"text\",\"blob\":\"true\"}', '{\"type\":\"universal\",\"config\":{}}', ?, ?)",
        )
        .bind(id)
        .bind(flow)
        .bind(format!("d{i:05}"))
        .bind(now)
        .bind(now)
        .execute(&mut conn)
        .await
        .expect("deployment");
        ids.push(id);
    }
    sqlx::query("COMMIT")
        .execute(&mut conn)
        .await
        .expect("commit");
    let types = [
        "COMPLETED",
        "COMPLETED",
        "COMPLETED",
        "FAILED",
        "SCHEDULED",
        "RUNNING",
        "CANCELLED",
    ];
    let chunk = 50_000;
    for start in (0..runs).step_by(chunk) {
        sqlx::query("BEGIN")
            .execute(&mut conn)
            .await
            .expect("begin");
        for i in start..(start + chunk).min(runs) {
            let t = types[i % types.len()];
            let due = now - (runs - i) as i64 * 1_000_000;
            sqlx::query(
                "INSERT INTO flow_run (id, name, flow_id, deployment_id, flow_runner_type, state_type, state_name,
                 state_timestamp, expected_start_time, next_scheduled_start_time, created, updated)
                 VALUES (?, 'bench-run', ?, ?, 'universal', ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(Uuid::now_v7())
            .bind(flow)
            .bind(ids[i % ids.len()])
            .bind(t)
            .bind(t)
            .bind(due)
            .bind(due)
            .bind(due)
            .bind(due)
            .bind(due)
            .execute(&mut conn)
            .await
            .expect("run");
        }
        sqlx::query("COMMIT")
            .execute(&mut conn)
            .await
            .expect("commit");
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    ids
}

async fn timed<F, Fut, T>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

#[tokio::main]
async fn main() {
    // the servers started below log only warnings
    std::env::set_var("RIGEL_LOG", "warn");
    let quick = std::env::var_os("RIGEL_BENCH_QUICK").is_some();
    let (creates, big_runs, big_deployments, claim_runs) = if quick {
        (5_000, 50_000, 1_000, 2_000)
    } else {
        (50_000, 1_000_000, 10_000, 20_000)
    };
    let creates = std::env::var("RIGEL_BENCH_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(creates);
    let only = std::env::var("RIGEL_BENCH_ONLY").ok();
    let section = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == name))
    };
    let mut rows: Vec<(String, String)> = Vec::new();

    // --- run creation and memory on a fresh server
    let home = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(home.path());
    let pid = server.child.id();
    let client = RigelClient::new(&server.api_url);
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows.push((
        "server RSS idle".into(),
        format!("{} KiB", status_kib(pid, "VmRSS:")),
    ));
    let d = deployment(&client, "bench", "create").await;
    if section("create") {
        let http = http_client(64);
        // opens the 64 connections and warms the server; not part of the figures
        create_load(&http, &server.api_url, d, 1_000, 64, None).await;
        let cpu = cpu_time(pid);
        let (rate, lat, errors) = create_load(&http, &server.api_url, d, creates, 64, None).await;
        let cpu = cpu_time(pid).saturating_sub(cpu);
        rows.push((
            format!("run creation, 64 connections, {creates} runs"),
            format!(
                "{rate:.0}/s, p50 {}, p99 {}, max {}, errors {errors}",
                ms(percentile(&lat, 0.5)),
                ms(percentile(&lat, 0.99)),
                ms(percentile(&lat, 1.0))
            ),
        ));
        rows.push((
            "server CPU per created run".into(),
            format!("{:.0} µs", cpu.as_secs_f64() * 1e6 / creates as f64),
        ));
        rows.push((
            "server peak RSS under creation load".into(),
            format!("{} KiB", status_kib(pid, "VmHWM:")),
        ));
    }
    if section("auth") {
        auth_cost(&mut rows, creates).await;
    }
    if section("claims") {
        rows.push(claims(&server.api_url, &client, claim_runs).await);
    }
    drop(server);
    if section("filters") {
        filters(&mut rows, big_runs, big_deployments).await;
    }
    println!("\n| measurement | result |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
}

/// Run creation on a server that checks an API key on every request, beside one that checks
/// none, alternating three times so drift on the machine hits both alike.
async fn auth_cost(rows: &mut Vec<(String, String)>, creates: usize) {
    let mut figures: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for _round in 0..3 {
        for (i, with_key) in [false, true].into_iter().enumerate() {
            let home = tempfile::tempdir().expect("tempdir");
            let key = with_key.then(|| {
                let out = std::process::Command::new(support::rigel_bin())
                    .args(["api-key", "create", "bench", "--role", "admin", "--offline"])
                    .env("RIGEL_HOME", home.path())
                    .output()
                    .expect("api-key create");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            });
            let server = ServerProcess::start(home.path());
            let pid = server.child.id();
            let mut client = RigelClient::new(&server.api_url);
            if let Some(k) = &key {
                client = client.with_api_key(k);
            }
            let d = deployment(&client, "bench", "auth").await;
            let http = http_client(64);
            create_load(&http, &server.api_url, d, 1_000, 64, key.as_deref()).await;
            let cpu = cpu_time(pid);
            let (rate, _, errors) =
                create_load(&http, &server.api_url, d, creates, 64, key.as_deref()).await;
            assert_eq!(errors, 0, "run creations failed");
            let cpu = cpu_time(pid).saturating_sub(cpu);
            figures[i].push((rate, cpu.as_secs_f64() * 1e6 / creates as f64));
        }
    }
    let range = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        let lo = v.iter().map(f).fold(f64::MAX, f64::min);
        let hi = v.iter().map(f).fold(f64::MIN, f64::max);
        (lo, hi)
    };
    for (i, label) in [
        "no keys (open loopback)",
        "an admin key checked per request",
    ]
    .iter()
    .enumerate()
    {
        let (rlo, rhi) = range(&figures[i], |f| f.0);
        let (clo, chi) = range(&figures[i], |f| f.1);
        rows.push((
            format!("run creation, {label}, 3 rounds of {creates}"),
            format!("{rlo:.0}–{rhi:.0}/s, server CPU {clo:.0}–{chi:.0} µs per run"),
        ));
    }
    let mean = |v: &[(f64, f64)]| v.iter().map(|f| f.1).sum::<f64>() / v.len() as f64;
    rows.push((
        "server CPU per run, keys checked vs not (means)".into(),
        format!(
            "{:+.1}%",
            (mean(&figures[1]) / mean(&figures[0]) - 1.0) * 100.0
        ),
    ));
}

/// 8 agents claim (50 per call, no waiting) until nothing is left; answers the claim rate.
async fn claims(url: &str, client: &RigelClient, claim_runs: usize) -> (String, String) {
    let queue = client
        .create_work_queue(&WorkQueueCreate {
            name: "bench".into(),
            ..Default::default()
        })
        .await
        .expect("queue");
    let cd = deployment(client, "bench", "claims").await;
    create_load(&http_client(16), url, cd, claim_runs, 16, None).await;
    let mut agents = Vec::new();
    for i in 0..8 {
        let a = client
            .register_agent(&rigel_common::agent::AgentCreate {
                name: format!("bench-{i}"),
                work_queue_name: "bench".into(),
                hostname: None,
                pid: None,
                version: None,
            })
            .await
            .expect("agent");
        agents.push(a.id);
    }
    // the creation-load runs of the first deployment are claimable too: count everything claimed
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in agents {
        let c = RigelClient::new(url);
        let q = queue.id;
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let got = c
                    .claim_runs(
                        q,
                        &ClaimRequest {
                            agent_id: a,
                            limit: 50,
                            prefetch_seconds: 0.0,
                            wait_seconds: 0.0,
                        },
                    )
                    .await
                    .expect("claim");
                if got.is_empty() {
                    break n;
                }
                n += got.len();
            }
        }));
    }
    let mut claimed = 0;
    for t in tasks {
        claimed += t.await.expect("claimer");
    }
    let secs = started.elapsed().as_secs_f64();
    (
        format!("claims, 8 claimers x 50 per call, {claimed} runs"),
        format!("{:.0} runs/s", claimed as f64 / secs),
    )
}

/// List/filter/count latencies on a database of `big_runs` runs and `big_deployments` deployments.
async fn filters(rows: &mut Vec<(String, String)>, big_runs: usize, big_deployments: usize) {
    let home = tempfile::tempdir().expect("tempdir");
    {
        // create the schema by starting the server once
        let s = ServerProcess::start(home.path());
        drop(s);
    }
    let t = Instant::now();
    let deployments = populate(&home.path().join("rigel.db"), big_deployments, big_runs).await;
    rows.push((
        format!("populate {big_runs} runs / {big_deployments} deployments (direct SQL)"),
        format!("{:.1} s", t.elapsed().as_secs_f64()),
    ));
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let n = 200;
    let first_page = timed(n, |_| {
        let c = client.clone();
        async move {
            c.filter_flow_runs(&FlowRunFilter::default())
                .await
                .expect("filter")
        }
    })
    .await;
    let by_deployment = timed(n, |i| {
        let c = client.clone();
        let d = deployments[(i * 37) % deployments.len()];
        async move {
            let f = FlowRunFilter {
                flow_runs: FlowRunCriteria {
                    deployment_id: Some(AnyFilter::new([d])),
                    ..Default::default()
                },
                ..Default::default()
            };
            c.filter_flow_runs(&f).await.expect("filter")
        }
    })
    .await;
    let by_state = timed(n, |i| {
        let c = client.clone();
        let t = [StateType::Failed, StateType::Running, StateType::Scheduled][i % 3];
        async move {
            let f = FlowRunFilter {
                flow_runs: FlowRunCriteria {
                    state: Some(StateCriteria {
                        kind: Some(AnyFilter::new([t])),
                        name: None,
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            c.filter_flow_runs(&f).await.expect("filter")
        }
    })
    .await;
    let count_deployment = timed(n, |i| {
        let c = client.clone();
        let d = deployments[(i * 91) % deployments.len()];
        async move {
            let f = FlowRunCount {
                flow_runs: FlowRunCriteria {
                    deployment_id: Some(AnyFilter::new([d])),
                    ..Default::default()
                },
                ..Default::default()
            };
            c.count_flow_runs(&f).await.expect("count")
        }
    })
    .await;
    let completed = |limit: Option<u64>| FlowRunCount {
        flow_runs: FlowRunCriteria {
            state: Some(StateCriteria {
                kind: Some(AnyFilter::new([StateType::Completed])),
                name: None,
            }),
            ..Default::default()
        },
        limit,
        ..Default::default()
    };
    let count_state = timed(n, |_| {
        let c = client.clone();
        let f = completed(None);
        async move { c.count_flow_runs(&f).await.expect("count") }
    })
    .await;
    let capped_state = timed(n, |_| {
        let c = client.clone();
        let f = completed(Some(10_000));
        async move { c.count_flow_runs(&f).await.expect("count") }
    })
    .await;
    let mut report = |label: &str, lat: &[Duration]| {
        rows.push((
            label.to_string(),
            format!(
                "p50 {}, p99 {}",
                ms(percentile(lat, 0.5)),
                ms(percentile(lat, 0.99))
            ),
        ));
    };
    report(
        "filter: first page of 200 runs (expected start desc)",
        &first_page,
    );
    report("filter: runs of one deployment (200)", &by_deployment);
    report("filter: runs by state (200)", &by_state);
    report("count: runs of one deployment", &count_deployment);
    report(
        "count: runs by state (COMPLETED, ~43% of all)",
        &count_state,
    );
    report(
        "count: runs by state, capped at 10,000 (`limit`)",
        &capped_state,
    );
}
