//! The writer's own tests: savepoints per job, nested writes, a full disk, stopping.

use std::future::Future as _;
use std::task::Poll;
use std::time::Duration;

use super::*;
use crate::db::Db;

async fn scratch_db() -> (tempfile::TempDir, Db) {
    let (dir, db) = crate::db::testing::scratch_db().await;
    sqlx::query(
        "CREATE TABLE scratch (job INTEGER NOT NULL, part INTEGER NOT NULL,
         PRIMARY KEY (job, part))",
    )
    .execute(&db.write)
    .await
    .unwrap();
    (dir, db)
}

async fn insert(conn: &mut SqliteConnection, job: i64, part: i64) -> ApiResult<()> {
    sqlx::query("INSERT INTO scratch (job, part) VALUES (?, ?)")
        .bind(job)
        .bind(part)
        .execute(conn)
        .await?;
    Ok(())
}

/// Waits until `n` jobs wait in the writer's queue (the deadline only fails a hung test).
async fn until_queued(db: &Db, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.writer.queued() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} jobs never queued"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn rows_of(db: &Db, job: i64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM scratch WHERE job = ?")
        .bind(job)
        .fetch_one(&db.read)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_jobs_roll_back_only_their_own_writes() {
    let (_dir, db) = scratch_db().await;
    let jobs = 1000i64;
    let mut tasks = Vec::new();
    for job in 0..jobs {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let result = db
                .writer
                .run(move |conn| {
                    Box::pin(async move {
                        insert(conn, job, 0).await?;
                        match job % 5 {
                            // refuses after writing
                            1 => Err(ApiError::BadRequest(format!("job {job} refused"))),
                            // a statement fails after one succeeded (primary key)
                            2 => insert(conn, job, 0).await.map(|()| job),
                            // waits for something else between two writes
                            3 => {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                                insert(conn, job, 1).await.map(|()| job)
                            }
                            4 => panic!("job {job} panics"),
                            _ => Ok(job),
                        }
                    })
                })
                .await;
            // an answered job is committed: another connection sees its rows at once
            let visible = rows_of(&db, job).await;
            (job, result, visible)
        }));
    }
    let mut committed = 0;
    for task in tasks {
        let (job, result, visible) = task.await.unwrap();
        match job % 5 {
            1 => {
                let Err(ApiError::BadRequest(m)) = result else {
                    panic!("job {job}: {result:?}")
                };
                assert_eq!(m, format!("job {job} refused"));
                assert_eq!(visible, 0, "job {job}");
            }
            2 => {
                assert!(matches!(result, Err(ApiError::Conflict(_))), "job {job}");
                assert_eq!(visible, 0, "job {job}");
            }
            4 => {
                assert!(matches!(result, Err(ApiError::Internal(_))), "job {job}");
                assert_eq!(visible, 0, "job {job}");
            }
            3 => {
                assert_eq!(result.unwrap(), job);
                assert_eq!(visible, 2, "job {job}");
                committed += 2;
            }
            _ => {
                assert_eq!(result.unwrap(), job);
                assert_eq!(visible, 1, "job {job}");
                committed += 1;
            }
        }
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scratch")
        .fetch_one(&db.read)
        .await
        .unwrap();
    assert_eq!(total, committed);
    // the jobs really shared transactions (else the savepoints were never put to the test)
    let stats = db.writer.stats();
    let batches = stats.batches.load(Ordering::Relaxed);
    assert!(batches < 500, "{batches} batches for {jobs} jobs");
    db.close().await;
}

