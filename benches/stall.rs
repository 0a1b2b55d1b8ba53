//! Writer-stall guard: while the slowest requests the API admits run (a few at once), how long
//! does an unrelated small write (`POST /api/flows/`) take? It starts the real release
//! `rigel server start` binary, prepares the data each kind of request needs, then for each kind
//! fires `RIGEL_STALL_PARALLEL` (3) loops of it, `RIGEL_STALL_ROUNDS` (3) requests each, while
//! one client creates flows back to back and times each creation.
//!
//!     cargo bench --bench stall                          # every kind
//!     RIGEL_STALL_ONLY=claim,logs cargo bench --bench stall   # some kinds only
//!     RIGEL_STALL_BOUND_MS=1000 …                       # the guard's bound (default 1000 ms)
//!
//! Prints a Markdown table (p50/p99/max of the concurrent flow creation per kind) and exits 1
//! when any kind's maximum exceeds the bound; docs/BENCHMARKS.md records the figures.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use support::{ms, percentile, status_kib, ServerProcess};
use uuid::Uuid;

use rigel_common::backfill::{MAX_BACKFILL_PARAMETER_BYTES, MAX_BACKFILL_RUNS};
use rigel_common::filter::{MAX_ANY, MAX_LIMIT, MAX_TAGS, MAX_TAG_CHARS};
use rigel_common::log::MAX_LOG_BATCH;
use rigel_common::schedule::{MAX_RRULE_DATES as MAX_DATES, MAX_RRULE_LINES as MAX_RULES};
use rigel_common::state::MAX_PROPOSALS;
use rigel_common::validation::MAX_PARAMETERS_BYTES;
use rigel_server::DEFAULT_MAX_BODY_BYTES;

/// The target for the concurrent write.
const TARGET: Duration = Duration::from_millis(250);

/// A request answered: its status and body.
async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.json().await.unwrap_or(Value::Null);
            (status, body)
        }
        Err(e) => (0, json!({ "transport": e.to_string() })),
    }
}

/// The API under test and its HTTP client.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.http.post(format!("{}{path}", self.url)).json(body)).await
    }

    async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.http.patch(format!("{}{path}", self.url)).json(body)).await
    }

    /// POST that must succeed; answers the body.
    async fn ok(&self, path: &str, body: &Value) -> Value {
        let (s, v) = self.post(path, body).await;
        assert!((200..300).contains(&s), "POST {path}: {s} {v}");
        v
    }
}

fn id(v: &Value) -> Uuid {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {v}"))
}

/// `n` distinct tags of the longest length allowed.
fn long_tags(n: usize, salt: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let head = format!("{salt}-{i:03}-");
            format!("{head}{}", "t".repeat(MAX_TAG_CHARS - head.len()))
        })
        .collect()
}

/// A JSON object of about `bytes` bytes (a few keys with long string values).
fn parameters(bytes: usize) -> Value {
    let chunk = 16 * 1024;
    let mut map = serde_json::Map::new();
    let mut left = bytes;
    let mut i = 0;
    while left > 64 {
        let n = chunk.min(left - 32);
        map.insert(format!("p{i:03}"), Value::String("x".repeat(n)));
        left -= n + 16;
        i += 1;
    }
    Value::Object(map)
}

/// The largest recurrence the API admits: `MAX_RULES` rules walked from `dtstart` (with COUNT,
/// so the walk can't be skipped), `MAX_DATES` RDATEs and EXDATEs.
fn rrule_set(dtstart: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let mut text = format!("DTSTART:{}\n", stamp(dtstart));
    for i in 0..MAX_RULES {
        text.push_str(&format!(
            "RRULE:FREQ=MINUTELY;COUNT=1000000000;BYSECOND={}\n",
            i % 60
        ));
    }
    let dates = |offset: i64| {
        (0..MAX_DATES as i64)
            .map(|i| stamp(now + TimeDelta::minutes(offset + i * 7)))
            .collect::<Vec<_>>()
            .join(",")
    };
    text.push_str(&format!("RDATE:{}\nEXDATE:{}", dates(3), dates(5)));
    text
}

