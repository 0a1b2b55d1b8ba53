//! Bounded soak (a bench, not CI): 1,000 event streams, slow clients and a log flood against the
//! real release `rigel server start` binary on loopback, for `RIGEL_SOAK_SECONDS` (300), while
//! health latency is measured, an agent claims and finishes runs through the API, and the
//! server's RSS and open file descriptors are sampled; after the load stops they must come back
//! near where they started.
//!
//!     cargo bench --bench soak                       # 5 minutes
//!     RIGEL_SOAK_SECONDS=60 cargo bench --bench soak # shorter
//!
//! The server admits 32 event streams per client address, so the streams come from 34 loopback
//! addresses (127.0.0.10 onwards: Linux routes all of 127/8 to `lo`). Prints a Markdown table;
//! docs/BENCHMARKS.md records the figures. Exits 1 when a check fails.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use support::{ms, percentile, status_kib, ServerProcess};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use uuid::Uuid;

use rigel_common::log::MAX_LOG_BATCH;
use rigel_server::DEFAULT_MAX_BODY_BYTES;

const STREAMS: usize = 1000;
const PER_ADDRESS: usize = 30;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `n`th loopback address after 127.0.0.`first`.
fn loopback(first: u8, n: usize) -> Ipv4Addr {
    let host = usize::from(first) + n;
    Ipv4Addr::new(127, 0, (host / 250) as u8, (host % 250) as u8 + 1)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Raises this process's soft limit of open files to the hard limit (the server does the same).
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) => {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            hard
        }
        Err(_) => 0,
    }
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let s = r.status().as_u16();
        Ok((s, r.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(&self, path: &str, body: &Value) -> Value {
        match self.post(path, body).await {
            Ok((s, v)) if (200..300).contains(&s) => v,
            other => panic!("POST {path}: {other:?}"),
        }
    }
}

fn id(v: &Value) -> Uuid {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {v}"))
}

/// Counters the load's tasks add to.
#[derive(Default)]
struct Tally {
    streams_open: AtomicUsize,
    streams_refused: AtomicUsize,
    streams_ended_early: AtomicUsize,
    stream_bytes: AtomicU64,
    slow_opened: AtomicUsize,
    slow_closed_by_server: AtomicUsize,
    stuck_open: AtomicUsize,
    log_batches: AtomicUsize,
    log_errors: AtomicUsize,
    runs_created: AtomicUsize,
    runs_claimed: AtomicUsize,
    runs_completed: AtomicUsize,
    agent_errors: AtomicUsize,
    health_errors: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, what: String) {
        let mut e = self.errors.lock().expect("errors lock");
        if e.len() < 20 {
            e.push(what);
        }
    }
}

