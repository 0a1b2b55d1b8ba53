//! The server's own secrets (`server_secret`), and the probe statements of `GET /api/health`,
//! which touch that table because every database has its row.

use super::Db;
use crate::error::ApiResult;

/// The run-token signing secret: `fresh` is stored on first use, and the stored one returned.
pub async fn run_token_secret(db: &Db, fresh: Vec<u8>) -> ApiResult<Vec<u8>> {
    db.writer
        .run(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT OR IGNORE INTO server_secret (name, value) VALUES ('run_tokens', ?)",
                )
                .bind(fresh)
                .execute(&mut *conn)
                .await?;
                let (value,): (Vec<u8>,) =
                    sqlx::query_as("SELECT value FROM server_secret WHERE name = 'run_tokens'")
                        .fetch_one(&mut *conn)
                        .await?;
                Ok(value)
            })
        })
        .await
}

/// A read of one page (health probe).
pub async fn probe_read(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM (SELECT 1 FROM flow LIMIT 1)")
        .fetch_one(&db.read)
        .await
        .map(|_| ())
}

/// A write that changes nothing but still goes through the writer's queue and a commit (health
/// probe).
pub async fn probe_write(db: &Db) -> ApiResult<()> {
    db.writer
        .run(|conn| {
            Box::pin(async move {
                sqlx::query("UPDATE server_secret SET value = value WHERE name = 'run_tokens'")
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
}
