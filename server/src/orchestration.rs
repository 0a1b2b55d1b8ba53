//! The orchestration rules (DESIGN §3), in one place. `decide` is a pure function of the run's
//! current state and a proposal; the db layer applies its decision and the bookkeeping.

use chrono::{DateTime, Utc};
use rigel_common::state::{SetState, State, StateCreate, StateType};
use uuid::Uuid;

/// What the rules need to know about a run.
#[derive(Debug, Clone)]
pub struct RunSnapshot {
    pub state: State,
    pub claim_token: Option<Uuid>,
    /// When the run is due (its latest scheduled time).
    pub next_scheduled_start_time: Option<DateTime<Utc>>,
}

/// Flow runs are claimed by agents; task runs live inside a flow run and are never claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Flow,
    Task,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Store this state (it may differ from the proposal, e.g. CANCELLING → CANCELLED).
    Accept(StateCreate),
    Reject(String),
    Wait {
        reason: String,
        delay_seconds: f64,
    },
    Abort(String),
}

/// Applies the rules in order; `force` skips all of them.
pub fn decide(
    run: &RunSnapshot,
    proposal: &SetState,
    now: DateTime<Utc>,
    kind: RunKind,
) -> Decision {
    let proposed = &proposal.state;
    if proposal.force {
        return Decision::Accept(proposed.clone());
    }
    let from = run.state.kind;
    let to = proposed.kind;

    // 1. Terminal states are final.
    if from.is_terminal() {
        return Decision::Abort(format!(
            "the run is already {from} and can't leave a finished state (use force to override)"
        ));
    }

    // 4. Claim tokens fence stale processes (checked before the transition rules so a stale
    //    process learns it lost the run, whatever it proposes).
    if kind == RunKind::Flow {
        let needs_token = matches!(
            to,
            StateType::Running | StateType::Completed | StateType::Failed | StateType::Crashed
        );
        match (run.claim_token, proposal.claim_token) {
            (Some(have), Some(given)) if have != given => {
                return Decision::Abort(
                    "the claim token is stale: the run was claimed again by someone else".into(),
                )
            }
            (None, Some(_)) => {
                return Decision::Abort(
                    "the claim token is stale: the run is no longer claimed".into(),
                )
            }
            (Some(_), None) if needs_token => {
                return Decision::Abort(format!(
                    "the run is claimed; moving it to {to} requires its claim token"
                ))
            }
            _ => {}
        }
    }

    match to {
        // 2. Claiming is a compare-and-set.
        StateType::Pending => match from {
            StateType::Scheduled => Decision::Accept(proposed.clone()),
            StateType::Pending | StateType::Running | StateType::Cancelling => Decision::Abort(
                format!("the run is already {from}: it was claimed by someone else"),
            ),
            _ => Decision::Reject(format!("a {from} run can't become PENDING")),
        },
        StateType::Running => match from {
            StateType::Pending => match run.next_scheduled_start_time {
                // 3. Not before its time (PENDING may be taken early for prefetching).
                Some(due) if due > now => {
                    let delay = (due - now).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                    Decision::Wait {
                        reason: format!("the run is scheduled to start at {due}"),
                        delay_seconds: delay,
                    }
                }
                _ => Decision::Accept(proposed.clone()),
            },
            StateType::Scheduled if kind == RunKind::Task => Decision::Accept(proposed.clone()),
            StateType::Scheduled => {
                Decision::Abort("the run must be claimed (PENDING) before it can run".into())
            }
            StateType::Running => Decision::Abort("the run is already RUNNING".into()),
            StateType::Cancelling => Decision::Abort("the run is being cancelled".into()),
            _ => Decision::Reject(format!("a {from} run can't become RUNNING")),
        },
        StateType::Completed => match from {
            StateType::Running | StateType::Cancelling => Decision::Accept(proposed.clone()),
            _ => Decision::Reject(format!(
                "a {from} run can't be COMPLETED: it never ran (use force to override)"
            )),
        },
        StateType::Failed | StateType::Crashed => match from {
            // A process that stops while the run is being cancelled ends it as cancelled.
            StateType::Cancelling => Decision::Accept(
                StateCreate::new(StateType::Cancelled).with_message(
                    proposed
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("cancelled (the process ended as {to})")),
                ),
            ),
            StateType::Pending | StateType::Running => Decision::Accept(proposed.clone()),
            StateType::Scheduled if kind == RunKind::Task => Decision::Accept(proposed.clone()),
            _ => Decision::Reject(format!("a {from} run can't become {to}")),
        },
        StateType::Cancelling => match from {
            // Nothing is running yet: cancel at once.
            StateType::Scheduled | StateType::Pending => Decision::Accept(StateCreate {
                kind: StateType::Cancelled,
                name: None,
                message: proposed
                    .message
                    .clone()
                    .or_else(|| Some("cancelled before it started".into())),
                scheduled_time: None,
            }),
            StateType::Running => Decision::Accept(proposed.clone()),
            StateType::Cancelling => Decision::Reject("the run is already being cancelled".into()),
            _ => Decision::Reject(format!("a {from} run can't be cancelled")),
        },
        StateType::Cancelled => Decision::Accept(proposed.clone()),
        StateType::Scheduled => match from {
            StateType::Scheduled | StateType::Pending | StateType::Running => {
                Decision::Accept(proposed.clone())
            }
            _ => Decision::Reject(format!("a {from} run can't be rescheduled")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: StateType, token: Option<Uuid>, due: Option<DateTime<Utc>>) -> RunSnapshot {
        RunSnapshot {
            state: State {
                kind,
                name: kind.default_name().into(),
                timestamp: Utc::now(),
                message: None,
                scheduled_time: None,
                actor: None,
            },
            claim_token: token,
            next_scheduled_start_time: due,
        }
    }

    fn propose(kind: StateType, token: Option<Uuid>) -> SetState {
        SetState {
            state: StateCreate::new(kind),
            force: false,
            claim_token: token,
            transition_id: None,
        }
    }

    fn status(d: &Decision) -> &'static str {
        match d {
            Decision::Accept(_) => "ACCEPT",
            Decision::Reject(_) => "REJECT",
            Decision::Wait { .. } => "WAIT",
            Decision::Abort(_) => "ABORT",
        }
    }

    #[test]
    fn transition_table_for_flow_runs() {
        use StateType::*;
        let now = Utc::now();
        let t = Some(Uuid::now_v7());
        // (from, to, token on run, token given, expected)
        let cases = [
            (Scheduled, Pending, None, None, "ACCEPT"),
            (Pending, Pending, t, None, "ABORT"),
            (Running, Pending, t, None, "ABORT"),
            (Pending, Running, t, t, "ACCEPT"),
            (Pending, Running, t, None, "ABORT"),
            (Pending, Running, t, Some(Uuid::now_v7()), "ABORT"),
            (Scheduled, Running, None, t, "ABORT"),
            (Scheduled, Running, None, None, "ABORT"),
            (Running, Running, t, t, "ABORT"),
            (Running, Completed, t, t, "ACCEPT"),
            (Running, Completed, t, None, "ABORT"),
            (Scheduled, Completed, None, None, "REJECT"),
            (Pending, Failed, t, t, "ACCEPT"),
            (Running, Crashed, t, t, "ACCEPT"),
            (Completed, Running, None, None, "ABORT"),
            (Failed, Scheduled, None, None, "ABORT"),
            (Cancelled, Cancelling, None, None, "ABORT"),
            (Running, Cancelling, t, None, "ACCEPT"),
            (Cancelling, Cancelled, t, t, "ACCEPT"),
            (Cancelling, Cancelling, t, None, "REJECT"),
            (Pending, Scheduled, t, None, "ACCEPT"),
            (Running, Scheduled, t, None, "ACCEPT"),
        ];
        for (from, to, have, given, want) in cases {
            let d = decide(
                &run(from, have, None),
                &propose(to, given),
                now,
                RunKind::Flow,
            );
            assert_eq!(
                status(&d),
                want,
                "{from} -> {to} (token {have:?}/{given:?}): {d:?}"
            );
        }
    }

    #[test]
    fn running_before_the_scheduled_time_waits() {
        let now = Utc::now();
        let t = Some(Uuid::now_v7());
        let due = now + chrono::Duration::seconds(90);
        let d = decide(
            &run(StateType::Pending, t, Some(due)),
            &propose(StateType::Running, t),
            now,
            RunKind::Flow,
        );
        match d {
            Decision::Wait { delay_seconds, .. } => assert!((delay_seconds - 90.0).abs() < 1e-6),
            other => panic!("expected WAIT, got {other:?}"),
        }
        let past = now - chrono::Duration::seconds(1);
        let d = decide(
            &run(StateType::Pending, t, Some(past)),
            &propose(StateType::Running, t),
            now,
            RunKind::Flow,
        );
        assert_eq!(status(&d), "ACCEPT");
    }

    #[test]
    fn cancelling_an_unstarted_run_cancels_it_at_once() {
        for from in [StateType::Scheduled, StateType::Pending] {
            let d = decide(
                &run(from, None, None),
                &propose(StateType::Cancelling, None),
                Utc::now(),
                RunKind::Flow,
            );
            assert!(
                matches!(&d, Decision::Accept(s) if s.kind == StateType::Cancelled),
                "{d:?}"
            );
        }
        let t = Some(Uuid::now_v7());
        let d = decide(
            &run(StateType::Cancelling, t, None),
            &propose(StateType::Crashed, t),
            Utc::now(),
            RunKind::Flow,
        );
        assert!(
            matches!(&d, Decision::Accept(s) if s.kind == StateType::Cancelled),
            "{d:?}"
        );
    }

    #[test]
    fn force_skips_every_rule() {
        let mut p = propose(StateType::Scheduled, None);
        p.force = true;
        let d = decide(
            &run(StateType::Completed, None, None),
            &p,
            Utc::now(),
            RunKind::Flow,
        );
        assert_eq!(status(&d), "ACCEPT");
    }

    #[test]
    fn task_runs_have_no_claims() {
        let d = decide(
            &run(StateType::Pending, None, None),
            &propose(StateType::Running, None),
            Utc::now(),
            RunKind::Task,
        );
        assert_eq!(status(&d), "ACCEPT");
        let d = decide(
            &run(StateType::Scheduled, None, None),
            &propose(StateType::Running, None),
            Utc::now(),
            RunKind::Task,
        );
        assert_eq!(status(&d), "ACCEPT");
        let d = decide(
            &run(StateType::Completed, None, None),
            &propose(StateType::Running, None),
            Utc::now(),
            RunKind::Task,
        );
        assert_eq!(status(&d), "ABORT");
    }
}
