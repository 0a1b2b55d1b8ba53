//! Reading what the screens show, page by page.

use std::sync::Arc;

use chrono::Utc;
use rigel_common::agent::AgentFilter;
use rigel_common::client::{ClientResult, RigelClient};
use rigel_common::deployment::{Deployment, DeploymentCount, DeploymentFilter};
use rigel_common::filter::{AnyFilter, MAX_LIMIT};
use rigel_common::flow_run::{
    FlowRunCount, FlowRunCriteria, FlowRunFilter, FlowRunSort, StateCriteria,
};
use rigel_common::log::Log;
use rigel_common::state::StateType;
use rigel_common::task_run::TaskRunFilter;
use rigel_common::work_queue::WorkQueueFilter;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::msg::RunDetails;
use crate::store::{DeploymentRow, QueueRow, RunRow, Snapshot};

/// How many finished or active runs the lists keep (newest first). Older ones are a filter away
/// in the CLI; the strips need only the last ten of each deployment.
pub const RECENT_RUNS: u32 = 2_000;

/// How many scheduled runs (the earliest, Late ones first) the lists keep.
pub const UPCOMING_RUNS: u32 = 200;

/// Requests in flight at once when paging.
const PARALLEL_PAGES: usize = 4;

/// Most log records read for one run when it is opened (the newest are kept).
pub const MAX_LOG_RECORDS: usize = 20_000;

pub async fn snapshot(client: &RigelClient) -> ClientResult<Snapshot> {
    let agent_filter = AgentFilter::default();
    let run_count = FlowRunCount::default();
    let (deployments, recent, upcoming, queues, agents, run_total) = tokio::try_join!(
        deployments(client),
        runs(client, false, RECENT_RUNS),
        runs(client, true, UPCOMING_RUNS),
        queues(client),
        client.filter_agents(&agent_filter),
        client.count_flow_runs(&run_count),
    )?;
    let mut runs = recent;
    runs.extend(upcoming);
    Ok(Snapshot {
        deployments,
        runs,
        queues,
        agents,
        run_total,
        fetched_at: Utc::now(),
    })
}

/// Every deployment: the first page, then (when there are more) the rest in parallel. Each
/// page is made compact as it arrives, so 10 000 full records are never held at once.
async fn deployments(client: &RigelClient) -> ClientResult<Vec<DeploymentRow>> {
    fn rows(page: Vec<Deployment>) -> Vec<DeploymentRow> {
        page.into_iter().map(DeploymentRow::from).collect()
    }
    let first = client
        .filter_deployments(&DeploymentFilter::default())
        .await?;
    if first.len() < MAX_LIMIT as usize {
        return Ok(rows(first));
    }
    let first = rows(first);
    let total = client
        .count_deployments(&DeploymentCount::default())
        .await?;
    let gate = Arc::new(Semaphore::new(PARALLEL_PAGES));
    let mut pages = JoinSet::new();
    let mut offset = MAX_LIMIT;
    while u64::from(offset) < total {
        let client = client.clone();
        let gate = gate.clone();
        pages.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let filter = DeploymentFilter {
                offset,
                ..Default::default()
            };
            client
                .filter_deployments(&filter)
                .await
                .map(|p| (offset, rows(p)))
        });
        offset += MAX_LIMIT;
    }
    let mut got = vec![(0, first)];
    while let Some(page) = pages.join_next().await {
        match page {
            Ok(page) => got.push(page?),
            Err(_) => continue, // a page task panicked or was cancelled: show what we have
        }
    }
    got.sort_by_key(|(offset, _)| *offset);
    Ok(got.into_iter().flat_map(|(_, p)| p).collect())
}

/// Scheduled runs (earliest first) or every other run (newest first), up to `max`.
async fn runs(client: &RigelClient, scheduled: bool, max: u32) -> ClientResult<Vec<RunRow>> {
    let criteria = FlowRunCriteria {
        state: Some(scheduled_or_not(scheduled)),
        ..Default::default()
    };
    let sort = if scheduled {
        FlowRunSort::ExpectedStartTimeAsc
    } else {
        FlowRunSort::ExpectedStartTimeDesc
    };
    page_runs(client, criteria, sort, max).await
}

