//! State changes of flow runs (and the shared bookkeeping for task runs): applies the decision of
//! `orchestration::decide` and keeps the run's columns and history in step, in one transaction.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use rigel_common::flow_run::FlowRun;
use rigel_common::state::{
    SetState, SetStateDetails, SetStateResult, SetStateStatus, State, StateCreate, StateType,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::coalesce::Coalescer;
use super::flow_runs::{self, FlowRunRow, COLUMNS};
use super::writer::Writer;
use super::{batch, from_micros, to_micros, Db};
use crate::error::{ApiError, ApiResult};
use crate::orchestration::{decide, Decision, RunKind, RunSnapshot};

/// The time-keeping columns every run has, before and after a transition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub run_count: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub total_run_time: i64,
    pub expected_start_time: Option<i64>,
    pub next_scheduled_start_time: Option<i64>,
}

/// Fills in the new state's defaults and updates the bookkeeping for `from` → `to`.
pub(crate) fn transition(
    from: &State,
    to: &StateCreate,
    times: &mut Times,
    now: DateTime<Utc>,
) -> State {
    let now_us = to_micros(now);
    let mut state = State {
        kind: to.kind,
        name: to
            .name
            .clone()
            .unwrap_or_else(|| to.kind.default_name().to_string()),
        // as stored (microseconds), so an answer equals what the history and a replay say
        timestamp: from_micros(now_us),
        message: to.message.clone(),
        scheduled_time: to.scheduled_time,
        actor: None,
    };
    if from.kind == StateType::Running && to.kind != StateType::Running {
        times.total_run_time += (now_us - to_micros(from.timestamp)).max(0);
    }
    if to.kind == StateType::Running {
        times.run_count += 1;
        times.start_time.get_or_insert(now_us);
    }
    if to.kind.is_terminal() {
        times.end_time = Some(now_us);
    } else {
        times.end_time = None;
    }
    if to.kind == StateType::Scheduled {
        let due = to.scheduled_time.unwrap_or(now);
        state.scheduled_time = Some(due);
        times.next_scheduled_start_time = Some(to_micros(due));
        if times.start_time.is_none() {
            times.expected_start_time = Some(to_micros(due));
        }
    } else if state.scheduled_time.is_none() && matches!(to.kind, StateType::Pending) {
        // a claimed run remembers when it was due (the WAIT rule reads it)
        state.scheduled_time = from.scheduled_time;
    }
    state
}

#[derive(sqlx::FromRow)]
struct StateRow {
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    timestamp: i64,
    message: Option<String>,
    scheduled_time: Option<i64>,
    /// Read by the history only (a replayed answer doesn't name its key).
    #[sqlx(default)]
    actor: Option<String>,
}

impl StateRow {
    fn into_state(self) -> ApiResult<State> {
        let mut state = flow_runs::state_from_columns(
            &self.kind,
            self.name,
            self.timestamp,
            self.message,
            self.scheduled_time,
        )?;
        state.actor = self.actor;
        Ok(state)
    }
}

/// All states of a run, oldest first. `table`/`column` are constants of this module's callers.
pub(crate) async fn history(
    conn: &mut SqliteConnection,
    table: &'static str,
    column: &'static str,
    id: Uuid,
) -> ApiResult<Vec<State>> {
    let rows: Vec<StateRow> = sqlx::query_as(&format!(
        "SELECT type, name, timestamp, message, scheduled_time, actor FROM {table}
         WHERE {column} = ? ORDER BY timestamp, id"
    ))
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(StateRow::into_state).collect()
}

/// How a transition changes who holds the run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holder {
    Keep,
    /// Claimed: by an agent of a queue (or by a direct PENDING proposal with no agent).
    Claim {
        agent_id: Option<Uuid>,
        work_queue_id: Option<Uuid>,
        token: Uuid,
    },
    Release,
}

/// One run's transition, worked out before it is written.
struct Change {
    id: Uuid,
    state: State,
    times: Times,
    agent_id: Option<Uuid>,
    work_queue_id: Option<Uuid>,
    claim_token: Option<Uuid>,
    transition_id: Option<Uuid>,
}

