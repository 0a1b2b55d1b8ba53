//! Flow runs, task runs and their states.

use reqwest::Method;
use uuid::Uuid;

use super::{ClientError, ClientResult, RigelClient, Upserted};
use crate::error::ErrorBody;
use crate::flow_run::{
    DeploymentRunCreate, FlowRun, FlowRunCount, FlowRunCreate, FlowRunFilter, RunHeartbeat,
    RunHeartbeatAnswer,
};
use crate::state::{
    FlowRunProposal, ProposalOutcome, SetState, SetStateResult, SetStateStatus, SetStatesResult,
    State, StateCreate, StateType,
};
use crate::task_run::{TaskRun, TaskRunCreate, TaskRunFilter};

impl RigelClient {
    pub async fn create_flow_run(&self, body: &FlowRunCreate) -> ClientResult<(FlowRun, Upserted)> {
        let (status, run) = self.call(Method::POST, "/flow_runs/", Some(body)).await?;
        Ok((run, Self::upserted(status)))
    }

    /// A run of a deployment (its parameters merged with `body.parameters`).
    pub async fn create_deployment_run(
        &self,
        deployment_id: Uuid,
        body: &DeploymentRunCreate,
    ) -> ClientResult<(FlowRun, Upserted)> {
        let path = format!("/deployments/{deployment_id}/create_flow_run");
        let (status, run) = self.call(Method::POST, &path, Some(body)).await?;
        Ok((run, Self::upserted(status)))
    }

    pub async fn read_flow_run(&self, id: Uuid) -> ClientResult<FlowRun> {
        self.get(&format!("/flow_runs/{id}")).await
    }

    pub async fn filter_flow_runs(&self, filter: &FlowRunFilter) -> ClientResult<Vec<FlowRun>> {
        self.post("/flow_runs/filter", filter).await
    }

    pub async fn count_flow_runs(&self, filter: &FlowRunCount) -> ClientResult<u64> {
        self.post("/flow_runs/count", filter).await
    }

    pub async fn delete_flow_run(&self, id: Uuid) -> ClientResult<()> {
        self.no_content(Method::DELETE, &format!("/flow_runs/{id}"))
            .await
    }

    /// The run's states, oldest first.
    pub async fn flow_run_states(&self, id: Uuid) -> ClientResult<Vec<State>> {
        self.get(&format!("/flow_runs/{id}/states")).await
    }

    pub async fn set_flow_run_state(
        &self,
        id: Uuid,
        body: &SetState,
    ) -> ClientResult<SetStateResult> {
        self.post(&format!("/flow_runs/{id}/set_state"), body).await
    }

    /// Asks for run `id` to be cancelled (a Cancelling proposal, `message` saying by whom): what
    /// the CLI's `flow-run cancel` and the terminal UI's cancel key both do.
    pub async fn cancel_flow_run(&self, id: Uuid, message: &str) -> ClientResult<Cancellation> {
        let body = SetState {
            state: StateCreate::new(StateType::Cancelling).with_message(message),
            force: false,
            claim_token: None,
            transition_id: Some(Uuid::now_v7()),
        };
        let r = self.set_flow_run_state(id, &body).await?;
        Ok(match r.status {
            SetStateStatus::Accept if r.state.kind == StateType::Cancelled => {
                Cancellation::Cancelled
            }
            SetStateStatus::Accept => Cancellation::Stopping,
            _ => Cancellation::Refused {
                state: r.state.name,
                reason: r.details.reason.unwrap_or_default(),
            },
        })
    }

    /// Several runs' proposals in one call (at most [`crate::state::MAX_PROPOSALS`]): an
    /// answer per proposal, in their order, each what `set_flow_run_state` would have answered.
    pub async fn set_flow_run_states(
        &self,
        proposals: &[FlowRunProposal],
    ) -> ClientResult<Vec<ClientResult<SetStateResult>>> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            proposals: &'a [FlowRunProposal],
        }
        let path = "/flow_runs/set_states";
        let answer: SetStatesResult = self.post(path, &Body { proposals }).await?;
        if answer.results.len() != proposals.len() {
            return Err(ClientError::Protocol {
                url: format!("{}{path}", self.base_url()),
                status: 200,
                detail: format!(
                    "{} outcomes for {} proposals",
                    answer.results.len(),
                    proposals.len()
                ),
            });
        }
        Ok(answer
            .results
            .into_iter()
            .map(|outcome| match outcome {
                ProposalOutcome::Result(r) => Ok(r),
                ProposalOutcome::Error(error) => Err(ClientError::Api {
                    status: error.code.http_status(),
                    body: ErrorBody { error },
                }),
            })
            .collect())
    }

    /// Tells the server the run's process is alive; answers its state.
    pub async fn flow_run_heartbeat(
        &self,
        id: Uuid,
        claim_token: Option<Uuid>,
    ) -> ClientResult<RunHeartbeatAnswer> {
        self.post(
            &format!("/flow_runs/{id}/heartbeat"),
            &RunHeartbeat { claim_token },
        )
        .await
    }

    pub async fn create_task_run(&self, body: &TaskRunCreate) -> ClientResult<TaskRun> {
        self.post("/task_runs/", body).await
    }

    pub async fn read_task_run(&self, id: Uuid) -> ClientResult<TaskRun> {
        self.get(&format!("/task_runs/{id}")).await
    }

    pub async fn filter_task_runs(&self, filter: &TaskRunFilter) -> ClientResult<Vec<TaskRun>> {
        self.post("/task_runs/filter", filter).await
    }

    pub async fn set_task_run_state(
        &self,
        id: Uuid,
        body: &SetState,
    ) -> ClientResult<SetStateResult> {
        self.post(&format!("/task_runs/{id}/set_state"), body).await
    }
}

/// What asking to cancel a run gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    /// It had not started: it is Cancelled now.
    Cancelled,
    /// It is Cancelling: its agent is stopping its process.
    Stopping,
    /// The server refused (the run is finished, say), in this state and for this reason.
    Refused { state: String, reason: String },
}

impl Cancellation {
    /// What to tell the user, about the run named `run`.
    pub fn describe(&self, run: &str) -> String {
        match self {
            Self::Cancelled => format!("Cancelled flow run '{run}'."),
            Self::Stopping => format!("Cancelling flow run '{run}': its process is being stopped."),
            Self::Refused { state, reason } => {
                format!("Cannot cancel flow run '{run}' ({state}): {reason}")
            }
        }
    }
}
