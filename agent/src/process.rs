//! Child processes in their own process group, so a whole tree can be stopped at once.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use rigel_common::log::level;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::guard::Guard;
use crate::logs::RunLogger;

/// What the flow runner adds to the flow's processes: environment variables and the folder
/// they run in. Empty when the engine is a process of its own, which the runner already set up
/// (its children inherit it); filled when the engine runs inside the agent.
#[derive(Debug, Clone, Default)]
pub struct FlowProcess {
    pub env: Vec<(String, OsString)>,
    pub working_dir: Option<PathBuf>,
    /// Told about every flow process group while it runs (engines inside the agent: see
    /// `guard`).
    pub guard: Option<Guard>,
}

impl FlowProcess {
    /// A command for one of the flow's processes; what the caller sets afterwards wins. The
    /// engine's own hand-over (its claim token, which could end the run, and the claim-on-stdin
    /// flag) and the agent's key file are not passed on.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_remove(rigel_common::env::CLAIM_TOKEN)
            .env_remove(rigel_common::env::ENGINE_CLAIM_ON_STDIN)
            // the agent's key file: a run's processes get the run's token in RIGEL_API_KEY
            // (`env`), which a key file would override
            .env_remove(rigel_common::env::API_KEY_FILE);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.working_dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// A folder named by the flow (a task's `working_dir`), relative to the runner's.
    pub fn folder(&self, dir: &Path) -> PathBuf {
        match &self.working_dir {
            Some(base) => base.join(dir),
            None => dir.to_path_buf(),
        }
    }

    /// The Python interpreter: the runner's `RIGEL_PYTHON` (its last setting wins, as in the
    /// environment it builds; an empty one means `python3`), else this process's.
    pub fn python(&self) -> OsString {
        match self
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == rigel_common::env::PYTHON)
        {
            Some((_, v)) => rigel_spec::flowfile::python_interpreter_from(Some(v.clone())),
            None => crate::python::python_interpreter(),
        }
    }
}

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

/// A line of a child's output as a log record.
#[derive(Debug, PartialEq)]
pub struct LogLine {
    pub level: u8,
    pub task_run_id: Option<Uuid>,
    pub message: String,
}

/// Reads one raw line (line end included) of stdout (`true`) or stderr (`false`): the record
/// it becomes, or None when it is not to be logged.
pub type LineReader = Arc<dyn Fn(bool, &[u8]) -> Option<LogLine> + Send + Sync>;

/// Plain output: stdout lines are INFO records, stderr lines WARNING, of `task_run_id`.
pub fn plain_lines(task_run_id: Option<Uuid>) -> LineReader {
    Arc::new(move |stdout, raw| {
        Some(LogLine {
            level: if stdout { level::INFO } else { level::WARNING },
            task_run_id,
            message: String::from_utf8_lossy(strip_line_end(raw)).into_owned(),
        })
    })
}

/// The line without its `\n` or `\r\n`.
pub fn strip_line_end(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// Runs `cmd` (made by a [`FlowProcess`], whose `guard` is given) in its own process group,
/// sending every line of its output through `lines` to `logger`; stops it on timeout or
/// cancellation.
pub async fn run_streamed(
    mut cmd: Command,
    guard: Option<&Guard>,
    logger: &RunLogger,
    lines: LineReader,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
) -> std::io::Result<Ended> {
    cmd.process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    // the guard forgets the group when this goes, at the end: after the process was waited
    // for, or (on an error) just before `child` is dropped, which kills it
    let _watched = match (guard, child.id()) {
        (Some(guard), Some(pid)) => Some(guard.watch(pid)),
        _ => None,
    };
    let mut readers = Vec::new();
    let streams = [
        (child.stdout.take().map(boxed), true),
        (child.stderr.take().map(boxed), false),
    ];
    for (stream, stdout) in streams {
        if let Some(stream) = stream {
            readers.push(tokio::spawn(read_lines(
                stream,
                stdout,
                lines.clone(),
                logger.clone(),
            )));
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

fn boxed(stream: impl AsyncRead + Unpin + Send + 'static) -> Box<dyn AsyncRead + Unpin + Send> {
    Box::new(stream)
}

/// Reads `stream` to its end, line by line. Invalid UTF-8 is replaced, never a reason to stop
/// reading (a reader that stopped would leave the child to die of SIGPIPE).
async fn read_lines(
    stream: Box<dyn AsyncRead + Unpin + Send>,
    stdout: bool,
    lines: LineReader,
    logger: RunLogger,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Some(line) = lines(stdout, &buf) {
            logger
                .log(line.level, line.task_run_id, &line.message)
                .await;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn runner() -> FlowProcess {
        FlowProcess {
            env: vec![
                ("GREETING".into(), "Howdy".into()),
                ("RIGEL_PYTHON".into(), "/opt/venv/bin/python".into()),
            ],
            working_dir: Some(PathBuf::from("/srv/flows")),
            guard: None,
        }
    }

    #[test]
    fn a_runners_settings_reach_the_command_and_the_caller_has_the_last_word() {
        let mut cmd = runner().command("sh");
        cmd.env("GREETING", "Hello");
        let std = cmd.as_std();
        let env: Vec<(String, Option<String>)> = std
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert!(
            env.contains(&("GREETING".into(), Some("Hello".into()))),
            "{env:?}"
        );
        // the engine's claim token is not the flow's
        assert!(env.contains(&("RIGEL_CLAIM_TOKEN".into(), None)), "{env:?}");
        assert_eq!(std.get_current_dir(), Some(Path::new("/srv/flows")));
        // nothing set: the command runs in this process's folder
        let plain = FlowProcess::default().command("sh");
        assert_eq!(plain.as_std().get_current_dir(), None);
    }

    #[test]
    fn task_folders_and_the_interpreter_come_from_the_runner() {
        let r = runner();
        assert_eq!(r.folder(Path::new("sub")), Path::new("/srv/flows/sub"));
        assert_eq!(r.folder(Path::new("/abs")), Path::new("/abs"));
        assert_eq!(
            FlowProcess::default().folder(Path::new("sub")),
            Path::new("sub")
        );
        assert_eq!(r.python(), "/opt/venv/bin/python");
        assert_eq!(
            FlowProcess::default().python(),
            crate::python::python_interpreter()
        );
        // the runner's own `env` comes after its interpreter setting, and wins as it does in
        // the environment
        let mut both = runner();
        both.env
            .push(("RIGEL_PYTHON".into(), "/usr/bin/python3.11".into()));
        assert_eq!(both.python(), "/usr/bin/python3.11");
        both.env.push(("RIGEL_PYTHON".into(), "".into()));
        assert_eq!(both.python(), "python3");
    }
}