/// The oldest DTSTART (to the minute) whose rule set the server still admits: the rule set at
/// the work budget. Found by bisection on a probe deployment, which is left with it.
async fn rrule_at_budget(api: &Api) -> (String, Uuid) {
    let now = Utc::now();
    let body = |rrule: &str| {
        json!({
            "name": "probe", "flow_name": "stall",
            "flow_data": {"encoding": "text", "blob": "true"},
            "schedule": {"rrule": rrule},
        })
    };
    let (mut lo, mut hi) = (1_i64, 60 * 24 * 3650_i64);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let (s, v) = api
            .post(
                "/deployments/",
                &body(&rrule_set(now - TimeDelta::minutes(mid), now)),
            )
            .await;
        match s {
            200 | 201 => lo = mid,
            422 if v.to_string().contains("too much work") => hi = mid,
            _ => panic!("probing the rule budget: {s} {v}"),
        }
    }
    // 1% short of the edge, so the walk still fits as the clock moves on during the bench
    let rrule = rrule_set(now - TimeDelta::minutes(lo * 99 / 100), now);
    let probe = api.ok("/deployments/", &body(&rrule)).await;
    println!(
        "rule set at the work budget: DTSTART {} minutes back, {} characters",
        lo * 99 / 100,
        rrule.len()
    );
    (rrule, id(&probe))
}

