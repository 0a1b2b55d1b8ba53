//! Python flows: `python3 <bootstrap> <flow file> <flow name>` with the bundled module, the
//! parameters in `RIGEL_PARAMETERS`. The bootstrap writes the run logger's records to stdout as
//! single lines `"\x1e" + JSON`, which become log records with their own levels (and task
//! runs); every other stdout line is INFO and every stderr line WARNING, as for scripts. A
//! failing flow logs its traceback and a one-line summary, which becomes the run's message.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rigel_common::log::{level, MAX_LOG_LEVEL};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Outcome;
use crate::logs::RunLogger;
use crate::process::{
    describe, run_streamed, strip_line_end, Ended, FlowProcess, LineReader, LogLine,
};
use crate::python::{install, start_error, BOOTSTRAP};

/// What starts a structured line.
const MARK: u8 = 0x1e;

/// One line of the flow's stdout, decoded.
#[derive(Debug, PartialEq)]
pub(crate) enum Line {
    Log {
        level: u8,
        task_run_id: Option<Uuid>,
        message: String,
    },
    /// The flow failed: the summary for the run's state message.
    Failure(String),
    Plain(String),
}

/// Decodes one line (with or without its line end).
pub(crate) fn decode(raw: &[u8]) -> Line {
    let raw = strip_line_end(raw);
    if let Some(json) = raw.strip_prefix(&[MARK]) {
        if let Ok(Value::Object(r)) = serde_json::from_slice::<Value>(json) {
            let message = r
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match r.get("rigel").and_then(Value::as_str) {
                Some("log") => {
                    let lvl = r
                        .get("level")
                        .and_then(Value::as_i64)
                        .unwrap_or(i64::from(level::INFO));
                    return Line::Log {
                        level: u8::try_from(lvl.clamp(0, i64::from(MAX_LOG_LEVEL)))
                            .unwrap_or(MAX_LOG_LEVEL),
                        task_run_id: r
                            .get("task_run_id")
                            .and_then(Value::as_str)
                            .and_then(|s| Uuid::parse_str(s).ok()),
                        message,
                    };
                }
                Some("error") => return Line::Failure(message),
                _ => {}
            }
        }
    }
    Line::Plain(String::from_utf8_lossy(raw).into_owned())
}

/// Runs flow `flow_name` of the Python file `path`; Rigel's module goes into `work_dir`.
pub async fn run_flow(
    path: &Path,
    flow_name: &str,
    work_dir: &Path,
    process: &FlowProcess,
    env: &BTreeMap<String, String>,
    logger: &RunLogger,
    cancel: &CancellationToken,
) -> Outcome {
    let module_dir = work_dir.join("rigel-python");
    if let Err(e) = install(&module_dir) {
        return Outcome::Failed(format!("cannot write Rigel's Python module: {e}"));
    }
    let python = process.python();
    let mut cmd = process.command(&python);
    cmd.arg("-u")
        .arg(module_dir.join(BOOTSTRAP))
        .arg(path)
        .arg(flow_name)
        .envs(env)
        .env(rigel_common::env::STRUCTURED_OUTPUT, "1");
    // the flow's own account of why it failed: kept for the run's message, not logged
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let account = Arc::clone(&failure);
    let lines: LineReader = Arc::new(move |stdout, raw| {
        let (level, task_run_id, message) = match decode(raw) {
            Line::Plain(text) => {
                let level = if stdout { level::INFO } else { level::WARNING };
                (level, None, text)
            }
            Line::Log {
                level,
                task_run_id,
                message,
            } if stdout => (level, task_run_id, message),
            Line::Failure(message) if stdout => {
                if let Ok(mut f) = account.lock() {
                    *f = Some(message);
                }
                return None;
            }
            // stderr: the text of whatever it was, as a warning
            Line::Log { message, .. } | Line::Failure(message) => (level::WARNING, None, message),
        };
        Some(LogLine {
            level,
            task_run_id,
            message,
        })
    });
    let ended = run_streamed(cmd, process.guard.as_ref(), logger, lines, None, cancel).await;
    let summary = failure.lock().ok().and_then(|mut f| f.take());
    match ended {
        Err(e) => Outcome::Failed(start_error(&python, &e)),
        Ok(Ended::Cancelled) => Outcome::Cancelled(String::new()),
        Ok(Ended::Exited(s)) if s.success() => Outcome::Completed,
        Ok(Ended::Exited(s)) => {
            Outcome::Failed(summary.unwrap_or_else(|| {
                format!("the flow's Python process ended with {}", describe(&s))
            }))
        }
        // no timeout is given
        Ok(Ended::TimedOut) => Outcome::Failed("the flow timed out".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_lines_keep_their_level_and_task_run() {
        let id = Uuid::now_v7();
        let line = format!(
            "\x1e{{\"rigel\": \"log\", \"level\": 30, \"message\": \"careful\\nnow\", \"task_run_id\": \"{id}\"}}\n"
        );
        assert_eq!(
            decode(line.as_bytes()),
            Line::Log {
                level: 30,
                task_run_id: Some(id),
                message: "careful\nnow".into()
            }
        );
        let line =
            "\x1e{\"rigel\": \"log\", \"level\": 99, \"message\": \"x\", \"task_run_id\": null}";
        assert!(matches!(
            decode(line.as_bytes()),
            Line::Log { level: 50, .. }
        ));
        let line = "\x1e{\"rigel\": \"log\", \"level\": 5, \"message\": \"x\"}";
        assert!(matches!(
            decode(line.as_bytes()),
            Line::Log { level: 5, .. }
        ));
        assert_eq!(
            decode(b"\x1e{\"rigel\": \"error\", \"message\": \"the flow raised E\"}\n"),
            Line::Failure("the flow raised E".into())
        );
    }

    #[test]
    fn other_lines_are_plain_text() {
        assert_eq!(
            decode(b"Hello Marvin!\r\n"),
            Line::Plain("Hello Marvin!".into())
        );
        assert_eq!(
            decode(b"\x1enot json\n"),
            Line::Plain("\x1enot json".into())
        );
        assert_eq!(
            decode(b"\x1e{\"rigel\": \"other\"}"),
            Line::Plain("\x1e{\"rigel\": \"other\"}".into())
        );
        assert_eq!(decode(b"caf\xe9\n"), Line::Plain("caf\u{fffd}".into()));
    }
}
