//! Flow runners: how the agent starts a claimed run. `universal` and `subprocess` start
//! `rigel engine run <id>` in its own process group; other types are not available here.
//!
//! A `subprocess` runner may choose the Python interpreter of the run with one of `python`
//! (an interpreter: a path, or a name looked up on `PATH`), `virtualenv` (a virtual
//! environment's folder: its `bin/python`) or `condaenv` (a conda environment's name or
//! folder). The choice reaches the engine as `RIGEL_PYTHON`; an environment's `bin` also goes
//! first on `PATH` (with `VIRTUAL_ENV` / `CONDA_PREFIX` set), as activating it would, so the
//! flow's own commands find its tools. Relative paths are taken from `working_dir`, else from
//! the agent's folder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use rigel_common::deployment::{FlowRunnerSettings, FlowRunnerType};
use rigel_common::settings::{ProcessConfig, RunnerConfig};
use rigel_common::work_queue::ClaimedRun;
use tokio::process::Child;
use uuid::Uuid;

use crate::process::FlowProcess;

/// What every engine process needs to reach the server.
#[derive(Debug, Clone)]
pub struct EngineLaunch {
    /// The `rigel` binary.
    pub program: PathBuf,
    pub api_url: String,
    pub api_key: Option<String>,
    /// Folders `file` flow data may be read from, as a path list (`RIGEL_LOCAL_ROOTS`).
    pub local_roots: Option<OsString>,
}

#[derive(Debug)]
pub enum RunnerError {
    Unavailable(FlowRunnerType),
    /// The runner's settings can't be honoured here (e.g. its virtualenv doesn't exist).
    Config(String),
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
            RunnerError::Config(m) => write!(f, "flow runner: {m}"),
            RunnerError::Spawn(e) => write!(f, "cannot start the engine process: {e}"),
        }
    }
}

impl std::error::Error for RunnerError {}

/// What a flow runner's settings ask of the processes of a run: their environment, their
/// folder, and whether their output also goes to the agent's own output.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub flow: FlowProcess,
    pub stream_output: bool,
}

/// Checks a run's flow runner and reads its settings: an unknown or unavailable type, a
/// missing `working_dir` or interpreter is refused here, before anything starts.
///
/// The run's processes (its engine, its flow) reach the server with `run_token` — the run's own
/// key, which ends with it — rather than the agent's key; the agent's key goes only where the
/// server gave no token (an older server).
pub fn prepare(
    launch: &EngineLaunch,
    runner: &FlowRunnerSettings,
    run_token: Option<&str>,
) -> Result<Prepared, RunnerError> {
    if !matches!(
        runner.kind,
        FlowRunnerType::Universal | FlowRunnerType::Subprocess
    ) {
        return Err(RunnerError::Unavailable(runner.kind));
    }
    let config = match runner.read() {
        Ok(RunnerConfig::Process(config)) => config,
        Ok(_) => return Err(RunnerError::Unavailable(runner.kind)),
        Err(e) => return Err(RunnerError::Config(e.to_string())),
    };
    let working_dir = config.working_dir.as_deref().map(PathBuf::from);
    if let Some(dir) = &working_dir {
        if !dir.is_dir() {
            return Err(RunnerError::Config(format!(
                "working_dir '{}' is not a folder on this agent's machine",
                dir.display()
            )));
        }
    }
    let mut env: Vec<(String, OsString)> = Vec::new();
    if let Some(key) = run_token.or(launch.api_key.as_deref()) {
        env.push((rigel_common::env::API_KEY.into(), key.into()));
    }
    if runner.kind == FlowRunnerType::Subprocess {
        env.extend(
            interpreter_env(&config, working_dir.as_deref(), &|k| std::env::var_os(k))
                .map_err(RunnerError::Config)?,
        );
    }
    env.extend(config.env.iter().map(|(k, v)| (k.clone(), v.into())));
    let stream_output = config.stream_output;
    Ok(Prepared {
        flow: FlowProcess {
            env,
            working_dir,
            guard: None,
        },
        stream_output,
    })
}

/// In an engine process: the claim its agent wrote to standard input (see [`rigel_common::env::ENGINE_CLAIM_ON_STDIN`]),
/// if it did and it is this run's; otherwise (None) the engine reads the run from the server.
pub fn claim_from_stdin(id: Uuid) -> Option<ClaimedRun> {
    use std::io::Read;
    std::env::var_os(rigel_common::env::ENGINE_CLAIM_ON_STDIN)?;
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        tracing::warn!(error = %e, "cannot read the claim on standard input; reading the run instead");
        return None;
    }
    match serde_json::from_slice::<ClaimedRun>(&bytes) {
        Ok(claim) if claim.flow_run.id == id => Some(claim),
        Ok(_) => {
            tracing::warn!("the claim on standard input is another run's; reading the run instead");
            None
        }
        Err(e) if bytes.is_empty() => {
            tracing::debug!(error = %e, "no claim on standard input; reading the run instead");
            None
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                "the claim on standard input is unreadable; reading the run instead"
            );
            None
        }
    }
}

