//! End to end over HTTPS: `rigel server start --tls-cert --tls-key`, clients trusting a private
//! certificate authority through RIGEL_CA_CERT, and an agent running a flow over it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rigel_common::client::RigelClient;
use rigel_common::deployment::DeploymentCreate;
use rigel_common::flow_run::DeploymentRunCreate;
use rigel_common::state::StateType;
use support::{eventually, rigel_bin, AgentProcess, ServerProcess};

/// A private CA and a certificate it signed for 127.0.0.1 and localhost, as PEM files in `dir`:
/// (ca, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let files = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&files.0, ca.pem()).unwrap();
    std::fs::write(&files.1, cert.pem()).unwrap();
    std::fs::write(&files.2, key.serialize_pem()).unwrap();
    files
}

fn rigel(url: &str, ca: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(rigel_bin());
    cmd.args(args)
        .env("RIGEL_API_URL", url)
        .env_remove("RIGEL_CA_CERT")
        .env_remove("RIGEL_API_KEY");
    if let Some(ca) = ca {
        cmd.env("RIGEL_CA_CERT", ca);
    }
    cmd.output().unwrap()
}

fn said(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_server_speaks_https_to_clients_that_trust_its_authority() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let server = ServerProcess::start_with(
        &dir.path().join("home"),
        &[
            "--port",
            "0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.api_url.starts_with("https://"), "{}", server.api_url);

    let out = rigel(&server.api_url, Some(&ca), &["work-queue", "ls"]);
    assert!(out.status.success(), "{}", said(&out));

    // not trusting the authority: refused, with the reason
    let out = rigel(&server.api_url, None, &["work-queue", "ls"]);
    assert_eq!(out.status.code(), Some(4), "{}", said(&out));
    assert!(
        said(&out).to_lowercase().contains("certificate"),
        "{}",
        said(&out)
    );

    // a plain-HTTP client at the TLS port gets nothing, and the server carries on
    let plain = server.api_url.replace("https://", "http://");
    let _ = reqwest::get(format!("{plain}/health")).await;
    let out = rigel(&server.api_url, Some(&ca), &["work-queue", "ls"]);
    assert!(out.status.success(), "{}", said(&out));

    // a CA file that isn't there is an error of its own
    let out = rigel(
        &server.api_url,
        Some(&dir.path().join("nope.pem")),
        &["work-queue", "ls"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", said(&out));
    assert!(said(&out).contains("RIGEL_CA_CERT") && said(&out).contains("nope.pem"));

    // an agent and its engine reach the server over HTTPS and run a flow
    let roots = RigelClient::read_ca_file(&ca).unwrap();
    let client = RigelClient::with_roots(&server.api_url, &roots);
    let spec: DeploymentCreate = serde_json::from_value(serde_json::json!({
        "name": "secure", "flow_name": "secure",
        "flow_data": {"encoding": "text", "blob": "echo over-tls"},
    }))
    .unwrap();
    let deployment = client.create_deployment(&spec).await.unwrap().0.id;
    let run = client
        .create_deployment_run(deployment, &DeploymentRunCreate::default())
        .await
        .unwrap()
        .0;
    let ca_text = ca.to_str().unwrap();
    let _agent = AgentProcess::start_with(
        &server,
        "default",
        &["--heartbeat-seconds", "1"],
        &[("RIGEL_CA_CERT", ca_text)],
    );
    let done = eventually(60, "the run to finish", || async {
        let r = client.read_flow_run(run.id).await.ok()?;
        r.state.kind.is_terminal().then_some(r)
    })
    .await;
    assert_eq!(done.state.kind, StateType::Completed, "{:?}", done.state);
}

#[test]
fn a_certificate_file_that_is_not_one_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("cert.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let out = Command::new(rigel_bin())
        .args(["server", "start", "--port", "0", "--tls-cert"])
        .arg(&bogus)
        .arg("--tls-key")
        .arg(&bogus)
        .env("RIGEL_HOME", dir.path().join("home"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = said(&out);
    assert!(
        text.contains("--tls-cert") && text.contains("cert.pem"),
        "{text}"
    );
}
