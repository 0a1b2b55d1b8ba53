//! State proposals of many runs sent together. An agent running engines inside itself has
//! dozens of runs moving to RUNNING and to their final states at once; one task carries the
//! proposals that wait while a call is out in the next `set_states` call, instead of a call
//! each. An idle agent's proposal goes out at once, alone.
//!
//! Each proposal still gets its own answer. When a whole call fails (the server is away, or is
//! an older one without `set_states`), the proposals it carried are sent one call each (a few
//! at a time), so each gets the error its own call gives — the engine's retry rules, with their
//! back-off, then apply to it unchanged.

use std::sync::Arc;

use rigel_common::client::{ClientError, ClientResult, RigelClient};
use rigel_common::state::{FlowRunProposal, SetState, SetStateResult, MAX_PROPOSALS};
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

/// Proposals waiting for the sender; beyond that, proposers wait for room.
const QUEUE: usize = 4096;

struct Pending {
    run_id: Uuid,
    proposal: SetState,
    reply: oneshot::Sender<ClientResult<SetStateResult>>,
}

/// Sends runs' state proposals, several per call; cheap to clone.
#[derive(Clone, Debug)]
pub struct StateShipper {
    tx: mpsc::Sender<Pending>,
    client: RigelClient,
}

impl StateShipper {
    /// Starts the sending task (it ends when the last clone is dropped).
    pub fn start(client: RigelClient) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(ship(client.clone(), rx));
        Self { tx, client }
    }

    /// Proposes `proposal` for the run, in the next call; answers as `set_flow_run_state`.
    pub async fn set_state(
        &self,
        run_id: Uuid,
        proposal: &SetState,
    ) -> ClientResult<SetStateResult> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            run_id,
            proposal: proposal.clone(),
            reply,
        };
        if self.tx.send(pending).await.is_ok() {
            if let Ok(answer) = answer.await {
                return answer;
            }
        }
        // the sender is gone (its runtime is shutting down): on our own
        self.client.set_flow_run_state(run_id, proposal).await
    }
}

/// Calls of their own that proposals of a failed `set_states` call make at once, at most (so
/// a failed call of hundreds does not become hundreds of connections).
const SINGLE_CALLS: usize = 16;

async fn ship(client: RigelClient, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::new();
    // false once the server has shown it has no `set_states`
    let mut together = true;
    let singles = Arc::new(Semaphore::new(SINGLE_CALLS));
    while rx.recv_many(&mut batch, MAX_PROPOSALS).await > 0 {
        let mut proposals = std::mem::take(&mut batch);
        if proposals.len() == 1 && together {
            // alone: a call of its own, still one call out at a time
            if let Some(p) = proposals.pop() {
                let answer = client.set_flow_run_state(p.run_id, &p.proposal).await;
                let _ = p.reply.send(answer);
            }
            continue;
        }
        if together {
            match send_together(&client, proposals).await {
                Ok(()) => continue,
                Err((e, back)) => {
                    if matches!(e.status(), Some(404 | 405)) {
                        tracing::warn!(error = %e, "the server has no set_states; sending state proposals one by one");
                        together = false;
                    } else {
                        tracing::debug!(
                            proposals = back.len(),
                            error = %e,
                            "a set_states call failed; sending its proposals one by one"
                        );
                    }
                    proposals = back;
                }
            }
        }
        // A call each, a few at a time, beside the next batches: every proposal gets its own
        // answer or error (a transient one sends its engine into its own back-off).
        for p in proposals {
            let (client, singles) = (client.clone(), Arc::clone(&singles));
            tokio::spawn(async move {
                let Ok(_permit) = singles.acquire_owned().await else {
                    return;
                };
                let answer = client.set_flow_run_state(p.run_id, &p.proposal).await;
                let _ = p.reply.send(answer);
            });
        }
    }
}

/// One `set_states` call for all of `proposals`, answering each; gives them back with the
/// call's error when it failed as a whole.
async fn send_together(
    client: &RigelClient,
    proposals: Vec<Pending>,
) -> Result<(), (ClientError, Vec<Pending>)> {
    let body: Vec<FlowRunProposal> = proposals
        .iter()
        .map(|p| FlowRunProposal::new(p.run_id, p.proposal.clone()))
        .collect();
    match client.set_flow_run_states(&body).await {
        Ok(answers) => {
            for (p, answer) in proposals.into_iter().zip(answers) {
                let _ = p.reply.send(answer);
            }
            Ok(())
        }
        Err(e) => Err((e, proposals)),
    }
}

#[cfg(test)]
mod tests {
    use rigel_common::state::{StateCreate, StateType};

    use super::*;

    /// When the server cannot be reached, every proposal still gets an answer of its own: the
    /// transient error its engine backs off on.
    #[tokio::test]
    async fn each_proposal_gets_its_own_error_when_the_server_is_away() {
        // nothing listens on port 9 of this machine
        let shipper = StateShipper::start(RigelClient::new("http://127.0.0.1:9/api"));
        let proposal = SetState {
            state: StateCreate::new(StateType::Running),
            force: false,
            claim_token: None,
            transition_id: None,
        };
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (shipper, proposal) = (shipper.clone(), proposal.clone());
            calls.spawn(async move { shipper.set_state(Uuid::now_v7(), &proposal).await });
        }
        let mut answered = 0;
        while let Some(answer) = calls.join_next().await {
            let err = answer.unwrap().unwrap_err();
            assert!(err.is_transient(), "{err:?}");
            answered += 1;
        }
        assert_eq!(answered, 50);
    }
}
