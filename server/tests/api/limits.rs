//! Every limit the API enforces, tested at the limit (accepted) and one past it (refused with
//! 422 naming the field, 413 for a body over the size limit, 400 for nesting), never a 500.
//!
//! One table: each entry is a request at the limit and the same request one step past it. The
//! entries run one after another against one app; every problem is collected, so a run reports
//! all the limits that are off at once.

use axum::http::{Method, StatusCode};
use rigel_common::agent::{MAX_AGENT_LABEL_LEN, MAX_RUNS_IN_FLIGHT};
use rigel_common::api_key::MAX_KEY_QUEUES;
use rigel_common::backfill::MAX_BACKFILL_RUNS;
use rigel_common::filter::{MAX_ANY, MAX_LIMIT, MAX_TAGS, MAX_TAG_CHARS};
use rigel_common::log::{MAX_LOG_BATCH, MAX_LOG_MESSAGE_BYTES};
use rigel_common::schedule::{MAX_RRULE_DATES, MAX_RRULE_LINES};
use rigel_common::state::MAX_PROPOSALS;
use rigel_common::validation::{MAX_NAME_LEN, MAX_PARAMETERS_BYTES, MAX_SETTINGS_BYTES};
use rigel_server::auth::AuthMode;
use rigel_server::extract::MAX_NESTING;
use rigel_server::routes::work_queues::{MAX_CLAIM_WAIT_SECONDS, MAX_PREFETCH_SECONDS};
use rigel_server::DEFAULT_MAX_BODY_BYTES;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::TestApp;