/// Runs in the Scheduled state (`true`), or in any other state (`false`).
fn scheduled_or_not(scheduled: bool) -> StateCriteria {
    let kinds: Vec<StateType> = StateType::ALL
        .into_iter()
        .filter(|k| (*k == StateType::Scheduled) == scheduled)
        .collect();
    StateCriteria {
        kind: Some(AnyFilter::new(kinds)),
        name: None,
    }
}

async fn page_runs(
    client: &RigelClient,
    criteria: FlowRunCriteria,
    sort: FlowRunSort,
    max: u32,
) -> ClientResult<Vec<RunRow>> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < max {
        let limit = MAX_LIMIT.min(max - offset);
        let filter = FlowRunFilter {
            flow_runs: criteria.clone(),
            sort,
            limit,
            offset,
            ..Default::default()
        };
        let page = client.filter_flow_runs(&filter).await?;
        let n = page.len() as u32;
        out.extend(page.iter().map(RunRow::from));
        if n < limit {
            break;
        }
        offset += limit;
    }
    Ok(out)
}

async fn queues(client: &RigelClient) -> ClientResult<Vec<QueueRow>> {
    let queues = client
        .filter_work_queues(&WorkQueueFilter::default())
        .await?;
    let mut statuses = JoinSet::new();
    for (i, q) in queues.iter().enumerate() {
        let client = client.clone();
        let id = q.id;
        statuses.spawn(async move { (i, client.work_queue_status(id).await.ok()) });
    }
    let mut rows: Vec<QueueRow> = queues
        .into_iter()
        .map(|queue| QueueRow {
            queue,
            status: None,
        })
        .collect();
    while let Some(Ok((i, status))) = statuses.join_next().await {
        if let Some(row) = rows.get_mut(i) {
            row.status = status;
        }
    }
    Ok(rows)
}

/// A deployment's last runs (newest first) and its next scheduled ones (earliest first).
pub async fn deployment_runs(
    client: &RigelClient,
    deployment_id: Uuid,
) -> ClientResult<(Vec<RunRow>, Vec<RunRow>)> {
    let of = |scheduled: bool| FlowRunCriteria {
        deployment_id: Some(AnyFilter::new([deployment_id])),
        state: Some(scheduled_or_not(scheduled)),
        ..Default::default()
    };
    tokio::try_join!(
        page_runs(client, of(false), FlowRunSort::ExpectedStartTimeDesc, 20),
        page_runs(client, of(true), FlowRunSort::ExpectedStartTimeAsc, 10),
    )
}

pub async fn run_details(client: &RigelClient, id: Uuid) -> ClientResult<RunDetails> {
    let task_filter = TaskRunFilter {
        flow_run_id: id,
        limit: MAX_LIMIT,
        offset: 0,
    };
    let (run, states, tasks) = tokio::try_join!(
        client.read_flow_run(id),
        client.flow_run_states(id),
        client.filter_task_runs(&task_filter),
    )?;
    Ok(RunDetails { run, states, tasks })
}

/// Log records of a run with an id above `after`, oldest first, up to [`MAX_LOG_RECORDS`].
pub async fn logs_after(
    client: &RigelClient,
    run_id: Uuid,
    after: Option<i64>,
) -> ClientResult<Vec<Log>> {
    let mut out: Vec<Log> = Vec::new();
    let mut cursor = after;
    loop {
        let page = client.log_page(run_id, cursor).await?;
        let full = page.len() == MAX_LIMIT as usize;
        cursor = page.last().map(|l| l.id).or(cursor);
        out.extend(page);
        if out.len() > MAX_LOG_RECORDS {
            out.drain(..out.len() - MAX_LOG_RECORDS);
        }
        if !full {
            return Ok(out);
        }
    }
}