fn change(
    row: &FlowRunRow,
    to: &StateCreate,
    holder: Holder,
    transition_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<Change> {
    let from = row.state()?;
    let mut times = Times {
        run_count: row.run_count,
        start_time: row.start_time,
        end_time: row.end_time,
        total_run_time: row.total_run_time,
        expected_start_time: row.expected_start_time,
        next_scheduled_start_time: row.next_scheduled_start_time,
    };
    let state = transition(&from, to, &mut times, now);
    let (agent_id, work_queue_id, claim_token) = match holder {
        Holder::Keep => (row.agent_id, row.work_queue_id, row.claim_token),
        Holder::Claim {
            agent_id,
            work_queue_id,
            token,
        } => (agent_id, work_queue_id.or(row.work_queue_id), Some(token)),
        Holder::Release => (None, row.work_queue_id, None),
    };
    Ok(Change {
        id: row.id,
        state,
        times,
        agent_id,
        work_queue_id,
        claim_token,
        transition_id,
    })
}

/// Most runs one statement writes (longer lists are split into powers of two, see `batch`, so
/// each size keeps its prepared statement).
const CHUNK: usize = 64;

/// Writes the changes — history rows, then the runs — in one round trip, all or nothing, and
/// returns the updated runs in the order given. The outer `Err` means the caller's job must
/// fail: a failed statement could not be undone, or something was written that must not stay.
async fn write_chunk(
    conn: &mut SqliteConnection,
    changes: &[Change],
) -> ApiResult<ApiResult<Vec<FlowRunRow>>> {
    if changes.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SAVEPOINT changes; INSERT INTO flow_run_state (id, flow_run_id, type, name, timestamp,
         message, scheduled_time, transition_id, actor) ",
    );
    qb.push_values(changes, |mut b, c| {
        b.push_bind(Uuid::now_v7())
            .push_bind(c.id)
            .push_bind(c.state.kind.as_str())
            .push_bind(c.state.name.clone())
            .push_bind(to_micros(c.state.timestamp))
            .push_bind(c.state.message.clone())
            .push_bind(c.state.scheduled_time.map(to_micros))
            .push_bind(c.transition_id)
            .push_bind(c.state.actor.clone());
    });
    qb.push(
        "; WITH v (v_id, v_type, v_name, v_timestamp, v_message, v_scheduled, v_run_count,
         v_start, v_end, v_total, v_expected, v_next, v_agent, v_queue, v_token) AS (",
    );
    qb.push_values(changes, |mut b, c| {
        b.push_bind(c.id)
            .push_bind(c.state.kind.as_str())
            .push_bind(c.state.name.clone())
            .push_bind(to_micros(c.state.timestamp))
            .push_bind(c.state.message.clone())
            .push_bind(c.state.scheduled_time.map(to_micros))
            .push_bind(c.times.run_count)
            .push_bind(c.times.start_time)
            .push_bind(c.times.end_time)
            .push_bind(c.times.total_run_time)
            .push_bind(c.times.expected_start_time)
            .push_bind(c.times.next_scheduled_start_time)
            .push_bind(c.agent_id)
            .push_bind(c.work_queue_id)
            .push_bind(c.claim_token);
    });
    qb.push(format!(
        ") UPDATE flow_run SET state_type = v_type, state_name = v_name,
         state_timestamp = v_timestamp, state_message = v_message,
         state_scheduled_time = v_scheduled, run_count = v_run_count, start_time = v_start,
         end_time = v_end, total_run_time = v_total, expected_start_time = v_expected,
         next_scheduled_start_time = v_next, agent_id = v_agent, work_queue_id = v_queue,
         claim_token = v_token, updated = v_timestamp
         FROM v WHERE flow_run.id = v.v_id RETURNING {COLUMNS}; RELEASE changes"
    ));
    // a slot in the statement cache for each power-of-two size, not for every length
    let cached = changes.len().is_power_of_two() && changes.len() <= CHUNK;
    let written = qb
        .build_query_as::<FlowRunRow>()
        .persistent(cached)
        .fetch_all(&mut *conn)
        .await;
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            let e = ApiError::from(e);
            // the statements stopped part-way: undo what they wrote and close the savepoint
            let undone = sqlx::query("ROLLBACK TO changes; RELEASE changes")
                .execute(&mut *conn)
                .await;
            // The database's condition (a full disk) fails the whole job: SQLite may have
            // rolled the transaction back, and what ran after would be committed on its own.
            if e.is_database_condition() {
                return Err(e);
            }
            undone?;
            return Ok(Err(e));
        }
    };
    // Every run was read in this transaction, so each comes back; one that did not would mean
    // its history row was written without it, and that must not be committed: the whole job
    // fails (the outer error) rather than this chunk being retried.
    let lost = || ApiError::Internal("a state change wrote no run".into());
    if let [only] = changes {
        return match rows.as_slice() {
            [row] if row.id == only.id => Ok(Ok(rows)),
            _ => Err(lost()),
        };
    }
    let mut by_id: HashMap<Uuid, FlowRunRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    let rows = changes
        .iter()
        .map(|c| by_id.remove(&c.id).ok_or_else(lost))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Ok(rows))
}

