//! Problems in Python deployment files: each names the file and the line.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deployment_file_problems_name_the_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path());
    let client = RigelClient::new(&server.api_url);
    let dir = tmp.path();

    // a name outside the supported subset
    let unsupported = dir.join("unsupported.py");
    std::fs::write(
        &unsupported,
        "from prefect.deployments import DeploymentSpec\nfrom prefect.task_runners import DaskTaskRunner\n",
    )
    .unwrap();
    let out = create(&server.api_url, dir, &[&unsupported], &[]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let expected = format!(
        "error: {}:2: not supported by Rigel's Prefect-compatible module: prefect.task_runners",
        unsupported.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // one good spec, one bad, one pointing at a flow file with a syntax error: the good one
    // is created, the others are reported at their lines
    std::fs::write(
        dir.join("hello.py"),
        "from rigel import flow\n\n@flow\ndef hello(name: str = 'world'):\n    print(f'Hello {name}!')\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.py"),
        "from prefect import flow\n\n@flow\ndef broken(:\n    pass\n",
    )
    .unwrap();
    let mixed = dir.join("mixed.py");
    std::fs::write(
        &mixed,
        "import datetime\n\
         from prefect.deployments import DeploymentSpec\n\
         print('running the deployment file')\n\
         DeploymentSpec(name='good', flow_location='hello.py', parameters={'name': 'Zaphod'})\n\
         DeploymentSpec(\n    name='bad',\n    flow_location='hello.py',\n    parameters={'name': object()},\n)\n\
         DeploymentSpec(name='typed', flow_location='hello.py', parameters={'name': 42})\n\
         DeploymentSpec(name='syntax', flow_location='broken.py')\n\
         if __name__ == '__main__':\n    raise SystemExit('the __main__ block must not run')\n",
    )
    .unwrap();
    let out = create(&server.api_url, dir, &[&mixed], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    let m = mixed.display();
    assert!(err.contains("running the deployment file"), "{err}");
    assert!(err.contains("Created deployment 'hello/good'."), "{err}");
    assert!(
        err.contains(&format!(
            "error: {m}:8: parameters.name: a value of type object"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: {m}:10: flow 'hello': parameters.name: must be a string"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "error: {}:4: Python syntax error",
            dir.join("broken.py").display()
        )),
        "{err}"
    );
    assert!(err.contains("3 deployment(s) failed, 1 succeeded"), "{err}");
    let good = client
        .read_deployment_by_name("hello", "good")
        .await
        .unwrap();
    assert_eq!(good.parameters["name"], "Zaphod");

    // the seed's storage forms are understood (checked with --dry-run: S3 uploads are not
    // available yet, and the block id does not exist)
    let storage = dir.join("storage.py");
    std::fs::write(
        &storage,
        "from prefect import flow, get_run_logger\n\
         from prefect.deployments import DeploymentSpec\n\
         from prefect.blocks.storage import S3StorageBlock\n\
         from prefect.flow_runners import SubprocessFlowRunner\n\
         from prefect.orion.schemas.schedules import CronSchedule, RRuleSchedule\n\
         @flow\n\
         def hello_storage():\n    get_run_logger().info('Uses a storage block on the flow runner!')\n\
         DeploymentSpec(flow=hello_storage, name='storage instance test',\n    \
             flow_storage=S3StorageBlock(bucket='my-bucket', aws_access_key_id='AKIA', aws_secret_access_key='secret'),\n    \
             schedule=CronSchedule(cron='0 9 * * 1-5', timezone='Europe/London'))\n\
         DeploymentSpec(flow=hello_storage, name='storage id test', flow_storage='0b7e4bd6-2a7e-4bb5-9b2b-2f5b8e2d9a41',\n    \
             flow_runner=SubprocessFlowRunner(stream_output=True), schedule=RRuleSchedule(rrule='FREQ=DAILY'))\n",
    )
    .unwrap();
    // a dry run reads both specs and refuses what creating them would refuse, at their lines
    let out = create(&server.api_url, dir, &[&storage], &["--dry-run"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("storage.py:10: storage block 'a new s3 block' is an S3 block"),
        "{err}"
    );
    assert!(
        err.contains("storage.py:12: no storage block 0b7e4bd6-2a7e-4bb5-9b2b-2f5b8e2d9a41"),
        "{err}"
    );
}
