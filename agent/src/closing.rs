//! Ending the runs an engine could not end itself: a run that cannot start on this agent, and a
//! run left open by an engine that died. The reason goes to the run's logs as well as to its
//! state message, so `rigel flow-run logs` of such a run is never empty.

use std::time::Duration;

use rigel_common::client::RigelClient;
use rigel_common::flow_run::FlowRun;
use rigel_common::log::level;
use rigel_common::state::{StateCreate, StateType};
use uuid::Uuid;

use crate::engine::propose;
use crate::logs::LogShipper;
use crate::runner::RunnerError;

/// How long the reason's log line may take to reach the server before the final state is sent
/// anyway (the server may be away; the state matters more).
const LOG_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Writes `message` to the run's logs at `level` and waits (a bounded time) until it is stored,
/// so it is there before the state that ends the run.
pub(crate) async fn log_reason(client: &RigelClient, run_id: Uuid, level: u8, message: &str) {
    // a shipper of its own: these are rare, and it retries through outages like any run's logs
    let logger = LogShipper::start(client.clone()).logger(run_id, false);
    logger.log(level, None, message).await;
    logger.flush(LOG_FLUSH_LIMIT).await;
}

/// The run cannot start on this agent (its runner is unavailable or misconfigured, or the
/// engine process could not be started): it fails with the reason, logged first.
pub(crate) async fn fail_to_start(
    client: &RigelClient,
    run: &FlowRun,
    token: Uuid,
    e: &RunnerError,
) {
    tracing::error!(error = %e, "cannot start the flow run");
    log_reason(
        client,
        run.id,
        level::ERROR,
        &format!("Flow run failed: {e}"),
    )
    .await;
    let state = StateCreate::new(StateType::Failed).with_message(e.to_string());
    if let Err(e) = propose(client, None, run.id, Some(token), state).await {
        tracing::error!(error = %e, "cannot report the failure of the flow run");
    }
}

/// Ends the run with `kind` unless it already reached a final state; the reason is logged
/// first.
pub(crate) async fn close_if_open(
    client: &RigelClient,
    run: &FlowRun,
    token: Uuid,
    kind: StateType,
    msg: String,
) {
    match client.read_flow_run(run.id).await {
        Ok(now) if now.state.kind.is_terminal() => {
            tracing::info!(state = %now.state.name, "finished");
        }
        Ok(now) => {
            tracing::warn!(
                state = %now.state.name,
                why = %msg,
                marking = %kind,
                "the run was still open when its engine ended"
            );
            let (lvl, what) = match kind {
                StateType::Cancelled => (level::WARNING, "cancelled"),
                StateType::Crashed => (level::ERROR, "crashed"),
                _ => (level::ERROR, "failed"),
            };
            log_reason(client, run.id, lvl, &format!("Flow run {what}: {msg}")).await;
            let state = StateCreate::new(kind).with_message(msg);
            if let Err(e) = propose(client, None, run.id, Some(token), state).await {
                tracing::error!(error = %e, "cannot report the end of the flow run");
            }
        }
        Err(e) => tracing::warn!(
            why = %msg,
            error = %e,
            "the run's engine ended; cannot read its state"
        ),
    }
}
