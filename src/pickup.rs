//! Who will pick a new run up: after `deployment run`, the CLI asks the server which work queues
//! offer the run (the server owns the queue-filter rules) and whether an agent polls them, and
//! warns when the run would wait forever.

use rigel_common::client::RigelClient;
use rigel_common::flow_run::FlowRun;
use rigel_common::work_queue::{QueueHealth, QueueOffer};

use crate::say;

/// The queues that offer `run`, or `None` when the server could not say: this is advice, and a
/// failure to get it must not fail the command that already created the run.
pub async fn offers(client: &RigelClient, run: &FlowRun) -> Option<Vec<QueueOffer>> {
    match client.run_work_queues(run.id).await {
        Ok(offers) => Some(offers),
        Err(e) => {
            tracing::debug!(run = %run.id, error = %e, "cannot read the work queues of the run");
            None
        }
    }
}

fn names(offers: &[&QueueOffer]) -> String {
    let names: Vec<String> = offers
        .iter()
        .map(|o| format!("'{}'", o.work_queue.name))
        .collect();
    names.join(", ")
}

fn with_status(offers: &[QueueOffer], status: QueueHealth) -> Vec<&QueueOffer> {
    offers.iter().filter(|o| o.status == status).collect()
}

/// Warns (on stderr) when no queue offers the run, or when no agent polled any of those that do
/// in the last minute.
pub fn warn(run: &FlowRun, offers: &[QueueOffer]) {
    if offers.is_empty() {
        let tags = if run.tags.is_empty() {
            "no tags".to_string()
        } else {
            format!("tags {}", run.tags.join(", "))
        };
        say!(
            "warning: no work queue offers this run ({tags}), so no agent will pick it up; \
             create one whose filter matches with `rigel work-queue create NAME [-t TAG]…`"
        );
        return;
    }
    if !with_status(offers, QueueHealth::Ready).is_empty() {
        return;
    }
    let idle = with_status(offers, QueueHealth::NotReady);
    let paused = with_status(offers, QueueHealth::Paused);
    if let Some(first) = idle.first() {
        say!(
            "warning: no agent has polled the work queue{} {} that offer{} this run in the \
             last minute; start one with `rigel agent start {}`",
            if idle.len() == 1 { "" } else { "s" },
            names(&idle),
            if idle.len() == 1 { "s" } else { "" },
            first.work_queue.name
        );
    }
    if let Some(first) = paused.first() {
        say!(
            "warning: the work queue{} {} that offer{} this run {} paused; resume with \
             `rigel work-queue resume {}`",
            if paused.len() == 1 { "" } else { "s" },
            names(&paused),
            if paused.len() == 1 { "s" } else { "" },
            if paused.len() == 1 { "is" } else { "are" },
            first.work_queue.name
        );
    }
}

/// What a watched run that is still Scheduled waits for, in words.
pub fn waiting_for(run: &FlowRun, offers: Option<&[QueueOffer]>) -> String {
    let start = match run.state.scheduled_time {
        Some(t) if t > chrono::Utc::now() => {
            format!("its start time ({}), then ", crate::output::time(Some(t)))
        }
        _ => String::new(),
    };
    let Some(offers) = offers else {
        return format!("Waiting for {start}an agent to pick the run up…");
    };
    let ready = with_status(offers, QueueHealth::Ready);
    let (queues, note) = if !ready.is_empty() {
        (ready, "")
    } else if !offers.is_empty() {
        (offers.iter().collect(), " (no agent is polling it now)")
    } else {
        return format!("Waiting for {start}a work queue and an agent to pick the run up…");
    };
    let names: Vec<&str> = queues.iter().map(|o| o.work_queue.name.as_str()).collect();
    format!(
        "Waiting for {start}an agent on queue {} to pick the run up{note}…",
        names.join(" or ")
    )
}
