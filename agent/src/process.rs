//! Child processes in their own process group, so a whole tree can be stopped at once.

use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::logs::RunLogger;

/// Sends `signal` to the process group led by `pid` (ignoring a group that is already gone).
pub fn signal_group(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(raw), signal);
    }
}

/// Asks the group to stop (SIGTERM), then kills it after `grace`.
pub async fn stop_group(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Some(pid) = child.id() {
        signal_group(pid, Signal::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            if let Some(pid) = child.id() {
                signal_group(pid, Signal::SIGKILL);
            }
            child.wait().await.ok()
        }
    }
}

/// How a streamed process ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

/// Runs `cmd` in its own process group, sending every stdout line as INFO and every stderr
/// line as WARNING to `logger`; stops it on timeout or cancellation.
pub async fn run_streamed(
    mut cmd: Command,
    logger: &RunLogger,
    task_run_id: Option<Uuid>,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
) -> std::io::Result<Ended> {
    cmd.process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let mut readers = Vec::new();
    for (stream, level) in [
        (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            rigel_common::log::level::INFO,
        ),
        (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            rigel_common::log::level::WARNING,
        ),
    ] {
        if let Some(stream) = stream {
            let logger = logger.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logger.log(level, task_run_id, &line).await;
                }
            }));
        }
    }
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status?),
        () = deadline => {
            stop_group(&mut child, Duration::from_secs(5)).await;
            Ended::TimedOut
        }
        () = cancel.cancelled() => {
            stop_group(&mut child, Duration::from_secs(10)).await;
            Ended::Cancelled
        }
    };
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
    }
    Ok(ended)
}

/// `exit code 3` or `killed by signal 9`.
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "an unknown status".to_string(),
    }
}