/// Writes the changes in chunks; the updated runs come back in the order given. On an error,
/// chunks already written stay: the caller's job must fail (which rolls them back).
async fn write_changes(
    conn: &mut SqliteConnection,
    changes: &[Change],
) -> ApiResult<Vec<FlowRunRow>> {
    let mut rows = Vec::with_capacity(changes.len());
    let mut rest = changes;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(batch::chunk_len(rest.len(), CHUNK));
        rows.extend(write_chunk(conn, chunk).await??);
        rest = tail;
    }
    Ok(rows)
}

/// Writes `to` as the run's new state with its bookkeeping and a history row.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    row: &FlowRunRow,
    to: &StateCreate,
    holder: Holder,
    transition_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<FlowRunRow> {
    let c = change(row, to, holder, transition_id, now)?;
    write_changes(conn, &[c])
        .await?
        .pop()
        .ok_or_else(|| flow_runs::not_found(row.id))
}

/// Like [`apply`] for several runs moving to the same state, in a round trip per
/// [`CHUNK`] runs.
pub(crate) async fn apply_many(
    conn: &mut SqliteConnection,
    runs: &[(FlowRunRow, Holder)],
    to: &StateCreate,
    now: DateTime<Utc>,
) -> ApiResult<Vec<FlowRunRow>> {
    let changes = runs
        .iter()
        .map(|(row, holder)| change(row, to, *holder, None, now))
        .collect::<ApiResult<Vec<_>>>()?;
    write_changes(conn, &changes).await
}

/// A state proposal for a flow run, as `set_state` received it.
pub(crate) struct Proposal {
    id: Uuid,
    proposal: SetState,
    now: DateTime<Utc>,
    /// The name of the key that proposed it, recorded in the history.
    actor: Option<String>,
}

/// The answer to a proposal, and the run as it updated it (`None` when it did not change it).
type Proposed = (SetStateResult, Option<FlowRunRow>);

/// Flow runs' state proposals waiting for the writer: the proposals that arrive together are
/// read with one query and written with one statement (per [`CHUNK`] runs).
pub(crate) type StateChanges = Coalescer<Proposal, Proposed>;

pub(crate) fn state_changes(writer: Writer) -> StateChanges {
    Coalescer::new("a state proposal", writer, |conn, proposals| {
        Box::pin(set_states(conn, proposals))
    })
}

/// `POST /api/flow_runs/{id}/set_state`. With the answer comes the run as this call updated it,
/// for its state event: `None` when the state did not change (a refusal, or a replayed
/// transition answered as before) or the updated run cannot be decoded (logged).
pub async fn set_flow_run_state(
    db: &Db,
    id: Uuid,
    proposal: &SetState,
    now: DateTime<Utc>,
    actor: Option<&str>,
) -> ApiResult<(SetStateResult, Option<FlowRun>)> {
    let answer = set_flow_run_states(db, vec![(id, proposal.clone())], now, actor).await;
    answer
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(ApiError::Internal("a state proposal was lost".into())))
}

