//! Rigel's bundled Python module (`rigel`, and `prefect` for the subset of Prefect 2's API that
//! its deployment documentation uses), the bootstrap that runs a flow, and the collector that
//! runs a deployment file. The files are compiled into the binary and written to a private
//! folder when needed: the engine writes them into each run's own temporary folder, and
//! `rigel deployment create` into a temporary folder of its own, so nothing is shared between
//! runs, users or versions. `rigel python-path` installs them once per version under
//! `RIGEL_HOME` for people's own `python3` ([`install_shared`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

pub use rigel_spec::flowfile::python_interpreter;

/// The script that runs one flow: `python3 <bootstrap> <flow file> <flow name> [<params>]`.
pub const BOOTSTRAP: &str = "_rigel_bootstrap.py";
/// The script that runs a deployment file and writes its specs as JSON.
pub const COLLECTOR: &str = "_rigel_collect.py";

/// Every file of the module tree, by its path under the install folder.
pub const FILES: &[(&str, &str)] = &[
    (BOOTSTRAP, include_str!("../python/_rigel_bootstrap.py")),
    (COLLECTOR, include_str!("../python/_rigel_collect.py")),
    (
        "rigel/__init__.py",
        include_str!("../python/rigel/__init__.py"),
    ),
    ("rigel/_api.py", include_str!("../python/rigel/_api.py")),
    (
        "rigel/_compat.py",
        include_str!("../python/rigel/_compat.py"),
    ),
    ("rigel/_flows.py", include_str!("../python/rigel/_flows.py")),
    ("rigel/_local.py", include_str!("../python/rigel/_local.py")),
    (
        "rigel/_loader.py",
        include_str!("../python/rigel/_loader.py"),
    ),
    (
        "rigel/deployments.py",
        include_str!("../python/rigel/deployments.py"),
    ),
    (
        "prefect/__init__.py",
        include_str!("../python/prefect/__init__.py"),
    ),
    (
        "prefect/deployments.py",
        include_str!("../python/prefect/deployments.py"),
    ),
    (
        "prefect/flow_runners.py",
        include_str!("../python/prefect/flow_runners.py"),
    ),
    (
        "prefect/orion/__init__.py",
        include_str!("../python/prefect/orion/__init__.py"),
    ),
    (
        "prefect/orion/schemas/__init__.py",
        include_str!("../python/prefect/orion/schemas/__init__.py"),
    ),
    (
        "prefect/orion/schemas/schedules.py",
        include_str!("../python/prefect/orion/schemas/schedules.py"),
    ),
    (
        "prefect/blocks/__init__.py",
        include_str!("../python/prefect/blocks/__init__.py"),
    ),
    (
        "prefect/blocks/storage.py",
        include_str!("../python/prefect/blocks/storage.py"),
    ),
];

/// Writes the module tree into `dir` (created if needed).
pub fn install(dir: &Path) -> std::io::Result<()> {
    for (name, text) in FILES {
        let target = dir.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
    }
    Ok(())
}

