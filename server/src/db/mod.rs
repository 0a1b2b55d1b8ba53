//! All SQL lives under this module. Handlers call these functions; nothing else touches sqlx.
//!
//! SQLite runs in WAL mode with one writer connection (SQLite allows one writer at a time; a single
//! connection serialises writes in-process instead of failing with "database is locked") and a pool
//! of reader connections that never block on it.

pub mod agents;
pub mod api_keys;
pub mod audit;
mod batch;
pub mod blocks;
pub mod coalesce;
pub mod deployments;
pub mod flow_runs;
pub mod flows;
pub mod holdings;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod reaper;
pub mod retention;
pub mod run_creations;
pub mod run_defaults;
pub mod run_states;
pub mod schedules;
pub mod secrets;
pub mod task_runs;
pub mod work_queues;
pub mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::ApiError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connections to the database: `write` has exactly one connection; `read` has several.
/// Hot writes go through `writer`, which shares `write`'s connection and commits in groups.
#[derive(Clone, Debug)]
pub struct Db {
    pub write: SqlitePool,
    pub read: SqlitePool,
    pub writer: writer::Writer,
    /// Run creations waiting to be written together.
    pub(crate) run_creations: Arc<run_creations::RunCreations>,
    /// Flow runs' state proposals waiting to be written together.
    pub(crate) state_changes: Arc<run_states::StateChanges>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbOpenError {
    #[error("invalid database URL '{url}': {source}")]
    Url { url: String, source: sqlx::Error },
    #[error("cannot open the database at '{url}': {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("the database at '{url}' is damaged ({problems}); restore a backup (`rigel db backup` makes one), or start with --skip-db-check to serve it anyway")]
    Damaged { url: String, problems: String },
    /// The file is there but holds nothing, or its write-ahead log outlived it: opening it
    /// would silently start an empty database (and SQLite would delete the log).
    #[error("{0}")]
    Lost(String),
    #[error("cannot read the API keys: {0}")]
    Keys(String),
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How the database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbOptions {
    /// `synchronous=FULL`: every commit is on disk before it is answered, so a power cut loses
    /// nothing (slower). Default `NORMAL`: in WAL mode a power cut may lose the last commits,
    /// never corrupt the file.
    pub synchronous_full: bool,
    /// Runs `PRAGMA quick_check` before serving and refuses a damaged file.
    pub check: bool,
    /// Longest a read statement may run before it is stopped (and answered as too costly), so
    /// one request can't hold a reader for minutes.
    pub read_budget: Duration,
    /// How long a write waits for a lock another process holds before it is answered 503.
    pub busy_timeout: Duration,
    /// The caller has just created the file, empty (to choose its permissions): a zero-length
    /// file is then a new database. Otherwise one is refused as a database whose data is gone.
    pub created_empty: bool,
}

/// Virtual-machine steps between two looks at a read's clock (well under a millisecond).
const READ_BUDGET_OPS: i32 = 20_000;

/// The progress handler of a reader: stops a statement that has run longer than `budget`. The
/// handler can't see where statements start, so a pause of 50 ms between two of its calls is
/// taken as a new statement (calls come every few microseconds while one runs); statements run
/// back to back without a pause share one budget, which only errs on the strict side.
fn read_budget(budget: Duration) -> impl FnMut() -> bool + Send + 'static {
    let mut started = std::time::Instant::now();
    let mut last = started;
    move || {
        let now = std::time::Instant::now();
        if now.duration_since(last) > Duration::from_millis(50) {
            started = now;
        }
        last = now;
        now.duration_since(started) <= budget
    }
}

/// The error of a read stopped by its budget.
pub const READ_STOPPED: &str = "the query ran past the time a read may take and was stopped";

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            synchronous_full: false,
            check: true,
            read_budget: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(10),
            created_empty: false,
        }
    }
}

impl Db {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, DbOpenError> {
        Self::open_with(url, DbOptions::default()).await
    }