/// `POST /api/flow_runs/set_states`: [`set_flow_run_state`] for each of `proposals`, in their
/// order, written together (with whatever other proposals are waiting).
pub async fn set_flow_run_states(
    db: &Db,
    proposals: Vec<(Uuid, SetState)>,
    now: DateTime<Utc>,
    actor: Option<&str>,
) -> Vec<ApiResult<(SetStateResult, Option<FlowRun>)>> {
    let proposals = proposals
        .into_iter()
        .map(|(id, proposal)| Proposal {
            id,
            proposal,
            now,
            actor: actor.map(str::to_string),
        })
        .collect();
    db.state_changes
        .submit_many(proposals)
        .await
        .into_iter()
        // decoded outside the writer, which other writes are waiting for; a failure costs the
        // event only, never the answer
        .map(|answer| answer.map(|(result, updated)| (result, flow_runs::decoded(updated).pop())))
        .collect()
}

/// Decides and writes the proposals; answers in their order. Proposals for the same run are
/// taken in the order they came: a later one is decided on what the earlier one left.
async fn set_states(
    conn: &mut SqliteConnection,
    proposals: Vec<Proposal>,
) -> ApiResult<Vec<ApiResult<Proposed>>> {
    let mut answers: Vec<Option<ApiResult<Proposed>>> = std::iter::repeat_with(|| None)
        .take(proposals.len())
        .collect();
    let mut waiting: Vec<usize> = (0..proposals.len()).collect();
    while !waiting.is_empty() {
        // a round holds at most one proposal per run
        let mut runs = HashSet::new();
        let (round, later): (Vec<usize>, Vec<usize>) = waiting
            .into_iter()
            .partition(|&i| runs.insert(proposals[i].id));
        set_round(conn, &proposals, &round, &mut answers).await?;
        waiting = later;
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(ApiError::Internal("a state proposal was lost".into()))))
        .collect())
}

/// [`set_states`] for proposals of distinct runs (the indexes `round` into `proposals`).
async fn set_round(
    conn: &mut SqliteConnection,
    proposals: &[Proposal],
    round: &[usize],
    answers: &mut [Option<ApiResult<Proposed>>],
) -> ApiResult<()> {
    let ids: Vec<Uuid> = round.iter().map(|&i| proposals[i].id).collect();
    let mut rows = flow_runs::find_many(&mut *conn, &ids).await?;
    // accepted proposals: where their answer goes with the run's claim token as read, and the
    // change to write
    let mut owners: Vec<(usize, Option<Uuid>)> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    for &i in round {
        let Proposal {
            id,
            proposal,
            now,
            actor,
        } = &proposals[i];
        let Some(row) = rows.remove(id) else {
            answers[i] = Some(Err(flow_runs::not_found(*id)));
            continue;
        };
        match decided(&row, proposal, *now) {
            Ok(ControlFlow::Continue(mut c)) => {
                c.state.actor.clone_from(actor);
                owners.push((i, row.claim_token));
                changes.push(c);
            }
            Ok(ControlFlow::Break(refused)) => {
                // A retried proposal gets what its first attempt got. It is looked up only when
                // this one cannot simply go ahead: refused (the first attempt moved the run
                // on), or stopped by the unique index on (run, transition id) when written —
                // one query less for every first try.
                let tid = proposal.transition_id;
                let answer = replayed(conn, RunKind::Flow, *id, tid, row.claim_token, Ok(refused));
                answers[i] = Some(answer.await.map(|r| (r, None)));
            }
            Err(e) => answers[i] = Some(Err(e)),
        }
    }
    let (mut owners, mut changes) = (owners.as_slice(), changes.as_slice());
    while !changes.is_empty() {
        let n = batch::chunk_len(changes.len(), CHUNK);
        let (these, chunk);
        ((these, owners), (chunk, changes)) = (owners.split_at(n), changes.split_at(n));
        match write_chunk(conn, chunk).await? {
            Ok(rows) => {
                for ((&(i, _), c), row) in these.iter().zip(chunk).zip(rows) {
                    answers[i] = Some(accepted_answer(c, row));
                }
            }
            Err(e) if n == 1 => {
                let (i, token) = these[0];
                let answer = settle(conn, &proposals[i], token, &chunk[0], Err(e));
                answers[i] = Some(answer.await);
            }
            // one at a time, so that only the proposal at fault sees the error
            Err(_) => {
                for (&(i, token), c) in these.iter().zip(chunk) {
                    let written = write_chunk(conn, std::slice::from_ref(c)).await?;
                    answers[i] = Some(settle(conn, &proposals[i], token, c, written).await);
                }
            }
        }
    }
    Ok(())
}

