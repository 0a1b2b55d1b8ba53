//! End to end: the real `rigel server start` binary, reached through the typed client.

mod support;

use rigel_common::client::RigelClient;
use rigel_common::deployment::DeploymentCreate;
use support::ServerProcess;

fn deployment(name: &str) -> DeploymentCreate {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "flow_name": "hello-world",
        "flow_data": {"encoding": "text", "blob": "echo hello"},
        "schedule": {"interval": 86400},
        "tags": ["earth"],
    }))
    .unwrap()
}

#[tokio::test]
async fn server_starts_serves_stops_and_keeps_data_across_restarts() {
    let home = tempfile::tempdir().unwrap();
    let rigel_home = home.path().join("fresh-home");

    let mut server = ServerProcess::start(&rigel_home);
    assert!(
        rigel_home.join("rigel.db").exists(),
        "home and database created on first start"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&rigel_home),
            0o700,
            "the home folder is its owner's only"
        );
        assert_eq!(
            mode(&rigel_home.join("rigel.db")),
            0o600,
            "so is the database"
        );
    }
    let client = RigelClient::new(&server.api_url);
    assert_eq!(client.health().await.unwrap().status, "ok");
    let (created, _) = client
        .create_deployment(&deployment("hello-world-daily"))
        .await
        .unwrap();
    assert!(server.terminate(), "graceful exit with status 0 on SIGTERM");
    assert!(
        server
            .drain_stderr()
            .iter()
            .any(|l| l.contains("Rigel server stopped")),
        "says it stopped"
    );

    let server = ServerProcess::start(&rigel_home);
    let client = RigelClient::new(&server.api_url);
    let again = client
        .read_deployment_by_name("hello-world", "hello-world-daily")
        .await
        .unwrap();
    assert_eq!(again, created, "same deployment after a restart");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(support::rigel_bin())
        .args(["server", "start", "--port", &port])
        .env("RIGEL_HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    // nothing is left that the next start could take for an emptied database
    assert!(!home.path().join("rigel.db").exists());
}

#[test]
fn an_emptied_database_is_refused_at_start_saying_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("rigel.db");
    std::fs::File::create(&file).unwrap();
    let out = std::process::Command::new(support::rigel_bin())
        .args(["server", "start", "--port", "0"])
        .env("RIGEL_HOME", home.path())
        .env_remove("RIGEL_DATABASE_URL")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("{} is empty (0 bytes)", file.display()))
            && said.contains("delete the file"),
        "{said}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "left as found");
}

#[test]
fn a_write_ahead_log_without_its_database_is_refused_and_left_as_found() {
    let home = tempfile::tempdir().unwrap();
    let wal = home.path().join("rigel.db-wal");
    std::fs::write(&wal, [7u8; 4096]).unwrap();
    let out = std::process::Command::new(support::rigel_bin())
        .args(["server", "start", "--port", "0"])
        .env("RIGEL_HOME", home.path())
        .env_remove("RIGEL_DATABASE_URL")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("write-ahead log") && said.contains("(4096 bytes)"),
        "{said}"
    );
    // the empty file the start created to open is gone again; the log is untouched
    assert!(!home.path().join("rigel.db").exists());
    assert_eq!(std::fs::read(&wal).unwrap(), vec![7u8; 4096]);
}

#[tokio::test]
async fn the_database_is_backed_up_online_and_a_damaged_one_is_refused_at_start() {
    let home = tempfile::tempdir().unwrap();
    let rigel_home = home.path().join("home");
    let server = ServerProcess::start(&rigel_home);
    let client = RigelClient::new(&server.api_url);
    for i in 0..50 {
        client
            .create_deployment(&deployment(&format!("d{i}")))
            .await
            .unwrap();
    }
    let backup = home.path().join("backup.db");
    let out = std::process::Command::new(support::rigel_bin())
        .args(["db", "backup", backup.to_str().unwrap()])
        .env("RIGEL_HOME", &rigel_home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup holds what the database holds");
    }
    let out = std::process::Command::new(support::rigel_bin())
        .args(["db", "stats", "-o", "json"])
        .env("RIGEL_HOME", &rigel_home)
        .output()
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deployments = stats["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == "deployment")
        .unwrap()[1]
        .clone();
    assert_eq!(deployments, 50);
    drop(server);

    // the backup is a whole database: a server starts on it
    let restored = home.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::copy(&backup, restored.join("rigel.db")).unwrap();
    let server = ServerProcess::start(&restored);
    let client = RigelClient::new(&server.api_url);
    assert_eq!(client.health().await.unwrap().status, "ok");
    drop(server);

    // damage a copy in the middle of its pages: the server says so and does not serve it
    let damaged = home.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    let mut bytes = std::fs::read(&backup).unwrap();
    let page = 4096;
    let pages = bytes.len() / page;
    assert!(pages > 4, "{pages} pages");
    for b in &mut bytes[page * (pages - 2) + 8..page * (pages - 2) + 400] {
        *b = 0xA5;
    }
    std::fs::write(damaged.join("rigel.db"), &bytes).unwrap();
    let out = std::process::Command::new(support::rigel_bin())
        .args(["server", "start", "--port", "0"])
        .env("RIGEL_HOME", &damaged)
        .env_remove("RIGEL_DATABASE_URL")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("damaged"), "{said}");
}

#[cfg(target_os = "linux")]
#[test]
fn the_server_raises_its_open_files_limit_to_the_hard_limit() {
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -Sn 256 && exec \"$0\" server start --port 0",
            support::rigel_bin().to_str().unwrap(),
        ])
        .env("RIGEL_HOME", home.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    // the server has started once it prints its address
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("API:"))));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft = hard: {line}");
    assert_ne!(numbers[0], "256", "{line}");
}