/// How a request one step past a limit is refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// 422 `validation_error` naming this field (`details.field`).
    Field(&'static str),
    /// 422 naming a field built at run time (`proposals`, `[0].message`, …).
    Named(&'static str),
    /// 413: the body is over the size limit.
    TooLarge,
    /// 400: the body nests too deep (refused before it is parsed, so no field).
    TooDeep,
}

/// One limit: the same request at the limit and one step past it.
struct Case {
    limit: String,
    method: Method,
    path: String,
    /// Where the request past the limit goes (the same path unless the limit is in the path).
    past_path: String,
    at: String,
    past: String,
    refusal: Refusal,
}

/// A string of `n` characters; a few are multi-byte, so limits counted in characters are not
/// confused with bytes.
fn chars(n: usize) -> String {
    "é".chars()
        .cycle()
        .take(n.min(3))
        .chain("x".chars().cycle().take(n.saturating_sub(3)))
        .collect()
}

/// A string of `n` ASCII bytes.
fn bytes(n: usize) -> String {
    "x".repeat(n)
}

/// `shape(filler)` whose JSON is exactly `len` bytes, the filler being ASCII.
fn json_of_len(shape: impl Fn(String) -> Value, len: usize) -> Value {
    let overhead = shape(String::new()).to_string().len();
    let value = shape(bytes(len - overhead));
    assert_eq!(value.to_string().len(), len);
    value
}

fn uuids(n: usize) -> Vec<String> {
    (0..n).map(|_| Uuid::now_v7().to_string()).collect()
}

/// Tags `0`, `1`, … (`n` of them).
fn tags(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

/// An array nested `depth` deep: `[[…[1]…]]`.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// The fixtures the cases run against.
struct Fixture {
    deployment: String,
    /// A deployment no case changes (the cases leave `deployment` with the largest parameters,
    /// which would trip a backfill's cap on copied parameters before its run count).
    plain_deployment: String,
    flow: String,
    runs: Vec<String>,
    queue: String,
    agent: String,
    block: String,
}

impl Fixture {
    async fn new(app: &TestApp, runs: usize) -> Self {
        let mut body = TestApp::deployment_body("limits", "fixture");
        body["schedule"] = json!({"interval": 60});
        body["work_queue_name"] = json!("limits");
        let d = app.create_deployment(body).await;
        let mut body = TestApp::deployment_body("limits", "plain");
        body["schedule"] = json!({"interval": 60});
        let plain = app.create_deployment(body).await;
        let (s, q) = app
            .post("/api/work_queues/", json!({"name": "limits"}))
            .await;
        assert!(s.is_success(), "{s}: {q}");
        let (s, a) = app
            .post(
                "/api/agents/",
                json!({"name": "agent", "work_queue_name": "limits"}),
            )
            .await;
        assert!(s.is_success(), "{s}: {a}");
        let (s, b) = app
            .post("/api/blocks/", json!({"name": "data", "type": "server"}))
            .await;
        assert!(s.is_success(), "{s}: {b}");
        let mut ids = Vec::new();
        for _ in 0..runs {
            let (s, r) = app
                .post(
                    &format!(
                        "/api/deployments/{}/create_flow_run",
                        d["id"].as_str().unwrap()
                    ),
                    json!({"scheduled_start_time": "2020-01-01T00:00:00Z"}),
                )
                .await;
            assert!(s.is_success(), "{s}: {r}");
            ids.push(r["id"].as_str().unwrap().to_string());
        }
        let text = |v: &Value| v["id"].as_str().unwrap().to_string();
        Self {
            deployment: text(&d),
            plain_deployment: text(&plain),
            flow: text(&json!({"id": d["flow_id"]})),
            runs: ids,
            queue: text(&q),
            agent: text(&a),
            block: text(&b),
        }
    }
}

/// Builds the table; names are unique per request (`n`), so an accepted create never meets a
/// conflict with an earlier one.
struct Table {
    cases: Vec<Case>,
    n: usize,
}

impl Table {
    /// A unique name of exactly `len` characters.
    fn unique_name(&mut self, len: usize) -> String {
        self.n += 1;
        let prefix = format!("{}-", self.n);
        format!("{prefix}{}", chars(len - prefix.len()))
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}-{}", self.n)
    }

    /// A case whose bodies are JSON values.
    fn json(
        &mut self,
        limit: &str,
        method: Method,
        path: &str,
        at: Value,
        past: Value,
        field: &'static str,
    ) {
        self.raw(
            limit,
            method,
            path,
            at.to_string(),
            past.to_string(),
            Refusal::Field(field),
        );
    }

    /// Sends the last case's request past the limit to `path`.
    fn past_path(&mut self, path: String) {
        if let Some(last) = self.cases.last_mut() {
            last.past_path = path;
        }
    }

    fn raw(
        &mut self,
        limit: &str,
        method: Method,
        path: &str,
        at: String,
        past: String,
        refusal: Refusal,
    ) {
        self.cases.push(Case {
            limit: limit.to_string(),
            method,
            path: path.to_string(),
            past_path: path.to_string(),
            at,
            past,
            refusal,
        });
    }

    /// A deployment create with `extra` merged into a valid body.
    fn deployment(&mut self, extra: &Value) -> Value {
        let mut body = TestApp::deployment_body("limits", &self.unique("d"));
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    /// Deployment creates at and past a limit, given as the fields to set.
    fn create(&mut self, limit: &str, at: Value, past: Value, field: &'static str) {
        let (at, past) = (self.deployment(&at), self.deployment(&past));
        self.json(limit, Method::POST, "/api/deployments/", at, past, field);
    }

    /// A filter endpoint given its body at and past a limit.
    fn filter(&mut self, limit: &str, path: &str, at: Value, past: Value, field: &'static str) {
        self.json(limit, Method::POST, path, at, past, field);
    }
}

fn cases(f: &Fixture) -> Vec<Case> {
    let mut t = Table {
        cases: Vec::new(),
        n: 0,
    };
    let deployment = format!("/api/deployments/{}", f.deployment);
    let name_at = chars(MAX_NAME_LEN);
    let name_past = chars(MAX_NAME_LEN + 1);

    // deployments
    let a = t.unique_name(MAX_NAME_LEN);
    t.create(
        "deployment name",
        json!({"name": a}),
        json!({"name": name_past}),
        "name",
    );
    t.create(
        "flow name",
        json!({"flow_name": name_at}),
        json!({"flow_name": name_past}),
        "flow_name",
    );
    t.create(
        "work queue name",
        json!({"work_queue_name": name_at}),
        json!({"work_queue_name": name_past}),
        "work_queue_name",
    );
    t.create(
        "tags",
        json!({"tags": tags(MAX_TAGS)}),
        json!({"tags": tags(MAX_TAGS + 1)}),
        "tags",
    );
    t.create(
        "tag length",
        json!({"tags": [chars(MAX_TAG_CHARS)]}),
        json!({"tags": [chars(MAX_TAG_CHARS + 1)]}),
        "tags[0]",
    );
    let params = |len| json_of_len(|s| json!({"p": s}), len);
    t.create(
        "parameters",
        json!({"parameters": params(MAX_PARAMETERS_BYTES)}),
        json!({"parameters": params(MAX_PARAMETERS_BYTES + 1)}),
        "parameters",
    );
    let text = |len| json_of_len(Value::String, len);
    t.create(
        "description",
        json!({"description": text(MAX_SETTINGS_BYTES)}),
        json!({"description": text(MAX_SETTINGS_BYTES + 1)}),
        "description",
    );
    let schema = |len| json_of_len(|s| json!({"description": s}), len);
    t.create(
        "parameter schema",
        json!({"parameter_schema": schema(MAX_SETTINGS_BYTES)}),
        json!({"parameter_schema": schema(MAX_SETTINGS_BYTES + 1)}),
        "parameter_schema",
    );
    let runner = |len| json!({"type": "subprocess", "config": json_of_len(|s| json!({"env": {"A": s}}), len)});
    t.create(
        "runner config",
        json!({"flow_runner": runner(MAX_SETTINGS_BYTES)}),
        json!({"flow_runner": runner(MAX_SETTINGS_BYTES + 1)}),
        "flow_runner.config",
    );
    // schedules
    t.create(
        "interval at least 1 s",
        json!({"schedule": {"interval": 1}}),
        json!({"schedule": {"interval": 0.999}}),
        "schedule.interval",
    );
    let century = 100.0 * 365.25 * 86_400.0;
    t.create(
        "interval at most 100 years",
        json!({"schedule": {"interval": century}}),
        json!({"schedule": {"interval": century + 1.0}}),
        "schedule.interval",
    );
    // "00,0,0,…,0 9 * * *": a minute list padded to the length
    let cron = |len: usize| format!("00{} 9 * * *", ",0".repeat((len - 10) / 2));
    t.create(
        "cron length",
        json!({"schedule": {"cron": cron(1000)}}),
        json!({"schedule": {"cron": format!("{} ", cron(1000)).replacen("00", "000", 1)}}),
        "schedule.cron",
    );
    // "RRULE:FREQ=YEARLY;BYMONTH=1,1,…,1" padded to the length
    let rrule = |len: usize| {
        let head = "RRULE:FREQ=YEARLY;BYMONTH=1";
        let mut text = format!("{head}{}", ",1".repeat((len - head.len()) / 2));
        if text.len() < len {
            text = text.replacen("=1", "=01", 1);
        }
        text
    };
    t.create(
        "rrule length",
        json!({"schedule": {"rrule": rrule(10_000)}}),
        json!({"schedule": {"rrule": format!("{}\n", rrule(10_000))}}),
        "schedule.rrule",
    );
    let lines = |n: usize| vec!["RRULE:FREQ=DAILY;BYHOUR=9"; n].join("\n");
    t.create(
        "rrule lines",
        json!({"schedule": {"rrule": lines(MAX_RRULE_LINES)}}),
        json!({"schedule": {"rrule": lines(MAX_RRULE_LINES + 1)}}),
        "schedule.rrule",
    );
    for name in ["RDATE", "EXDATE"] {
        let dates = |n: usize| {
            let values: Vec<String> = (0..n)
                .map(|i| format!("2030{:02}{:02}T090000Z", 1 + i / 28, 1 + i % 28))
                .collect();
            format!("RRULE:FREQ=DAILY\n{name}:{}", values.join(","))
        };
        t.create(
            &format!("{name} values"),
            json!({"schedule": {"rrule": dates(MAX_RRULE_DATES)}}),
            json!({"schedule": {"rrule": dates(MAX_RRULE_DATES + 1)}}),
            "schedule.rrule",
        );
    }
    // the work budget: the same rule from yesterday, and counted from 2020 (issue 17)
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1)).format("%Y%m%dT000000Z");
    t.create(
        "rrule work budget",
        json!({"schedule": {"rrule": format!("DTSTART:{yesterday}\nRRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000")}}),
        json!({"schedule": {"rrule": "RRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000"}}),
        "schedule.rrule",
    );
    // updates
    let desc = |len| json!({"description": json_of_len(Value::String, len)});
    t.json(
        "update description",
        Method::PATCH,
        &deployment,
        desc(MAX_SETTINGS_BYTES),
        desc(MAX_SETTINGS_BYTES + 1),
        "description",
    );
    t.json(
        "update tags",
        Method::PATCH,
        &deployment,
        json!({"tags": tags(MAX_TAGS)}),
        json!({"tags": tags(MAX_TAGS + 1)}),
        "tags",
    );
    t.json(
        "update parameters",
        Method::PATCH,
        &deployment,
        json!({"parameters": params(MAX_PARAMETERS_BYTES)}),
        json!({"parameters": params(MAX_PARAMETERS_BYTES + 1)}),
        "parameters",
    );
    t.json(
        "update runner config",
        Method::PATCH,
        &deployment,
        json!({"flow_runner": runner(MAX_SETTINGS_BYTES)}),
        json!({"flow_runner": runner(MAX_SETTINGS_BYTES + 1)}),
        "flow_runner.config",
    );

    // runs of a deployment
    let create_run = format!("{deployment}/create_flow_run");
    t.json(
        "run name",
        Method::POST,
        &create_run,
        json!({"name": name_at}),
        json!({"name": name_past}),
        "name",
    );
    t.json(
        "run tags",
        Method::POST,
        &create_run,
        json!({"tags": tags(MAX_TAGS)}),
        json!({"tags": tags(MAX_TAGS + 1)}),
        "tags",
    );
    t.json(
        "run parameters",
        Method::POST,
        &create_run,
        json!({"parameters": params(MAX_PARAMETERS_BYTES)}),
        json!({"parameters": params(MAX_PARAMETERS_BYTES + 1)}),
        "parameters",
    );
    t.json(
        "idempotency key",
        Method::POST,
        &create_run,
        json!({"idempotency_key": bytes(500)}),
        json!({"idempotency_key": bytes(501)}),
        "idempotency_key",
    );
    // runs of a flow
    let run = |extra: Value| {
        let mut body = json!({"flow_id": f.flow});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    t.json(
        "flow run name",
        Method::POST,
        "/api/flow_runs/",
        run(json!({"name": name_at})),
        run(json!({"name": name_past})),
        "name",
    );
    t.json(
        "flow run tag length",
        Method::POST,
        "/api/flow_runs/",
        run(json!({"tags": [chars(MAX_TAG_CHARS)]})),
        run(json!({"tags": [chars(MAX_TAG_CHARS + 1)]})),
        "tags[0]",
    );
    t.json(
        "flow run parameters",
        Method::POST,
        "/api/flow_runs/",
        run(json!({"parameters": params(MAX_PARAMETERS_BYTES)})),
        run(json!({"parameters": params(MAX_PARAMETERS_BYTES + 1)})),
        "parameters",
    );
    t.json(
        "flow run runner config",
        Method::POST,
        "/api/flow_runs/",
        run(json!({"flow_runner": runner(MAX_SETTINGS_BYTES)})),
        run(json!({"flow_runner": runner(MAX_SETTINGS_BYTES + 1)})),
        "flow_runner.config",
    );
    let state = |name: String, message: String| json!({"type": "SCHEDULED", "name": name, "message": message});
    t.json(
        "initial state name",
        Method::POST,
        "/api/flow_runs/",
        run(json!({"state": state(chars(100), String::new())})),
        run(json!({"state": state(chars(101), String::new())})),
        "state.name",
    );
    t.json(
        "initial state message",
        Method::POST,
        "/api/flow_runs/",
        run(json!({"state": state("s".into(), bytes(64 * 1024))})),
        run(json!({"state": state("s".into(), bytes(64 * 1024 + 1))})),
        "state.message",
    );
    // state changes (a forced SCHEDULED over SCHEDULED is always accepted)
    let set_state = format!("/api/flow_runs/{}/set_state", f.runs[0]);
    let forced =
        |name: String, message: String| json!({"state": state(name, message), "force": true});
    t.json(
        "state name",
        Method::POST,
        &set_state,
        forced(chars(100), String::new()),
        forced(chars(101), String::new()),
        "state.name",
    );
    t.json(
        "state message",
        Method::POST,
        &set_state,
        forced("s".into(), bytes(64 * 1024)),
        forced("s".into(), bytes(64 * 1024 + 1)),
        "state.message",
    );
    let proposals = |n: usize| {
        let one = json!({"flow_run_id": f.runs[0], "state": {"type": "SCHEDULED"}, "force": true});
        json!({"proposals": vec![one; n]})
    };
    t.raw(
        "proposals per call",
        Method::POST,
        "/api/flow_runs/set_states",
        proposals(MAX_PROPOSALS).to_string(),
        proposals(MAX_PROPOSALS + 1).to_string(),
        Refusal::Named("proposals"),
    );
    // task runs
    let task = |name: String| json!({"flow_run_id": f.runs[0], "name": name});
    t.json(
        "task run name",
        Method::POST,
        "/api/task_runs/",
        task(chars(200)),
        task(chars(201)),
        "name",
    );

    // filters: page size, offset, `any_` lists, tag lists
    for path in [
        "/api/flows/filter",
        "/api/deployments/filter",
        "/api/flow_runs/filter",
        "/api/work_queues/filter",
        "/api/agents/filter",
        "/api/blocks/filter",
        "/api/logs/filter",
    ] {
        t.filter(
            &format!("{path} limit"),
            path,
            json!({"limit": MAX_LIMIT}),
            json!({"limit": MAX_LIMIT + 1}),
            "limit",
        );
        t.filter(
            &format!("{path} offset"),
            path,
            json!({"offset": u32::MAX}),
            json!({"offset": u64::from(u32::MAX) + 1}),
            "offset",
        );
    }
    t.filter(
        "task runs limit",
        "/api/task_runs/filter",
        json!({"flow_run_id": f.runs[0], "limit": MAX_LIMIT}),
        json!({"flow_run_id": f.runs[0], "limit": MAX_LIMIT + 1}),
        "limit",
    );
    let any = |n: usize| json!({"any_": uuids(n)});
    for (path, criteria, field) in [
        ("/api/flows/filter", "flows", "flows.id.any_"),
        (
            "/api/deployments/filter",
            "deployments",
            "deployments.id.any_",
        ),
        ("/api/flow_runs/filter", "flow_runs", "flow_runs.id.any_"),
        ("/api/flow_runs/count", "flow_runs", "flow_runs.id.any_"),
        ("/api/agents/filter", "agents", "agents.id.any_"),
    ] {
        t.filter(
            &format!("{path} {criteria}.id.any_"),
            path,
            json!({criteria: {"id": any(MAX_ANY)}}),
            json!({criteria: {"id": any(MAX_ANY + 1)}}),
            field,
        );
    }
    let all = |tags: Vec<String>| json!({"flow_runs": {"tags": {"all_": tags}}});
    t.filter(
        "tags.all_",
        "/api/flow_runs/filter",
        all(tags(MAX_TAGS)),
        all(tags(MAX_TAGS + 1)),
        "flow_runs.tags.all_",
    );
    t.filter(
        "tags.all_ length",
        "/api/flow_runs/filter",
        all(vec![chars(MAX_TAG_CHARS)]),
        all(vec![chars(MAX_TAG_CHARS + 1)]),
        "flow_runs.tags.all_",
    );
    t.raw(
        "audit limit",
        Method::GET,
        &format!("/api/audit?limit={MAX_LIMIT}"),
        String::new(),
        String::new(),
        Refusal::Named("limit"),
    );
    t.past_path(format!("/api/audit?limit={}", MAX_LIMIT + 1));

    // work queues
    let queue_name = t.unique_name(MAX_NAME_LEN);
    t.json(
        "queue name",
        Method::POST,
        "/api/work_queues/",
        json!({"name": queue_name}),
        json!({"name": name_past}),
        "name",
    );
    let q_at = t.unique("q");
    let q_past = t.unique("q");
    t.json(
        "queue tags",
        Method::POST,
        "/api/work_queues/",
        json!({"name": q_at, "filter": {"tags": tags(MAX_TAGS)}}),
        json!({"name": q_past, "filter": {"tags": tags(MAX_TAGS + 1)}}),
        "filter.tags",
    );
    let (q_at, q_past) = (t.unique("q"), t.unique("q"));
    t.json(
        "queue deployments",
        Method::POST,
        "/api/work_queues/",
        json!({"name": q_at, "filter": {"deployment_ids": uuids(MAX_ANY)}}),
        json!({"name": q_past, "filter": {"deployment_ids": uuids(MAX_ANY + 1)}}),
        "filter.deployment_ids",
    );
    let (q_at, q_past) = (t.unique("q"), t.unique("q"));
    t.json(
        "queue description",
        Method::POST,
        "/api/work_queues/",
        json!({"name": q_at, "description": json_of_len(Value::String, MAX_SETTINGS_BYTES)}),
        json!({"name": q_past, "description": json_of_len(Value::String, MAX_SETTINGS_BYTES + 1)}),
        "description",
    );
    let queue = format!("/api/work_queues/{}", f.queue);
    t.json(
        "queue update description",
        Method::PATCH,
        &queue,
        json!({"description": json_of_len(Value::String, MAX_SETTINGS_BYTES)}),
        json!({"description": json_of_len(Value::String, MAX_SETTINGS_BYTES + 1)}),
        "description",
    );
    t.filter(
        "queue preview limit",
        &format!("{queue}/get_runs"),
        json!({"limit": MAX_LIMIT}),
        json!({"limit": MAX_LIMIT + 1}),
        "limit",
    );
    // claims: each accepted claim takes one of the fixture's due runs, so none waits
    let claim = format!("{queue}/claim");
    let body = |extra: Value| {
        let mut b = json!({"agent_id": f.agent});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    t.json(
        "claim limit",
        Method::POST,
        &claim,
        body(json!({"limit": 1, "wait_seconds": 0})),
        body(json!({"limit": MAX_LIMIT + 1})),
        "limit",
    );
    t.json(
        "claim wait",
        Method::POST,
        &claim,
        body(json!({"wait_seconds": MAX_CLAIM_WAIT_SECONDS})),
        body(json!({"wait_seconds": MAX_CLAIM_WAIT_SECONDS + 0.001})),
        "wait_seconds",
    );
    t.json(
        "claim prefetch",
        Method::POST,
        &claim,
        body(json!({"prefetch_seconds": MAX_PREFETCH_SECONDS})),
        body(json!({"prefetch_seconds": MAX_PREFETCH_SECONDS + 0.001})),
        "prefetch_seconds",
    );

    // agents
    let agent = |extra: Value| {
        let mut b = json!({"name": "a", "work_queue_name": "limits"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    t.json(
        "agent name",
        Method::POST,
        "/api/agents/",
        agent(json!({"name": name_at})),
        agent(json!({"name": name_past})),
        "name",
    );
    for label in ["hostname", "version"] {
        t.json(
            &format!("agent {label}"),
            Method::POST,
            "/api/agents/",
            agent(json!({label: chars(MAX_AGENT_LABEL_LEN)})),
            agent(json!({label: chars(MAX_AGENT_LABEL_LEN + 1)})),
            if label == "hostname" {
                "hostname"
            } else {
                "version"
            },
        );
    }
    t.json(
        "runs in flight",
        Method::POST,
        &format!("/api/agents/{}/heartbeat", f.agent),
        json!({"runs_in_flight": uuids(MAX_RUNS_IN_FLIGHT)}),
        json!({"runs_in_flight": uuids(MAX_RUNS_IN_FLIGHT + 1)}),
        "runs_in_flight",
    );

    // API keys
    let k_at = t.unique_name(MAX_NAME_LEN);
    t.json(
        "key name",
        Method::POST,
        "/api/api_keys/",
        json!({"name": k_at, "role": "monitor"}),
        json!({"name": name_past, "role": "monitor"}),
        "name",
    );
    let (k_at, k_past) = (t.unique("k"), t.unique("k"));
    let queues = |n: usize| (0..n).map(|i| format!("q{i}")).collect::<Vec<_>>();
    t.json(
        "key queues",
        Method::POST,
        "/api/api_keys/",
        json!({"name": k_at, "role": "agent", "queues": queues(MAX_KEY_QUEUES)}),
        json!({"name": k_past, "role": "agent", "queues": queues(MAX_KEY_QUEUES + 1)}),
        "queues",
    );
    let (k_at, k_past) = (t.unique("k"), t.unique("k"));
    t.json(
        "key expiry",
        Method::POST,
        "/api/api_keys/",
        json!({"name": k_at, "role": "monitor", "expires_in_seconds": 3.2e9}),
        json!({"name": k_past, "role": "monitor", "expires_in_seconds": 3.2e9 + 1.0}),
        "expires_in_seconds",
    );

    // blocks
    t.json(
        "block name",
        Method::POST,
        "/api/blocks/",
        json!({"name": name_at, "type": "local", "config": {"path": "/tmp/limits"}}),
        json!({"name": name_past, "type": "local", "config": {"path": "/tmp/limits-2"}}),
        "name",
    );
    let local = |len| json!({"type": "local", "config": json_of_len(|s| json!({"path": format!("/{s}")}), len)});
    t.json(
        "block config",
        Method::POST,
        "/api/blocks/",
        local(MAX_SETTINGS_BYTES),
        local(MAX_SETTINGS_BYTES + 1),
        "config",
    );
    let data = |key: &str| format!("/api/blocks/{}/data/{key}", f.block);
    t.raw(
        "block data key",
        Method::PUT,
        &data(&bytes(128)),
        "x".into(),
        "x".into(),
        Refusal::Named("key"),
    );
    t.past_path(data(&bytes(129)));

    // logs
    let record = |message: String, level: u8| json!({"flow_run_id": f.runs[0], "level": level, "timestamp": "2026-01-01T00:00:00Z", "message": message});
    let batch = |n: usize| Value::Array(vec![record("m".into(), 20); n]);
    t.raw(
        "log batch",
        Method::POST,
        "/api/logs/",
        batch(MAX_LOG_BATCH).to_string(),
        batch(MAX_LOG_BATCH + 1).to_string(),
        Refusal::Named(""),
    );
    t.raw(
        "log message",
        Method::POST,
        "/api/logs/",
        json!([record(bytes(MAX_LOG_MESSAGE_BYTES), 20)]).to_string(),
        json!([record(bytes(MAX_LOG_MESSAGE_BYTES + 1), 20)]).to_string(),
        Refusal::Named("[0].message"),
    );
    t.raw(
        "log level",
        Method::POST,
        "/api/logs/",
        json!([record("m".into(), 50)]).to_string(),
        json!([record("m".into(), 51)]).to_string(),
        Refusal::Named("[0].level"),
    );

    // backfill
    let backfill = |n: u32| json!({"start_time": "2030-01-01T00:00:00Z", "end_time": "2031-01-01T00:00:00Z", "max_runs": n});
    t.json(
        "backfill runs",
        Method::POST,
        &format!("/api/deployments/{}/schedule", f.plain_deployment),
        backfill(MAX_BACKFILL_RUNS),
        backfill(MAX_BACKFILL_RUNS + 1),
        "max_runs",
    );

    // the body itself: nesting and size
    let nested_body = |name: &str, depth: usize| {
        // the body and the parameters object are two levels; the value nests the rest
        let value: Value = serde_json::from_str(&nested(depth - 2)).unwrap();
        let mut body = TestApp::deployment_body("limits", name);
        body["parameters"] = json!({"p": value});
        body.to_string()
    };
    t.raw(
        "nesting",
        Method::POST,
        "/api/deployments/",
        nested_body("nested-at", MAX_NESTING),
        nested_body("nested-past", MAX_NESTING + 1),
        Refusal::TooDeep,
    );
    // a filter padded with spaces to exactly the body limit
    let padded = |len: usize| {
        let body = "{\"limit\": 1}";
        format!("{body}{}", " ".repeat(len - body.len()))
    };
    t.raw(
        "body size",
        Method::POST,
        "/api/flows/filter",
        padded(DEFAULT_MAX_BODY_BYTES),
        padded(DEFAULT_MAX_BODY_BYTES + 1),
        Refusal::TooLarge,
    );
    t.cases
}

/// Checks one case; returns what is wrong with it, if anything.
async fn check(app: &TestApp, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let name = &case.limit;
    let (status, body) = app
        .raw(case.method.clone(), &case.path, case.at.clone())
        .await;
    if !status.is_success() {
        problems.push(format!(
            "{name}: at the limit answered {status}: {}",
            short(&body)
        ));
    }
    let (status, body) = app
        .raw(case.method.clone(), &case.past_path, case.past.clone())
        .await;
    let field = body["error"]["details"]["field"].as_str().unwrap_or("");
    let (want, want_field) = match case.refusal {
        Refusal::Field(f) | Refusal::Named(f) => (StatusCode::UNPROCESSABLE_ENTITY, Some(f)),
        Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None),
        Refusal::TooDeep => (StatusCode::BAD_REQUEST, None),
    };
    if status != want {
        problems.push(format!(
            "{name}: past the limit answered {status}, not {want}: {}",
            short(&body)
        ));
    } else if want_field.is_some_and(|f| f != field) {
        problems.push(format!(
            "{name}: past the limit named {field:?}, not {want_field:?}: {}",
            short(&body)
        ));
    }
    if body["error"]["message"].as_str().is_none_or(str::is_empty) {
        problems.push(format!(
            "{name}: the refusal has no message: {}",
            short(&body)
        ));
    }
    problems
}

fn short(body: &Value) -> String {
    body.to_string().chars().take(300).collect()
}

#[tokio::test]
async fn every_limit_is_accepted_at_and_refused_past_by_name() {
    // keys are created on the way, which would close a server that checks them once one exists
    let app = TestApp::with_config(|c| c.auth_mode = AuthMode::Off).await;
    // one due run per accepted claim, and the run the state changes and logs use
    let fixture = Fixture::new(&app, 8).await;
    let cases = cases(&fixture);
    let mut problems = Vec::new();
    for case in &cases {
        problems.extend(check(&app, case).await);
    }
    assert!(
        problems.is_empty(),
        "{} of {} limits are off:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}