/// A log batch of `MAX_LOG_BATCH` records whose JSON is just under the body limit.
fn log_batch(run: Uuid) -> Value {
    let record = |message: String| {
        json!({
            "flow_run_id": run, "level": 20, "timestamp": Utc::now(), "message": message,
        })
    };
    let overhead = record(String::new()).to_string().len() + 1;
    let per = (DEFAULT_MAX_BODY_BYTES - 4096) / MAX_LOG_BATCH - overhead;
    Value::Array(
        (0..MAX_LOG_BATCH)
            .map(|_| record("m".repeat(per)))
            .collect(),
    )
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// One slow request of a kind; `i` counts the requests of that kind so far.
type Fire = Arc<dyn Fn(Api, usize) -> BoxFuture<u16> + Send + Sync>;

struct Kind {
    name: &'static str,
    what: String,
    fire: Fire,
}

fn kind(
    name: &'static str,
    what: impl Into<String>,
    fire: impl Fn(Api, usize) -> BoxFuture<u16> + Send + Sync + 'static,
) -> Kind {
    Kind {
        name,
        what: what.into(),
        fire: Arc::new(fire),
    }
}

/// Builds every kind of slow request, writing the data each one needs.
async fn kinds(api: &Api, runs: usize) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let now = Utc::now();

    // --- recurrence rules at the work budget, on create and on update
    let (rrule, probe) = rrule_at_budget(api).await;
    let text = |rrule: &str, name: String| {
        json!({
            "name": name, "flow_name": "stall",
            "flow_data": {"encoding": "text", "blob": "true"},
            "schedule": {"rrule": rrule},
        })
    };
    let r = rrule.clone();
    kinds.push(kind(
        "rrule-create",
        format!(
            "POST /deployments/, {MAX_RULES} RRULEs at the work budget + {MAX_DATES} RDATE/EXDATE"
        ),
        move |api, i| {
            let body = text(&r, format!("rrule-{i}"));
            Box::pin(async move { api.post("/deployments/", &body).await.0 })
        },
    ));
    // two variants a minute apart, so every update changes the schedule
    let variants = [
        rrule.clone(),
        rrule.replacen("COUNT=1000000000", "COUNT=999999999", 1),
    ];
    kinds.push(kind(
        "rrule-update",
        "PATCH /deployments/{id}, the same rule set, changed each time",
        move |api, i| {
            let body = json!({"schedule": {"rrule": variants[i % 2]}});
            Box::pin(async move { api.patch(&format!("/deployments/{probe}"), &body).await.0 })
        },
    ));

    // --- a claim whose queue filter has the most tags of the longest length, over many due
    // runs that each carry all but one of them (so every due run is examined, none matches)
    let wanted = long_tags(MAX_TAGS, "q");
    let queue = api
        .ok(
            "/work_queues/",
            &json!({"name": "stall", "filter": {"tags": wanted}}),
        )
        .await;
    let tagged = api
        .ok(
            "/deployments/",
            &json!({
                "name": "tagged", "flow_name": "stall", "tags": &wanted[1..],
                "flow_data": {"encoding": "text", "blob": "true"},
            }),
        )
        .await;
    let t = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (api, next, d) = (api.clone(), Arc::clone(&next), id(&tagged));
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < runs {
                api.ok(&format!("/deployments/{d}/create_flow_run"), &json!({}))
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("run creator");
    }
    println!(
        "{runs} due runs with {} tags of {MAX_TAG_CHARS} characters: {:.1} s",
        MAX_TAGS - 1,
        t.elapsed().as_secs_f64()
    );
    let agent = api
        .ok(
            "/agents/",
            &json!({"name": "stall", "work_queue_name": "stall"}),
        )
        .await;
    let (queue, agent) = (id(&queue), id(&agent));
    kinds.push(kind(
        "claim",
        format!(
            "claim {MAX_LIMIT}, queue filter of {MAX_TAGS} tags × {MAX_TAG_CHARS} chars, {runs} due runs with {} of them",
            MAX_TAGS - 1
        ),
        move |api, _| {
            let body = json!({"agent_id": agent, "limit": MAX_LIMIT,
                "prefetch_seconds": 0.0, "wait_seconds": 0.0});
            Box::pin(async move { api.post(&format!("/work_queues/{queue}/claim"), &body).await.0 })
        },
    ));

    // --- a run filter with every list at its longest and `tags.all_`
    let uuids = |keep: Option<Uuid>| {
        let mut v: Vec<Uuid> = (0..MAX_ANY).map(|_| Uuid::now_v7()).collect();
        if let Some(k) = keep {
            v[MAX_ANY / 2] = k;
        }
        v
    };
    let names = |keep: &str| {
        let mut v: Vec<String> = (0..MAX_ANY).map(|i| format!("name-{i:04}")).collect();
        v[MAX_ANY / 3] = keep.to_string();
        v
    };
    let flow_id: Uuid = tagged["flow_id"]
        .as_str()
        .and_then(|f| f.parse().ok())
        .expect("flow_id");
    let filter = json!({
        "flow_runs": {
            "deployment_id": {"any_": uuids(Some(id(&tagged)))},
            "flow_id": {"any_": uuids(Some(flow_id))},
            "state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED"]},
                      "name": {"any_": names("Scheduled")}},
            "tags": {"all_": wanted},
        },
        "deployments": {"name": {"any_": names("tagged")}},
        "flows": {"name": {"any_": names("stall")}},
        "limit": MAX_LIMIT,
    });
    kinds.push(kind(
        "filter",
        format!("POST /flow_runs/filter, every any_ list of {MAX_ANY}, tags.all_ {MAX_TAGS} × {MAX_TAG_CHARS} chars"),
        move |api, _| {
            let body = filter.clone();
            Box::pin(async move { api.post("/flow_runs/filter", &body).await.0 })
        },
    ));

    // --- the largest log batch, over runs that can each take 10 of them
    let plain = api
        .ok(
            "/deployments/",
            &json!({"name": "plain", "flow_name": "stall",
                    "flow_data": {"encoding": "text", "blob": "true"}}),
        )
        .await;
    let mut log_runs = Vec::new();
    for _ in 0..8 {
        let r = api
            .ok(
                &format!("/deployments/{}/create_flow_run", id(&plain)),
                &json!({}),
            )
            .await;
        log_runs.push(id(&r));
    }
    let batches: Arc<Vec<Value>> = Arc::new(log_runs.iter().map(|r| log_batch(*r)).collect());
    kinds.push(kind(
        "logs",
        format!(
            "POST /logs/, {MAX_LOG_BATCH} records, {} bytes of JSON",
            batches[0].to_string().len()
        ),
        move |api, i| {
            let batches = Arc::clone(&batches);
            Box::pin(async move { api.post("/logs/", &batches[i % batches.len()]).await.0 })
        },
    ));

    // --- the largest parameters on a schedule that materialises its most runs at once
    let big = parameters(MAX_PARAMETERS_BYTES - 1024);
    let big_len = big.to_string().len();
    let every_minute = {
        let big = big.clone();
        move |name: String| {
            json!({
                "name": name, "flow_name": "stall", "parameters": big,
                "flow_data": {"encoding": "text", "blob": "true"},
                "schedule": {"interval": 60},
            })
        }
    };
    let body = every_minute.clone();
    kinds.push(kind(
        "parameters",
        format!("POST /deployments/, {big_len} bytes of parameters, a run a minute (100 runs materialised)"),
        move |api, i| {
            let body = body(format!("params-{i}"));
            Box::pin(async move { api.post("/deployments/", &body).await.0 })
        },
    ));

    // --- the most proposals in one set_states, over runs nothing else touches
    let mut proposal_runs = Vec::with_capacity(MAX_PROPOSALS);
    for _ in 0..MAX_PROPOSALS {
        let r = api
            .ok(
                "/flow_runs/",
                &json!({"deployment_id": id(&plain), "state": {"type": "PENDING"}}),
            )
            .await;
        proposal_runs.push(id(&r));
    }
    kinds.push(kind(
        "set-states",
        format!("POST /flow_runs/set_states, {MAX_PROPOSALS} proposals (forced, all accepted)"),
        move |api, i| {
            let kind = ["RUNNING", "PENDING"][i % 2];
            let body = json!({"proposals": proposal_runs.iter().map(|r| json!({
                "flow_run_id": r, "state": {"type": kind}, "force": true,
            })).collect::<Vec<_>>()});
            Box::pin(async move { api.post("/flow_runs/set_states", &body).await.0 })
        },
    ));

    // --- backfills of the most runs, with small and with the largest parameters
    for (name, params) in [("backfill", json!({})), ("backfill-params", big.clone())] {
        let d = api
            .ok(
                "/deployments/",
                &json!({"name": name, "flow_name": "stall", "parameters": params,
                        "is_schedule_active": false,
                        "flow_data": {"encoding": "text", "blob": "true"},
                        "schedule": {"interval": 60}}),
            )
            .await;
        let d = id(&d);
        let size = params.to_string().len();
        // as many runs as the parameters let one backfill copy
        let max_runs = MAX_BACKFILL_RUNS.min((MAX_BACKFILL_PARAMETER_BYTES / size) as u32);
        kinds.push(kind(
            name,
            format!(
                "POST /deployments/{{id}}/schedule, {max_runs} runs, {size} bytes of parameters"
            ),
            move |api, i| {
                // a fresh window each time, so every backfill writes all its runs
                let end = now - TimeDelta::days(2 * i as i64 + 1);
                let body = json!({"start_time": end - TimeDelta::days(1), "end_time": end,
                                  "max_runs": max_runs});
                Box::pin(async move {
                    api.post(&format!("/deployments/{d}/schedule"), &body)
                        .await
                        .0
                })
            },
        ));
    }

    // --- bodies at the limit: a deployment's flow code, and a server block's data
    let blob = "b".repeat(DEFAULT_MAX_BODY_BYTES - 4096);
    kinds.push(kind(
        "body-deployment",
        format!("POST /deployments/, flow_data text of {} bytes", blob.len()),
        move |api, i| {
            let body = json!({"name": format!("body-{}", i % 3), "flow_name": "stall",
                              "flow_data": {"encoding": "text", "blob": blob}});
            Box::pin(async move { api.post("/deployments/", &body).await.0 })
        },
    ));
    let block = api
        .ok("/blocks/", &json!({"name": "stall", "type": "server"}))
        .await;
    let block = id(&block);
    kinds.push(kind(
        "body-block",
        format!("PUT /blocks/{{id}}/data/{{key}}, {DEFAULT_MAX_BODY_BYTES} bytes"),
        move |api, i| {
            let data = vec![b'z'; DEFAULT_MAX_BODY_BYTES];
            Box::pin(async move {
                let url = format!("{}/blocks/{block}/data/k{}", api.url, i % 3);
                send(
                    api.http
                        .put(url)
                        .header("content-type", "application/octet-stream")
                        .body(data),
                )
                .await
                .0
            })
        },
    ));
    kinds
}

