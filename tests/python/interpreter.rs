//! The subprocess runner's choice of Python interpreter.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subprocess_runner_chooses_the_interpreter() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    // a virtual environment whose python is this machine's python3
    let real = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    let venv = tmp.path().join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::os::unix::fs::symlink(&real, venv.join("bin/python")).unwrap();
    std::fs::write(
        tmp.path().join("which.py"),
        "import os, shutil, sys\nfrom prefect import flow\n\n@flow\ndef which():\n    \
         print('python:', sys.executable)\n    print('venv:', os.environ.get('VIRTUAL_ENV'))\n",
    )
    .unwrap();
    let spec = tmp.path().join("deploy.py");
    std::fs::write(
        &spec,
        format!(
            "from prefect.deployments import DeploymentSpec\n\
             from prefect.flow_runners import SubprocessFlowRunner\n\
             DeploymentSpec(name='venv', flow_location='which.py', flow_runner=SubprocessFlowRunner(virtualenv={venv:?}))\n\
             DeploymentSpec(name='missing', flow_location='which.py', flow_runner=SubprocessFlowRunner(virtualenv='/no/such/venv'))\n"
        ),
    )
    .unwrap();
    let out = create(&server.api_url, tmp.path(), &[&spec], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // the same with engines in their own processes and inside the agent
    for engine in ["process", "in-agent"] {
        let _agent = AgentProcess::start(&server, "default", &["--engine", engine]);
        let r = run(&client, "which", "venv", serde_json::json!({})).await;
        let done = finished(&client, r.id).await;
        assert_eq!(
            done.state.kind,
            StateType::Completed,
            "{engine}: {:?}",
            done.state
        );
        let lines = logs(&client, r.id).await;
        let python = format!("python: {}", venv.join("bin/python").display());
        assert!(
            lines.iter().any(|l| l.message == python),
            "{engine}: {lines:#?}"
        );
        let marker = format!("venv: {}", venv.display());
        assert!(
            lines.iter().any(|l| l.message == marker),
            "{engine}: {lines:#?}"
        );

        let r = run(&client, "which", "missing", serde_json::json!({})).await;
        let done = finished(&client, r.id).await;
        assert_eq!(done.state.kind, StateType::Failed);
        assert!(
            done.state
                .message
                .unwrap_or_default()
                .contains("virtualenv '/no/such/venv' is not a virtual environment"),
            "{engine}: failed at submission"
        );
    }
}