/// What the rules make of `proposal` for the run in `row`: the change to write, or the answer
/// that refuses it.
fn decided(
    row: &FlowRunRow,
    proposal: &SetState,
    now: DateTime<Utc>,
) -> ApiResult<ControlFlow<SetStateResult, Change>> {
    let snapshot = RunSnapshot {
        state: row.state()?,
        claim_token: row.claim_token,
        next_scheduled_start_time: row.next_scheduled_start_time.map(from_micros),
    };
    let decision = decide(&snapshot, proposal, now, RunKind::Flow);
    let to = match accepted(decision, &snapshot.state) {
        ControlFlow::Continue(to) => to,
        ControlFlow::Break(refused) => return Ok(ControlFlow::Break(refused)),
    };
    let holder = match to.kind {
        StateType::Pending => Holder::Claim {
            agent_id: None,
            work_queue_id: None,
            token: Uuid::now_v7(),
        },
        StateType::Scheduled => Holder::Release,
        _ => Holder::Keep,
    };
    let c = change(row, &to, holder, proposal.transition_id, now)?;
    Ok(ControlFlow::Continue(c))
}

/// The answer to an accepted proposal, written as `updated`.
fn accepted_answer(c: &Change, updated: FlowRunRow) -> ApiResult<Proposed> {
    let claim_token = (c.state.kind == StateType::Pending)
        .then_some(updated.claim_token)
        .flatten();
    let result = SetStateResult {
        status: SetStateStatus::Accept,
        state: updated.state()?,
        details: SetStateDetails {
            reason: None,
            delay_seconds: None,
            claim_token,
        },
    };
    Ok((result, Some(updated)))
}

/// The answer to an accepted proposal written on its own: a conflict on its transition id
/// means it was accepted before (a retry), and is answered as then.
async fn settle(
    conn: &mut SqliteConnection,
    p: &Proposal,
    claim_token: Option<Uuid>,
    c: &Change,
    written: ApiResult<Vec<FlowRunRow>>,
) -> ApiResult<Proposed> {
    match written {
        Ok(mut rows) => match rows.pop() {
            Some(row) => accepted_answer(c, row),
            None => Err(flow_runs::not_found(p.id)),
        },
        Err(e @ ApiError::Conflict(_)) => {
            let tid = p.proposal.transition_id;
            let answer = replayed(conn, RunKind::Flow, p.id, tid, claim_token, Err(e)).await;
            answer.map(|r| (r, None))
        }
        Err(e) => Err(e),
    }
}

/// The answer to a proposal whose `transition_id` was accepted before: the state it set then
/// (with `claim_token` when that state was a claim) — or, when it was not, `otherwise`.
pub(crate) async fn replayed(
    tx: &mut SqliteConnection,
    kind: RunKind,
    run_id: Uuid,
    transition_id: Option<Uuid>,
    claim_token: Option<Uuid>,
    otherwise: ApiResult<SetStateResult>,
) -> ApiResult<SetStateResult> {
    let Some(tid) = transition_id else {
        return otherwise;
    };
    let (table, run_column) = match kind {
        RunKind::Flow => ("flow_run_state", "flow_run_id"),
        RunKind::Task => ("task_run_state", "task_run_id"),
    };
    let seen: Option<StateRow> = sqlx::query_as(&format!(
        "SELECT type, name, timestamp, message, scheduled_time FROM {table}
         WHERE {run_column} = ? AND transition_id = ?"
    ))
    .bind(run_id)
    .bind(tid)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(seen) = seen else { return otherwise };
    let state = seen.into_state()?;
    Ok(SetStateResult {
        status: SetStateStatus::Accept,
        details: SetStateDetails {
            reason: Some("this transition was already accepted".into()),
            delay_seconds: None,
            claim_token: claim_token.filter(|_| state.kind == StateType::Pending),
        },
        state,
    })
}

