//! Carries out a confirmed [`Change`].

use rigel_common::client::{Cancellation, RigelClient};
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::work_queue::WorkQueueUpdate;
use uuid::Uuid;

use crate::msg::{Change, Outcome};

pub async fn perform(client: &RigelClient, change: Change) -> Outcome {
    match change {
        Change::QuickRun {
            deployment_id,
            deployment,
        } => {
            create_run(
                client,
                deployment_id,
                deployment,
                DeploymentRunCreate::default(),
            )
            .await
        }
        Change::CustomRun {
            deployment_id,
            deployment,
            body,
            ..
        } => create_run(client, deployment_id, deployment, body).await,
        Change::CancelRun { run_id, run } => {
            match client
                .cancel_flow_run(run_id, "cancelled from the terminal UI")
                .await
            {
                Ok(c @ Cancellation::Refused { .. }) => Outcome::Failed(c.describe(&run)),
                Ok(c) => Outcome::Done(c.describe(&run)),
                Err(e) => Outcome::Failed(format!("Cannot cancel flow run '{run}': {e}")),
            }
        }
        Change::SetScheduleActive {
            deployment_id,
            deployment,
            active,
        } => match client.set_schedule_active(deployment_id, active).await {
            Ok(_) if active => Outcome::Done(format!("Resumed the schedule of '{deployment}'.")),
            Ok(_) => Outcome::Done(format!("Paused the schedule of '{deployment}'.")),
            Err(e) => Outcome::Failed(format!("Cannot change the schedule of '{deployment}': {e}")),
        },
        Change::SetQueuePaused {
            queue_id,
            queue,
            paused,
        } => {
            let patch = WorkQueueUpdate {
                is_paused: Some(paused),
                ..Default::default()
            };
            match client.update_work_queue(queue_id, &patch).await {
                Ok(_) if paused => Outcome::Done(format!("Paused work queue '{queue}'.")),
                Ok(_) => Outcome::Done(format!("Resumed work queue '{queue}'.")),
                Err(e) => Outcome::Failed(format!("Cannot change work queue '{queue}': {e}")),
            }
        }
    }
}

async fn create_run(
    client: &RigelClient,
    deployment_id: Uuid,
    deployment: String,
    body: DeploymentRunCreate,
) -> Outcome {
    match client.create_deployment_run(deployment_id, &body).await {
        Ok((run, _)) => Outcome::RunCreated {
            run: Box::new(run),
            deployment,
        },
        Err(e) => Outcome::Failed(format!("Cannot run '{deployment}': {e}")),
    }
}