#[tokio::test]
async fn a_nested_write_is_refused_instead_of_deadlocking() {
    let (_dir, db) = scratch_db().await;
    let inner = db.clone();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        db.writer.run(move |conn| {
            Box::pin(async move {
                insert(conn, 1, 0).await?;
                let nested = inner
                    .writer
                    .run(|conn| Box::pin(async move { insert(conn, 2, 0).await }))
                    .await;
                assert!(matches!(nested, Err(ApiError::Internal(_))));
                let tx = inner.begin_write().await;
                assert!(matches!(tx, Err(ApiError::Internal(_))));
                Ok(())
            })
        }),
    )
    .await
    .expect("the writer deadlocked");
    result.unwrap();
    assert_eq!(rows_of(&db, 1).await, 1);
    assert_eq!(rows_of(&db, 2).await, 0);
    // code outside the writer still gets the connection between batches
    let mut tx = db.begin_write().await.unwrap();
    insert(&mut tx, 3, 0).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows_of(&db, 3).await, 1);
}

/// SQLite may answer a full disk by rolling the whole transaction back, savepoints and the
/// jobs before included: every job of the batch is told it is the disk, not an internal
/// error about a missing savepoint, and nothing of the batch stays.
#[tokio::test]
async fn a_batch_lost_to_a_full_disk_tells_each_job_so() {
    let (_dir, db) = scratch_db().await;
    db.writer
        .run(|conn| {
            Box::pin(async move {
                // the database may not grow any more, as on a full disk
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(&mut *conn)
                    .await?;
                sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    // both jobs wait behind a slow one, so they share the next batch
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let writer = db.writer.clone();
    let stall = tokio::spawn(async move {
        writer
            .run(move |_| {
                Box::pin(async move {
                    let _ = started.send(());
                    let _ = held.await;
                    Ok(())
                })
            })
            .await
    });
    running.await.unwrap();
    let writer = db.writer.clone();
    let small = tokio::spawn(async move {
        writer
            .run(|conn| Box::pin(async move { insert(conn, 1, 0).await }))
            .await
    });
    let writer = db.writer.clone();
    let big = tokio::spawn(async move {
        writer
            .run(|conn| {
                Box::pin(async move {
                    for part in 0..2_000 {
                        insert(conn, 2, part).await?;
                    }
                    Ok(())
                })
            })
            .await
    });
    until_queued(&db, 2).await;
    release.send(()).unwrap();
    stall.await.unwrap().unwrap();
    let (small, big) = (small.await.unwrap(), big.await.unwrap());
    assert!(
        matches!(big, Err(ApiError::DatabaseUnavailable { ref message, .. }) if message.contains("disk is full")),
        "{big:?}"
    );
    match small {
        // SQLite kept the transaction: the first job's write is committed
        Ok(()) => assert_eq!(rows_of(&db, 1).await, 1),
        // it rolled it back: the first job learns why
        Err(e) => {
            assert!(e.is_database_condition(), "{e:?}");
            assert_eq!(rows_of(&db, 1).await, 0);
        }
    }
    assert_eq!(rows_of(&db, 2).await, 0);
}

#[tokio::test]
async fn stopping_finishes_the_running_job_and_refuses_new_ones() {
    let (_dir, db) = scratch_db().await;
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let writer = db.writer.clone();
    let slow = tokio::spawn(async move {
        writer
            .run(|conn| {
                Box::pin(async move {
                    let _ = started.send(());
                    let _ = held.await;
                    insert(conn, 1, 0).await
                })
            })
            .await
    });
    running.await.unwrap();
    // asked to stop while the job runs, the writer waits for it
    let mut stopping = std::pin::pin!(db.writer.stop());
    let first = std::future::poll_fn(|cx| Poll::Ready(stopping.as_mut().poll(cx))).await;
    assert!(
        first.is_pending(),
        "stop returned before the running job ended"
    );
    release.send(()).unwrap();
    stopping.await;
    slow.await.unwrap().unwrap();
    assert_eq!(rows_of(&db, 1).await, 1);
    let late = db
        .writer
        .run(|conn| Box::pin(async move { insert(conn, 2, 0).await }))
        .await;
    assert!(matches!(late, Err(ApiError::Internal(_))));
    assert_eq!(rows_of(&db, 2).await, 0);
}
