//! Ships runs' log records to the server in batches, off the hot path of reading output.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use rigel_common::backoff::Backoff;
use rigel_common::client::{ClientError, RigelClient};
use rigel_common::log::{LogCreate, MAX_LOG_BATCH};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Longest line kept in one record; longer output is split.
const MAX_LINE: usize = 16 * 1024;
/// How long a record may wait for others to share its request.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Most bytes of messages in one request: far below the server's body limit even when every
/// character needs escaping in JSON.
const BATCH_BYTES: usize = 1024 * 1024;
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
    /// Records not delivered yet, oldest first, and each one's sequence number (same order).
    records: VecDeque<LogCreate>,
    seqs: VecDeque<u64>,
    /// Records ever taken: the next one's sequence number.
    received: u64,
    /// Flushes in the order they came, each with how many records were taken before it: it is
    /// answered once none of those is pending.
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    /// Runs the server no longer has (deleted while running): their records are dropped.
    gone: HashSet<Uuid>,
    dropped: usize,
}

impl Pending {
    fn take(&mut self, shipment: Shipment) {
        match shipment {
            Shipment::Record(r) if self.gone.contains(&r.flow_run_id) => {}
            Shipment::Record(r) => {
                self.records.push_back(r);
                self.seqs.push_back(self.received);
                self.received += 1;
            }
            Shipment::Flush(done) => self.flushes.push((self.received, done)),
        }
    }

