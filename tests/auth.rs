//! End to end: a server reachable from other machines needs keys; the CLI sends them and says
//! clearly when one is missing or not enough.

mod support;

use std::process::Command;

use support::{rigel_bin, ServerProcess};

fn rigel(
    home: &std::path::Path,
    url: &str,
    key: Option<&str>,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = Command::new(rigel_bin());
    cmd.args(args)
        .env("RIGEL_HOME", home)
        .env("RIGEL_API_URL", url)
        .env_remove("RIGEL_API_KEY")
        .env_remove("RIGEL_API_KEY_FILE")
        .env("NO_COLOR", "1");
    if let Some(k) = key {
        cmd.env("RIGEL_API_KEY", k);
    }
    cmd.output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_server_on_a_public_address_needs_a_key_first_and_then_checks_every_request() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let refused = Command::new(rigel_bin())
        .args(["server", "start", "--host", "0.0.0.0", "--port", "0"])
        .env("RIGEL_HOME", home)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("refusing to listen on 0.0.0.0 without API keys"),
        "{}",
        text(&refused)
    );

    // no server runs: the first admin key goes straight into the database
    let nowhere = "http://127.0.0.1:9/api";
    let out = rigel(
        home,
        nowhere,
        None,
        &["api-key", "create", "root", "--role", "admin"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let admin = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(admin.starts_with("rgl_"), "{admin}");
    assert!(text(&out).contains("No server answers"), "{}", text(&out));

    let server = ServerProcess::start_with(home, &["--host", "0.0.0.0", "--port", "0"]);
    let url = server.api_url.replace("0.0.0.0", "127.0.0.1");

    let out = rigel(home, &url, None, &["work-queue", "ls"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("requires an API key"), "{}", text(&out));
    let out = rigel(home, &url, Some("rgl_wrong"), &["work-queue", "ls"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(text(&out).contains("not known"), "{}", text(&out));

    let out = rigel(
        home,
        &url,
        Some(&admin),
        &[
            "api-key",
            "create",
            "dash",
            "--role",
            "monitor",
            "--expires",
            "90d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let monitor = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let key_file = home.join("monitor.key");
    std::fs::write(&key_file, format!("{monitor}\n")).unwrap();
    let out = rigel(
        home,
        &url,
        None,
        &[
            "work-queue",
            "ls",
            "--api-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = rigel(home, &url, Some(&monitor), &["work-queue", "create", "gpu"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        text(&out).contains("needs the role admin; the key 'dash' has the monitor role"),
        "{}",
        text(&out)
    );

    let out = rigel(home, &url, Some(&admin), &["api-key", "ls"]);
    let listing = text(&out);
    assert!(out.status.success(), "{listing}");
    assert!(
        listing.contains("dash") && listing.contains("monitor"),
        "{listing}"
    );
    assert!(!listing.contains(&monitor[4..]) && !listing.contains(&admin[4..]));

    let out = rigel(home, &url, Some(&admin), &["api-key", "revoke", "dash"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = rigel(home, &url, Some(&monitor), &["work-queue", "ls"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "revoked keys stop at once: {}",
        text(&out)
    );
}