/// Creates flows one after another until `stop`; answers each creation's latency and the
/// number that failed.
async fn flow_writes(api: Api, stop: Arc<AtomicBool>, tag: String) -> (Vec<Duration>, usize) {
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let (s, _) = api
            .post("/flows/", &json!({"name": format!("{tag}-{i}")}))
            .await;
        lat.push(t.elapsed());
        if s != 201 {
            errors += 1;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    lat.sort();
    (lat, errors)
}

struct Measured {
    flows: Vec<Duration>,
    flow_errors: usize,
    statuses: Vec<u16>,
    heavy: Vec<Duration>,
}

/// Fires `parallel` loops of `rounds` requests of `kind` while flows are created.
async fn measure(api: &Api, kind: Option<&Kind>, parallel: usize, rounds: usize) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let tag = format!("f-{}-{}", kind.map_or("idle", |k| k.name), Uuid::now_v7());
    let writer = tokio::spawn(flow_writes(api.clone(), Arc::clone(&stop), tag));
    let mut statuses = Vec::new();
    let mut heavy = Vec::new();
    match kind {
        None => tokio::time::sleep(Duration::from_secs(3)).await,
        Some(kind) => {
            let count = Arc::new(AtomicUsize::new(0));
            let mut loops = Vec::new();
            for _ in 0..parallel {
                let (api, fire, count) = (api.clone(), Arc::clone(&kind.fire), Arc::clone(&count));
                loops.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    for _ in 0..rounds {
                        let i = count.fetch_add(1, Ordering::Relaxed);
                        let t = Instant::now();
                        let s = fire(api.clone(), i).await;
                        out.push((s, t.elapsed()));
                    }
                    out
                }));
            }
            for l in loops {
                for (s, d) in l.await.expect("request loop") {
                    statuses.push(s);
                    heavy.push(d);
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (flows, flow_errors) = writer.await.expect("flow writer");
    heavy.sort();
    statuses.sort();
    statuses.dedup();
    Measured {
        flows,
        flow_errors,
        statuses,
        heavy,
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    std::env::set_var("RIGEL_LOG", "warn");
    let bound = Duration::from_millis(env_usize("RIGEL_STALL_BOUND_MS", 1000) as u64);
    let parallel = env_usize("RIGEL_STALL_PARALLEL", 3);
    let rounds = env_usize("RIGEL_STALL_ROUNDS", 3);
    let runs = env_usize("RIGEL_STALL_RUNS", 20_000);
    let only = std::env::var("RIGEL_STALL_ONLY").ok();
    let home = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(home.path());
    let pid = server.child.id();
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .expect("http client"),
        url: server.api_url.clone(),
    };
    let setup = Instant::now();
    let kinds = kinds(&api, runs).await;
    println!("setup: {:.1} s", setup.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    let mut worst = Duration::ZERO;
    let idle = measure(&api, None, parallel, rounds).await;
    rows.push(row("idle (no other load)", "", &idle));
    for k in &kinds {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|s| s == k.name))
        {
            continue;
        }
        let m = measure(&api, Some(k), parallel, rounds).await;
        let max = percentile(&m.flows, 1.0);
        worst = worst.max(max);
        println!(
            "{}: flows max {}{}",
            k.name,
            ms(max),
            if max > TARGET { " (over 250 ms)" } else { "" }
        );
        rows.push(row(k.name, &k.what, &m));
    }
    println!(
        "\nserver peak RSS: {} KiB; {parallel} requests of a kind at once, {rounds} each\n",
        status_kib(pid, "VmHWM:")
    );
    println!("| kind | slow request | its statuses, p50 / max | concurrent POST /api/flows/: n, p50 / p99 / max |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    drop(server);
    // exit() skips destructors: the database (gigabytes after a log flood) must go first
    drop(home);
    if worst > bound {
        eprintln!(
            "a concurrent flow creation took {} (bound {})",
            ms(worst),
            ms(bound)
        );
        std::process::exit(1);
    }
}

fn row(name: &str, what: &str, m: &Measured) -> String {
    let heavy = if m.heavy.is_empty() {
        "—".to_string()
    } else {
        format!(
            "{:?}, {} / {}",
            m.statuses,
            ms(percentile(&m.heavy, 0.5)),
            ms(percentile(&m.heavy, 1.0))
        )
    };
    format!(
        "| {name} | {what} | {heavy} | {}{}, {} / {} / {} |",
        m.flows.len(),
        if m.flow_errors > 0 {
            format!(" ({} failed)", m.flow_errors)
        } else {
            String::new()
        },
        ms(percentile(&m.flows, 0.5)),
        ms(percentile(&m.flows, 0.99)),
        ms(percentile(&m.flows, 1.0))
    )
}
