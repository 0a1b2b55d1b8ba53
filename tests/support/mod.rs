//! Starting the real `rigel` binary for end-to-end tests. Processes are killed on drop, so a
//! failing test never leaves a server behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn rigel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rigel"))
}

/// Puts back the library path the tests were started with, less what cargo added: `cargo test`
/// and `cargo bench` put half a dozen build and toolchain folders in `LD_LIBRARY_PATH`, which a
/// user's processes don't have, and every process an agent starts (engines, flows) would search
/// each of them for each shared library before the system's (~20% of an engine's start).
fn without_cargo_library_path(cmd: &mut Command) -> &mut Command {
    const VAR: &str = "LD_LIBRARY_PATH";
    let Some(path) = std::env::var_os(VAR) else {
        return cmd;
    };
    // the binary is target/<profile>/rigel: cargo's folders are under target/ or the toolchain's
    let target = rigel_bin()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let users: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|p| {
            !p.starts_with(&target) && !p.to_string_lossy().contains("/.rustup/toolchains/")
        })
        .collect();
    if users.is_empty() {
        cmd.env_remove(VAR)
    } else {
        cmd.env(VAR, std::env::join_paths(users).unwrap_or_default())
    }
}

/// A `rigel server start --port 0` process in its own `RIGEL_HOME`.
pub struct ServerProcess {
    pub child: Child,
    pub api_url: String,
    /// Its `RIGEL_HOME`, which the agents started for it share.
    pub home: PathBuf,
    /// Lines the server printed on stderr after its address line.
    pub stderr: mpsc::Receiver<String>,
}

impl ServerProcess {
    pub fn start(home: &Path) -> Self {
        Self::start_with(home, &["--port", "0"])
    }

    /// `rigel ARGS…` against this server, however it ends.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(rigel_bin())
            .args(args)
            .env("RIGEL_API_URL", &self.api_url)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// `rigel ARGS…` against this server, which must succeed; its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = Command::new(rigel_bin())
            .args(args)
            .env("RIGEL_API_URL", &self.api_url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rigel {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `rigel server start` with these arguments (give `--port`).
    pub fn start_with(home: &Path, args: &[&str]) -> Self {
        let mut child = without_cargo_library_path(&mut Command::new(rigel_bin()))
            .args(["server", "start"])
            .args(args)
            .env("RIGEL_HOME", home)
            .env_remove("RIGEL_DATABASE_URL")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the rigel binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut api_url = None;
        let mut seen = Vec::new();
        while api_url.is_none() {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("API:") {
                        api_url = Some(url.trim().to_string());
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not print its API URL; it printed: {seen:#?}");
                }
            }
        }
        Self {
            child,
            api_url: api_url.unwrap_or_default(),
            home: home.to_path_buf(),
            stderr: rx,
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Every line printed so far (after the startup lines).
    pub fn drain_stderr(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `rigel agent start` process; SIGTERM on drop (its flows get a 1 s grace period).
pub struct AgentProcess {
    pub child: Child,
}

impl AgentProcess {
    /// An agent with short heartbeats and grace period, as the end-to-end tests want them.
    pub fn start(server: &ServerProcess, queue: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--heartbeat-seconds", "1", "--grace-seconds", "1"];
        args.extend_from_slice(extra);
        Self::start_with(
            server,
            queue,
            &args,
            &[
                ("RIGEL_ENGINE_HEARTBEAT_SECONDS", "0.3"),
                ("RIGEL_LOG", "info"),
            ],
        )
    }

    /// `rigel agent start QUEUE ARGS…` for `server` (and in its `RIGEL_HOME`) with these
    /// environment variables added.
    pub fn start_with(
        server: &ServerProcess,
        queue: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let child = Self::command(server, queue, args)
            .envs(envs.iter().copied())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent");
        Self { child }
    }

    /// The command [`Self::start_with`] runs (no input or output), for a test that wants to
    /// watch the agent itself.
    pub fn command(server: &ServerProcess, queue: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(rigel_bin());
        without_cargo_library_path(&mut cmd)
            .args(["agent", "start", queue])
            .args(args)
            .env("RIGEL_API_URL", &server.api_url)
            .env("RIGEL_HOME", &server.home)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..400 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` every 100 ms until it returns Some, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