/// Starts the engine process for a claimed run (`rigel engine run <id>` in its own process
/// group), set up as the runner asks: the flow's processes inherit its environment and folder.
/// The caller writes the claim to the child's standard input and closes it.
pub fn start(
    launch: &EngineLaunch,
    prepared: &Prepared,
    run_id: Uuid,
    claim_token: Uuid,
) -> Result<Child, RunnerError> {
    let mut cmd = prepared.flow.command(&launch.program);
    cmd.args(["engine", "run", &run_id.to_string()])
        .env(rigel_common::env::API_URL, &launch.api_url)
        .env(rigel_common::env::FLOW_RUN_ID, run_id.to_string())
        .env(rigel_common::env::CLAIM_TOKEN, claim_token.to_string())
        .env(
            rigel_common::env::LOCAL_ROOTS,
            launch.local_roots.clone().unwrap_or_default(),
        )
        .env(rigel_common::env::ENGINE_CLAIM_ON_STDIN, "1")
        .process_group(0)
        .stdin(Stdio::piped())
        .kill_on_drop(false);
    if prepared.stream_output {
        cmd.env(rigel_common::env::ENGINE_ECHO, "1");
        cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    }
    cmd.spawn().map_err(RunnerError::Spawn)
}

/// The environment that selects a subprocess runner's Python interpreter (see the module
/// docs); empty when the config names none. `var` reads the agent's environment.
pub fn interpreter_env(
    config: &ProcessConfig,
    working_dir: Option<&Path>,
    var: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<(String, OsString)>, String> {
    let (python, virtualenv, condaenv) = (
        set(&config.python),
        set(&config.virtualenv),
        set(&config.condaenv),
    );
    fn set(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|v| !v.is_empty())
    }
    let given: Vec<&str> = [
        ("python", python),
        ("virtualenv", virtualenv),
        ("condaenv", condaenv),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|_| name))
    .collect();
    if given.len() > 1 {
        return Err(format!(
            "set only one of python, virtualenv and condaenv (this one sets {})",
            given.join(" and ")
        ));
    }
    let absolute = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let base = working_dir
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        base.join(p)
    };
    if let Some(python) = python {
        if !python.contains('/') {
            return Ok(vec![(rigel_common::env::PYTHON.into(), python.into())]);
        }
        let path = absolute(python);
        if !path.is_file() {
            return Err(format!("python '{}' does not exist", path.display()));
        }
        return Ok(vec![(
            rigel_common::env::PYTHON.into(),
            path.into_os_string(),
        )]);
    }
    let (prefix, marker) = if let Some(venv) = virtualenv {
        let dir = absolute(venv);
        if !dir.join("bin").join("python").is_file() {
            return Err(format!(
                "virtualenv '{}' is not a virtual environment (it has no bin/python)",
                dir.display()
            ));
        }
        (
            dir.clone(),
            vec![("VIRTUAL_ENV".to_string(), dir.into_os_string())],
        )
    } else if let Some(conda) = condaenv {
        let dir = if conda.contains('/') {
            let dir = absolute(conda);
            if !dir.join("bin").join("python").is_file() {
                return Err(format!(
                    "condaenv '{}' is not a conda environment with Python (it has no bin/python)",
                    dir.display()
                ));
            }
            dir
        } else {
            find_conda_env(conda, var)?
        };
        let name = dir
            .file_name()
            .map_or_else(|| conda.into(), |n| n.to_os_string());
        (
            dir.clone(),
            vec![
                ("CONDA_PREFIX".to_string(), dir.into_os_string()),
                ("CONDA_DEFAULT_ENV".to_string(), name),
            ],
        )
    } else {
        return Ok(Vec::new());
    };
    let bin = prefix.join("bin");
    let mut paths = vec![bin.clone()];
    if let Some(old) = var("PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    let path = std::env::join_paths(paths).map_err(|e| format!("cannot build PATH: {e}"))?;
    let mut env = vec![
        (
            rigel_common::env::PYTHON.to_string(),
            bin.join("python").into_os_string(),
        ),
        ("PATH".to_string(), path),
    ];
    env.extend(marker);
    Ok(env)
}

