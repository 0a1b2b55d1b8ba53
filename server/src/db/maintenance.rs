//! Work on a database file from outside the server: online backups and sizes by table. Both
//! read through a connection of their own, which WAL mode lets run beside a serving server.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Tables whose rows `rigel db stats` counts, biggest users of space first.
pub const TABLES: &[&str] = &[
    "log",
    "flow_run",
    "flow_run_state",
    "flow_run_heartbeat",
    "task_run",
    "task_run_state",
    "deployment",
    "flow",
    "block",
    "block_data",
    "work_queue",
    "agent",
    "api_key",
    "audit",
];

async fn connect(url: &str) -> Result<sqlx::SqliteConnection, String> {
    SqliteConnectOptions::from_str(url)
        .map_err(|e| format!("invalid database URL '{url}': {e}"))?
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open the database at '{url}': {e}"))
}

/// Writes a consistent copy of the database at `url` to `to` (`VACUUM INTO`: compacted, and
/// safe while the server writes). `to` must not exist.
pub async fn backup(url: &str, to: &Path) -> Result<u64, String> {
    if to.exists() {
        return Err(format!("{} exists; give a new file", to.display()));
    }
    let mut conn = connect(url).await?;
    let target = to
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", to.display()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(|e| format!("the backup failed: {e}"))?;
    conn.close().await.ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot make {} private: {e}", to.display()))?;
    }
    std::fs::metadata(to)
        .map(|m| m.len())
        .map_err(|e| format!("cannot read {}: {e}", to.display()))
}

/// Rows per table, and the database's pages in use and free.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub tables: Vec<(String, i64)>,
    pub page_size: i64,
    pub pages: i64,
    pub free_pages: i64,
}

pub async fn stats(url: &str) -> Result<Stats, String> {
    let mut conn = connect(url).await?;
    let mut tables = Vec::new();
    for t in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("cannot count {t}: {e}"))?;
        tables.push((t.to_string(), n));
    }
    let mut pragmas = [0i64; 3];
    for (slot, name) in pragmas
        .iter_mut()
        .zip(["page_size", "page_count", "freelist_count"])
    {
        *slot = sqlx::query_scalar(&format!("PRAGMA {name}"))
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("PRAGMA {name}: {e}"))?;
    }
    let [page_size, pages, free_pages] = pragmas;
    Ok(Stats {
        tables,
        page_size,
        pages,
        free_pages,
    })
}