    /// [`Db::open`] with `options`.
    pub async fn open_with(url: &str, opts: DbOptions) -> Result<Self, DbOpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| DbOpenError::Url {
                url: url.to_string(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            refuse_lost(options.get_filename(), opts.created_empty)?;
        }
        let open_err = |source| DbOpenError::Open {
            url: url.to_string(),
            source,
        };
        // Deployments' run defaults, kept valid by hooks on the write connection.
        let deployments = Arc::new(run_defaults::DeploymentCache::default());
        let watched = Arc::clone(&deployments);
        let write = SqlitePoolOptions::new()
            .after_connect(move |conn, _| {
                let cache = Arc::clone(&watched);
                Box::pin(async move { cache.watch(conn).await })
            })
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // a ping per acquire is a needless round trip to a local file
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        if opts.check {
            let found: Vec<String> = sqlx::query_scalar("PRAGMA quick_check(5)")
                .fetch_all(&write)
                .await
                .map_err(|source| DbOpenError::Damaged {
                    url: url.to_string(),
                    problems: source.to_string(),
                })?;
            if found.iter().any(|line| line != "ok") {
                return Err(DbOpenError::Damaged {
                    url: url.to_string(),
                    problems: found.join("; "),
                });
            }
        }
        MIGRATOR.run(&write).await?;
        // An in-memory database exists only inside its one connection, so readers share it.
        let read = if in_memory {
            write.clone()
        } else {
            let budget = opts.read_budget;
            SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.lock_handle()
                            .await?
                            .set_progress_handler(READ_BUDGET_OPS, read_budget(budget));
                        Ok(())
                    })
                })
                .connect_with(options.read_only(true))
                .await
                .map_err(|source| DbOpenError::Open {
                    url: url.to_string(),
                    source,
                })?
        };
        let writer = writer::Writer::start(write.clone());
        let run_creations = Arc::new(run_creations::run_creations(writer.clone(), deployments));
        let state_changes = Arc::new(run_states::state_changes(writer.clone()));
        Ok(Self {
            write,
            read,
            writer,
            run_creations,
            state_changes,
        })
    }

    /// A write transaction that takes the write lock up front (no lock upgrade mid-transaction).
    pub async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, ApiError> {
        if writer::in_write_job() {
            // the writer holds the one write connection: waiting for it here never ends
            return Err(ApiError::Internal(
                "a write job tried to open its own write transaction".into(),
            ));
        }
        // Begun in a task of its own, which the caller going away does not cancel. sqlx marks
        // the connection as inside a transaction as soon as BEGIN ran, then awaits once more
        // before it hands out the `Transaction`; a caller dropped there (a client that hung up)
        // would send the connection back to the pool with that transaction open and nothing to
        // roll it back, so later writes on it would never commit. From the task, the
        // `Transaction` is always built, and dropped (rolled back) if nobody waits for it.
        let write = self.write.clone();
        tokio::spawn(async move {
            match write.begin_with("BEGIN IMMEDIATE").await {
                // A transaction whose COMMIT failed (a full disk) leaves sqlx counting it open on
                // the connection, and every later BEGIN on it fails: close that connection (the
                // pool opens a fresh one) instead of failing every write until a restart.
                Err(sqlx::Error::InvalidSavePointStatement) => {
                    tracing::warn!(
                        "the write connection was left inside a failed transaction; reopening it"
                    );
                    if let Ok(conn) = write.acquire().await {
                        let _ = conn.close().await;
                    }
                    write.begin_with("BEGIN IMMEDIATE").await
                }
                other => other,
            }
        })
        .await
        .map_err(|e| ApiError::Internal(format!("beginning a write transaction failed: {e}")))?
        .map_err(ApiError::from)
    }

    /// Finishes the queued writes, then closes every connection.
    pub async fn close(&self) {
        self.writer.stop().await;
        self.read.close().await;
        self.write.close().await;
    }
}

/// Refuses to open a database whose data is evidently gone, instead of letting SQLite start an
/// empty one in its place: a zero-length file (truncated, or replaced by an empty one) unless
/// the caller has just created it, and a missing or empty file beside a write-ahead log that is
/// not empty (the log holds commits of the lost file; SQLite would delete it on opening). A
/// missing file without a log is a first start.
fn refuse_lost(path: &std::path::Path, created_empty: bool) -> Result<(), DbOpenError> {
    let size = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    let main = size(path);
    let logged = size(&wal).unwrap_or(0);
    let (path, wal) = (path.display(), wal.display());
    if logged > 0 && main.unwrap_or(0) == 0 {
        let what = if main.is_none() {
            "is missing"
        } else {
            "is empty (0 bytes)"
        };
        return Err(DbOpenError::Lost(format!(
            "the database {path} {what}, but its write-ahead log {wal} is not ({logged} bytes): \
             the database file was deleted, truncated or replaced, and opening it would discard \
             the log. Put the database file back (or restore a backup); to start afresh with an \
             empty database instead, delete both files"
        )));
    }
    if main == Some(0) && !created_empty {
        return Err(DbOpenError::Lost(format!(
            "the database {path} is empty (0 bytes): its data is gone (the file was truncated or \
             replaced) or it was never written. Restore it from a backup; to start afresh with \
             an empty database instead, delete the file"
        )));
    }
    Ok(())
}