/// One event stream from `local`, read until `stop`.
async fn stream(url: String, local: Ipv4Addr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let http = match reqwest::Client::builder()
        .local_address(IpAddr::V4(local))
        .build()
    {
        Ok(h) => h,
        Err(e) => return tally.error(format!("stream client: {e}")),
    };
    let mut resp = match http.get(format!("{url}/events")).send().await {
        Ok(r) if r.status().as_u16() == 200 => r,
        Ok(r) => {
            tally.streams_refused.fetch_add(1, Ordering::Relaxed);
            return tally.error(format!("stream from {local}: {}", r.status()));
        }
        Err(e) => {
            tally.streams_refused.fetch_add(1, Ordering::Relaxed);
            return tally.error(format!("stream from {local}: {e}"));
        }
    };
    tally.streams_open.fetch_add(1, Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
            Err(_) => {}
            Ok(Ok(Some(b))) => {
                tally
                    .stream_bytes
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Ok(_) => {
                tally.streams_ended_early.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    tally.streams_open.fetch_sub(1, Ordering::Relaxed);
}

/// A connection from `local` that sends a request's headers a byte every 500 ms, over and over:
/// the server's header-read timeout must close each one.
async fn slow_sender(addr: SocketAddr, local: Ipv4Addr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let request = format!(
        "GET /api/health HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(200)
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok(socket) = TcpSocket::new_v4() else {
            return;
        };
        if socket.bind(SocketAddr::new(IpAddr::V4(local), 0)).is_err() {
            return;
        }
        let Ok(mut conn) = socket.connect(addr).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        tally.slow_opened.fetch_add(1, Ordering::Relaxed);
        for b in request.bytes() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if conn.write_all(&[b]).await.is_err() {
                tally.slow_closed_by_server.fetch_add(1, Ordering::Relaxed);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A connection from `local` that asks for a large answer many times over and never reads: it
/// stays open until the load stops (nothing on the server closes it).
async fn non_reader(addr: SocketAddr, local: Ipv4Addr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let Ok(socket) = TcpSocket::new_v4() else {
        return;
    };
    if socket.bind(SocketAddr::new(IpAddr::V4(local), 0)).is_err() {
        return;
    }
    let Ok(mut conn) = socket.connect(addr).await else {
        return tally.error("non-reader: connect failed".into());
    };
    let request = format!("GET /api/openapi.json HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    for _ in 0..200 {
        // the server stops reading once its answers fill the socket: don't wait on it
        match tokio::time::timeout(
            Duration::from_millis(200),
            conn.write_all(request.as_bytes()),
        )
        .await
        {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    tally.stuck_open.fetch_add(1, Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(conn);
    tally.stuck_open.fetch_sub(1, Ordering::Relaxed);
}

/// Posts the largest log batches (`MAX_LOG_BATCH` records, just under the body limit) one after
/// another with `pause` between them, starting a new run when one has taken all it may.
async fn log_writer(
    api: Api,
    deployment: Uuid,
    pause: Duration,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let new_run = || async {
        id(&api
            .ok(
                "/flow_runs/",
                &json!({"deployment_id": deployment, "state": {"type": "RUNNING"}}),
            )
            .await)
    };
    let mut run = new_run().await;
    let mut on_run = 0;
    let per = (DEFAULT_MAX_BODY_BYTES - 4096) / MAX_LOG_BATCH - 130;
    let message = "m".repeat(per);
    while !stop.load(Ordering::Relaxed) {
        if on_run == 9 {
            run = new_run().await;
            on_run = 0;
        }
        let now = Utc::now();
        let batch: Vec<Value> = (0..MAX_LOG_BATCH)
            .map(|_| json!({"flow_run_id": run, "level": 20, "timestamp": now, "message": message}))
            .collect();
        match api.post("/logs/", &Value::Array(batch)).await {
            Ok((201, _)) => {
                tally.log_batches.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                tally.log_errors.fetch_add(1, Ordering::Relaxed);
                tally.error(format!("log batch: {other:?}"));
            }
        }
        on_run += 1;
        tokio::time::sleep(pause).await;
    }
}

/// Creates a run of `deployment` every `every` until `stop`.
async fn producer(
    api: Api,
    deployment: Uuid,
    every: Duration,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    while !stop.load(Ordering::Relaxed) {
        match api
            .post(
                &format!("/deployments/{deployment}/create_flow_run"),
                &json!({}),
            )
            .await
        {
            Ok((201, _)) => {
                tally.runs_created.fetch_add(1, Ordering::Relaxed);
            }
            other => tally.error(format!("create run: {other:?}")),
        }
        tokio::time::sleep(every).await;
    }
}

/// An agent as the API sees one: long-polls for claims, moves each run to Running and then
/// Completed with its claim token, and heartbeats.
async fn agent(api: Api, queue: Uuid, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> Vec<Duration> {
    let agent = id(&api
        .ok(
            "/agents/",
            &json!({"name": "soak", "work_queue_name": "soak"}),
        )
        .await);
    let mut claim_latency = Vec::new();
    let mut last_beat = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if last_beat.elapsed() > Duration::from_secs(10) {
            let _ = api
                .post(&format!("/agents/{agent}/heartbeat"), &json!({}))
                .await;
            last_beat = Instant::now();
        }
        let t = Instant::now();
        let claimed = api
            .post(
                &format!("/work_queues/{queue}/claim"),
                &json!({"agent_id": agent, "limit": 10, "prefetch_seconds": 0.0, "wait_seconds": 2.0}),
            )
            .await;
        let runs = match claimed {
            Ok((200, Value::Array(runs))) => runs,
            other => {
                tally.agent_errors.fetch_add(1, Ordering::Relaxed);
                tally.error(format!("claim: {other:?}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if !runs.is_empty() {
            claim_latency.push(t.elapsed());
        }
        tally.runs_claimed.fetch_add(runs.len(), Ordering::Relaxed);
        for r in runs {
            let run = &r["flow_run"]["id"];
            let token = &r["claim_token"];
            for state in ["RUNNING", "COMPLETED"] {
                let body = json!({"state": {"type": state}, "claim_token": token});
                match api
                    .post(
                        &format!("/flow_runs/{}/set_state", run.as_str().unwrap_or_default()),
                        &body,
                    )
                    .await
                {
                    Ok((200 | 201, v)) if v["status"] == "ACCEPT" => {}
                    other => {
                        tally.agent_errors.fetch_add(1, Ordering::Relaxed);
                        tally.error(format!("set_state {state}: {other:?}"));
                    }
                }
            }
            tally.runs_completed.fetch_add(1, Ordering::Relaxed);
        }
    }
    claim_latency
}

/// `GET /api/health` every 100 ms until `stop`; the latencies.
async fn health(url: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> Vec<(Instant, Duration)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        match http.get(format!("{url}/health")).send().await {
            Ok(r) if r.status().as_u16() == 200 => {
                let _ = r.bytes().await;
            }
            other => {
                tally.health_errors.fetch_add(1, Ordering::Relaxed);
                tally.error(format!("health: {:?}", other.map(|r| r.status())));
            }
        }
        out.push((t, t.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out
}

#[derive(Clone, Copy)]
struct Sample {
    at: f64,
    rss_kib: u64,
    fds: usize,
}

fn sample(pid: u32, start: Instant) -> Sample {
    Sample {
        at: start.elapsed().as_secs_f64(),
        rss_kib: status_kib(pid, "VmRSS:"),
        fds: open_fds(pid),
    }
}

#[tokio::main]
async fn main() {
    std::env::set_var("RIGEL_LOG", "warn");
    let hard = raise_fd_limit();
    let seconds = env_u64("RIGEL_SOAK_SECONDS", 300);
    let log_writers = env_u64("RIGEL_SOAK_LOG_WRITERS", 4) as usize;
    let log_pause = Duration::from_millis(env_u64("RIGEL_SOAK_LOG_PAUSE_MS", 2000));
    let slow = env_u64("RIGEL_SOAK_SLOW_CLIENTS", 50) as usize;
    let stuck = env_u64("RIGEL_SOAK_NON_READERS", 50) as usize;
    println!("fd limit of the bench: {hard}; soak of {seconds} s");

    let home = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(home.path());
    let pid = server.child.id();
    let url = server.api_url.clone();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .parse()
        .expect("server address");
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
        url: url.clone(),
    };
    let start = Instant::now();

    // what claims need: a deployment of runs, a queue for it alone, and one for the log runs
    let spec = |name: &str| json!({"name": name, "flow_name": "soak", "flow_data": {"encoding": "text", "blob": "true"}});
    let work = id(&api.ok("/deployments/", &spec("work")).await);
    let logs = id(&api.ok("/deployments/", &spec("logs")).await);
    let queue = id(&api
        .ok(
            "/work_queues/",
            &json!({"name": "soak", "filter": {"deployment_ids": [work]}}),
        )
        .await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = sample(pid, start);
    let mut samples = vec![baseline];

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let health_task = tokio::spawn(health(url.clone(), Arc::clone(&stop), Arc::clone(&tally)));
    let agent_task = tokio::spawn(agent(
        api.clone(),
        queue,
        Arc::clone(&stop),
        Arc::clone(&tally),
    ));
    let producer_task = tokio::spawn(producer(
        api.clone(),
        work,
        Duration::from_millis(200),
        Arc::clone(&stop),
        Arc::clone(&tally),
    ));
    // the streams, opened a few at a time
    let mut load = Vec::new();
    for i in 0..STREAMS {
        let local = loopback(10, i / PER_ADDRESS);
        load.push(tokio::spawn(stream(
            url.clone(),
            local,
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let opening = Instant::now();
    while tally.streams_open.load(Ordering::Relaxed) + tally.streams_refused.load(Ordering::Relaxed)
        < STREAMS
        && opening.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{} streams open ({} refused) after {:.1} s",
        tally.streams_open.load(Ordering::Relaxed),
        tally.streams_refused.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
    // one more, beyond the server's total, must be refused
    let extra = reqwest::Client::builder()
        .local_address(IpAddr::V4(loopback(200, 0)))
        .build()
        .expect("client")
        .get(format!("{url}/events"))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let stream_cap = format!("stream 1,001 answered {extra:?}");
    println!("{stream_cap}");
    for i in 0..slow {
        load.push(tokio::spawn(slow_sender(
            addr,
            loopback(60, i % 20),
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
    }
    for i in 0..stuck {
        load.push(tokio::spawn(non_reader(
            addr,
            loopback(90, i % 20),
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
    }
    for _ in 0..log_writers {
        load.push(tokio::spawn(log_writer(
            api.clone(),
            logs,
            log_pause,
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
    }

    let load_started = Instant::now();
    let mut next_print = 0;
    while load_started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = sample(pid, start);
        samples.push(s);
        if s.at as u64 >= next_print {
            next_print = s.at as u64 + 30;
            println!(
                "t={:.0}s rss {} KiB fds {} streams {} logs {} claimed {} slow opened/closed {}/{} stuck {}",
                s.at,
                s.rss_kib,
                s.fds,
                tally.streams_open.load(Ordering::Relaxed),
                tally.log_batches.load(Ordering::Relaxed),
                tally.runs_claimed.load(Ordering::Relaxed),
                tally.slow_opened.load(Ordering::Relaxed),
                tally.slow_closed_by_server.load(Ordering::Relaxed),
                tally.stuck_open.load(Ordering::Relaxed),
            );
        }
    }
    let during = samples.clone();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.await;
    }
    let load_secs = load_started.elapsed().as_secs_f64();
    let health_lat = health_task.await.expect("health");
    let claim_lat = agent_task.await.expect("agent");
    producer_task.await.expect("producer");

    // after: until the fds settle, at most a minute
    let stopped = Instant::now();
    let mut after = sample(pid, start);
    while stopped.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        after = sample(pid, start);
        if after.fds <= baseline.fds + 2 {
            break;
        }
    }
    let settled = stopped.elapsed().as_secs_f64();
    // the server still answers and claims after the soak
    let hs = match api.http.get(format!("{url}/health")).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };

    let mut lat: Vec<Duration> = health_lat.iter().map(|(_, d)| *d).collect();
    lat.sort();
    let mut claims = claim_lat;
    claims.sort();
    let peak_rss = during.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let peak_fds = during.iter().map(|s| s.fds).max().unwrap_or(0);
    let errors = tally.errors.lock().expect("errors").clone();

    println!("\n| measurement | result |\n|---|---|");
    let row = |k: &str, v: String| println!("| {k} | {v} |");
    row("load", format!("{load_secs:.0} s: {STREAMS} event streams from {} addresses, {slow} slow-header clients, {stuck} non-reading clients, {log_writers} log writers ({MAX_LOG_BATCH} records, ~10 MiB per batch, {} ms apart)", STREAMS.div_ceil(PER_ADDRESS), log_pause.as_millis()));
    row(
        "event streams",
        format!(
            "opened {}, refused {}, ended early {}, {:.1} MB received; {stream_cap}",
            STREAMS - tally.streams_refused.load(Ordering::Relaxed),
            tally.streams_refused.load(Ordering::Relaxed),
            tally.streams_ended_early.load(Ordering::Relaxed),
            tally.stream_bytes.load(Ordering::Relaxed) as f64 / 1e6
        ),
    );
    row(
        "health (GET /api/health every 100 ms)",
        format!(
            "n {}, p50 {}, p99 {}, max {}, errors {}",
            lat.len(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(percentile(&lat, 1.0)),
            tally.health_errors.load(Ordering::Relaxed)
        ),
    );
    row(
        "claims (a run created every 200 ms)",
        format!(
            "created {}, claimed {}, completed {}, agent errors {}; a claim that got runs answered in p50 {}, p99 {} (long polls: the wait for the next run included)",
            tally.runs_created.load(Ordering::Relaxed),
            tally.runs_claimed.load(Ordering::Relaxed),
            tally.runs_completed.load(Ordering::Relaxed),
            tally.agent_errors.load(Ordering::Relaxed),
            ms(percentile(&claims, 0.5)),
            ms(percentile(&claims, 0.99))
        ),
    );
    row(
        "log flood",
        format!(
            "{} batches ({:.1} GB), {} failed",
            tally.log_batches.load(Ordering::Relaxed),
            tally.log_batches.load(Ordering::Relaxed) as f64 * DEFAULT_MAX_BODY_BYTES as f64 / 1e9,
            tally.log_errors.load(Ordering::Relaxed)
        ),
    );
    row(
        "slow-header clients",
        format!(
            "{} connections, {} closed by the server",
            tally.slow_opened.load(Ordering::Relaxed),
            tally.slow_closed_by_server.load(Ordering::Relaxed)
        ),
    );
    row(
        "server RSS: before / peak / after",
        format!(
            "{} / {} / {} KiB",
            baseline.rss_kib, peak_rss, after.rss_kib
        ),
    );
    row(
        "server open fds: before / peak / after",
        format!(
            "{} / {} / {} (after {settled:.0} s)",
            baseline.fds, peak_fds, after.fds
        ),
    );
    row("health after the soak", format!("{hs}"));
    // unbounded growth would show as RSS still climbing late in the load
    let third = during.get(during.len() / 3).copied().unwrap_or(baseline);
    let last = during.last().copied().unwrap_or(baseline);
    row(
        "server RSS a third into the load / at its end",
        format!(
            "{} / {} KiB (t={:.0} s / t={:.0} s)",
            third.rss_kib, last.rss_kib, third.at, last.at
        ),
    );
    if !errors.is_empty() {
        println!("\nfirst errors:");
        for e in &errors {
            println!("  {e}");
        }
    }
    println!("\nsamples (s, RSS KiB, fds):");
    for s in &during {
        print!("{:.0}:{}:{} ", s.at, s.rss_kib, s.fds);
    }
    println!();

    let p99 = percentile(&lat, 0.99);
    let mut failed = Vec::new();
    if p99 > Duration::from_millis(50) {
        failed.push(format!("health p99 {} > 50 ms", ms(p99)));
    }
    if tally.runs_claimed.load(Ordering::Relaxed) == 0
        || tally.agent_errors.load(Ordering::Relaxed) > 0
    {
        failed.push("claims did not keep working".to_string());
    }
    if after.fds > baseline.fds + 2 {
        failed.push(format!("fds {} after, {} before", after.fds, baseline.fds));
    }
    if hs != 200 {
        failed.push(format!("health after the soak: {hs}"));
    }
    drop(server);
    // exit() skips destructors: the database (gigabytes after a log flood) must go first
    drop(home);
    if !failed.is_empty() {
        eprintln!("soak failed: {}", failed.join("; "));
        std::process::exit(1);
    }
}
