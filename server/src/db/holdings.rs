//! What an `agent` key holds: the runs claimed by agents registered with it, their deployments
//! and their code.

use uuid::Uuid;

use super::Db;
use crate::error::ApiResult;

/// Whether the run exists (`None` if not), and whether an agent of `key` holds it.
pub async fn run(db: &Db, key: Uuid, run: Uuid) -> ApiResult<Option<bool>> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(a.api_key_id = ?, 0) FROM flow_run r
         LEFT JOIN agent a ON a.id = r.agent_id WHERE r.id = ?",
    )
    .bind(key)
    .bind(run)
    .fetch_optional(&db.read)
    .await?)
}

/// Whether the task run exists, and whether an agent of `key` holds its flow run.
pub async fn task_run(db: &Db, key: Uuid, task: Uuid) -> ApiResult<Option<bool>> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(a.api_key_id = ?, 0) FROM task_run t JOIN flow_run r ON r.id = t.flow_run_id
         LEFT JOIN agent a ON a.id = r.agent_id WHERE t.id = ?",
    )
    .bind(key)
    .bind(task)
    .fetch_optional(&db.read)
    .await?)
}

/// Whether the deployment exists, and whether an agent of `key` holds one of its runs.
pub async fn deployment(db: &Db, key: Uuid, deployment: Uuid) -> ApiResult<Option<bool>> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM flow_run r JOIN agent a ON a.id = r.agent_id
             WHERE r.deployment_id = d.id AND a.api_key_id = ?)
         FROM deployment d WHERE d.id = ?",
    )
    .bind(key)
    .bind(deployment)
    .fetch_optional(&db.read)
    .await?)
}

/// Whether the block exists, and whether it holds the code of a deployment one of whose runs an
/// agent of `key` holds.
pub async fn block(db: &Db, key: Uuid, block: Uuid) -> ApiResult<Option<bool>> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deployment d JOIN flow_run r ON r.deployment_id = d.id
             JOIN agent a ON a.id = r.agent_id
             WHERE d.storage_block_id = b.id AND a.api_key_id = ?)
         FROM block b WHERE b.id = ?",
    )
    .bind(key)
    .bind(block)
    .fetch_optional(&db.read)
    .await?)
}

/// Whether the agent exists, and whether it registered with `key`.
pub async fn agent(db: &Db, key: Uuid, agent: Uuid) -> ApiResult<Option<bool>> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(api_key_id = ?, 0) FROM agent WHERE id = ?")
            .bind(key)
            .bind(agent)
            .fetch_optional(&db.read)
            .await?,
    )
}

/// What checking a run token needs of its run: the claim it is held with, its state type and
/// when it entered it, and its deployment with the deployment's flow data (JSON).
pub type RunTokenFacts = (Option<Uuid>, String, i64, Option<Uuid>, Option<String>);

pub async fn run_token_facts(db: &Db, run: Uuid) -> ApiResult<Option<RunTokenFacts>> {
    Ok(sqlx::query_as(
        "SELECT r.claim_token, r.state_type, r.state_timestamp, r.deployment_id, d.flow_data
         FROM flow_run r LEFT JOIN deployment d ON d.id = r.deployment_id WHERE r.id = ?",
    )
    .bind(run)
    .fetch_optional(&db.read)
    .await?)
}