/// Installs the module tree for people's own `python3` (`rigel python-path`): into a folder of
/// `root` named after the module's version and content, so a newer Rigel never serves older
/// files and an unchanged one rewrites nothing. Each file that is missing or differs is written
/// to a temporary file and renamed into place, so a concurrent reader or installer never sees
/// half a file. Returns the folder (for `PYTHONPATH`).
pub fn install_shared(root: &Path) -> std::io::Result<PathBuf> {
    let mut all = Vec::new();
    for (name, text) in FILES {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    let hash = rigel_common::flow_data::content_key(&all, Path::new(""));
    let dir = root.join(format!(
        "{}-{}",
        env!("CARGO_PKG_VERSION"),
        hash.get(..12).unwrap_or(&hash)
    ));
    for (name, text) in FILES {
        let target = dir.join(name);
        if std::fs::read(&target).is_ok_and(|on_disk| on_disk == text.as_bytes()) {
            continue;
        }
        let parent = target.parent().unwrap_or(&dir);
        std::fs::create_dir_all(parent)?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.persist(&target).map_err(|e| e.error)?;
    }
    Ok(dir)
}

/// A message for an interpreter that could not be started.
pub fn start_error(python: &OsString, e: &std::io::Error) -> String {
    let shown = python.to_string_lossy();
    if e.kind() == std::io::ErrorKind::NotFound {
        format!(
            "cannot start the Python interpreter `{shown}`: not found (install python3, or name \
             an interpreter with RIGEL_PYTHON or the subprocess flow runner's python, \
             virtualenv or condaenv)"
        )
    } else {
        format!("cannot start the Python interpreter `{shown}`: {e}")
    }
}

/// Runs a Python deployment file once, with the bundled module, and returns what the
/// collector wrote (see `rigel_spec::load_collected`). What the file prints goes to
/// this process's stderr. The error is a message for the user.
pub async fn collect_deployments(file: &Path) -> Result<String, String> {
    let dir = tempfile::Builder::new()
        .prefix("rigel-deploy-")
        .tempdir()
        .map_err(|e| format!("cannot create a private folder for Rigel's Python module: {e}"))?;
    let module_dir = dir.path().join("rigel-python");
    install(&module_dir).map_err(|e| format!("cannot write Rigel's Python module: {e}"))?;
    let output: PathBuf = dir.path().join("specs.json");
    let python = python_interpreter();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(module_dir.join(COLLECTOR))
        .arg(file)
        .arg(&output)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let status = cmd.status().await.map_err(|e| start_error(&python, &e))?;
    match tokio::fs::read_to_string(&output).await {
        Ok(text) if status.success() => Ok(text),
        _ => Err(format!(
            "running the deployment file with `{}` failed ({status})",
            python.to_string_lossy()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `agent/python` is embedded (a new file must be added to [`FILES`]).
    #[test]
    fn every_module_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
        let mut on_disk = Vec::new();
        let mut todo = vec![root.clone()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n != "__pycache__") {
                        todo.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "py") {
                    let rel = path.strip_prefix(&root).unwrap();
                    on_disk.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    /// Runs `python3 <args>` with the module installed in `dir/m`; (exit code, stdout).
    fn python(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
        let out = std::process::Command::new(python_interpreter())
            .args(args)
            .current_dir(dir)
            .env("RIGEL_STRUCTURED_OUTPUT", "1")
            .env("PYTHONPATH", dir.join("m"))
            .env_remove("RIGEL_API_URL")
            .env_remove("RIGEL_FLOW_RUN_ID")
            .env_remove("RIGEL_PARAMETERS")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    #[test]
    fn the_bootstrap_checks_parameters_against_the_signature() {
        let dir = tempfile::tempdir().unwrap();
        install(&dir.path().join("m")).unwrap();
        std::fs::write(
            dir.path().join("flows.py"),
            "from typing import List, Literal, Optional\n\
             from rigel import flow\n\
             @flow\n\
             def show(name: str, count: int = 1, ratio: float = 0.5,\n\
                      tags: Optional[List[str]] = None, mode: Literal['a', 'b'] = 'a', *, kw=None):\n\
             \x20   print(repr((name, count, ratio, tags, mode, kw)))\n\
             if __name__ == '__main__':\n\
             \x20   print('the main block ran')\n",
        )
        .unwrap();
        let bootstrap = dir.path().join("m").join(BOOTSTRAP);
        let bootstrap = bootstrap.to_str().unwrap();
        let call = |params: &str| python(dir.path(), &[bootstrap, "flows.py", "show", params]);

        let (code, out) =
            call(r#"{"name": "a", "count": 2.0, "ratio": 1, "tags": ["x"], "kw": 3}"#);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(out, "('a', 2, 1.0, ['x'], 'a', 3)\n");

        for (params, message) in [
            (
                r#"{"name": 1}"#,
                "parameter 'name' must be str, not int (1)",
            ),
            (
                r#"{"name": "a", "count": true}"#,
                "parameter 'count' must be int, not bool",
            ),
            (
                r#"{"name": "a", "count": 1.5}"#,
                "parameter 'count' must be int, not float",
            ),
            (
                r#"{"name": "a", "mode": "c"}"#,
                "parameter 'mode' must be one of 'a', 'b'",
            ),
            (r#"{"name": null}"#, "parameter 'name' must not be None"),
            ("{}", "missing parameter 'name'"),
            (
                r#"{"name": "a", "x": 1}"#,
                "unknown parameter 'x'; the flow's parameters are: name, count",
            ),
        ] {
            let (code, out) = call(params);
            assert_eq!(code, Some(3), "{params}: {out}");
            assert!(out.contains(message), "{params}: {out}");
            assert!(out.contains("\x1e{\"rigel\": \"error\""), "{out}");
        }
        let (code, out) = python(dir.path(), &[bootstrap, "flows.py", "nope", "{}"]);
        assert_eq!(code, Some(3));
        assert!(
            out.contains("no flow named 'nope' in the flow file; its flows: 'show'"),
            "{out}"
        );
    }

    #[test]
    fn names_outside_the_subset_are_not_supported() {
        let dir = tempfile::tempdir().unwrap();
        install(&dir.path().join("m")).unwrap();
        let script = "\
import prefect
assert not hasattr(prefect, '__version__')
from prefect import flow, task, get_run_logger
from prefect.deployments import DeploymentSpec
from prefect.orion.schemas.schedules import IntervalSchedule, CronSchedule, RRuleSchedule
from prefect.flow_runners import SubprocessFlowRunner, UniversalFlowRunner, FlowRunnerSettings
from prefect.blocks.storage import S3StorageBlock, LocalStorageBlock
import rigel
assert rigel.DeploymentSpec is DeploymentSpec
attempts = [
    'from prefect import Flow',
    'import prefect.tasks',
    'from prefect.flow_runners import DockerFlowRunner',
    'from prefect.blocks.storage import GoogleCloudStorageBlock',
    'prefect.context',
    '@flow(task_runner=None)\\ndef f(): pass',
    '@task(cache_key_fn=None)\\ndef f(): pass',
    'flow(lambda: 1).serve()',
    'DeploymentSpec(name=\"x\", flow_location=\"f.py\", infrastructure=1)',
]
for code in attempts:
    try:
        exec(code)
    except rigel.NotSupportedError as e:
        print(e)
    else:
        print('no error:', code)
";
        let (code, out) = python(dir.path(), &["-c", script]);
        assert_eq!(code, Some(0), "{out}");
        let prefix = "not supported by Rigel's Prefect-compatible module: ";
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "prefect.Flow",
                "prefect.tasks",
                "prefect.flow_runners.DockerFlowRunner",
                "prefect.blocks.storage.GoogleCloudStorageBlock",
                "prefect.context",
                "flow(task_runner=...)",
                "task(cache_key_fn=...)",
                "Flow.serve",
                "DeploymentSpec(infrastructure=...)",
            ]
            .map(|n| format!("{prefix}{n}")),
            "{out}"
        );
    }

    #[test]
    fn the_shared_install_is_idempotent_and_repairs_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = install_shared(root.path()).unwrap();
        assert!(dir.starts_with(root.path()));
        let flows = dir.join("rigel/_flows.py");
        let written = std::fs::metadata(&flows).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(install_shared(root.path()).unwrap(), dir);
        assert_eq!(
            std::fs::metadata(&flows).unwrap().modified().unwrap(),
            written,
            "an unchanged file is not rewritten"
        );
        std::fs::write(&flows, "broken").unwrap();
        std::fs::remove_file(dir.join("prefect/__init__.py")).unwrap();
        install_shared(root.path()).unwrap();
        for (name, text) in FILES {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *text);
        }
    }

    /// A flow called in a plain `python3` reports to `RIGEL_API_URL` with the API key: here a
    /// stand-in server that records each request.
    #[test]
    fn a_local_run_sends_its_requests_with_the_api_key() {
        let dir = tempfile::tempdir().unwrap();
        install(&dir.path().join("m")).unwrap();
        let script = r#"
import http.server, json, os, threading
seen = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state = body.get("state", {}).get("type") if isinstance(body, dict) else None
        seen.append((self.path, state, body.get("claim_token") if isinstance(body, dict) else None,
                     self.headers.get("Authorization")))
        answer = json.dumps({"id": "0190a000-0000-7000-8000-000000000001", "status": "ACCEPT",
                             "details": {"claim_token": "0190a000-0000-7000-8000-0000000000cc"}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["RIGEL_API_URL"] = "http://127.0.0.1:%d/api" % server.server_port
os.environ["RIGEL_API_KEY"] = "s3cret"
from prefect import flow
@flow
def hello(): print("hi")
hello()
for request in seen:
    print(*request)
"#;
        let out = std::process::Command::new(python_interpreter())
            .args(["-c", script])
            .env("PYTHONPATH", dir.path().join("m"))
            .env_remove("RIGEL_STRUCTURED_OUTPUT")
            .env_remove("RIGEL_FLOW_RUN_ID")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = "/api/flow_runs/0190a000-0000-7000-8000-000000000001/set_state";
        let token = "0190a000-0000-7000-8000-0000000000cc";
        let expected = format!(
            "hi\n\
             /api/flows/ None None Bearer s3cret\n\
             /api/flow_runs/ None None Bearer s3cret\n\
             {run} PENDING None Bearer s3cret\n\
             {run} RUNNING {token} Bearer s3cret\n\
             /api/logs/ None None Bearer s3cret\n\
             {run} COMPLETED {token} Bearer s3cret\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn install_writes_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path()).unwrap();
        for (name, text) in FILES {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(name)).unwrap(),
                *text
            );
        }
    }
}
