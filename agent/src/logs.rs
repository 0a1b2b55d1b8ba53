//! Ships runs' log records to the server in batches, off the hot path of reading output.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::Utc;
use rigel_common::client::{ClientError, RigelClient};
use rigel_common::log::{LogCreate, MAX_LOG_BATCH};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Longest line kept in one record; longer output is split.
const MAX_LINE: usize = 16 * 1024;
/// How long a record may wait for others to share its request.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Records kept while the server is unreachable; beyond this the oldest are dropped (and said so).
const MAX_BUFFERED: usize = 100_000;

/// Sends the log records of one or many flow runs to the server: records that arrive close
/// together share one request, whichever run they belong to (an agent running engines inside
/// itself ships every run's output through one). Cloning is cheap; the shipping task ends once
/// every handle and every [`RunLogger`] is gone and what they sent is delivered.
#[derive(Clone, Debug)]
pub struct LogShipper {
    tx: mpsc::Sender<Shipment>,
}

enum Shipment {
    Record(LogCreate),
    /// Answered once every record sent before it was delivered (or given up).
    Flush(oneshot::Sender<()>),
}

/// A handle to send log lines of one flow run; cloning is cheap.
#[derive(Clone)]
pub struct RunLogger {
    tx: mpsc::Sender<Shipment>,
    flow_run_id: Uuid,
    echo: bool,
}

impl LogShipper {
    /// Starts the shipping task.
    pub fn start(client: RigelClient) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(ship(client, rx));
        Self { tx }
    }

    /// A logger for `flow_run_id`. With `echo`, lines are also printed to this process's stdout.
    pub fn logger(&self, flow_run_id: Uuid, echo: bool) -> RunLogger {
        RunLogger {
            tx: self.tx.clone(),
            flow_run_id,
            echo,
        }
    }
}

impl RunLogger {
    /// Waits, at most `within`, until every line logged so far through this logger or its
    /// clones reached the server (or was given up).
    pub async fn flush(&self, within: Duration) {
        let (done, delivered) = oneshot::channel();
        // the queue may be full while the server is away: that wait counts too
        let _ = tokio::time::timeout(within, async {
            if self.tx.send(Shipment::Flush(done)).await.is_ok() {
                let _ = delivered.await;
            }
        })
        .await;
    }

    pub async fn log(&self, level: u8, task_run_id: Option<Uuid>, message: &str) {
        if self.echo {
            println!("{message}");
        }
        let mut rest = message;
        loop {
            let cut = if rest.len() > MAX_LINE {
                let mut i = MAX_LINE;
                while !rest.is_char_boundary(i) {
                    i -= 1;
                }
                i
            } else {
                rest.len()
            };
            let record = LogCreate {
                flow_run_id: self.flow_run_id,
                task_run_id,
                level,
                timestamp: Utc::now(),
                message: rest[..cut].to_string(),
            };
            if self.tx.send(Shipment::Record(record)).await.is_err() {
                return;
            }
            rest = &rest[cut..];
            if rest.is_empty() {
                return;
            }
        }
    }

    pub async fn info(&self, message: &str) {
        self.log(rigel_common::log::level::INFO, None, message)
            .await;
    }
}

/// Records waiting to be delivered, and the flushes waiting for them.
#[derive(Default)]
struct Pending {
    records: VecDeque<LogCreate>,
    /// Records ever received, and ever delivered or given up: a flush sent after the `n`th
    /// record is answered once `settled` reaches `n`.
    received: u64,
    settled: u64,
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    dropped: usize,
}

impl Pending {
    fn take(&mut self, shipment: Shipment) {
        match shipment {
            Shipment::Record(r) => {
                self.records.push_back(r);
                self.received += 1;
            }
            Shipment::Flush(done) => self.flushes.push((self.received, done)),
        }
    }

    fn settle(&mut self, n: usize) {
        self.records.drain(..n);
        self.settled += n as u64;
        // flushes are kept in the order they came, so those now answered come first
        let settled = self.settled;
        let answered = self.flushes.partition_point(|(after, _)| *after <= settled);
        for (_, done) in self.flushes.drain(..answered) {
            let _ = done.send(());
        }
    }
}

