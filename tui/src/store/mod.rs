//! What the TUI knows about the server: the last data fetched, plus indexes computed once per
//! fetch (search keys, run strips, next runs) so a keystroke never walks the raw data twice.

mod rows;

pub use rows::{is_late, DeploymentFacts, DeploymentRow, QueueRow, RunRow, Strip};

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use compact_str::CompactString;
use rigel_common::agent::Agent;
use rigel_common::deployment::Deployment;
use rigel_common::event::FlowRunStateEvent;
use rigel_common::schedule::Schedule;
use rigel_common::state::StateType;
use rigel_common::work_queue::WorkQueue;
use uuid::Uuid;

/// Marks a run whose deployment is not known.
const NO_DEPLOYMENT: u32 = u32::MAX;

/// How many recent runs a deployment's strip shows.
pub const STRIP_LEN: usize = 10;

/// Everything one refetch returns.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub deployments: Vec<DeploymentRow>,
    pub runs: Vec<RunRow>,
    pub queues: Vec<QueueRow>,
    pub agents: Vec<Agent>,
    /// All runs the server holds (the list keeps only the most recent ones).
    pub run_total: u64,
    pub fetched_at: DateTime<Utc>,
}

/// The data plus its indexes.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub deployments: Vec<DeploymentRow>,
    pub facts: Vec<DeploymentFacts>,
    deployment_by_id: HashMap<Uuid, usize>,
    /// Newest first (by start, else expected start).
    pub runs: Vec<RunRow>,
    run_by_id: HashMap<Uuid, usize>,
    /// Each run's deployment index, [`NO_DEPLOYMENT`] when not among the deployments.
    run_deployment: Vec<u32>,
    pub queues: Vec<QueueRow>,
    pub agents: Vec<Agent>,
    pub run_total: u64,
    pub fetched_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Builds the store and its indexes; `now` decides which scheduled time is "next".
    pub fn build(snapshot: Snapshot, now: DateTime<Utc>) -> Self {
        let Snapshot {
            deployments,
            mut runs,
            queues,
            agents,
            run_total,
            fetched_at,
        } = snapshot;
        runs.sort_by(|a, b| b.sort_time().cmp(&a.sort_time()).then(b.id.cmp(&a.id)));
        let mut store = Store {
            deployment_by_id: deployments
                .iter()
                .enumerate()
                .map(|(i, d)| (d.id, i))
                .collect(),
            deployments,
            facts: Vec::new(),
            run_by_id: HashMap::new(),
            run_deployment: Vec::new(),
            runs,
            queues,
            agents,
            run_total,
            fetched_at: Some(fetched_at),
        };
        store.reindex_runs();
        store.facts = store.deployments.iter().map(|d| facts_of(d, now)).collect();
        store.recompute_run_facts();
        store
    }

    pub fn deployment(&self, id: Uuid) -> Option<(&DeploymentRow, &DeploymentFacts)> {
        let i = *self.deployment_by_id.get(&id)?;
        Some((self.deployments.get(i)?, self.facts.get(i)?))
    }

    pub fn deployment_name(&self, id: Option<Uuid>) -> &str {
        id.and_then(|id| self.deployment(id))
            .map_or("-", |(_, f)| f.full_name.as_str())
    }

    pub fn run(&self, id: Uuid) -> Option<&RunRow> {
        self.runs.get(*self.run_by_id.get(&id)?)
    }

    pub fn agent(&self, id: Uuid) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn queue(&self, id: Uuid) -> Option<&QueueRow> {
        self.queues.iter().find(|q| q.queue.id == id)
    }

    /// Agents whose heartbeat is recent.
    pub fn agents_online(&self) -> usize {
        use rigel_common::agent::AgentStatus;
        self.agents
            .iter()
            .filter(|a| a.status == AgentStatus::Online)
            .count()
    }

    /// Adds or replaces runs (a run just created, live updates), keeping the order and the
    /// strips current. One call for a batch: the indexes are rebuilt once.
    pub fn upsert_runs(&mut self, rows: impl IntoIterator<Item = RunRow>) {
        for row in rows {
            match self.run_by_id.get(&row.id) {
                Some(&i) => self.runs[i] = row,
                None => {
                    self.run_by_id.insert(row.id, self.runs.len());
                    self.runs.push(row);
                    self.run_total += 1;
                }
            }
        }
        // nearly sorted already: the stable sort is close to linear here
        self.runs
            .sort_by(|a, b| b.sort_time().cmp(&a.sort_time()).then(b.id.cmp(&a.id)));
        self.reindex_runs();
        self.recompute_run_facts();
    }

    /// Applies state changes from the event stream: known runs move on (unless the event is older
    /// than what is shown), new ones are added.
    pub fn apply_run_events(&mut self, events: &[FlowRunStateEvent]) {
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let mut row = match self.run(e.flow_run_id) {
                Some(r) if r.state_since > e.state.timestamp => continue,
                Some(r) => r.clone(),
                None => RunRow {
                    id: e.flow_run_id,
                    name: CompactString::new(&e.name),
                    deployment_id: e.deployment_id,
                    work_queue_id: None,
                    agent_id: None,
                    state: e.state.kind,
                    state_name: None,
                    state_since: e.state.timestamp,
                    expected_start: e.state.scheduled_time.or(Some(e.state.timestamp)),
                    start: None,
                    end: None,
                    total_run_time: 0.0,
                },
            };
            row.work_queue_id = e.work_queue_id;
            row.agent_id = e.agent_id;
            row.state = e.state.kind;
            row.state_name = (e.state.name != e.state.kind.default_name())
                .then(|| e.state.name.clone().into_boxed_str());
            row.state_since = e.state.timestamp;
            if let (StateType::Scheduled, Some(at)) = (e.state.kind, e.state.scheduled_time) {
                if row.start.is_none() {
                    row.expected_start = Some(at);
                }
            }
            row.start = e.start_time;
            row.end = e.end_time;
            row.total_run_time = e.total_run_time;
            rows.push(row);
        }
        if !rows.is_empty() {
            self.upsert_runs(rows);
        }
    }

    /// A deployment created, changed (`Some`) or deleted (`None`).
    pub fn set_deployment(&mut self, id: Uuid, deployment: Option<Deployment>, now: DateTime<Utc>) {
        let at = self.deployment_by_id.get(&id).copied();
        match (at, deployment.map(DeploymentRow::from)) {
            (Some(i), Some(d)) => {
                self.facts[i] = facts_of(&d, now);
                self.deployments[i] = d;
            }
            (None, Some(d)) => {
                self.facts.push(facts_of(&d, now));
                self.deployments.push(d);
            }
            (Some(i), None) => {
                self.deployments.remove(i);
                self.facts.remove(i);
            }
            (None, None) => return,
        }
        self.deployment_by_id = self
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id, i))
            .collect();
        self.reindex_runs();
        self.recompute_run_facts();
    }

    /// An agent registered or heartbeating (`Some`), or gone (`None`).
    pub fn set_agent(&mut self, id: Uuid, agent: Option<Agent>) {
        let at = self.agents.iter().position(|a| a.id == id);
        match (at, agent) {
            (Some(i), Some(a)) => self.agents[i] = a,
            (None, Some(a)) => self.agents.push(a),
            (Some(i), None) => {
                self.agents.remove(i);
            }
            (None, None) => {}
        }
    }

    /// A work queue created or changed (`Some`; its last status is kept), or deleted (`None`).
    pub fn set_queue(&mut self, id: Uuid, queue: Option<WorkQueue>) {
        let at = self.queues.iter().position(|q| q.queue.id == id);
        match (at, queue) {
            (Some(i), Some(q)) => self.queues[i].queue = q,
            (None, Some(q)) => {
                self.queues.push(QueueRow {
                    queue: q,
                    status: None,
                });
                self.queues.sort_by(|a, b| a.queue.name.cmp(&b.queue.name));
            }
            (Some(i), None) => {
                self.queues.remove(i);
            }
            (None, None) => {}
        }
    }

    fn reindex_runs(&mut self) {
        self.run_by_id = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        self.run_deployment = self
            .runs
            .iter()
            .map(|r| {
                r.deployment_id
                    .and_then(|d| self.deployment_by_id.get(&d))
                    .map_or(NO_DEPLOYMENT, |&i| i as u32)
            })
            .collect();
    }

    /// The index in [`Store::deployments`] of run `i`'s deployment (when it is known).
    pub fn run_deployment(&self, i: usize) -> Option<usize> {
        self.run_deployment
            .get(i)
            .filter(|&&d| d != NO_DEPLOYMENT)
            .map(|&d| d as usize)
    }

    /// Strips, last states and next runs, in one pass over the runs (newest first).
    fn recompute_run_facts(&mut self) {
        let mut counts = vec![0usize; self.deployments.len()];
        let mut recent: Vec<[Option<(StateType, bool)>; STRIP_LEN]> =
            vec![[None; STRIP_LEN]; self.deployments.len()];
        let mut next: Vec<Option<DateTime<Utc>>> = vec![None; self.deployments.len()];
        for run in &self.runs {
            let Some(&i) = run
                .deployment_id
                .and_then(|d| self.deployment_by_id.get(&d))
            else {
                continue;
            };
            if run.state == StateType::Scheduled {
                if let Some(t) = run.expected_start {
                    next[i] = Some(next[i].map_or(t, |n| n.min(t)));
                }
                if !run.is_late() {
                    continue;
                }
            }
            if counts[i] < STRIP_LEN {
                recent[i][counts[i]] = Some((run.state, run.is_late()));
                counts[i] += 1;
            }
        }
        for (i, facts) in self.facts.iter_mut().enumerate() {
            let mut states = [None; STRIP_LEN];
            // newest first → oldest first, left-aligned
            for (slot, entry) in states.iter_mut().zip(recent[i][..counts[i]].iter().rev()) {
                *slot = *entry;
            }
            facts.strip = Strip { states };
            facts.last_state = recent[i][0].map(|(s, _)| s);
            facts.next_run = next[i].or(facts.computed_next);
        }
    }
}

/// What lists show about a deployment before its runs are looked at.
fn facts_of(d: &DeploymentRow, now: DateTime<Utc>) -> DeploymentFacts {
    let name = d.full_name().to_lowercase();
    DeploymentFacts {
        name_len: name.len(),
        search_key: search_key(name, d),
        full_name: d.full_name(),
        schedule_words: d.schedule.as_ref().map_or("-".into(), Schedule::describe),
        computed_next: computed_next_run(d, now),
        ..Default::default()
    }
}

/// The next time of an active schedule, for deployments whose runs are not in view.
fn computed_next_run(d: &DeploymentRow, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !d.is_schedule_active {
        return None;
    }
    let schedule = d.schedule.as_ref()?;
    schedule
        .next_runs(now, now + Duration::days(400), 1)
        .ok()?
        .into_iter()
        .next()
}

fn search_key(lower_name: String, d: &DeploymentRow) -> String {
    let mut key = lower_name;
    for t in &d.tags {
        key.push(' ');
        key.push_str(&t.to_lowercase());
    }
    key
}
