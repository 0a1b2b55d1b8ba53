//! End to end: the real `rigel tui` in a tmux pane, against a real server and agent. Keys go in
//! with `send-keys`, the screen comes out with `capture-pane`, as a person would see it.
//! Needs tmux (`apt-get install tmux`).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{rigel_bin, AgentProcess, ServerProcess};

/// A tmux server of its own (`-L`), so the test never touches anyone's sessions.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str, width: u16, height: u16) -> Self {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "this test drives the TUI in tmux, which is not installed: apt-get install tmux"
        );
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "rigel-tui-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Self { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Named keys (`Enter`, `C-c`, `Right`) or single characters.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
        std::thread::sleep(Duration::from_millis(100));
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `text`; returns the screen.
    fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs}s waiting for {text:?}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn quick_run_from_the_tui_runs_and_the_agent_shows() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let created = Command::new(rigel_bin())
        .args(["deployment", "create"])
        .arg(examples.join("hello-daily.yaml"))
        .env("RIGEL_API_URL", &server.api_url)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    // the pane stays after the TUI exits, showing how it ended
    let command = format!(
        "env RIGEL_API_URL={} NO_COLOR=1 {} tui --refresh 2; echo \"TUI EXITED $?\"; sleep 600",
        quote(&server.api_url),
        quote(&rigel_bin().display().to_string())
    );
    let started = Instant::now();
    let tui = Tmux::start(&command, 120, 40);
    let screen = tui.wait_for("hello-world/hello-world-daily", 20);
    eprintln!("first screen with data after {:?}", started.elapsed());
    assert!(
        screen.contains(&server.api_url),
        "header names the server:\n{screen}"
    );
    assert!(screen.contains("every 1 day"), "{screen}");

    // quick run: confirm dialog (Cancel first), then yes
    tui.keys(&["/"]);
    tui.type_text("daily");
    tui.keys(&["Enter", "r"]);
    tui.wait_for("Start a run of 'hello-world/hello-world-daily' now", 10);
    tui.keys(&["Right", "Enter"]);
    let screen = tui.wait_for("Created flow run '", 15);
    let name = screen
        .split("Created flow run '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the run's name")
        .to_string();

    // it appears in the runs list, waiting for an agent
    tui.keys(&["2"]);
    tui.wait_for(&name, 10);

    // an agent takes it; the run view follows it to the end, logs included
    let _agent = AgentProcess::start(&server, "default", &[]);
    tui.keys(&["1", "o"]);
    tui.wait_for(&format!("Flow run {name}"), 10);
    let screen = tui.wait_for("✓ Completed", 60);
    tui.wait_for("Hello world!", 20);
    assert!(screen.contains("hello-world/hello-world-daily"), "{screen}");

    // and the runs list says so too
    tui.keys(&["Escape", "2"]);
    let screen = tui.wait_for("✓ Completed", 10);
    assert!(screen.contains(&name), "{screen}");

    // the agent is listed, online
    tui.keys(&["4"]);
    let screen = tui.wait_for("● online", 20);
    assert!(screen.contains("default"), "its queue:\n{screen}");
    assert!(screen.contains("1 online / 1"), "{screen}");

    // Ctrl-C quits cleanly and gives the terminal back
    tui.keys(&["C-c"]);
    tui.wait_for("TUI EXITED 0", 10);
}

#[test]
fn read_only_refuses_a_quick_run() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let created = Command::new(rigel_bin())
        .args(["deployment", "create"])
        .arg(examples.join("hello-daily.yaml"))
        .env("RIGEL_API_URL", &server.api_url)
        .output()
        .unwrap();
    assert!(created.status.success());
    let command = format!(
        "env RIGEL_API_URL={} NO_COLOR=1 {} tui --readonly; echo \"TUI EXITED $?\"; sleep 600",
        quote(&server.api_url),
        quote(&rigel_bin().display().to_string())
    );
    let tui = Tmux::start(&command, 80, 24);
    let screen = tui.wait_for("hello-world/hello-world-daily", 20);
    assert!(screen.contains("READ-ONLY"), "{screen}");
    tui.keys(&["r"]);
    tui.wait_for("READ-ONLY: starting runs is turned off", 10);
    tui.keys(&["q"]);
    tui.wait_for("TUI EXITED 0", 10);
    let runs = Command::new(rigel_bin())
        .args(["flow-run", "ls", "-o", "json"])
        .env("RIGEL_API_URL", &server.api_url)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let manual = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["auto_scheduled"] == false)
        .count();
    assert_eq!(manual, 0, "no run was created");
}

#[test]
fn a_monitor_key_makes_the_tui_read_only_and_a_wrong_key_is_named() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    server.cli_ok(&[
        "deployment",
        "create",
        &examples.join("hello-daily.yaml").display().to_string(),
    ]);
    // the first key: from now on the server requires one
    let key = server.cli_ok(&["api-key", "create", "dash", "--role", "monitor"]);
    let key = key.trim();
    assert!(key.starts_with("rgl_"), "{key}");

    let tui_with = |key: &str| {
        let command = format!(
            "env RIGEL_API_URL={} RIGEL_API_KEY={} NO_COLOR=1 {} tui --refresh 2; echo \"TUI EXITED $?\"; sleep 600",
            quote(&server.api_url),
            quote(key),
            quote(&rigel_bin().display().to_string())
        );
        Tmux::start(&command, 100, 30)
    };
    let tui = tui_with(key);
    let screen = tui.wait_for("hello-world/hello-world-daily", 20);
    assert!(
        screen.contains("READ-ONLY (monitor) · key 'dash'"),
        "the header says so:\n{screen}"
    );
    assert!(
        !screen.contains(" r run") && screen.contains(" l runs"),
        "no run key offered:\n{screen}"
    );
    tui.keys(&["r"]);
    tui.wait_for("the key 'dash' has the monitor role", 10);
    // had a dialog opened, this would confirm it
    tui.keys(&["y"]);
    tui.keys(&["q"]);
    tui.wait_for("TUI EXITED 0", 10);
    let runs = Command::new(rigel_bin())
        .args(["flow-run", "ls", "-o", "json"])
        .env("RIGEL_API_URL", &server.api_url)
        .env("RIGEL_API_KEY", key)
        .output()
        .unwrap();
    assert!(
        runs.status.success(),
        "{}",
        String::from_utf8_lossy(&runs.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let manual = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["auto_scheduled"] == false)
        .count();
    assert_eq!(manual, 0, "no run was created");

    // a key the server doesn't know: its words, not a silent "reconnecting"
    let tui = tui_with("rgl_not-a-key");
    let screen = tui.wait_for("API key refused", 20);
    assert!(
        screen.contains("not known to this server"),
        "the server's message:\n{screen}"
    );
    tui.keys(&["C-c"]);
    tui.wait_for("TUI EXITED 0", 10);
}
