//! YAML flows: tasks run in `needs` order, independent ones at the same time; each task is a task
//! run with its own states, retries and timeout.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use rigel_common::client::RigelClient;
use rigel_common::state::{SetState, StateCreate, StateType};
use rigel_common::task_run::TaskRunCreate;
use rigel_spec::flowfile::{FlowDef, TaskDef};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Outcome;
use crate::logs::RunLogger;
use crate::process::{describe, plain_lines, run_streamed, Ended, FlowProcess};

enum TaskEnd {
    Done,
    Failed(String),
    Cancelled,
}

pub async fn run_tasks(
    client: &RigelClient,
    flow_run_id: Uuid,
    flow: &FlowDef,
    process: &FlowProcess,
    env: &BTreeMap<String, String>,
    logger: &RunLogger,
    outer: &CancellationToken,
) -> Outcome {
    // a failing task stops its siblings without cancelling the engine's own token
    let stop = outer.child_token();
    let cancel = &stop;
    let mut done: HashSet<String> = HashSet::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut failure: Option<String> = None;
    let mut cancelled = false;
    let mut running: JoinSet<(String, TaskEnd)> = JoinSet::new();
    loop {
        if failure.is_none() && !cancelled {
            for task in &flow.tasks {
                if !started.contains(&task.name) && task.needs.iter().all(|n| done.contains(n)) {
                    started.insert(task.name.clone());
                    let (client, logger, cancel, process, env, task) = (
                        client.clone(),
                        logger.clone(),
                        cancel.clone(),
                        process.clone(),
                        env.clone(),
                        task.clone(),
                    );
                    running.spawn(async move {
                        let end = run_task(
                            &client,
                            flow_run_id,
                            &task,
                            &process,
                            &env,
                            &logger,
                            &cancel,
                        )
                        .await;
                        (task.name, end)
                    });
                }
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((name, TaskEnd::Done)) => {
                done.insert(name);
            }
            Ok((_, TaskEnd::Failed(msg))) => {
                if failure.is_none() {
                    failure = Some(msg);
                    // the flow has failed: stop what is still running
                    cancel.cancel();
                }
            }
            Ok((_, TaskEnd::Cancelled)) => cancelled = true,
            Err(e) => {
                failure.get_or_insert_with(|| format!("a task crashed: {e}"));
            }
        }
    }
    if let Some(msg) = failure {
        return Outcome::Failed(msg);
    }
    if cancelled || outer.is_cancelled() {
        return Outcome::Cancelled(String::new());
    }
    let skipped: Vec<&str> = flow
        .tasks
        .iter()
        .filter(|t| !done.contains(&t.name))
        .map(|t| t.name.as_str())
        .collect();
    if !skipped.is_empty() {
        return Outcome::Failed(format!("tasks never became ready: {}", skipped.join(", ")));
    }
    Outcome::Completed
}

async fn set_task_state(client: &RigelClient, id: Uuid, state: StateCreate) {
    let body = SetState {
        state,
        force: false,
        claim_token: None,
        transition_id: None,
    };
    if let Err(e) = client.set_task_run_state(id, &body).await {
        tracing::warn!(error = %e, "cannot report a task state");
    }
}

async fn run_task(
    client: &RigelClient,
    flow_run_id: Uuid,
    task: &TaskDef,
    process: &FlowProcess,
    env: &BTreeMap<String, String>,
    logger: &RunLogger,
    cancel: &CancellationToken,
) -> TaskEnd {
    let created = client
        .create_task_run(&TaskRunCreate {
            flow_run_id,
            name: task.name.clone(),
            state: None,
        })
        .await;
    let task_run = match created {
        Ok(t) => t.id,
        Err(e) => return TaskEnd::Failed(format!("task '{}': cannot record it: {e}", task.name)),
    };
    let attempts = task.retries + 1;
    let timeout = task
        .timeout_seconds
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(Duration::from_secs_f64);
    for attempt in 1..=attempts {
        let name = if attempt == 1 { "Running" } else { "Retrying" };
        set_task_state(
            client,
            task_run,
            StateCreate::new(StateType::Running).named(name),
        )
        .await;
        logger
            .log(
                rigel_common::log::level::INFO,
                Some(task_run),
                &format!(
                    "Task '{}' started (attempt {attempt} of {attempts})",
                    task.name
                ),
            )
            .await;
        let mut cmd = process.command("sh");
        cmd.arg("-c").arg(&task.run).envs(env).envs(&task.env);
        if let Some(dir) = &task.working_dir {
            cmd.current_dir(process.folder(std::path::Path::new(dir)));
        }
        let ended = run_streamed(
            cmd,
            process.guard.as_ref(),
            logger,
            plain_lines(Some(task_run)),
            timeout,
            cancel,
        )
        .await;
        let why = match ended {
            Ok(Ended::Exited(s)) if s.success() => {
                set_task_state(client, task_run, StateCreate::new(StateType::Completed)).await;
                return TaskEnd::Done;
            }
            Ok(Ended::Exited(s)) => describe(&s),
            Ok(Ended::TimedOut) => format!(
                "timed out after {}s",
                task.timeout_seconds.unwrap_or_default()
            ),
            Ok(Ended::Cancelled) => {
                set_task_state(client, task_run, StateCreate::new(StateType::Cancelled)).await;
                return TaskEnd::Cancelled;
            }
            Err(e) => format!("cannot start: {e}"),
        };
        if attempt < attempts {
            let delay = Duration::from_secs_f64(task.retry_delay_seconds.max(0.0));
            let mut retry = StateCreate::new(StateType::Scheduled)
                .named("AwaitingRetry")
                .with_message(why.clone());
            retry.scheduled_time = chrono::Duration::from_std(delay)
                .ok()
                .map(|d| Utc::now() + d);
            set_task_state(client, task_run, retry).await;
            logger
                .log(
                    rigel_common::log::level::WARNING,
                    Some(task_run),
                    &format!(
                        "Task '{}' failed ({why}); retrying in {}s",
                        task.name,
                        delay.as_secs_f64()
                    ),
                )
                .await;
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => {
                    set_task_state(client, task_run, StateCreate::new(StateType::Cancelled)).await;
                    return TaskEnd::Cancelled;
                }
            }
            continue;
        }
        let msg = format!(
            "task '{}' failed: {why}{}",
            task.name,
            if attempts > 1 {
                format!(" (after {attempts} attempts)")
            } else {
                String::new()
            }
        );
        set_task_state(
            client,
            task_run,
            StateCreate::new(StateType::Failed).with_message(&msg),
        )
        .await;
        return TaskEnd::Failed(msg);
    }
    TaskEnd::Failed(format!("task '{}' did not run", task.name))
}