/// The folder of the conda environment `name`: under `CONDA_ENVS_PATH` / `CONDA_ENVS_DIRS`, the
/// `envs` folder of the conda installation (`CONDA_EXE`, `MAMBA_ROOT_PREFIX`, `CONDA_ROOT`, or
/// the usual places in the home folder and `/opt/conda`); `base` is the installation itself.
fn find_conda_env(name: &str, var: &dyn Fn(&str) -> Option<OsString>) -> Result<PathBuf, String> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(exe) = var("CONDA_EXE") {
        if let Some(root) = Path::new(&exe).parent().and_then(Path::parent) {
            roots.push(root.to_path_buf());
        }
    }
    for key in ["MAMBA_ROOT_PREFIX", "CONDA_ROOT"] {
        if let Some(root) = var(key).filter(|r| !r.is_empty()) {
            roots.push(PathBuf::from(root));
        }
    }
    if let Some(home) = var("HOME").filter(|h| !h.is_empty()) {
        for dir in [
            "miniconda3",
            "anaconda3",
            "miniforge3",
            "mambaforge",
            ".conda",
        ] {
            roots.push(Path::new(&home).join(dir));
        }
    }
    roots.push(PathBuf::from("/opt/conda"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    for key in ["CONDA_ENVS_PATH", "CONDA_ENVS_DIRS"] {
        if let Some(dirs) = var(key) {
            candidates.extend(std::env::split_paths(&dirs).map(|d| d.join(name)));
        }
    }
    for root in &roots {
        if name == "base" {
            candidates.push(root.clone());
        }
        candidates.push(root.join("envs").join(name));
    }
    candidates
        .iter()
        .find(|dir| dir.join("bin").join("python").is_file())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            format!(
                "conda environment '{name}' not found (looked in {}); give condaenv as the \
                 environment's folder",
                looked.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fake_env(root: &Path) -> PathBuf {
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("python"), "").unwrap();
        root.to_path_buf()
    }

    fn get<'a>(env: &'a [(String, OsString)], key: &str) -> Option<&'a OsString> {
        env.iter().find_map(|(k, v)| (k == key).then_some(v))
    }

    fn cfg(v: serde_json::Value) -> ProcessConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_interpreter_setting_changes_nothing() {
        let none = |_: &str| None;
        assert!(interpreter_env(&cfg(json!({})), None, &none)
            .unwrap()
            .is_empty());
        assert!(interpreter_env(&cfg(json!({"python": null})), None, &none)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn python_names_an_interpreter() {
        let none = |_: &str| None;
        let env = interpreter_env(&cfg(json!({"python": "python3.12"})), None, &none).unwrap();
        assert_eq!(get(&env, "RIGEL_PYTHON").unwrap(), "python3.12");
        assert!(get(&env, "PATH").is_none());
        let err =
            interpreter_env(&cfg(json!({"python": "/nope/python"})), None, &none).unwrap_err();
        assert!(err.contains("/nope/python' does not exist"), "{err}");
    }

    #[test]
    fn a_virtualenv_is_its_bin_python_and_goes_first_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let venv = fake_env(&dir.path().join("venv"));
        let var = |k: &str| (k == "PATH").then(|| OsString::from("/usr/bin:/bin"));
        let config = json!({"virtualenv": venv.to_str().unwrap()});
        let env = interpreter_env(&cfg(config), None, &var).unwrap();
        assert_eq!(
            get(&env, "RIGEL_PYTHON").unwrap(),
            venv.join("bin/python").as_os_str()
        );
        let path = format!("{}:/usr/bin:/bin", venv.join("bin").display());
        assert_eq!(get(&env, "PATH").unwrap(), path.as_str());
        assert_eq!(get(&env, "VIRTUAL_ENV").unwrap(), venv.as_os_str());
        // relative to the working directory
        let env =
            interpreter_env(&cfg(json!({"virtualenv": "venv"})), Some(dir.path()), &var).unwrap();
        assert_eq!(get(&env, "VIRTUAL_ENV").unwrap(), venv.as_os_str());
        let err = interpreter_env(&cfg(json!({"virtualenv": "/nope"})), None, &var).unwrap_err();
        assert!(err.contains("no bin/python"), "{err}");
    }

    #[test]
    fn a_condaenv_is_found_by_name_or_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("miniconda3");
        let env_dir = fake_env(&root.join("envs").join("etl"));
        fake_env(&root);
        let exe = root.join("bin").join("conda");
        let var = |k: &str| match k {
            "CONDA_EXE" => Some(exe.clone().into_os_string()),
            _ => None,
        };
        let env = interpreter_env(&cfg(json!({"condaenv": "etl"})), None, &var).unwrap();
        assert_eq!(get(&env, "CONDA_PREFIX").unwrap(), env_dir.as_os_str());
        assert_eq!(get(&env, "CONDA_DEFAULT_ENV").unwrap(), "etl");
        assert_eq!(
            get(&env, "RIGEL_PYTHON").unwrap(),
            env_dir.join("bin/python").as_os_str()
        );
        let env = interpreter_env(&cfg(json!({"condaenv": "base"})), None, &var).unwrap();
        assert_eq!(get(&env, "CONDA_PREFIX").unwrap(), root.as_os_str());
        let path = env_dir.to_str().unwrap();
        let env = interpreter_env(&cfg(json!({"condaenv": path})), None, &|_| None).unwrap();
        assert_eq!(get(&env, "CONDA_PREFIX").unwrap(), env_dir.as_os_str());
        let err = interpreter_env(&cfg(json!({"condaenv": "missing"})), None, &var).unwrap_err();
        assert!(
            err.contains("conda environment 'missing' not found"),
            "{err}"
        );
        assert!(
            err.contains(&root.join("envs/missing").display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn only_one_interpreter_setting() {
        let config = json!({"virtualenv": "/a", "condaenv": "b"});
        let err = interpreter_env(&cfg(config), None, &|_| None).unwrap_err();
        assert!(err.contains("only one of"), "{err}");
    }
}
