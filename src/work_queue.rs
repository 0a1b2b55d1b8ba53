//! `rigel work-queue …`.

use clap::Subcommand;
use rigel_common::client::RigelClient;
use rigel_common::deployment::FlowRunnerType;
use rigel_common::work_queue::{
    QueueFilter, QueueRunsPreview, WorkQueue, WorkQueueCreate, WorkQueueFilter, WorkQueueUpdate,
};
use serde::Serialize;

use crate::deployment::confirm;
use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{resolve, say};
use rigel_common::client::all_pages;

#[derive(Subcommand, Debug)]
pub enum WorkQueueCommand {
    /// Create a work queue.
    Create {
        name: String,
        /// Only runs carrying this tag (repeatable: all must match).
        #[arg(short = 't', long = "tag")]
        tags: Vec<String>,
        /// Only runs of this deployment (`flow/name` or id; repeatable).
        #[arg(short = 'd', long = "deployment")]
        deployments: Vec<String>,
        /// Only runs with this flow runner type (repeatable).
        #[arg(short = 'r', long = "runner", value_parser = parse_runner)]
        runners: Vec<FlowRunnerType>,
        /// Most runs of this queue pending or running at once.
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List work queues.
    Ls,
    /// Show a work queue and its status.
    Inspect { name: String },
    /// Stop handing out runs.
    Pause { name: String },
    /// Hand out runs again.
    Resume { name: String },
    /// Allow at most N runs of this queue pending or running at once (0 takes nothing).
    SetConcurrencyLimit { name: String, limit: u32 },
    /// Remove the concurrency limit.
    ClearConcurrencyLimit { name: String },
    /// Show the runs an agent would get in the next hours.
    Preview {
        name: String,
        #[arg(long, default_value_t = 1.0)]
        hours: f64,
    },
    /// Delete a work queue.
    Delete {
        name: String,
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

fn parse_runner(s: &str) -> Result<FlowRunnerType, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| "expected universal, subprocess, docker or kubernetes".to_string())
}

pub async fn run(client: &RigelClient, cmd: WorkQueueCommand, format: Format) -> CliResult {
    match cmd {
        WorkQueueCommand::Create {
            name,
            tags,
            deployments,
            runners,
            limit,
            description,
        } => {
            let mut ids = Vec::new();
            for d in &deployments {
                ids.push(resolve::deployment(client, d).await?.id);
            }
            let body = WorkQueueCreate {
                name,
                description,
                is_paused: false,
                concurrency_limit: limit,
                filter: QueueFilter {
                    tags,
                    deployment_ids: (!ids.is_empty()).then_some(ids),
                    flow_runner_types: (!runners.is_empty()).then_some(runners),
                },
            };
            let q = client.create_work_queue(&body).await?;
            say!("Created work queue '{}'. Start an agent for it with:\n\n    rigel agent start '{}'\n", q.name, q.name);
            if format != Format::Table {
                output::data(format, &q)?;
            }
            Ok(())
        }
        WorkQueueCommand::Ls => ls(client, format).await,
        WorkQueueCommand::Inspect { name } => inspect(client, &name, format).await,
        WorkQueueCommand::Pause { name } => {
            patch(
                client,
                &name,
                WorkQueueUpdate {
                    is_paused: Some(true),
                    ..Default::default()
                },
                "Paused",
            )
            .await
        }
        WorkQueueCommand::Resume { name } => {
            patch(
                client,
                &name,
                WorkQueueUpdate {
                    is_paused: Some(false),
                    ..Default::default()
                },
                "Resumed",
            )
            .await
        }
        WorkQueueCommand::SetConcurrencyLimit { name, limit } => {
            patch(
                client,
                &name,
                WorkQueueUpdate {
                    concurrency_limit: Some(Some(limit)),
                    ..Default::default()
                },
                "Set the concurrency limit of",
            )
            .await
        }
        WorkQueueCommand::ClearConcurrencyLimit { name } => {
            patch(
                client,
                &name,
                WorkQueueUpdate {
                    concurrency_limit: Some(None),
                    ..Default::default()
                },
                "Cleared the concurrency limit of",
            )
            .await
        }
        WorkQueueCommand::Preview { name, hours } => {
            if !hours.is_finite() || hours < 0.0 {
                return Err(CliError::invalid("--hours must be a positive number"));
            }
            let q = resolve::work_queue(client, &name).await?;
            let before =
                chrono::Utc::now() + chrono::Duration::milliseconds((hours * 3_600_000.0) as i64);
            let runs = client
                .preview_work_queue(
                    q.id,
                    &QueueRunsPreview {
                        scheduled_before: Some(before),
                        limit: None,
                    },
                )
                .await?;
            if format != Format::Table {
                return output::data(format, &runs);
            }
            let mut t = Table::new(vec!["ID", "NAME", "STATE", "SCHEDULED FOR"]);
            for r in &runs {
                t.row(vec![
                    r.id.to_string(),
                    r.name.clone(),
                    output::state_word(r.state.kind, &r.state.name),
                    output::time(r.next_scheduled_start_time),
                ]);
            }
            t.print();
            Ok(())
        }
        WorkQueueCommand::Delete { name, yes } => {
            let q = resolve::work_queue(client, &name).await?;
            confirm(yes, &format!("Delete work queue '{}'?", q.name))?;
            client.delete_work_queue(q.id).await?;
            say!("Deleted work queue '{}'.", q.name);
            Ok(())
        }
    }
}

async fn patch(client: &RigelClient, name: &str, body: WorkQueueUpdate, verb: &str) -> CliResult {
    let q = resolve::work_queue(client, name).await?;
    let q = client.update_work_queue(q.id, &body).await?;
    say!("{verb} work queue '{}'.", q.name);
    Ok(())
}

fn limit(q: &WorkQueue) -> String {
    q.concurrency_limit.map_or("-".into(), |l| l.to_string())
}

async fn ls(client: &RigelClient, format: Format) -> CliResult {
    let all = all_pages(|limit, offset| {
        let filter = WorkQueueFilter {
            limit,
            offset,
            ..Default::default()
        };
        async move { client.filter_work_queues(&filter).await }
    })
    .await?;
    if format != Format::Table {
        return output::data(format, &all);
    }
    let mut t = Table::new(vec![
        "NAME",
        "STATUS",
        "LATE",
        "CONCURRENCY",
        "LAST POLLED",
        "TAGS",
        "ID",
    ]);
    for q in &all {
        let st = client.work_queue_status(q.id).await?;
        t.row(vec![
            q.name.clone(),
            st.status.words().to_string(),
            st.late_runs.to_string(),
            format!("{}/{}", st.active_runs, limit(q)),
            output::time(q.last_polled),
            q.filter.tags.join(","),
            q.id.to_string(),
        ]);
    }
    t.print();
    if all.is_empty() {
        say!("No work queues yet; create one with `rigel work-queue create NAME`.");
    }
    Ok(())
}

#[derive(Serialize)]
struct QueueWithStatus {
    #[serde(flatten)]
    queue: WorkQueue,
    status: rigel_common::work_queue::WorkQueueStatus,
}

async fn inspect(client: &RigelClient, name: &str, format: Format) -> CliResult {
    let queue = resolve::work_queue(client, name).await?;
    let status = client.work_queue_status(queue.id).await?;
    let out = QueueWithStatus { queue, status };
    match format {
        Format::Table => output::data(Format::Yaml, &out),
        other => output::data(other, &out),
    }
}
