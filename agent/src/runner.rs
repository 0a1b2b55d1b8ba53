//! Flow runners: how the agent starts a claimed run. `universal` and `subprocess` start
//! `rigel engine run <id>` in its own process group; other types are not available here.

use std::path::PathBuf;
use std::process::Stdio;

use rigel_common::deployment::{FlowRunnerSettings, FlowRunnerType};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// What every engine process needs to reach the server.
#[derive(Debug, Clone)]
pub struct EngineLaunch {
    /// The `rigel` binary.
    pub program: PathBuf,
    pub api_url: String,
    pub api_key: Option<String>,
}

#[derive(Debug)]
pub enum RunnerError {
    Unavailable(FlowRunnerType),
    Spawn(std::io::Error),
}

impl std::fmt::Display for RunnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerError::Unavailable(t) => write!(
                f,
                "flow runner '{}' is not available on this agent (it runs universal and subprocess flow runners)",
                t.as_str()
            ),
            RunnerError::Spawn(e) => write!(f, "cannot start the engine process: {e}"),
        }
    }
}

impl std::error::Error for RunnerError {}

/// Starts the engine for a claimed run through its flow runner.
pub fn start(
    launch: &EngineLaunch,
    runner: &FlowRunnerSettings,
    run_id: Uuid,
    claim_token: Uuid,
) -> Result<Child, RunnerError> {
    match runner.kind {
        FlowRunnerType::Universal | FlowRunnerType::Subprocess => {}
        other => return Err(RunnerError::Unavailable(other)),
    }
    let config = &runner.config;
    let mut cmd = Command::new(&launch.program);
    cmd.args(["engine", "run", &run_id.to_string()])
        .env("RIGEL_API_URL", &launch.api_url)
        .env("RIGEL_FLOW_RUN_ID", run_id.to_string())
        .env("RIGEL_CLAIM_TOKEN", claim_token.to_string())
        .process_group(0)
        .stdin(Stdio::null())
        .kill_on_drop(false);
    if let Some(key) = &launch.api_key {
        cmd.env("RIGEL_API_KEY", key);
    }
    if let Some(env) = config.get("env").and_then(|e| e.as_object()) {
        for (k, v) in env {
            if let Some(v) = v.as_str() {
                cmd.env(k, v);
            }
        }
    }
    if let Some(dir) = config.get("working_dir").and_then(|d| d.as_str()) {
        cmd.current_dir(dir);
    }
    let stream = config
        .get("stream_output")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if stream {
        cmd.env("RIGEL_ENGINE_ECHO", "1");
        cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    }
    cmd.spawn().map_err(RunnerError::Spawn)
}
