//! Ships a run's log records to the server in batches, off the hot path of reading output.

use std::time::Duration;

use chrono::Utc;
use rigel_common::client::RigelClient;
use rigel_common::log::{LogCreate, MAX_LOG_BATCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Longest line kept in one record; longer output is split.
const MAX_LINE: usize = 16 * 1024;
/// How long a record may wait for others to share its request.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Records kept while the server is unreachable; beyond this the oldest are dropped (and said so).
const MAX_BUFFERED: usize = 100_000;

/// A handle to send log lines of one flow run; cloning is cheap.
#[derive(Clone)]
pub struct RunLogger {
    tx: mpsc::Sender<LogCreate>,
    flow_run_id: Uuid,
    echo: bool,
}

impl RunLogger {
    /// Starts the shipper task. With `echo`, lines are also printed to this process's stdout.
    pub fn start(client: RigelClient, flow_run_id: Uuid, echo: bool) -> (Self, LogShipper) {
        let (tx, rx) = mpsc::channel(4096);
        let task = tokio::spawn(ship(client, rx));
        (
            Self {
                tx,
                flow_run_id,
                echo,
            },
            LogShipper { task },
        )
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
            if self.tx.send(record).await.is_err() {
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

/// The shipper task; `finish` waits until everything sent so far reached the server (or failed).
pub struct LogShipper {
    task: JoinHandle<()>,
}

impl LogShipper {
    /// Drop every `RunLogger` first, then call this to flush.
    pub async fn finish(self, within: Duration) {
        let _ = tokio::time::timeout(within, self.task).await;
    }
}

async fn ship(client: RigelClient, mut rx: mpsc::Receiver<LogCreate>) {
    let mut buffer: Vec<LogCreate> = Vec::new();
    let mut dropped = 0usize;
    let mut failures = 0u32;
    let mut closed = false;
    loop {
        if buffer.is_empty() {
            if closed {
                return;
            }
            match rx.recv().await {
                Some(r) => buffer.push(r),
                None => return,
            }
        }
        // gather what arrives within FLUSH_EVERY of the first record: one request, not one a line
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while !closed && buffer.len() < MAX_LOG_BATCH {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(r) => buffer.push(r),
                    None => closed = true,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if failures > 0 {
            // the server is away: keep the output flowing into the buffer, not the channel
            while let Ok(r) = rx.try_recv() {
                buffer.push(r);
            }
        }
        let n = buffer.len().min(MAX_LOG_BATCH);
        match client.create_logs(&buffer[..n]).await {
            Ok(_) => {
                buffer.drain(..n);
                failures = 0;
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("cannot send logs ({e}); keeping them and retrying");
                }
                if closed && failures > 5 {
                    tracing::error!("giving up on {} log records", buffer.len());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
        if buffer.len() > MAX_BUFFERED {
            let over = buffer.len() - MAX_BUFFERED;
            buffer.drain(..over);
            dropped += over;
            tracing::warn!("dropped {dropped} log records while the server was unreachable");
        }
    }
}
