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
}