    /// Takes what is queued without waiting; false once every sender is gone.
    fn take_queued(&mut self, rx: &mut mpsc::Receiver<Shipment>) -> bool {
        loop {
            match rx.try_recv() {
                Ok(s) => self.take(s),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// How many of the oldest records the next request carries: at most MAX_LOG_BATCH, and
    /// BATCH_BYTES of messages unless a single record is larger.
    fn batch_len(&self) -> usize {
        let mut bytes = 0;
        let mut n = 0;
        for r in self.records.iter().take(MAX_LOG_BATCH) {
            bytes += r.message.len();
            if n > 0 && bytes > BATCH_BYTES {
                break;
            }
            n += 1;
        }
        n
    }

    /// Removes the `n` oldest records (delivered, or given up) and answers the flushes that
    /// no longer wait for anything.
    fn settle(&mut self, n: usize) {
        self.records.drain(..n);
        self.seqs.drain(..n);
        self.answer();
    }

    /// The `n` oldest records, out of the queue, with their sequence numbers.
    fn take_oldest(&mut self, n: usize) -> Vec<(u64, LogCreate)> {
        self.seqs.drain(..n).zip(self.records.drain(..n)).collect()
    }

    /// Puts records taken out with [`Self::take_oldest`] back in front, in their order.
    fn put_back(&mut self, kept: Vec<(u64, LogCreate)>) {
        for (seq, r) in kept.into_iter().rev() {
            self.seqs.push_front(seq);
            self.records.push_front(r);
        }
    }

    fn answer(&mut self) {
        // every record older than the oldest one pending is settled
        let oldest = self.seqs.front().copied().unwrap_or(self.received);
        let answered = self
            .flushes
            .partition_point(|(before, _)| *before <= oldest);
        for (_, done) in self.flushes.drain(..answered) {
            let _ = done.send(());
        }
        // a flush whose caller stopped waiting needs no answer (and must not keep the
        // shipper from noticing that every logger is gone)
        self.flushes.retain(|(_, done)| !done.is_closed());
    }

    fn drop_oldest(&mut self, n: usize) {
        self.settle(n);
        let before = self.dropped;
        self.dropped += n;
        if before == 0 || before / 10_000 != self.dropped / 10_000 {
            tracing::warn!(
                records = self.dropped,
                "dropped log records while the server was unreachable"
            );
        }
    }
}

async fn ship(client: RigelClient, mut rx: mpsc::Receiver<Shipment>) {
    let mut p = Pending::default();
    let mut failures = 0u32;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    let mut open = true;
    loop {
        if p.records.is_empty() {
            // answers the flushes of loggers that sent nothing more
            p.answer();
            if !open {
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
        open &= p.take_queued(&mut rx);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while open && p.flushes.is_empty() && p.records.len() < MAX_LOG_BATCH {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(s) => p.take(s),
                    None => open = false,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let n = p.batch_len();
        let sent = client.create_logs(&p.records.make_contiguous()[..n]).await;
        let retry = match sent {
            Ok(_) => {
                p.settle(n);
                None
            }
            Err(e) if !e.is_transient() => {
                // Refused for good, most likely for a run deleted meanwhile: each run's records
                // go on their own, so one run's refusal does not cost the others theirs.
                let batch = p.take_oldest(n);
                let kept = deliver_per_run(&client, batch, &e, &mut p.gone).await;
                let retry = (!kept.is_empty()).then(|| "the server went away".to_string());
                p.put_back(kept);
                p.answer();
                retry
            }
            Err(e) => Some(e.to_string()),
        };
        match retry {
            None => {
                failures = 0;
                backoff.reset();
            }
            Some(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %e, "cannot send logs; keeping them and retrying");
                }
                if !open && failures > 5 {
                    tracing::error!(records = p.records.len(), "giving up on log records");
                    p.settle(p.records.len());
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
                // the server is away: keep the output flowing into the buffer, not the channel
                open &= p.take_queued(&mut rx);
                p.answer();
            }
        }
        if p.records.len() > MAX_BUFFERED {
            p.drop_oldest(p.records.len() - MAX_BUFFERED);
        }
    }
}

/// Sends `batch` one run at a time after the server refused it whole. Returns the records to
/// try again (the server could not be reached for them). A run's records refused again are
/// dropped with a warning — and if the run no longer exists, so are its later ones (`gone`).
async fn deliver_per_run(
    client: &RigelClient,
    batch: Vec<(u64, LogCreate)>,
    refusal: &ClientError,
    gone: &mut HashSet<Uuid>,
) -> Vec<(u64, LogCreate)> {
    let mut runs: Vec<Uuid> = batch.iter().map(|(_, r)| r.flow_run_id).collect();
    runs.sort_unstable();
    runs.dedup();
    let alone = runs.len() == 1;
    let mut kept = Vec::new();
    let mut rest = batch;
    for run in runs {
        let (mine, others): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|(_, r)| r.flow_run_id == run);
        rest = others;
        let error = if alone {
            // the batch was this run's alone: the refusal is its answer
            None
        } else {
            let records: Vec<LogCreate> = mine.iter().map(|(_, r)| r.clone()).collect();
            match client.create_logs(&records).await {
                Ok(_) => continue,
                Err(e) if e.is_transient() => {
                    kept.extend(mine);
                    continue;
                }
                Err(e) => Some(e),
            }
        };
        let why = error.as_ref().unwrap_or(refusal);
        tracing::warn!(
            records = mine.len(),
            run = %run,
            why = %why,
            "the server refused log records"
        );
        if matches!(client.read_flow_run(run).await, Err(e) if e.is_not_found()) {
            // runs deleted while running are rare; an agent that lives for months forgets them
            if gone.len() >= 10_000 {
                gone.clear();
            }
            gone.insert(run);
        }
    }
    kept.sort_by_key(|(seq, _)| *seq);
    kept
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

    #[test]
    fn records_put_back_keep_the_flushes_after_them_waiting() {
        let mut p = Pending::default();
        let record = |run: u128, m: &str| {
            Shipment::Record(LogCreate {
                flow_run_id: Uuid::from_u128(run),
                task_run_id: None,
                level: 20,
                timestamp: Utc::now(),
                message: m.into(),
            })
        };
        let (after_a, mut a_done) = oneshot::channel();
        let (after_b, mut b_done) = oneshot::channel();
        p.take(record(1, "a"));
        p.take(Shipment::Flush(after_a));
        p.take(record(2, "b"));
        p.take(Shipment::Flush(after_b));
        // a request for both: run 2's line got through, run 1's must be tried again
        let batch = p.take_oldest(2);
        let kept: Vec<_> = batch
            .into_iter()
            .filter(|(_, r)| r.flow_run_id == Uuid::from_u128(1))
            .collect();
        p.put_back(kept);
        p.answer();
        assert!(a_done.try_recv().is_err(), "a is still pending");
        assert!(b_done.try_recv().is_err(), "a came before b's flush");
        assert_eq!(p.batch_len(), 1);
        p.settle(1);
        assert!(a_done.try_recv().is_ok());
        assert!(b_done.try_recv().is_ok());
        // a run the server no longer has: its later lines are not even queued
        p.gone.insert(Uuid::from_u128(3));
        p.take(record(3, "lost"));
        assert!(p.records.is_empty());
    }

    #[test]
    fn a_request_carries_a_bounded_number_of_bytes() {
        let mut p = Pending::default();
        for _ in 0..100 {
            p.take(Shipment::Record(LogCreate {
                flow_run_id: Uuid::nil(),
                task_run_id: None,
                level: 20,
                timestamp: Utc::now(),
                message: "x".repeat(MAX_LINE),
            }));
        }
        assert_eq!(p.batch_len(), BATCH_BYTES / MAX_LINE);
    }
}