async fn ship(client: RigelClient, mut rx: mpsc::Receiver<Shipment>) {
    let mut p = Pending::default();
    let mut failures = 0u32;
    let mut closed = false;
    loop {
        if p.records.is_empty() {
            // answers the flushes of loggers that sent nothing more
            p.settle(0);
            if closed {
                return;
            }
            match rx.recv().await {
                Some(s) => p.take(s),
                None => return,
            }
            continue;
        }
        // What arrived meanwhile joins this request. Without a flush waiting, records wait up
        // to FLUSH_EVERY for others: one request, not one a line.
        while let Ok(s) = rx.try_recv() {
            p.take(s);
        }
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while !closed && p.flushes.is_empty() && p.records.len() < MAX_LOG_BATCH {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(s) => p.take(s),
                    None => closed = true,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let n = p.records.len().min(MAX_LOG_BATCH);
        let batch = &p.records.make_contiguous()[..n];
        match client.create_logs(batch).await {
            Ok(_) => {
                p.settle(n);
                failures = 0;
            }
            Err(e) if !e.is_transient() => {
                // refused for good (a run deleted meanwhile): deliver each run's records on
                // their own, so one run's refusal does not cost the others theirs
                deliver_per_run(&client, batch, &e).await;
                p.settle(n);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("cannot send logs ({e}); keeping them and retrying");
                }
                if closed && failures > 5 {
                    tracing::error!("giving up on {} log records", p.records.len());
                    p.settle(p.records.len());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
                // the server is away: keep the output flowing into the buffer, not the channel
                while let Ok(s) = rx.try_recv() {
                    p.take(s);
                }
            }
        }
        if p.records.len() > MAX_BUFFERED {
            let over = p.records.len() - MAX_BUFFERED;
            p.settle(over);
            p.dropped += over;
            tracing::warn!(
                "dropped {} log records while the server was unreachable",
                p.dropped
            );
        }
    }
}

/// Sends `batch` one run at a time after the server refused it whole; a run's records the
/// server refuses too are dropped with a warning (they would be refused forever).
async fn deliver_per_run(client: &RigelClient, batch: &[LogCreate], refusal: &ClientError) {
    let mut runs: Vec<Uuid> = batch.iter().map(|r| r.flow_run_id).collect();
    runs.sort_unstable();
    runs.dedup();
    if runs.len() == 1 {
        tracing::warn!(
            "the server refused {} log records of flow run {}: {refusal}",
            batch.len(),
            runs[0]
        );
        return;
    }
    for run in runs {
        let records: Vec<LogCreate> = batch
            .iter()
            .filter(|r| r.flow_run_id == run)
            .cloned()
            .collect();
        if let Err(e) = client.create_logs(&records).await {
            tracing::warn!(
                "the server refused {} log records of flow run {run}: {e}",
                records.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose server is never there (nothing listens on port 9 of this machine).
    fn nowhere() -> RigelClient {
        RigelClient::new("http://127.0.0.1:9/api")
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_gives_up_after_its_time_when_the_server_is_away() {
        let shipper = LogShipper::start(nowhere());
        let logger = shipper.logger(Uuid::now_v7(), false);
        logger.info("kept for later").await;
        let started = tokio::time::Instant::now();
        logger.flush(Duration::from_secs(30)).await;
        // the shipper is still retrying: the flush ended on its own time, not on delivery
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_that_cannot_even_queue_still_ends_on_time() {
        let shipper = LogShipper::start(nowhere());
        let logger = shipper.logger(Uuid::now_v7(), false);
        // more than the queue holds while the shipper is busy retrying
        let filler = logger.clone();
        tokio::spawn(async move {
            for i in 0..20_000 {
                filler.info(&format!("line {i}")).await;
            }
        });
        while shipper.tx.capacity() > 0 {
            tokio::task::yield_now().await;
        }
        let started = tokio::time::Instant::now();
        logger.flush(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn flushes_are_answered_in_order_once_what_preceded_them_is_settled() {
        let mut p = Pending::default();
        let record = |m: &str| {
            Shipment::Record(LogCreate {
                flow_run_id: Uuid::nil(),
                task_run_id: None,
                level: 20,
                timestamp: Utc::now(),
                message: m.into(),
            })
        };
        let (first, mut first_done) = oneshot::channel();
        let (second, mut second_done) = oneshot::channel();
        let (empty, mut empty_done) = oneshot::channel();
        p.take(record("a"));
        p.take(Shipment::Flush(first));
        p.take(record("b"));
        p.take(record("c"));
        p.take(Shipment::Flush(second));
        p.settle(1);
        assert!(first_done.try_recv().is_ok(), "a was delivered");
        assert!(second_done.try_recv().is_err(), "b and c were not");
        p.settle(1);
        assert!(second_done.try_recv().is_err(), "c was not");
        p.settle(1);
        assert!(second_done.try_recv().is_ok());
        assert!(p.records.is_empty());
        // nothing pending: a flush is answered by the next settle, even of nothing
        p.take(Shipment::Flush(empty));
        p.settle(0);
        assert!(empty_done.try_recv().is_ok());
    }
}