/// Goes on with the state the rules accepted, or — when they refused — stops with the answer
/// that leaves the run in its `current` state.
pub(crate) fn accepted(
    decision: Decision,
    current: &State,
) -> ControlFlow<SetStateResult, StateCreate> {
    let (status, reason, delay_seconds) = match decision {
        Decision::Accept(to) => return ControlFlow::Continue(to),
        Decision::Reject(reason) => (SetStateStatus::Reject, reason, None),
        Decision::Abort(reason) => (SetStateStatus::Abort, reason, None),
        Decision::Wait {
            reason,
            delay_seconds,
        } => (SetStateStatus::Wait, reason, Some(delay_seconds)),
    };
    ControlFlow::Break(SetStateResult {
        status,
        state: current.clone(),
        details: SetStateDetails {
            reason: Some(reason),
            delay_seconds,
            claim_token: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use rigel_common::flow_run::FlowRunCreate;

    use super::*;
    use crate::db::testing;

    /// `n` Scheduled runs of one flow.
    async fn runs(db: &Db, n: usize) -> Vec<Uuid> {
        let flow = testing::a_flow(db).await;
        let body = FlowRunCreate {
            flow_id: Some(flow),
            ..Default::default()
        };
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(flow_runs::create(db, &body, Utc::now()).await.unwrap().0.id);
        }
        ids
    }

    fn propose(id: Uuid, kind: StateType) -> Proposal {
        Proposal {
            id,
            proposal: SetState {
                state: StateCreate::new(kind),
                force: false,
                claim_token: None,
                transition_id: None,
            },
            now: Utc::now(),
            actor: None,
        }
    }

    /// One writer job for all of `proposals`, as the coalescer runs them.
    async fn group(db: &Db, proposals: Vec<Proposal>) -> Vec<ApiResult<Proposed>> {
        db.writer
            .run(move |conn| Box::pin(async move { set_states(conn, proposals).await }))
            .await
            .unwrap()
    }

    fn status(answer: &ApiResult<Proposed>) -> SetStateStatus {
        answer.as_ref().expect("an answer").0.status
    }

    async fn history_of(db: &Db, id: Uuid) -> Vec<StateType> {
        let mut conn = db.read.acquire().await.unwrap();
        let states = history(&mut conn, "flow_run_state", "flow_run_id", id).await;
        states.unwrap().into_iter().map(|s| s.kind).collect()
    }

    /// Proposals written together are each decided on their own run, in the order they came: a
    /// second claim of a run in the same group sees the first and is refused, not accepted twice.
    #[tokio::test]
    async fn proposals_written_together_are_answered_each_on_its_own() {
        let (_dir, db) = testing::scratch_db().await;
        // 70 runs: written in chunks of 64, 4 and 2
        let ids = runs(&db, 70).await;
        let missing = Uuid::now_v7();
        let mut proposals: Vec<Proposal> = ids
            .iter()
            .map(|&id| propose(id, StateType::Pending))
            .collect();
        proposals.push(propose(ids[3], StateType::Pending));
        proposals.push(propose(missing, StateType::Pending));
        proposals.push(propose(ids[5], StateType::Completed));
        let answers = group(&db, proposals).await;
        assert_eq!(answers.len(), 73);
        let mut tokens = HashSet::new();
        for (answer, &id) in answers.iter().zip(&ids) {
            let (result, updated) = answer.as_ref().unwrap();
            assert_eq!(result.status, SetStateStatus::Accept, "{result:?}");
            assert_eq!(result.state.kind, StateType::Pending);
            let updated = updated.as_ref().expect("the updated run");
            assert_eq!(updated.id, id);
            assert_eq!(updated.claim_token, result.details.claim_token);
            assert!(tokens.insert(result.details.claim_token.expect("a claim token")));
        }
        // the second claim of run 3 was decided on its first claim
        assert_eq!(status(&answers[70]), SetStateStatus::Abort);
        assert!(answers[70].as_ref().unwrap().1.is_none());
        assert!(
            matches!(answers[71], Err(ApiError::NotFound(_))),
            "{:?}",
            answers[71]
        );
        // COMPLETED for run 5 came after its claim, without the claim token: aborted (decided
        // on the Scheduled run it would have been rejected as never run)
        assert_eq!(status(&answers[72]), SetStateStatus::Abort);
        for id in [ids[0], ids[3], ids[5], ids[69]] {
            assert_eq!(
                history_of(&db, id).await,
                [StateType::Scheduled, StateType::Pending]
            );
        }
        let run = flow_runs::get(&db, ids[69]).await.unwrap();
        assert_eq!(run.state.kind, StateType::Pending);
        db.close().await;
    }

    /// A proposal the history's unique (run, transition id) stops fails its multi-row write:
    /// the others of the chunk are written one by one, and the retried one is answered as
    /// its first attempt was.
    #[tokio::test]
    async fn a_retried_transition_in_a_group_is_answered_as_before() {
        let (_dir, db) = testing::scratch_db().await;
        let ids = runs(&db, 4).await;
        let tid = Uuid::now_v7();
        let mut first = propose(ids[0], StateType::Pending);
        first.proposal.transition_id = Some(tid);
        let answers = group(&db, vec![first]).await;
        let token = answers[0].as_ref().unwrap().0.details.claim_token;
        assert!(token.is_some());
        // the retry is forced, so the rules let it through to the write
        let mut retry = propose(ids[0], StateType::Completed);
        retry.proposal.transition_id = Some(tid);
        retry.proposal.force = true;
        let proposals = vec![
            propose(ids[1], StateType::Pending),
            retry,
            propose(ids[2], StateType::Pending),
            propose(ids[3], StateType::Pending),
        ];
        let answers = group(&db, proposals).await;
        for i in [0, 2, 3] {
            assert_eq!(status(&answers[i]), SetStateStatus::Accept);
            assert!(answers[i].as_ref().unwrap().1.is_some());
        }
        let (replay, updated) = answers[1].as_ref().unwrap();
        assert_eq!(replay.status, SetStateStatus::Accept);
        assert_eq!(replay.state.kind, StateType::Pending);
        assert_eq!(replay.details.claim_token, token);
        assert!(updated.is_none());
        for id in &ids {
            assert_eq!(
                history_of(&db, *id).await,
                [StateType::Scheduled, StateType::Pending]
            );
        }
        db.close().await;
    }

    /// A proposal made from inside a write job would wait for a job queued behind that one:
    /// it is refused instead of hanging.
    #[tokio::test]
    async fn a_proposal_from_inside_a_write_job_is_refused() {
        let (_dir, db) = testing::scratch_db().await;
        let id = runs(&db, 1).await[0];
        let inner = db.clone();
        let answers = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            db.writer.run(move |_| {
                Box::pin(async move {
                    let one = propose(id, StateType::Pending);
                    let single = inner.state_changes.submit(one).await.map(|_| ());
                    let many = inner
                        .state_changes
                        .submit_many(vec![propose(id, StateType::Pending)])
                        .await;
                    Ok((
                        single,
                        many.into_iter().map(|a| a.map(|_| ())).collect::<Vec<_>>(),
                    ))
                })
            }),
        )
        .await
        .expect("the writer deadlocked")
        .unwrap();
        assert!(matches!(answers.0, Err(ApiError::Internal(_))));
        assert!(matches!(answers.1.as_slice(), [Err(ApiError::Internal(_))]));
        assert_eq!(history_of(&db, id).await, [StateType::Scheduled]);
        db.close().await;
    }
}
