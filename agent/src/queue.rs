//! Which work queue an agent takes runs from: the `QUEUE` argument (a name or an id) resolved
//! once at start, and the queue found again by name when it is deleted under a running agent.

use rigel_common::client::{ClientError, RigelClient};
use rigel_common::error::ErrorCode;
use rigel_common::work_queue::{WorkQueue, WorkQueueCreate};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::backoff::Backoff;

/// The agent was started with a work queue id that no queue has. An id never creates a queue
/// (the new queue would be named after the id and take every deployment's runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoQueueWithId(pub Uuid);

impl std::fmt::Display for NoQueueWithId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no work queue has id {}; list them with `rigel work-queue ls`, or give a queue name \
             (a missing queue is created by name, never by id)",
            self.0
        )
    }
}

impl std::error::Error for NoQueueWithId {}

/// Finds the queue the agent was started with. An id must name an existing queue (else
/// [`NoQueueWithId`]); a name that no queue has creates the queue, with a warning. Waits out
/// outages (transport errors and 5xx answers), gives up on any other refusal. `Ok(None)`: shut
/// down while waiting.
pub async fn resolve(
    client: &RigelClient,
    queue: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<WorkQueue>> {
    match Uuid::parse_str(queue) {
        Ok(id) => by_id(client, id, shutdown).await,
        Err(_) => ensure_named(client, queue, shutdown).await,
    }
}

async fn by_id(
    client: &RigelClient,
    id: Uuid,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<WorkQueue>> {
    let mut backoff = Backoff::new();
    loop {
        let e = match client.read_work_queue(id).await {
            Ok(q) => return Ok(Some(q)),
            // names may look like ids: a queue named so is still found
            Err(e) if e.is_not_found() => match client
                .read_work_queue_by_name(&id.to_string())
                .await
            {
                Ok(q) => return Ok(Some(q)),
                Err(e) if e.is_not_found() => return Err(NoQueueWithId(id).into()),
                Err(e) if !e.is_transient() => return Err(anyhow::anyhow!("work queue {id}: {e}")),
                Err(e) => e,
            },
            Err(e) if !e.is_transient() => return Err(anyhow::anyhow!("work queue {id}: {e}")),
            Err(e) => e,
        };
        tracing::warn!(error = %e, retry_in = %backoff, "cannot reach the work queue; retrying");
        if !backoff.wait(shutdown).await {
            return Ok(None);
        }
    }
}

/// Finds the queue by name, creating it (with a warning) when it doesn't exist.
async fn ensure_named(
    client: &RigelClient,
    name: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<WorkQueue>> {
    let mut backoff = Backoff::new();
    loop {
        let e = match client.read_work_queue_by_name(name).await {
            Ok(q) => return Ok(Some(q)),
            Err(e) if e.is_not_found() => {
                let body = WorkQueueCreate {
                    name: name.to_string(),
                    ..Default::default()
                };
                match client.create_work_queue(&body).await {
                    Ok(q) => {
                        tracing::warn!(queue = %name, "the work queue did not exist; created it (no filter: it offers every deployment's runs)");
                        return Ok(Some(q));
                    }
                    // someone else created it meanwhile: read it
                    Err(e) if e.code() == Some(ErrorCode::Conflict) => continue,
                    Err(e) if e.is_denied() => {
                        return Err(anyhow::anyhow!(
                            "work queue '{name}' does not exist and this agent's key may not \
                             create it; an admin can: rigel work-queue create '{name}' ({e})"
                        ))
                    }
                    Err(e) if !e.is_transient() => {
                        return Err(anyhow::anyhow!("cannot create work queue '{name}': {e}"))
                    }
                    Err(e) => e,
                }
            }
            Err(e) if !e.is_transient() => return Err(anyhow::anyhow!("work queue '{name}': {e}")),
            Err(e) => e,
        };
        tracing::warn!(error = %e, retry_in = %backoff, "cannot reach the work queue; retrying");
        if !backoff.wait(shutdown).await {
            return Ok(None);
        }
    }
}

/// What a refused claim means for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimRefusal {
    /// The server does not know the agent's id (its database was reset, or the agent was
    /// deleted): register again.
    UnknownAgent,
    /// Not found, and not about the agent: most likely the queue was deleted (to be confirmed,
    /// see [`is_deleted`]).
    QueueNotFound,
    /// Anything else: an outage or a refusal to retry later.
    Other,
}

impl ClaimRefusal {
    /// The server names the field it refused: `agent_id` (a 422 today; a 404 would be read the
    /// same way) is the agent, never the queue.
    pub(crate) fn of(e: &ClientError) -> Self {
        match e {
            ClientError::Api { body, .. } if body.error.details["field"] == "agent_id" => {
                Self::UnknownAgent
            }
            e if e.is_not_found() => Self::QueueNotFound,
            _ => Self::Other,
        }
    }
}

/// Whether the queue `id` is gone: the server answers 404 when asked for it (an outage is not
/// an answer).
pub(crate) async fn is_deleted(client: &RigelClient, id: Uuid) -> bool {
    client
        .read_work_queue(id)
        .await
        .is_err_and(|e| e.is_not_found())
}

/// After the agent's queue was deleted: waits (with backoff) until a queue of the same name
/// exists again and returns it. The agent does not create it: deleting a queue is an
/// operator's act, and re-creating it would undo that. `None`: shut down while waiting.
pub(crate) async fn wait_for_return(
    client: &RigelClient,
    deleted: &WorkQueue,
    shutdown: &CancellationToken,
) -> Option<WorkQueue> {
    let name = &deleted.name;
    tracing::warn!(
        queue = %name,
        id = %deleted.id,
        "the work queue was deleted; waiting for a work queue of that name to take runs from"
    );
    let mut backoff = Backoff::new();
    loop {
        match client.read_work_queue_by_name(name).await {
            Ok(q) => {
                tracing::info!(
                    queue = %name,
                    id = %q.id,
                    "the work queue exists again; taking runs from it"
                );
                return Some(q);
            }
            Err(e) if e.is_not_found() => {
                tracing::debug!(queue = %name, retry_in = %backoff, "still no work queue of that name; looking again");
            }
            Err(e) => {
                tracing::warn!(queue = %name, error = %e, retry_in = %backoff, "cannot look for the work queue; retrying")
            }
        }
        if !backoff.wait(shutdown).await {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigel_common::error::ErrorBody;

    fn refusal(status: u16, body: ErrorBody) -> ClaimRefusal {
        ClaimRefusal::of(&ClientError::Api { status, body })
    }

    #[test]
    fn an_unknown_agent_is_told_apart_from_a_missing_queue() {
        let agent = |code| {
            ErrorBody::new(code, "agent_id: no agent is registered")
                .with_details(serde_json::json!({"field": "agent_id"}))
        };
        assert_eq!(
            refusal(422, agent(ErrorCode::ValidationError)),
            ClaimRefusal::UnknownAgent
        );
        assert_eq!(
            refusal(404, agent(ErrorCode::NotFound)),
            ClaimRefusal::UnknownAgent
        );
        assert_eq!(
            refusal(
                404,
                ErrorBody::new(ErrorCode::NotFound, "work queue 1 not found")
            ),
            ClaimRefusal::QueueNotFound
        );
        assert_eq!(
            refusal(
                422,
                ErrorBody::new(ErrorCode::ValidationError, "limit: too big")
                    .with_details(serde_json::json!({"field": "limit"}))
            ),
            ClaimRefusal::Other
        );
    }

    #[test]
    fn the_missing_id_is_named() {
        let id = Uuid::now_v7();
        let text = NoQueueWithId(id).to_string();
        assert!(
            text.starts_with(&format!("no work queue has id {id}")),
            "{text}"
        );
    }
}