/// Timestamps are stored as microseconds since the epoch.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Reads a JSON column written by this server; a corrupt value is an internal error, not a panic.
pub fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::Internal(format!("corrupt JSON in column {column}: {e}")))
}

pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Appends `AND <col> IN (?, ?, …)`; an empty list matches nothing.
pub fn push_in<'a, T>(qb: &mut sqlx::QueryBuilder<'a, Sqlite>, col: &str, values: &[T])
where
    T: Clone + sqlx::Encode<'a, Sqlite> + sqlx::Type<Sqlite> + 'a,
{
    if values.is_empty() {
        qb.push(" AND 0");
        return;
    }
    qb.push(" AND ").push(col).push(" IN (");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    sep.push_unseparated(")");
}

/// Appends `AND <tags column> ⊇ tags` for a JSON-array tags column: the row's tags found among
/// the wanted ones must be all of them. Linear in the row's tags — the wanted list is one
/// uncorrelated subquery, which SQLite builds into an index once per statement — where testing
/// each wanted tag against the row's (a correlated subquery per tag) was quadratic.
pub fn push_tags_superset(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, col: &str, tags: &[String]) {
    let mut wanted: Vec<&String> = tags.iter().collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return;
    }
    qb.push(" AND (SELECT count(DISTINCT have.value) FROM json_each(")
        .push(col)
        .push(") have WHERE have.value IN (SELECT value FROM json_each(")
        .push_bind(to_json(&wanted))
        .push("))) = ")
        .push_bind(wanted.len() as i64);
}

/// What the database modules' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use uuid::Uuid;

    use super::Db;

    /// A database of its own, in a folder that lives as long as the returned handle to it.
    pub(crate) async fn scratch_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let db = Db::open(&url).await.unwrap();
        (dir, db)
    }

    /// A flow named 'f' for runs to belong to; its id.
    pub(crate) async fn a_flow(db: &Db) -> Uuid {
        let flow = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO flow (id, name, tags, created, updated) VALUES (?, 'f', '[]', 0, 0)",
        )
        .bind(flow)
        .execute(&db.write)
        .await
        .unwrap();
        flow
    }
}

#[cfg(test)]
mod tests {
    use std::future::{poll_fn, Future};
    use std::sync::atomic::Ordering;
    use std::task::Poll;

    use super::*;

    /// A caller that goes away while its write transaction begins (a client hanging up) must not
    /// leave the write connection inside a transaction: the writes after it would never commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_begin_leaves_no_transaction_behind() {
        let (_dir, db) = testing::scratch_db().await;
        sqlx::query("CREATE TABLE scratch (n INTEGER NOT NULL)")
            .execute(&db.write)
            .await
            .unwrap();
        let mut n = 0i64;
        for polls in 1..=12 {
            for _ in 0..20 {
                {
                    let mut begin = std::pin::pin!(db.begin_write());
                    for _ in 0..polls {
                        let ready = poll_fn(|cx| Poll::Ready(begin.as_mut().poll(cx).is_ready()));
                        if ready.await {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                n += 1;
                sqlx::query("INSERT INTO scratch (n) VALUES (?)")
                    .bind(n)
                    .execute(&db.write)
                    .await
                    .unwrap();
                // committed: another connection sees it at once
                let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scratch")
                    .fetch_one(&db.read)
                    .await
                    .unwrap();
                assert_eq!(seen, n, "after a begin dropped within {polls} polls");
            }
        }
        db.writer.run(|_| Box::pin(async { Ok(()) })).await.unwrap();
        assert_eq!(db.writer.stats().begin_failures.load(Ordering::Relaxed), 0);
        db.close().await;
    }
}
